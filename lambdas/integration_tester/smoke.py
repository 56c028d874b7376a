"""Smoke runs of batch stages, as pure functions: which stack event asks for one, the project's test
cases as one CSV input file, and the output rows back to each case's answer.

A batch stage has no endpoint, so no ``IN_SERVICE`` event: its deployment is ready to test when its
``<project>-<stage>-endpoint`` stack completed the promoter's change set (the event's client request
token is the deployment id) and the tracker recorded it ``DEPLOYED``. The tester then runs the stage's
batch pipeline once over the cases (``contract.batch_smoke_prefix``) and checks each case's rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import contract
from envelope import DEPLOYMENT_ID, Envelope, Rejection
from integration_tester.cases import Answer, TestCase, validation_problem
from integration_tester.decisions import Later, TesterRules, s3_location
from ledger import StageState, Status
from settings import is_test_stage

STACK_STATUS_CHANGE = ("aws.cloudformation", "CloudFormation Stack Status Change")
COMPLETED = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
STACK_ARN = re.compile(r"^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:(?P<account>[0-9]{12}):stack/(?P<name>[^/]+)/")
#: What a batch transform reads and writes (the batch template's ``ContentType`` and ``Accept``).
CSV = "text/csv"
INPUT_FILE = "cases.csv"
#: SageMaker names each output object after its input object.
OUTPUT_SUFFIX = ".out"
#: A pipeline execution's idempotency token is 32 to 128 characters.
TOKEN_LENGTH = 32


@dataclass(frozen=True)
class StackCompleted:
    """A platform stack completed the promoter's change set ``deployment_id``."""

    event_id: str
    account: str
    deployment: contract.Deployment
    deployment_id: str


class _StatusDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str


class _StackDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    stack_id: str = Field(alias="stack-id")
    status_details: _StatusDetails = Field(alias="status-details")
    client_request_token: str = Field("", alias="client-request-token")


def is_stack_event(event: Mapping[str, Any]) -> bool:
    return (event.get("source"), event.get("detail-type")) == STACK_STATUS_CHANGE


def stack_completed(event: Mapping[str, Any], rules: TesterRules) -> StackCompleted | Rejection:
    """Validate a forwarded stack event: a stage's ``-endpoint`` stack completing a promoter's change set."""
    try:
        envelope = Envelope.model_validate(event)
    except ValidationError as error:
        return Rejection(f"not an EventBridge event: {validation_problem(error)}")
    if envelope.region != rules.region:
        return Rejection(f"region {envelope.region} is not the platform's region {rules.region}")
    detail = envelope.detail_as(_StackDetail, whole="case")
    if isinstance(detail, Rejection):
        return detail
    arn = STACK_ARN.match(detail.stack_id)
    if arn is None or arn["account"] != envelope.account:
        return Rejection(f"stack-id {detail.stack_id!r} is not a stack of account {envelope.account}")
    deployment = contract.Deployment.from_resource_name(arn["name"], tuple(rules.targets))
    if deployment is None or arn["name"] != deployment.endpoint_stack:
        return Rejection(f"stack {arn['name']!r} is not a deployment stack of the platform")
    if detail.status_details.status not in COMPLETED:
        return Rejection(f"stack {arn['name']} is {detail.status_details.status}, not complete")
    expected_account = rules.targets[deployment.stage].account_id
    if envelope.account != expected_account:
        return Rejection(f"account {envelope.account} is not where stage {deployment.stage} deploys")
    if not DEPLOYMENT_ID.match(detail.client_request_token):
        return Rejection(f"stack {arn['name']} completed an operation the promoter did not start")
    return StackCompleted(envelope.id, envelope.account, deployment, detail.client_request_token)


def batch_deployment_to_test(change: StackCompleted, state: StageState | None) -> str | Rejection | Later:
    """The deployment to smoke-test: the stage's current one, once the tracker recorded it deployed."""
    if state is None or state.deployment_id != change.deployment_id:
        return Rejection(f"stale event: deployment {change.deployment_id} is not the stage's current one")
    if state.status in (Status.ROLLED_BACK, Status.FAILED):
        return Rejection(f"deployment {state.deployment_id} is {state.status}: nothing to test")
    if state.status != Status.DEPLOYED and is_test_stage(change.deployment.stage):
        return Later(f"deployment {state.deployment_id} is {state.status or 'starting'}: waiting for the tracker")
    return state.deployment_id


@dataclass(frozen=True)
class SmokeRun:
    """The smoke input of a deployment: the cases' CSV rows in one file, and how many rows each case has."""

    body: str
    rows: tuple[tuple[str, int], ...]
    refused: Mapping[str, Answer]


def smoke_input(cases: Sequence[TestCase]) -> SmokeRun:
    """One CSV file of every case's rows; cases a batch transform cannot run are answered with why."""
    lines: list[str] = []
    rows = []
    refused = {}
    for case in cases:
        if case.content_type != CSV or (case.accept or CSV) != CSV:
            refused[case.name] = Answer(0, "", 0, error=f"a batch transform reads and writes {CSV} only")
            continue
        if case.expected_status != 200:
            refused[case.name] = Answer(0, "", 0, error="a batch transform has no status to expect")
            continue
        case_lines = [line for line in case.payload.splitlines() if line.strip()]
        lines += case_lines
        rows.append((case.name, len(case_lines)))
    return SmokeRun("\n".join(lines) + "\n" if lines else "", tuple(rows), refused)


def smoke_bucket(pipeline_definition: Mapping[str, Any]) -> str:
    """The bucket a batch pipeline reads (its input parameter's default): where the smoke run goes."""
    defaults = {p.get("Name"): p.get("DefaultValue", "") for p in pipeline_definition.get("Parameters", [])}
    return s3_location(defaults.get(contract.BATCH_INPUT_URI, ""))[0]


def smoke_answers(run: SmokeRun, output: str) -> dict[str, Answer]:
    """Each case's rows of the run's output (one output line per input line, in order)."""
    lines = [line for line in output.splitlines() if line.strip()]
    expected = sum(count for _, count in run.rows)
    answers = dict(run.refused)
    if len(lines) != expected:
        problem = f"the smoke run wrote {len(lines)} rows for {expected} input rows"
        return answers | {name: Answer(0, "", 0, error=problem, queued=True) for name, _ in run.rows}
    start = 0
    for name, count in run.rows:
        answers[name] = Answer(200, "\n".join(lines[start : start + count]), 0, queued=True)
        start += count
    return answers


def smoke_failed(run: SmokeRun, reason: str) -> dict[str, Answer]:
    """Every case fails with the reason the run failed."""
    error = f"the smoke run failed: {reason}"
    return dict(run.refused) | {name: Answer(0, "", 0, error=error, queued=True) for name, _ in run.rows}


def execution_token(deployment_id: str) -> str:
    """The idempotency token of a deployment's smoke run: a retried start returns the same execution."""
    return f"integration-smoke-{deployment_id}".ljust(TOKEN_LENGTH, "-")


def execution_id(execution_arn: str) -> str:
    """The execution id at the end of ``arn:...:pipeline/<name>/execution/<id>``."""
    return execution_arn.rsplit("/", 1)[-1]


def run_status(described: Mapping[str, Any]) -> Later | str | None:
    """Later while the execution runs; its failure reason if it did not succeed; None if it succeeded."""
    status = described.get("PipelineExecutionStatus", "")
    if status in ("Executing", "Stopping"):
        return Later(f"the smoke run is {status}")
    if status != "Succeeded":
        return f"{status}: {described.get('FailureReason') or 'no reason given'}"
    return None
