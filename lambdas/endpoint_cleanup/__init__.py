"""Endpoint clean-up Lambda: deletes feature-stage endpoint stacks in dev after their time to live."""
