"""The team's alerts: SNS notifications with a readable subject naming the project and stage, and a JSON message.

Every handler tells the team about what needs them (a failed or rolled-back deployment, failed tests,
a blocked retraining) through :class:`Alerts`, so every alert carries the same subject prefix and the
message attributes a team's subscription filters on.
"""

from __future__ import annotations

import json
from typing import Any

import contract
from ledger import utc_now


def alert_subject(deployment: contract.Deployment | None, text: str) -> str:
    """A one-line SNS subject (at most 100 characters) naming the project and stage first."""
    prefix = f"[{deployment.project}/{deployment.stage}] " if deployment else "[mlops] "
    subject = " ".join(f"{prefix}{text}".split())
    return subject if len(subject) <= 100 else subject[:99] + "…"


class Alerts:
    """Notifications to the team: the alert topic, with a readable subject and a JSON message."""

    def __init__(self, sns, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def send(self, subject: str, **details: Any) -> None:
        """Publish ``details`` (plus the time) as JSON under ``subject``.

        The ``project``, ``stage`` and ``account`` details also become SNS message attributes
        (``contract.ALERT_ATTRIBUTES``), so a team subscribes to its project's alerts with a filter policy.
        """
        message = {"time": utc_now(), **{name: value for name, value in details.items() if value not in (None, "")}}
        attributes = {
            name: {"DataType": "String", "StringValue": str(message[name])}
            for name in contract.ALERT_ATTRIBUTES
            if name in message
        }
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=subject,
            Message=json.dumps(message, default=str),
            MessageAttributes=attributes,
        )
