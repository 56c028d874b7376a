"""The monitoring loop's decisions, as pure functions: which deployment an alarm concerns, and whether
it may start retraining.

- :func:`alarm_state_change`: validate a forwarded ``CloudWatch Alarm State Change``.
- :func:`deployment_of_alarm`: the deployment behind an alarm name.
- :func:`retraining_settings`: a project's ``RETRAINING`` item, validated.
- :func:`retraining_blocker`: why an alarm does not start retraining, if it does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

import contract
from envelope import Envelope, Rejection, first_error

ALARM_STATE_CHANGE = ("aws.cloudwatch", "CloudWatch Alarm State Change")
#: Accounts whose alarms can start retraining: feature endpoints in dev are for quick checks only.
RETRAINING_ACCOUNTS = ("test", "prod")


@dataclass(frozen=True)
class AlarmRules:
    """Where alarms may come from: the target accounts (id -> dev/test/prod), the region, the stages."""

    target_accounts: Mapping[str, str]
    region: str
    stages: tuple[str, ...]


@dataclass(frozen=True)
class AlarmStateChange:
    """An alarm of a target account changed state; ``deployment`` is None for the platform's other alarms."""

    event_id: str
    account: str
    alarm_name: str
    deployment: contract.Deployment | None
    state: str
    previous_state: str
    reason: str

    @property
    def is_violation(self) -> bool:
        """A Model Monitor violation alarm (data or model quality, bias, explainability)."""
        return self.alarm_name.endswith(contract.VIOLATIONS_ALARM_SUFFIX)


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _AlarmState(_Detail):
    value: str
    reason: str = ""


class _AlarmDetail(_Detail):
    alarmName: str = Field(min_length=1)
    state: _AlarmState
    previousState: _AlarmState | None = None


def alarm_state_change(event: Mapping[str, Any], rules: AlarmRules) -> AlarmStateChange | Rejection:
    """Validate a forwarded alarm event and name the deployment it concerns (if any)."""
    try:
        envelope = Envelope.model_validate(event)
    except ValidationError as error:
        return Rejection(f"not an EventBridge event: {first_error(error)}")
    if (envelope.source, envelope.detail_type) != ALARM_STATE_CHANGE:
        return Rejection(f"unexpected event: source {envelope.source!r}, detail-type {envelope.detail_type!r}")
    account_name = rules.target_accounts.get(envelope.account)
    if account_name is None:
        return Rejection(f"account {envelope.account} is not a deployment target")
    if envelope.region != rules.region:
        return Rejection(f"region {envelope.region} is not the platform's region {rules.region}")
    detail = envelope.detail_as(_AlarmDetail)
    if isinstance(detail, Rejection):
        return detail
    if detail.alarmName.endswith(contract.SCALE_OUT_FROM_ZERO_ALARM_SUFFIX):
        return Rejection(f"alarm {detail.alarmName!r} scales an asynchronous endpoint out from zero; not a problem")
    deployment = deployment_of_alarm(detail.alarmName, rules.stages)
    if deployment and deployment.account != account_name:
        return Rejection(
            f"alarm {detail.alarmName!r} comes from the {account_name} account; {deployment.stage} deploys to "
            f"{deployment.account}"
        )
    return AlarmStateChange(
        event_id=envelope.id,
        account=envelope.account,
        alarm_name=detail.alarmName,
        deployment=deployment,
        state=detail.state.value,
        previous_state=detail.previousState.value if detail.previousState else "",
        reason=detail.state.reason,
    )


def deployment_of_alarm(alarm_name: str, stages: tuple[str, ...]) -> contract.Deployment | None:
    """The deployment whose endpoint an alarm is named after (``<endpoint>-5xx-errors``, ...), if any; the
    challenger's for the alarms of its variant on the champion's endpoint (shadow and split modes)."""
    marker = contract.ENDPOINT_SUFFIX + "-"
    index = alarm_name.find(marker)
    while index != -1:
        deployment = contract.Deployment.from_resource_name(alarm_name[: index + len(contract.ENDPOINT_SUFFIX)], stages)
        if deployment:
            return _challenger_variant(deployment, alarm_name, stages) or deployment
        index = alarm_name.find(marker, index + 1)
    return None


def _challenger_variant(
    deployment: contract.Deployment, alarm_name: str, stages: tuple[str, ...]
) -> contract.Deployment | None:
    """The challenger stage, if the alarm watches the challenger's variant on the champion's endpoint."""
    challenger = contract.Deployment(deployment.project, contract.CHALLENGER_STAGE)
    on_champion = deployment.stage == contract.CHAMPION_STAGE and challenger.stage in stages
    return challenger if on_champion and alarm_name in contract.challenger_alarm_names(deployment) else None


# --- Retraining -------------------------------------------------------------------------------------------

F = contract.RetrainingFields


class RetrainingSettings(BaseModel):
    """A project's ``RETRAINING`` item in the project-settings table, as its team writes it."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    project: str
    enabled: StrictBool = Field(alias=F.ENABLED)
    pipeline_name: str = Field("", alias=F.PIPELINE_NAME)
    pipeline_parameters: dict[str, str] = Field(default_factory=dict, alias=F.PIPELINE_PARAMETERS)
    cooldown_hours: int | None = Field(None, ge=1, le=720, alias=F.COOLDOWN_HOURS)

    @model_validator(mode="after")
    def _the_projects_own_pipeline(self) -> RetrainingSettings:
        allowed = [contract.training_pipeline_name(self.project, stage) for stage in contract.TRAINING_STAGES]
        if self.pipeline_name and self.pipeline_name not in allowed:
            raise ValueError(f"{F.PIPELINE_NAME}={self.pipeline_name!r}: must be one of {', '.join(allowed)}")
        return self

    @property
    def pipeline(self) -> str:
        """The pipeline to start: the one named, else the project's dev training pipeline."""
        return self.pipeline_name or contract.training_pipeline_name(self.project)

    def cooldown(self, default_hours: int) -> timedelta:
        return timedelta(hours=self.cooldown_hours or default_hours)


def retraining_settings(project: str, item: Mapping[str, Any] | None) -> RetrainingSettings | Rejection | None:
    """The project's retraining settings; None without an item; a :class:`Rejection` naming the field if malformed."""
    if item is None:
        return None
    try:
        return RetrainingSettings.model_validate({**item, "project": project})
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "value_error":
            return Rejection(first["msg"].removeprefix("Value error, "))
        return Rejection(first_error(error))


def retraining_blocker(change: AlarmStateChange, settings: RetrainingSettings | Rejection | None) -> str | None:
    """Why this alarm does not start the project's pipeline (None if it may, cool-down aside)."""
    if change.deployment is None:
        return "not an alarm of a project's endpoint"
    if not change.is_violation:
        return "only Model Monitor violation alarms start retraining"
    if change.deployment.account not in RETRAINING_ACCOUNTS:
        return f"alarms of {change.deployment.stage} endpoints in the dev account do not start retraining"
    if settings is None:
        return "retraining is not configured for the project"
    if isinstance(settings, Rejection):
        return f"the project's {contract.RETRAINING_SORT_KEY} item is malformed: {settings.reason}"
    if not settings.enabled:
        return "retraining is disabled for the project"
    return None


def cooldown_cutoff(now: datetime, cooldown: timedelta) -> str:
    """The start time before which a previous start no longer blocks a new one (ISO, comparable as text)."""
    return (now - cooldown).isoformat(timespec="seconds")
