"""Notifier Lambda: tells people what needs them, once.

Trigger: the notification queue (SQS, partial batch responses), fed by EventBridge rules of the dev
account: ``SageMaker Model Package State Change`` of versions pending approval in the groups the
approver governs, ``SageMaker Model Building Pipeline Execution Status Change`` of failed training
pipelines, and ``CodeBuild Build State Change`` of failed ``<project>-ci`` builds. Each event is
processed once per event id.

Effect: a version pending approval notifies the approval topic (what to review: version, metrics,
lineage, console link); SageMaker may send the same change more than once and later changes of a
still-pending version (metadata updates) arrive as new events, so a conditional write in the ledger
claims the one notification per version first, and gives it back if the publish fails (the message
comes back). Failures notify the alert topic. Every notification carries the ``project`` and
``kind`` message attributes (and ``stage`` when known) for subscription filter policies. Foreign or
malformed events are logged and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from alerts import Alerts, alert_subject
from clients import Clients
from entry_point import EntryPoint
from notifier.decisions import Notification, NotificationRules, Rejection, notification
from queue_handler import QueuedEventHandler
from settings import CommonSettings, Environment

logger = Logger()


@dataclass(frozen=True)
class NotifierSettings:
    """The notifier's environment, read and validated once per Lambda environment."""

    common: CommonSettings
    approval_topic_arn: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> NotifierSettings:
        """Read every variable the infrastructure sets; raise ``ConfigurationError`` naming the first bad one."""
        env = Environment(environ)
        return cls(common=CommonSettings.from_environment(env), approval_topic_arn=env.text("APPROVAL_TOPIC_ARN"))

    @property
    def rules(self) -> NotificationRules:
        return NotificationRules(self.common.dev_account_id, self.common.region, self.common.stages)


class Notifier(QueuedEventHandler):
    """Publishes the notification each event calls for. One instance per Lambda environment."""

    name = "notifier"

    def __init__(self, settings: NotifierSettings, clients: Clients) -> None:
        self.settings = settings
        super().__init__(settings.common, clients)
        self.approvals = Alerts(clients.sns, settings.approval_topic_arn)

    def process(self, event: dict[str, Any]) -> dict[str, str]:
        """Notify the approvers or the project's team, at most once per version pending approval."""
        decided = notification(event, self.settings.rules)
        if isinstance(decided, Rejection):
            return self.drop(decided.reason, event)
        logger.append_keys(project=decided.project, stage=decided.stage)
        event_id = event["id"]
        if decided.once_per and not self.ledger.claim_notification(
            decided.once_per, kind=decided.kind, event_id=event_id
        ):
            logger.info("Already notified", extra={"kind": decided.kind, "about": decided.once_per})
            return {"result": "ALREADY_NOTIFIED", "kind": decided.kind}
        try:
            self._publish(decided, event_id)
        except Exception:
            if decided.once_per:
                self.ledger.release_notification(decided.once_per, event_id=event_id)
            raise
        logger.info("Notified", extra={"kind": decided.kind, "approvers": decided.for_approvers})
        return {"result": "NOTIFIED", "kind": decided.kind}

    def _publish(self, decided: Notification, event_id: str) -> None:
        topic = self.approvals if decided.for_approvers else self.alerts
        topic.send(
            alert_subject(decided.deployment, decided.text),
            kind=decided.kind,
            project=decided.project,
            stage=decided.stage,
            **decided.details,
            event_id=event_id,
        )


#: Lambda entry point (``notifier.handler.handler``): one Notifier per Lambda environment.
handler = EntryPoint(Notifier, NotifierSettings)
