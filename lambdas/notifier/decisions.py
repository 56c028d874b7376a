"""The notifier's decisions, as pure functions: which notification an event calls for, and what it says.

- :func:`notification`: validate an event of the dev account and turn it into a :class:`Notification`
  (or a :class:`Rejection` naming why it is not one):
  - a version pending approval in a ``<project>-<stage>`` group the approver governes
    (``contract.APPROVER_STAGES``) -> the approvers, once per version (``once_per``);
  - a failed training pipeline execution (``<project>-<stage>-training``) -> the project's team;
  - a failed build of a project's CI (``<project>-ci``) -> the project's team.
- :func:`package_console_url`: where the approver reviews a version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

import contract
from envelope import DevAccountRules, Rejection, dev_account_envelope

MODEL_PACKAGE_STATE_CHANGE = ("aws.sagemaker", "SageMaker Model Package State Change")
PIPELINE_EXECUTION_STATUS_CHANGE = ("aws.sagemaker", "SageMaker Model Building Pipeline Execution Status Change")
BUILD_STATE_CHANGE = ("aws.codebuild", "CodeBuild Build State Change")
PENDING = "PendingManualApproval"
TRAINING_SUFFIX = "-training"


class NotificationRules(DevAccountRules):
    """Where events may come from (the dev account, in the platform's region) and the installation's stages."""


@dataclass(frozen=True)
class Notification:
    """What to publish: to the approvers (``for_approvers``) or the project's team (the alert topic).

    ``once_per`` names what the notification may be sent for only once (a model package ARN), whatever
    number of events arrive about it; empty when every distinct event is worth one notification.
    """

    kind: str
    project: str
    stage: str | None
    text: str
    details: Mapping[str, Any] = field(default_factory=dict)
    once_per: str = ""

    @property
    def for_approvers(self) -> bool:
        return self.kind == contract.NOTIFY_APPROVAL_PENDING

    @property
    def deployment(self) -> contract.Deployment | None:
        return contract.Deployment(self.project, self.stage) if self.stage else None


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _PackageDetail(_Detail):
    ModelPackageGroupName: str
    ModelPackageVersion: StrictInt = Field(ge=1)
    ModelPackageArn: str = Field(min_length=1)
    ModelApprovalStatus: Literal["Approved", "Rejected", "PendingManualApproval"]
    CreationTime: AwareDatetime  # epoch milliseconds in real events
    ModelPackageDescription: str = ""
    CustomerMetadataProperties: dict[str, str] = Field(default_factory=dict)
    ModelMetrics: dict[str, Any] = Field(default_factory=dict)


class _PipelineDetail(_Detail):
    pipelineArn: str = Field(min_length=1)
    pipelineExecutionArn: str = Field(min_length=1)
    currentPipelineExecutionStatus: str
    pipelineExecutionDisplayName: str = ""
    pipelineExecutionDescription: str = ""
    executionStartTime: str = ""
    executionEndTime: str = ""


class _BuildLogs(_Detail):
    deep_link: str = Field("", alias="deep-link")
    group_name: str = Field("", alias="group-name")


class _BuildPhase(_Detail):
    phase_type: str = Field("", alias="phase-type")
    phase_status: str = Field("", alias="phase-status")
    phase_context: list[str] = Field(default_factory=list, alias="phase-context")


class _BuildInformation(_Detail):
    logs: _BuildLogs = _BuildLogs()
    phases: list[_BuildPhase] = Field(default_factory=list)
    source_version: str = Field("", alias="source-version")
    initiator: str = ""


class _BuildDetail(_Detail):
    build_status: str = Field(alias="build-status")
    project_name: str = Field(alias="project-name", min_length=1)
    build_id: str = Field(alias="build-id", min_length=1)
    current_phase: str = Field("", alias="current-phase")
    current_phase_context: str = Field("", alias="current-phase-context")
    additional_information: _BuildInformation = Field(_BuildInformation(), alias="additional-information")


def notification(event: Mapping[str, Any], rules: NotificationRules) -> Notification | Rejection:
    """The notification an event of the dev account calls for; a :class:`Rejection` for anything else."""
    envelope = dev_account_envelope(event, rules)
    if isinstance(envelope, Rejection):
        return envelope
    kind = (envelope.source, envelope.detail_type)
    readers = {
        MODEL_PACKAGE_STATE_CHANGE: (_PackageDetail, _pending_approval),
        PIPELINE_EXECUTION_STATUS_CHANGE: (_PipelineDetail, _failed_pipeline),
        BUILD_STATE_CHANGE: (_BuildDetail, _failed_build),
    }
    if kind not in readers:
        return Rejection(f"unexpected event: source {envelope.source!r}, detail-type {envelope.detail_type!r}")
    model, decide = readers[kind]
    detail = envelope.detail_as(model)
    if isinstance(detail, Rejection):
        return detail
    return decide(detail, rules)


def _pending_approval(detail: _PackageDetail, rules: NotificationRules) -> Notification | Rejection:
    group = detail.ModelPackageGroupName
    deployment = contract.Deployment.from_group(group, rules.stages)
    if deployment is None:
        return Rejection(f"group {group!r} is not a managed <project>-<stage> group")
    if deployment.stage not in contract.APPROVER_STAGES:
        return Rejection(f"{group} versions are approved by the project's data scientists, not the approvers")
    if detail.ModelApprovalStatus != PENDING:
        return Rejection(f"v{detail.ModelPackageVersion} of {group} is {detail.ModelApprovalStatus}, not pending")
    metadata = detail.CustomerMetadataProperties
    metrics = {
        name.removeprefix(contract.META_METRIC_PREFIX): value
        for name, value in sorted(metadata.items())
        if name.startswith(contract.META_METRIC_PREFIX) and name != contract.META_METRIC_PREFIX
    }
    reports = metric_reports(detail.ModelMetrics)
    text = f"v{detail.ModelPackageVersion} of {group} awaits your approval"
    details = {
        "review": f"Version {detail.ModelPackageVersion} of {group} is pending approval: review its metrics and "
        "lineage below, then approve or reject it in the model registry.",
        "group": group,
        "version": detail.ModelPackageVersion,
        "package_arn": detail.ModelPackageArn,
        "registered_at": detail.CreationTime.isoformat(timespec="seconds"),
        "description": detail.ModelPackageDescription,
        "metrics": metrics,
        "metric_reports": reports,
        "commit": metadata.get(contract.META_COMMIT, ""),
        "branch": metadata.get(contract.META_BRANCH, ""),
        "dataset": metadata.get(contract.META_DATASET_URI, ""),
        "copied_from": metadata.get(contract.META_SOURCE_PACKAGE, ""),
        "console": package_console_url(rules.region, group),
        "approve_with": f"aws sagemaker update-model-package --model-package-arn {detail.ModelPackageArn} "
        "--model-approval-status Approved",
    }
    if not metrics and not reports:
        details["warning"] = "no metrics were registered with this version: ask the team before approving it"
    return Notification(
        contract.NOTIFY_APPROVAL_PENDING,
        deployment.project,
        deployment.stage,
        text,
        details,
        once_per=detail.ModelPackageArn,
    )


def _failed_pipeline(detail: _PipelineDetail, rules: NotificationRules) -> Notification | Rejection:
    if detail.currentPipelineExecutionStatus != "Failed":
        return Rejection(f"pipeline execution status {detail.currentPipelineExecutionStatus!r} needs no one")
    pipeline = detail.pipelineArn.rpartition(":pipeline/")[2]
    deployment = (
        contract.Deployment.from_group(pipeline.removesuffix(TRAINING_SUFFIX), contract.TRAINING_STAGES)
        if pipeline.endswith(TRAINING_SUFFIX)
        else None
    )
    if deployment is None:
        return Rejection(f"pipeline {pipeline!r} is not a project's <project>-<stage>-training pipeline")
    text = f"training pipeline {pipeline} failed"
    details = {
        "pipeline": pipeline,
        "execution_arn": detail.pipelineExecutionArn,
        "execution": detail.pipelineExecutionDisplayName,
        "description": detail.pipelineExecutionDescription,
        "started_at": detail.executionStartTime,
        "ended_at": detail.executionEndTime,
        "failed_steps_with": "aws sagemaker list-pipeline-execution-steps --pipeline-execution-arn "
        f"{detail.pipelineExecutionArn}",
    }
    return Notification(contract.NOTIFY_PIPELINE_FAILED, deployment.project, deployment.stage, text, details)


def _failed_build(detail: _BuildDetail, rules: NotificationRules) -> Notification | Rejection:
    if detail.build_status != "FAILED":
        return Rejection(f"build status {detail.build_status!r} needs no one")
    name = detail.project_name
    project = name.removesuffix(contract.CI_PROJECT_SUFFIX)
    if not name.endswith(contract.CI_PROJECT_SUFFIX) or not contract.PROJECT_NAME.match(project):
        return Rejection(f"build project {name!r} is not a project's <project>{contract.CI_PROJECT_SUFFIX} build")
    information = detail.additional_information
    failed = [phase for phase in information.phases if phase.phase_status in ("FAILED", "FAULT", "TIMED_OUT")]
    reason = "; ".join(
        f"{phase.phase_type}: {' '.join(context for context in phase.phase_context if context)}".rstrip(": ")
        for phase in failed
    )
    details = {
        "build_project": name,
        "build_id": detail.build_id,
        "source_version": information.source_version,
        "initiator": information.initiator,
        "failed_phase": failed[0].phase_type if failed else detail.current_phase,
        "reason": reason or detail.current_phase_context,
        "logs": information.logs.deep_link,
    }
    return Notification(contract.NOTIFY_BUILD_FAILED, project, None, f"CI build {name} failed", details)


def metric_reports(model_metrics: Mapping[str, Any]) -> dict[str, str]:
    """The reports a version registered as ``ModelMetrics`` (``ModelQuality.Statistics`` -> its S3 URI)."""
    reports: dict[str, str] = {}

    def walk(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, Mapping):
            if isinstance(value.get("S3Uri"), str):
                reports[".".join(path)] = value["S3Uri"]
            for name, inner in sorted(value.items()):
                walk(inner, (*path, name))

    walk(model_metrics, ())
    return reports


def package_console_url(region: str, group: str) -> str:
    """The SageMaker console page of the version's group in the model registry, where its versions are listed."""
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/model-registry/{group}/details"
