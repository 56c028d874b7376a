"""Tests of the project templates' agreement with the platform (their own tests run in their own environment)."""
