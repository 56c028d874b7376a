"""What the scheduled handlers share: the ledger, the alerts, a clock, and one run per scheduled event.

A handler an EventBridge schedule invokes directly (no queue) subclasses :class:`ScheduledHandler`
and implements ``run(run_id)``; tests inject the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alerts import Alerts
from clients import Clients
from ledger import Ledger


class ScheduledHandler:
    """A scheduled handler: one instance per Lambda environment (clients are reused), one run per event."""

    def __init__(self, settings: Any, clients: Clients, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clients = clients
        self.ledger = Ledger(clients.dynamodb, settings.common.ledger_table)
        self.alerts = Alerts(clients.sns, settings.common.alert_topic_arn)
        self._clock = clock or (lambda: datetime.now(UTC))

    def handle(self, event: dict[str, Any], context) -> dict[str, Any]:
        """One run per scheduled event, named by the event's id (or the invocation's request id)."""
        return self.run(str(event.get("id") or context.aws_request_id))

    def run(self, run_id: str) -> dict[str, Any]:
        raise NotImplementedError
