"""The tracker's decisions, as pure functions: what a forwarded event is about and what it means.

- :func:`tracked_event`: validate an event from a target account and name its deployment.
- :func:`stack_outcome`, :func:`endpoint_outcome`: the deployment outcome an event reports, if any.
- :func:`package_annotation`, :func:`package_withdrawal`: how a model package shows where it runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import contract
from envelope import DEPLOYMENT_ID, Envelope, Rejection, deployment_id_of_config, first_error, upper_snake
from ledger import StageState, Status

STACK_STATUS_CHANGE = ("aws.cloudformation", "CloudFormation Stack Status Change")
ENDPOINT_DEPLOYMENT_STATE_CHANGE = ("aws.sagemaker", "SageMaker Endpoint Deployment State Change")
ENDPOINT_STATE_CHANGE = ("aws.sagemaker", "SageMaker Endpoint State Change")
STACK_ARN = re.compile(r"^arn:aws[a-z-]*:cloudformation:[^:]+:(?P<account>[0-9]{12}):stack/(?P<name>[^/]+)/")


@dataclass(frozen=True)
class TrackingRules:
    """Where events may come from: the target accounts, in the platform's region, for its stages."""

    target_accounts: frozenset[str]
    region: str
    stages: tuple[str, ...]


class StackKind(StrEnum):
    """The two stacks the promoter deploys per stage."""

    ENDPOINT = "endpoint"
    MONITOR = "monitor"


@dataclass(frozen=True)
class StackStatusChange:
    """A status change of an endpoint or monitor stack; ``token`` is the operation's client request token."""

    event_id: str
    account: str
    deployment: contract.Deployment
    kind: StackKind
    stack_name: str
    status: str
    reason: str
    token: str


@dataclass(frozen=True)
class EndpointStateChange:
    """A state change of an endpoint or of its deployment; ``status`` in upper snake case (``ROLLING_BACK``)."""

    event_id: str
    account: str
    deployment: contract.Deployment
    endpoint_name: str
    status: str
    config_name: str
    pending_config_name: str
    failure_reason: str


TrackedEvent = StackStatusChange | EndpointStateChange


class _Detail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _StatusDetails(_Detail):
    status: str
    status_reason: str = Field("", alias="status-reason")


class _StackDetail(_Detail):
    stack_id: str = Field(alias="stack-id")
    status_details: _StatusDetails = Field(alias="status-details")
    client_request_token: str = Field("", alias="client-request-token")


class _PendingDeployment(_Detail):
    EndpointConfigName: str = ""


class _EndpointDetail(_Detail):
    EndpointName: str
    EndpointStatus: str
    EndpointConfigName: str = ""
    FailureReason: str = ""
    PendingDeploymentSummary: _PendingDeployment | None = None


def tracked_event(event: dict[str, Any], rules: TrackingRules) -> TrackedEvent | Rejection:
    """Validate a forwarded event and name the deployment it concerns."""
    try:
        envelope = Envelope.model_validate(event)
    except ValidationError as error:
        return Rejection(f"not an EventBridge event: {first_error(error)}")
    if envelope.account not in rules.target_accounts:
        return Rejection(f"account {envelope.account} is not a deployment target")
    if envelope.region != rules.region:
        return Rejection(f"region {envelope.region} is not the platform's region {rules.region}")
    kind = (envelope.source, envelope.detail_type)
    try:
        if kind == STACK_STATUS_CHANGE:
            return _stack_change(envelope, _StackDetail.model_validate(envelope.detail), rules)
        if kind in (ENDPOINT_DEPLOYMENT_STATE_CHANGE, ENDPOINT_STATE_CHANGE):
            return _endpoint_change(envelope, _EndpointDetail.model_validate(envelope.detail), rules)
    except ValidationError as error:
        return Rejection(f"malformed {envelope.detail_type}: {first_error(error)}")
    return Rejection(f"unexpected event: source {envelope.source!r}, detail-type {envelope.detail_type!r}")


def _stack_change(envelope: Envelope, detail: _StackDetail, rules: TrackingRules) -> StackStatusChange | Rejection:
    arn = STACK_ARN.match(detail.stack_id)
    if arn is None or arn["account"] != envelope.account:
        return Rejection(f"stack-id {detail.stack_id!r} is not a stack of account {envelope.account}")
    name = arn["name"]
    deployment = contract.Deployment.from_resource_name(name, rules.stages)
    if deployment is None:
        return Rejection(f"stack {name!r} is not an endpoint or monitor stack of the platform")
    kind = StackKind.ENDPOINT if name == deployment.endpoint_stack else StackKind.MONITOR
    return StackStatusChange(
        event_id=envelope.id,
        account=envelope.account,
        deployment=deployment,
        kind=kind,
        stack_name=name,
        status=detail.status_details.status,
        reason=detail.status_details.status_reason,
        token=detail.client_request_token,
    )


def _endpoint_change(
    envelope: Envelope, detail: _EndpointDetail, rules: TrackingRules
) -> EndpointStateChange | Rejection:
    deployment = contract.Deployment.from_resource_name(detail.EndpointName, rules.stages)
    if deployment is None or detail.EndpointName != deployment.endpoint_name:
        return Rejection(f"endpoint {detail.EndpointName!r} is not an endpoint of the platform")
    pending = detail.PendingDeploymentSummary
    return EndpointStateChange(
        event_id=envelope.id,
        account=envelope.account,
        deployment=deployment,
        endpoint_name=detail.EndpointName,
        status=upper_snake(detail.EndpointStatus),
        config_name=detail.EndpointConfigName,
        pending_config_name=pending.EndpointConfigName if pending else "",
        failure_reason=detail.FailureReason,
    )


def unrelated_to_stage(account: str, state: StageState | None) -> str | None:
    """Why an event cannot concern the stage's deployments (None if it can): the promoter never deployed
    the stage, or the event comes from another account than the one the stage deploys to."""
    if state is None or not state.deployment_id:
        return "the promoter has deployed nothing to this stage"
    if state.account != account:
        return f"the event comes from account {account}, the stage deploys to {state.account}"
    return None


# --- Outcomes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """A deployment outcome an event reports."""

    status: Status
    reason: str


def stack_outcome(status: str, reason: str) -> Outcome | None:
    """The outcome a stack status reports; None for statuses on the way (``*_IN_PROGRESS``) or unrelated."""
    detail = f": {reason}" if reason else ""
    if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        return Outcome(Status.DEPLOYED, f"stack {status}")
    if status == "UPDATE_ROLLBACK_COMPLETE":
        return Outcome(Status.ROLLED_BACK, f"CloudFormation rolled the update back{detail}")
    if status == "ROLLBACK_COMPLETE":
        return Outcome(Status.FAILED, f"the stack's creation failed and was rolled back{detail}")
    if status.endswith("_FAILED"):
        return Outcome(Status.FAILED, f"stack {status}{detail}")
    return None


def stack_event_deployment_id(token: str, current_deployment_id: str) -> str | None:
    """The attempt a stack event belongs to: the token the promoter executed its change set with; the
    stage's current attempt if the event carries no token; None for operations someone else started."""
    if DEPLOYMENT_ID.match(token):
        return token
    if token:
        return None
    return current_deployment_id or None


def endpoint_outcome(change: EndpointStateChange, current_deployment_id: str) -> tuple[str, Outcome] | None:
    """The attempt an endpoint event concerns and the outcome it reports, if it reports one.

    The attempt being rolled out is the one named by the pending endpoint configuration, else the
    stage's current attempt. A rollback is also recognised after the fact: the endpoint is back in
    service with a failure reason, on another configuration than the current attempt's.
    """
    rolled_out = deployment_id_of_config(change.endpoint_name, change.pending_config_name) or current_deployment_id
    why = f": {change.failure_reason}" if change.failure_reason else ""
    if not rolled_out:
        return None
    if change.status == "ROLLING_BACK":
        return rolled_out, Outcome(Status.ROLLED_BACK, f"SageMaker rolled deployment {rolled_out} back{why}")
    if change.status == "UPDATE_ROLLBACK_FAILED":
        return rolled_out, Outcome(Status.FAILED, f"SageMaker could not roll deployment {rolled_out} back{why}")
    if change.status == "FAILED":
        return rolled_out, Outcome(Status.FAILED, f"endpoint failed{why}")
    serving_other = change.config_name != f"{change.endpoint_name}-{current_deployment_id}"
    if change.status == "IN_SERVICE" and change.failure_reason and current_deployment_id and serving_other:
        return current_deployment_id, Outcome(
            Status.ROLLED_BACK, f"endpoint back in service on {change.config_name}{why}"
        )
    return None


# --- Model package annotations ----------------------------------------------------------------------------


def deployed_metadata_key(stage: str) -> str:
    """The model package metadata key saying where the package runs for a stage."""
    return f"deployed-{stage}"


def package_annotation(deployment: contract.Deployment, account: str, deployment_id: str, since: str) -> dict[str, Any]:
    """``UpdateModelPackage`` arguments (without the ARN) recording that the package serves the stage."""
    where = f"{deployment.endpoint_name} in {account} as {deployment_id} since {since}"
    return {
        "CustomerMetadataProperties": {deployed_metadata_key(deployment.stage): where},
        "ModelLifeCycle": _life_cycle(deployment, "Deployed", where),
    }


def package_withdrawal(deployment: contract.Deployment, stage_status: str, why: str) -> dict[str, Any]:
    """``UpdateModelPackage`` arguments (without the ARN) recording that the package no longer serves the stage."""
    return {
        "CustomerMetadataPropertiesToRemove": [deployed_metadata_key(deployment.stage)],
        "ModelLifeCycle": _life_cycle(deployment, stage_status, why),
    }


def _life_cycle(deployment: contract.Deployment, stage_status: str, description: str) -> dict[str, str]:
    return {
        "Stage": contract.STAGE_ACCOUNTS[deployment.stage],
        "StageStatus": stage_status,
        "StageDescription": description[:1024],
    }


def annotated_deployment(package: dict[str, Any], stage: str) -> str | None:
    """The deployment id a package's ``deployed-<stage>`` annotation names, if it has one."""
    value = (package.get("CustomerMetadataProperties") or {}).get(deployed_metadata_key(stage), "")
    match = re.search(r" as (v[0-9]+-[0-9a-f]{8}) ", value)
    return match[1] if match else None


def outcome_summary(status: Status, package_version: int, deployment_id: str) -> str:
    """The words of a notification subject about an outcome."""
    words = {Status.DEPLOYED: "deployed", Status.ROLLED_BACK: "rolled back", Status.FAILED: "failed"}[status]
    return f"v{package_version} {words} ({deployment_id})"
