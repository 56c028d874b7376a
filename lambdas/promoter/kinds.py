"""How a project stage is deployed: its kind, the template that kind takes, its parameters and rollback alarms.

Pure decisions: the handler reads the project's ``DEPLOYMENT`` item (project-settings table) and the
stage settings the infrastructure gives it, and deploys what these functions return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import contract
from contract import BatchParameters, DeploymentFields, EndpointParameters
from envelope import Rejection

TemplateName = Literal["endpoint", "batch"]


@dataclass(frozen=True)
class StageKind:
    """A stage's deployment kind and where it came from (the project's item or the platform)."""

    kind: str
    source: str

    @property
    def template(self) -> TemplateName:
        return "batch" if self.kind == "batch" else "endpoint"

    @property
    def monitored_by_monitor_stack(self) -> bool:
        """Serverless endpoints capture nothing; a batch stage's monitor is part of its batch template."""
        return self.kind in ("realtime", "async")


def stage_kind(item: Mapping[str, Any] | None, stage: str, platform_default: str) -> StageKind | Rejection:
    """The kind of ``stage``: the item's ``stages[stage]``, else its ``kind``, else the platform's default."""
    if not item:
        return StageKind(platform_default, "platform")
    where = f"{contract.DEPLOYMENT_SORT_KEY} item"
    stages = item.get(DeploymentFields.STAGES, {})
    if not isinstance(stages, Mapping):
        return Rejection(f"{where}: {DeploymentFields.STAGES} must be a map of stage -> kind")
    for field, value in (
        (f"{DeploymentFields.STAGES}.{stage}", stages.get(stage)),
        (DeploymentFields.KIND, item.get(DeploymentFields.KIND)),
    ):
        if value is None:
            continue
        if value not in contract.DEPLOYMENT_KINDS:
            return Rejection(f"{where}: {field}={value!r} is not one of {', '.join(contract.DEPLOYMENT_KINDS)}")
        return StageKind(value, f"project ({field})")
    return StageKind(platform_default, "platform")


def template_parameters(
    kind: StageKind,
    *,
    endpoint_settings: Mapping[str, str],
    batch_settings: Mapping[str, str],
    baselines: Mapping[str, str],
) -> dict[str, str]:
    """The template parameters a kind takes from the stage's settings (the promoter adds the per-deployment
    ones); a batch stage also gets the package's data-quality baselines for its monitor."""
    if kind.template == "batch":
        return {
            **batch_settings,
            BatchParameters.DATA_QUALITY_STATISTICS_URI: baselines.get(BatchParameters.DATA_QUALITY_STATISTICS_URI, ""),
            BatchParameters.DATA_QUALITY_CONSTRAINTS_URI: baselines.get(
                BatchParameters.DATA_QUALITY_CONSTRAINTS_URI, ""
            ),
        }
    return {**endpoint_settings, EndpointParameters.DEPLOYMENT_KIND: kind.kind}


def rollback_alarm_names(kind: StageKind, deployment: contract.Deployment) -> list[str]:
    """CloudFormation's rollback triggers: the endpoint's error and latency alarms, or a batch stage's
    failed-runs alarm (a run that fails while the update is monitored rolls it back)."""
    if kind.template == "batch":
        return [f"{deployment.endpoint_name}{contract.BATCH_FAILURES_ALARM_SUFFIX}"]
    return list(contract.alarm_names(deployment))
