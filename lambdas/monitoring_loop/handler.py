"""Monitoring-loop Lambda: tells a project's team about its endpoints' alarms and can start retraining.

Trigger: the monitoring queue (SQS, partial batch responses), fed by a rule on the dev promotion bus
with the ``CloudWatch Alarm State Change`` events (state ALARM) the deployment targets forward: the
endpoints' error and latency alarms and the Model Monitor violation alarms. Each event is processed
once per event id.

Effect: one alert on the alert topic, with the ``project``, ``stage`` and ``account`` message
attributes teams filter their subscriptions on. When a Model Monitor violation alarm of a test or
prod endpoint fires and the project's ``RETRAINING`` item (project-settings table) enables it, the
project's training pipeline starts in dev, at most once per cool-down: a conditional write of the
start time claims the start, so a flapping alarm or a burst of alarms cannot start a storm. A
throttled or failed start releases the claim and the message comes back. Other alarm states are
noted; malformed settings are reported in the alert, never a crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

import contract
from alerts import alert_subject
from clients import Clients
from entry_point import EntryPoint
from monitoring_loop.decisions import (
    AlarmRules,
    AlarmStateChange,
    Rejection,
    RetrainingSettings,
    alarm_state_change,
    cooldown_cutoff,
    retraining_blocker,
    retraining_settings,
)
from queue_handler import QueuedEventHandler, RetryLater
from settings import ACCOUNT_ID, CommonSettings, ConfigurationError, Environment

logger = Logger()
F = contract.RetrainingFields
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class MonitoringSettings:
    """The monitoring loop's environment, read and validated once per Lambda environment."""

    common: CommonSettings
    project_settings_table: str
    target_accounts: Mapping[str, str]
    cooldown_hours: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> MonitoringSettings:
        """Read every variable the infrastructure sets; raise ``ConfigurationError`` naming the first bad one."""
        env = Environment(environ)
        accounts = env.json("TARGET_ACCOUNTS")
        valid = (
            isinstance(accounts, dict)
            and accounts
            and all(ACCOUNT_ID.match(k) and v in ("dev", "test", "prod") for k, v in accounts.items())
        )
        if not valid:
            raise ConfigurationError(
                f"TARGET_ACCOUNTS={accounts!r}: must map 12-digit account ids to dev, test or prod"
            )
        return cls(
            common=CommonSettings.from_environment(env),
            project_settings_table=env.text("PROJECT_SETTINGS_TABLE"),
            target_accounts=accounts,
            cooldown_hours=env.whole_number("RETRAINING_COOLDOWN_HOURS", 1, 720),
        )

    @property
    def rules(self) -> AlarmRules:
        return AlarmRules(self.target_accounts, self.common.region, self.common.stages)


class MonitoringLoop(QueuedEventHandler):
    """Applies forwarded alarm events. One instance per Lambda environment (clients are reused)."""

    name = "monitoring"

    def __init__(
        self, settings: MonitoringSettings, clients: Clients, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.settings = settings
        super().__init__(settings.common, clients)
        self._clock = clock or (lambda: datetime.now(UTC))

    def process(self, event: dict[str, Any]) -> dict[str, str]:
        """Notify the alarm's project and, if the project enables it, start retraining once per cool-down."""
        change = alarm_state_change(event, self.settings.rules)
        if isinstance(change, Rejection):
            return self.drop(change.reason, event)
        deployment = change.deployment
        if deployment:
            logger.append_keys(project=deployment.project, stage=deployment.stage)
        if change.state != "ALARM":
            logger.info("Alarm state noted", extra={"alarm": change.alarm_name, "state": change.state})
            return {"result": "NOTED", "state": change.state}
        retraining = self._retrain(change)
        self.alerts.send(
            alert_subject(deployment, f"ALARM {change.alarm_name}"),
            project=deployment.project if deployment else None,
            stage=deployment.stage if deployment else None,
            account=change.account,
            alarm=change.alarm_name,
            previous_state=change.previous_state,
            reason=change.reason,
            retraining=retraining,
            event_id=change.event_id,
        )
        logger.info("Alarm notified", extra={"alarm": change.alarm_name, "retraining": retraining})
        return {"result": "NOTIFIED", "alarm": change.alarm_name, "retraining": retraining}

    # Retraining

    def _retrain(self, change: AlarmStateChange) -> str:
        """Start the project's pipeline if the alarm and its settings allow it; say what happened."""
        project = change.deployment.project if change.deployment else ""
        settings = retraining_settings(project, self._settings_item(project)) if project else None
        blocker = retraining_blocker(change, settings)
        if blocker:
            if isinstance(settings, Rejection):
                logger.warning("Malformed retraining settings", extra={"reason": settings.reason})
            return f"not started: {blocker}"
        now = self._clock()
        previous = self._claim(settings, change.event_id, now)
        if previous is None:
            return "not started: a retraining run started within the cool-down"
        try:
            execution = self.clients.sagemaker.start_pipeline_execution(
                PipelineName=settings.pipeline,
                PipelineExecutionDescription=f"Retraining: alarm {change.alarm_name} in {change.account}"[:3072],
                PipelineParameters=[{"Name": k, "Value": v} for k, v in sorted(settings.pipeline_parameters.items())],
                ClientRequestToken=hashlib.sha256(change.event_id.encode()).hexdigest(),  # 32-128 characters
            )
        except ClientError as error:
            self._release(project, change.event_id, previous)
            raise RetryLater(f"StartPipelineExecution of {settings.pipeline} failed: {error}") from error
        arn = execution["PipelineExecutionArn"]
        self._record_execution(project, arn)
        logger.info("Retraining started", extra={"pipeline": settings.pipeline, "execution": arn})
        return f"started {arn}"

    def _key(self, project: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": contract.project_settings_partition(project)}, "sk": {"S": contract.RETRAINING_SORT_KEY}}

    def _settings_item(self, project: str) -> dict[str, Any] | None:
        item = self.clients.dynamodb.get_item(
            TableName=self.settings.project_settings_table, Key=self._key(project), ConsistentRead=True
        ).get("Item")
        return {name: _deserializer.deserialize(value) for name, value in item.items()} if item else None

    def _claim(self, settings: RetrainingSettings, event_id: str, now: datetime) -> dict[str, Any] | None:
        """Record this event as the last start, unless another started within the cool-down; the
        previous values (to release the claim), or None when the cool-down holds."""
        try:
            response = self.clients.dynamodb.update_item(
                TableName=self.settings.project_settings_table,
                Key=self._key(settings.project),
                UpdateExpression="SET #started = :now, #event = :event",
                ConditionExpression="#enabled = :true AND (attribute_not_exists(#started) OR #started < :cutoff "
                "OR #event = :event)",
                ExpressionAttributeNames={
                    "#started": F.LAST_STARTED_AT,
                    "#event": F.LAST_EVENT_ID,
                    "#enabled": F.ENABLED,
                },
                ExpressionAttributeValues={
                    ":now": {"S": now.isoformat(timespec="seconds")},
                    ":event": {"S": event_id},
                    ":true": {"BOOL": True},
                    ":cutoff": {"S": cooldown_cutoff(now, settings.cooldown(self.settings.cooldown_hours))},
                },
                ReturnValues="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return response.get("Attributes", {})

    def _release(self, project: str, event_id: str, previous: Mapping[str, Any]) -> None:
        """Give the cool-down back after a failed start (only if this event still holds it)."""
        names = {"#started": F.LAST_STARTED_AT, "#event": F.LAST_EVENT_ID}
        restore = {":mine": {"S": event_id}}
        if F.LAST_STARTED_AT in previous:
            expression = "SET #started = :started, #event = :event"
            restore.update(
                {":started": previous[F.LAST_STARTED_AT], ":event": previous.get(F.LAST_EVENT_ID, {"S": ""})}
            )
        else:
            expression = "REMOVE #started, #event"
        try:
            self.clients.dynamodb.update_item(
                TableName=self.settings.project_settings_table,
                Key=self._key(project),
                UpdateExpression=expression,
                ConditionExpression="#event = :mine",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=restore,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _record_execution(self, project: str, execution_arn: str) -> None:
        self.clients.dynamodb.update_item(
            TableName=self.settings.project_settings_table,
            Key=self._key(project),
            UpdateExpression="SET #arn = :arn",
            ExpressionAttributeNames={"#arn": F.LAST_EXECUTION_ARN},
            ExpressionAttributeValues={":arn": {"S": execution_arn}},
        )


#: Lambda entry point (``monitoring_loop.handler.handler``): one MonitoringLoop per Lambda environment.
handler = EntryPoint(MonitoringLoop, MonitoringSettings)
