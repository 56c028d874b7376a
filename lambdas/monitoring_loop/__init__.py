"""Monitoring-loop Lambda: alarms of the deployment targets -> the project team, and optionally retraining."""
