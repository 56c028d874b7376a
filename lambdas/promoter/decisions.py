"""The promoter's decisions, as pure functions of what it read: no AWS calls, so every case is unit-tested.

- :func:`promotion_request`: is this queue message a request to reconcile a stage, and which one?
- :func:`highest_approved`: the package a stage should run.
- :func:`decide_endpoint`, :func:`prod_gate_refusal`: what to do with the endpoint stack (the verified
  copy of the model it serves: ``promoter/artifacts.py``); :func:`releases_hold`: whether a rejection
  allows a rolled-back version to be retried.
- :func:`monitor_blocker`, :func:`decide_monitor`: whether and how to deploy the monitor stack.
- :func:`endpoint_change_set`, :func:`monitor_change_set`: the CloudFormation requests.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError

import contract
from contract import EndpointParameters, MonitorParameters
from envelope import (
    RECONCILE_DETAIL_TYPE,
    RECONCILE_SOURCE,
    DevAccountRules,
    Envelope,
    Rejection,
    dev_account_envelope,
    first_error,
)
from ledger import StageState, Status
from promoter.artifacts import ServedModel, content_mismatches
from promoter.kinds import StageKind
from settings import is_prod_stage

MODEL_PACKAGE_SOURCE = "aws.sagemaker"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
#: The parameters the promoter sets per deployment; every other endpoint parameter comes from the stage's settings.
PER_DEPLOYMENT_PARAMETERS = frozenset(
    {
        EndpointParameters.MODEL_PACKAGE_ARN,
        EndpointParameters.MODEL_DATA_KEY,
        EndpointParameters.IMAGE,
        EndpointParameters.ENDPOINT_NAME,
        EndpointParameters.DEPLOYMENT_ID,
        EndpointParameters.DEPLOYMENT_KIND,  # the stage's kind, which the project may choose
    }
)
#: Stack statuses in which a stack is settled and may be updated.
SETTLED_STATUSES = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
)
#: Change set status reasons meaning "nothing would change" (CloudFormation words it two ways).
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


# --- Requests ---------------------------------------------------------------------------------------------


class _ModelPackageStateChange(BaseModel):
    """The fields of a ``SageMaker Model Package State Change`` detail the promoter relies on."""

    model_config = ConfigDict(extra="ignore")

    ModelPackageGroupName: str
    ModelPackageVersion: StrictInt = Field(ge=1)
    ModelPackageArn: str
    ModelApprovalStatus: Literal["Approved", "Rejected", "PendingManualApproval"]
    CreationTime: AwareDatetime  # epoch milliseconds in real events (read as UTC); a text time needs its zone


class _ReconcileDetail(BaseModel):
    """The detail of a reconcile request sent by the tracker."""

    model_config = ConfigDict(extra="ignore")

    project: str
    stage: str
    reason: str = Field(min_length=1)


class RequestRules(DevAccountRules):
    """What a request must match: the dev account and region the registry lives in, and the stages."""


@dataclass(frozen=True)
class PromotionRequest:
    """A valid request: reconcile ``deployment`` because of ``trigger``; ``approval_time`` is when
    SageMaker emitted the approval-status change of ``package_arn`` to ``approval_status`` (all three
    absent for reconcile requests)."""

    deployment: contract.Deployment
    event_id: str
    trigger: str
    approval_time: datetime | None = None  # always with a time zone (see ``Envelope``)
    package_arn: str = ""
    approval_status: str = ""


def promotion_request(event: Mapping[str, Any], rules: RequestRules) -> PromotionRequest | Rejection:
    """Validate a queue message: a model package state change or a reconcile request from the dev account."""
    envelope = dev_account_envelope(event, rules, region_of="registry")
    if isinstance(envelope, Rejection):
        return envelope
    kind = (envelope.source, envelope.detail_type)
    if kind == (MODEL_PACKAGE_SOURCE, MODEL_PACKAGE_STATE_CHANGE):
        return _package_request(envelope, rules)
    if kind == (RECONCILE_SOURCE, RECONCILE_DETAIL_TYPE):
        return _reconcile_request(envelope, rules)
    return Rejection(f"unexpected event: source {envelope.source!r}, detail-type {envelope.detail_type!r}")


def _package_request(envelope: Envelope, rules: RequestRules) -> PromotionRequest | Rejection:
    try:
        detail = _ModelPackageStateChange.model_validate(envelope.detail)
    except ValidationError as error:
        return Rejection(f"malformed model package state change: {first_error(error, whole='event')}")
    group = detail.ModelPackageGroupName
    deployment = contract.Deployment.from_group(group, rules.stages)
    if deployment is None:
        stages = ", ".join(rules.stages)
        return Rejection(f"group {group!r} is not a managed <project>-<stage> group (stages: {stages})")
    expected_arn = re.compile(
        rf"^arn:aws[a-z-]*:sagemaker:{re.escape(rules.region)}:{rules.dev_account_id}:"
        rf"model-package/{re.escape(group.lower())}/{detail.ModelPackageVersion}$"
    )
    if not expected_arn.match(detail.ModelPackageArn):
        return Rejection(
            f"ModelPackageArn {detail.ModelPackageArn!r} is not version {detail.ModelPackageVersion} of group "
            f"{group!r} in the dev registry"
        )
    trigger = f"v{detail.ModelPackageVersion} is {detail.ModelApprovalStatus}"
    return PromotionRequest(
        deployment, envelope.id, trigger, envelope.time, detail.ModelPackageArn, detail.ModelApprovalStatus
    )


def _reconcile_request(envelope: Envelope, rules: RequestRules) -> PromotionRequest | Rejection:
    try:
        detail = _ReconcileDetail.model_validate(envelope.detail)
    except ValidationError as error:
        return Rejection(f"malformed reconcile request: {first_error(error, whole='event')}")
    deployment = contract.Deployment.from_group(f"{detail.project}-{detail.stage}", rules.stages)
    if deployment is None or deployment != contract.Deployment(detail.project, detail.stage):
        return Rejection(f"reconcile request for an unmanaged project/stage {detail.project!r}/{detail.stage!r}")
    return PromotionRequest(deployment, envelope.id, f"reconcile: {detail.reason}")


# --- What a stage should run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageVersion:
    """A model package version of a group."""

    arn: str
    version: int


def highest_approved(summaries: Iterable[Mapping[str, Any]]) -> PackageVersion | None:
    """The highest approved, completed version among ``ListModelPackages`` summaries, or None."""
    usable = [
        PackageVersion(summary["ModelPackageArn"], int(summary["ModelPackageVersion"]))
        for summary in summaries
        if summary.get("ModelApprovalStatus") == "Approved"
        and summary.get("ModelPackageStatus", "Completed") == "Completed"
        and summary.get("ModelPackageVersion")
    ]
    return max(usable, key=lambda package: package.version, default=None)


@dataclass(frozen=True)
class GateRefusal:
    """Why the prod gate refuses a package: a short headline for the alert's subject, and the full reason."""

    headline: str
    reason: str


def prod_gate_refusal(
    deployment: contract.Deployment,
    package: Mapping[str, Any],
    source: Mapping[str, Any] | None,
    passed: set[str],
    rules: RequestRules,
) -> GateRefusal | None:
    """Why a prod stage may not deploy ``package`` (None if it may), judged on content, not on claims.

    The package (a ``DescribeModelPackage`` response) must name as its source (``SourceModelPackageArn``)
    a version of the same project's ``<project>-dev`` group in the dev registry; that source (``source``,
    described by the caller, None if it could not be) must have passed the test stage; and both must
    register the same image, image digest, artifact URL and artifact ETag.
    """
    if not is_prod_stage(deployment.stage):
        return None
    arn = package.get("ModelPackageArn", "")
    source_arn = (package.get("CustomerMetadataProperties") or {}).get(contract.META_SOURCE_PACKAGE)
    untested, not_the_tested_model = "no test-stage pass", "not the tested model"
    if not source_arn:
        return GateRefusal(
            untested,
            f"{arn} names no source package ({contract.META_SOURCE_PACKAGE}): only tested dev packages reach prod",
        )
    dev_group = f"{deployment.project}-dev"
    if not source_version_pattern(dev_group, rules).match(source_arn):
        return GateRefusal(
            untested,
            f"{arn} names {source_arn} as its source, which is not a version of {dev_group} in the dev registry",
        )
    if source is None or source.get("ModelPackageArn") != source_arn:
        return GateRefusal(untested, f"{arn}: its source {source_arn} cannot be read")
    if source_arn not in passed:
        return GateRefusal(untested, f"{arn}: its source {source_arn} has not passed the test stage")
    differences = content_mismatches(package, source)
    if differences:
        return GateRefusal(
            not_the_tested_model,
            f"{arn} does not hold the model its source {source_arn} was tested with: {'; '.join(differences)}",
        )
    return None


def source_version_pattern(group: str, rules: RequestRules) -> re.Pattern[str]:
    """The ARN of any version of ``group`` in the dev registry."""
    return re.compile(
        rf"^arn:aws[a-z-]*:sagemaker:{re.escape(rules.region)}:{rules.dev_account_id}:"
        rf"model-package/{re.escape(group.lower())}/[0-9]+$"
    )


# --- Stacks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackView:
    """What the promoter knows about a stack in a target account."""

    name: str
    status: str
    parameters: Mapping[str, str]
    change_set_busy: bool = False

    @property
    def package_arn(self) -> str:
        return self.parameters.get(EndpointParameters.MODEL_PACKAGE_ARN, "")

    @property
    def deployment_id(self) -> str:
        return self.parameters.get(EndpointParameters.DEPLOYMENT_ID, "")


class StackAction(StrEnum):
    """What can be done with a stack right now."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    UNCHANGED = "UNCHANGED"
    WAIT = "WAIT"
    DELETE_FAILED_CREATION = "DELETE_FAILED_CREATION"
    NEEDS_OPERATOR = "NEEDS_OPERATOR"


def stack_action(stack: StackView | None, in_sync: bool) -> StackAction:
    """Classify a stack: absent, busy, a failed first creation, settled (in sync or not), or stuck."""
    if stack is None:
        return StackAction.CREATE
    if stack.change_set_busy or (stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS"):
        return StackAction.WAIT
    if stack.status == "REVIEW_IN_PROGRESS":  # created by a change set that was never executed: nothing runs
        return StackAction.CREATE
    if stack.status == "ROLLBACK_COMPLETE":
        return StackAction.DELETE_FAILED_CREATION
    if stack.status in SETTLED_STATUSES:
        return StackAction.UNCHANGED if in_sync else StackAction.UPDATE
    return StackAction.NEEDS_OPERATOR


class DecisionKind(StrEnum):
    """The promoter's decisions, as the ledger records them."""

    DEPLOY = "DEPLOY"
    UNCHANGED = "UNCHANGED"
    SKIPPED = "SKIPPED"
    RETRY = "RETRY"
    DELETE_FAILED_CREATION = "DELETE_FAILED_CREATION"
    FAILED = "FAILED"
    NO_APPROVED_VERSION = "NO_APPROVED_VERSION"
    HOLD = "HOLD"
    REFUSED = "REFUSED"


@dataclass(frozen=True)
class Decision:
    """A decision about one stack, why, whether the team is alerted, and the change set type to deploy with."""

    kind: DecisionKind
    reason: str
    alert: bool = False
    change_set_type: Literal["CREATE", "UPDATE"] | None = None

    @property
    def retry(self) -> bool:
        """The SQS message must come back later (the stack is busy, or being cleaned up)."""
        return self.kind in (DecisionKind.RETRY, DecisionKind.DELETE_FAILED_CREATION)


def _unsettled(action: StackAction, stack: StackView | None) -> Decision | None:
    """The decision for a stack that cannot be deployed to now, or None if it can."""
    if stack is None:
        return None
    if action is StackAction.WAIT:
        busy = " with a change set in progress" if stack.change_set_busy else ""
        return Decision(DecisionKind.RETRY, f"{stack.name} is {stack.status}{busy}; trying again later")
    if action is StackAction.DELETE_FAILED_CREATION:
        return Decision(
            DecisionKind.DELETE_FAILED_CREATION,
            f"{stack.name} failed its first creation (ROLLBACK_COMPLETE, nothing serves); deleting it, then retrying",
        )
    if action is StackAction.NEEDS_OPERATOR:
        return Decision(DecisionKind.FAILED, f"{stack.name} is {stack.status}; an operator must repair it", alert=True)
    return None


def decide_endpoint(
    stack: StackView | None,
    desired: PackageVersion | None,
    state: StageState | None,
    approval_time: datetime | None = None,
) -> Decision:
    """What to do with a stage's endpoint stack so that it runs ``desired``.

    Never deletes a serving endpoint; never redeploys by itself a package whose last deployment on
    this stage was rolled back (``HOLD``), unless the team rejected it since and approved it again (a
    retry, see :func:`releases_hold`), or approves a newer version; never recreates the
    stacks of a package the clean-up deleted because of an event older than the clean-up
    (``approval_time``: a late or duplicate approval; a reconcile request has none).
    """
    in_sync = stack is not None and desired is not None and stack.package_arn == desired.arn
    action = stack_action(stack, in_sync)
    unsettled = _unsettled(action, stack)
    if unsettled:
        return unsettled
    if desired is None:
        if action is StackAction.CREATE:
            return Decision(DecisionKind.NO_APPROVED_VERSION, "no approved version and no endpoint: nothing to deploy")
        serving = stack.package_arn or "its current model"
        return Decision(
            DecisionKind.NO_APPROVED_VERSION,
            f"no approved version left; {stack.name} keeps serving {serving} (approve a version, or delete the stack)",
            alert=True,
        )
    if action is not StackAction.CREATE and state is not None and state.package_arn == desired.arn:
        if rolled_back(stack, state) and state.released_package_arn == desired.arn:
            return Decision(
                DecisionKind.DEPLOY,
                f"retrying v{desired.version} (rolled back in deployment {state.deployment_id}, then rejected "
                "and approved again)",
                change_set_type="UPDATE",
            )
        if rolled_back(stack, state):
            return Decision(
                DecisionKind.HOLD,
                f"v{desired.version} was rolled back in deployment {state.deployment_id}; not redeploying it "
                "automatically (to retry it, reject it, then approve it again; or approve a newer version)",
            )
    if action is StackAction.UNCHANGED:
        return Decision(DecisionKind.UNCHANGED, f"{stack.name} already runs v{desired.version}")
    if action is StackAction.CREATE and cleaned_up_before(state, desired, approval_time):
        return Decision(
            DecisionKind.SKIPPED,
            f"v{desired.version} was cleaned up at {state.cleaned_up_at} after its time to live; an event from "
            "before then does not redeploy it (approve a newer version, or approve this one again)",
        )
    change_set_type = "CREATE" if action is StackAction.CREATE else "UPDATE"
    return Decision(DecisionKind.DEPLOY, f"deploying v{desired.version}", change_set_type=change_set_type)


def rolled_back(stack: StackView | None, state: StageState) -> bool:
    """The stage's current attempt was rolled back: the tracker recorded it, or the stack already shows
    it (CloudFormation rolled the update back to another deployment while the ledger still says in
    progress). A change set of the stack in flight means a new attempt is starting, not a rollback."""
    if state.status == Status.ROLLED_BACK:
        return True
    return (
        state.status == Status.IN_PROGRESS
        and stack is not None
        and stack.status == "UPDATE_ROLLBACK_COMPLETE"
        and not stack.change_set_busy
        and stack.deployment_id != state.deployment_id
    )


def releases_hold(request: PromotionRequest, stack: StackView | None, state: StageState | None) -> bool:
    """The request is the team rejecting the package of the stage's rolled-back current attempt, after
    that attempt started: the hold on it is released, and approving it again retries it."""
    if state is None or request.approval_status != "Rejected" or request.package_arn != state.package_arn:
        return False
    started = state.started_at
    after_start = started is not None and request.approval_time is not None and request.approval_time > started
    return after_start and state.released_package_arn != state.package_arn and rolled_back(stack, state)


def cleaned_up_before(state: StageState | None, desired: PackageVersion, approval_time: datetime | None) -> bool:
    """The clean-up deleted ``desired``'s stacks after the approval the request comes from (or the
    request is no approval at all): recreating them would undo the clean-up."""
    if state is None or not state.cleaned_up_at or state.cleaned_up_package_arn != desired.arn:
        return False
    return approval_time is None or approval_time <= datetime.fromisoformat(state.cleaned_up_at)


def monitor_blocker(endpoint: StackView, state: StageState | None, kind: StageKind) -> str | None:
    """Why the monitor stack cannot follow the endpoint yet (None if it can): the tracker must have
    confirmed the endpoint's deployment; serverless endpoints capture no data to monitor, and a batch
    stage's monitor is part of its batch template."""
    if not kind.monitored_by_monitor_stack:
        return f"a {kind.kind} stage has no monitor stack"
    if state is None or state.deployment_id != endpoint.deployment_id or state.status != Status.DEPLOYED:
        return f"deployment {endpoint.deployment_id or '(unknown)'} is not confirmed deployed yet; monitor waits"
    return None


def decide_monitor(monitor: StackView | None, deployment_id: str, parameters: Mapping[str, str]) -> Decision:
    """What to do with the monitor stack so that it watches ``deployment_id`` with ``parameters``."""
    if not monitors_something(parameters):
        return Decision(DecisionKind.SKIPPED, "the package has no drift-check baselines to monitor")
    in_sync = monitor is not None and monitor.deployment_id == deployment_id
    action = stack_action(monitor, in_sync)
    unsettled = _unsettled(action, monitor)
    if unsettled:
        return unsettled
    if action is StackAction.UNCHANGED:
        return Decision(DecisionKind.UNCHANGED, f"{monitor.name} already monitors deployment {deployment_id}")
    change_set_type = "CREATE" if action is StackAction.CREATE else "UPDATE"
    return Decision(DecisionKind.DEPLOY, f"monitoring deployment {deployment_id}", change_set_type=change_set_type)


def is_empty_change_set(status_reason: str) -> bool:
    """A change set that failed only because nothing would change."""
    return any(words in status_reason for words in NO_CHANGES)


# --- CloudFormation requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageTarget:
    """Where a stage deploys: account, region, the role the promoter assumes, and the CloudFormation role."""

    account_id: str
    region: str
    deploy_role_arn: str
    cloudformation_role_arn: str
    model_bucket: str  # where the promoter puts the verified copies of the models this stage serves

    @property
    def partition(self) -> str:
        return self.deploy_role_arn.split(":")[1]


def new_deployment_id(version: int, suffix: str | None = None) -> str:
    """``v<version>-<8 hex>``: unique per attempt, it names the models and endpoint configurations."""
    return f"v{version}-{suffix or secrets.token_hex(4)}"


def monitor_change_set_name(deployment_id: str, suffix: str | None = None) -> str:
    """A unique change set name (and client request token) for one monitor deployment."""
    return f"{deployment_id}-monitor-{suffix or secrets.token_hex(4)}"


def alarm_arns(deployment: contract.Deployment, target: StageTarget, names: Iterable[str] | None = None) -> list[str]:
    """The ARNs of the rollback alarms in the target account (``names``; the endpoint's by default)."""
    return [
        f"arn:{target.partition}:cloudwatch:{target.region}:{target.account_id}:alarm:{name}"
        for name in (names or contract.alarm_names(deployment))
    ]


def stack_tags(deployment: contract.Deployment, package_arn: str, commit: str | None) -> list[dict[str, str]]:
    """The platform's tags on every stack it deploys."""
    return [
        {"Key": contract.TAG_PROJECT, "Value": deployment.project},
        {"Key": contract.TAG_STAGE, "Value": deployment.stage},
        {"Key": contract.TAG_MODEL_PACKAGE, "Value": package_arn},
        {"Key": contract.TAG_COMMIT, "Value": commit or "unknown"},
    ]


def _parameter_list(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": name, "ParameterValue": value} for name, value in sorted(values.items())]


@dataclass(frozen=True)
class Deploy:
    """Everything one change set needs besides the template: what, where, and why."""

    deployment: contract.Deployment
    target: StageTarget
    package_arn: str
    commit: str | None
    deployment_id: str
    change_set_type: Literal["CREATE", "UPDATE"]
    event_id: str


def endpoint_change_set(
    deploy: Deploy,
    *,
    served: ServedModel,
    template: str,
    settings: Mapping[str, str],
    monitoring_minutes: int,
    rollback_alarms: Iterable[str] | None = None,
) -> dict[str, Any]:
    """``CreateChangeSet`` arguments for the endpoint stack, serving ``served`` (the verified copy and image).

    Rollback triggers (the endpoint's two alarms, or ``rollback_alarms``) only on updates: a stack
    being created has no alarms yet, and nothing to roll back to. ``template`` is the endpoint or the
    batch template (see ``promoter.kinds``); both take the per-deployment parameters set here.
    """
    deployment = deploy.deployment
    parameters = {
        **settings,
        EndpointParameters.MODEL_PACKAGE_ARN: deploy.package_arn,
        EndpointParameters.MODEL_DATA_KEY: served.key,
        EndpointParameters.IMAGE: served.image,
        EndpointParameters.ENDPOINT_NAME: deployment.endpoint_name,
        EndpointParameters.DEPLOYMENT_ID: deploy.deployment_id,
    }
    request = _change_set(deploy, deployment.endpoint_stack, deploy.deployment_id, template, parameters)
    if deploy.change_set_type == "UPDATE":
        request["RollbackConfiguration"] = {
            "RollbackTriggers": [
                {"Arn": arn, "Type": "AWS::CloudWatch::Alarm"}
                for arn in alarm_arns(deployment, deploy.target, rollback_alarms)
            ],
            "MonitoringTimeInMinutes": monitoring_minutes,
        }
    return request


def monitor_change_set(deploy: Deploy, *, template: str, name: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    """``CreateChangeSet`` arguments for the monitor stack."""
    return _change_set(deploy, deploy.deployment.monitor_stack, name, template, parameters)


def _change_set(deploy: Deploy, stack: str, name: str, template: str, parameters: Mapping[str, str]) -> dict:
    return {
        "StackName": stack,
        "ChangeSetName": name,
        "ChangeSetType": deploy.change_set_type,
        "TemplateBody": template,
        "Parameters": _parameter_list(parameters),
        "RoleARN": deploy.target.cloudformation_role_arn,
        "Tags": stack_tags(deploy.deployment, deploy.package_arn, deploy.commit),
        "Description": f"{deploy.package_arn} as {deploy.deployment_id} (event {deploy.event_id})"[:1024],
        "ClientToken": name,
    }


def monitor_parameters(
    deployment: contract.Deployment, deployment_id: str, package: Mapping[str, Any]
) -> dict[str, str]:
    """The monitor template's parameters from a ``DescribeModelPackage`` response.

    Baselines come from ``DriftCheckBaselines`` (empty when absent: the template leaves that monitor
    out); ground truth and output attributes from the package's metadata. ``ProblemType`` and
    ``ProbabilityThreshold`` are left to the template's defaults when the package does not say.
    """
    baselines = package.get("DriftCheckBaselines") or {}
    metadata = package.get("CustomerMetadataProperties") or {}

    def uri(check: str, baseline: str) -> str:
        return ((baselines.get(check) or {}).get(baseline) or {}).get("S3Uri", "")

    parameters = {
        MonitorParameters.ENDPOINT_NAME: deployment.endpoint_name,
        MonitorParameters.DEPLOYMENT_ID: deployment_id,
        MonitorParameters.DATA_QUALITY_STATISTICS_URI: uri("ModelDataQuality", "Statistics"),
        MonitorParameters.DATA_QUALITY_CONSTRAINTS_URI: uri("ModelDataQuality", "Constraints"),
        MonitorParameters.MODEL_QUALITY_CONSTRAINTS_URI: uri("ModelQuality", "Constraints"),
        MonitorParameters.BIAS_CONFIG_URI: uri("Bias", "ConfigFile"),
        MonitorParameters.BIAS_CONSTRAINTS_URI: uri("Bias", "PostTrainingConstraints"),
        MonitorParameters.EXPLAINABILITY_CONFIG_URI: uri("Explainability", "ConfigFile"),
        MonitorParameters.EXPLAINABILITY_CONSTRAINTS_URI: uri("Explainability", "Constraints"),
        MonitorParameters.GROUND_TRUTH_URI: metadata.get(contract.META_GROUND_TRUTH, ""),
        MonitorParameters.INFERENCE_ATTRIBUTE: metadata.get(contract.META_INFERENCE_ATTRIBUTE, ""),
        MonitorParameters.PROBABILITY_ATTRIBUTE: metadata.get(contract.META_PROBABILITY_ATTRIBUTE, ""),
    }
    for key, parameter in (
        (contract.META_PROBLEM_TYPE, MonitorParameters.PROBLEM_TYPE),
        (contract.META_PROBABILITY_THRESHOLD, MonitorParameters.PROBABILITY_THRESHOLD),
    ):
        if metadata.get(key):
            parameters[parameter] = metadata[key]
    return parameters


def monitors_something(parameters: Mapping[str, str]) -> bool:
    """Whether the monitor template would create at least one schedule (its ``MonitorsSomething`` rule)."""

    def given(*names: str) -> bool:
        return all(parameters.get(name) for name in names)

    return (
        given(MonitorParameters.DATA_QUALITY_STATISTICS_URI, MonitorParameters.DATA_QUALITY_CONSTRAINTS_URI)
        or given(MonitorParameters.GROUND_TRUTH_URI, MonitorParameters.MODEL_QUALITY_CONSTRAINTS_URI)
        or given(
            MonitorParameters.GROUND_TRUTH_URI,
            MonitorParameters.BIAS_CONFIG_URI,
            MonitorParameters.BIAS_CONSTRAINTS_URI,
        )
        or given(MonitorParameters.EXPLAINABILITY_CONFIG_URI, MonitorParameters.EXPLAINABILITY_CONSTRAINTS_URI)
    )
