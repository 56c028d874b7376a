"""Notifier Lambda: versions pending approval -> the model approvers; failed pipelines and builds -> the team."""
