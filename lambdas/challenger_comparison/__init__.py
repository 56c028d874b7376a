"""Champion/challenger comparison: a scheduled evaluation of the two variants on the same production requests."""
