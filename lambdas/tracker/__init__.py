"""The tracker function: outcomes from the target accounts -> ledger, model packages, alerts (see ``handler``)."""
