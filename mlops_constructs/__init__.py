"""Reusable L3 constructs of the platform (named so it does not shadow the ``constructs`` library)."""
