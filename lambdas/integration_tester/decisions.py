"""The tester's decisions, as pure functions: which deployment an event asks to test, whether its
endpoint can be tested now, and what the cases' results add up to.

- :func:`endpoint_in_service`: validate a forwarded ``SageMaker Endpoint State Change`` event.
- :func:`deployment_to_test`: the stage's current attempt, if the event is about it.
- :func:`readiness`: whether ``DescribeEndpoint`` shows that attempt serving.
- :func:`async_requests`: where an asynchronous endpoint's test requests go (``DescribeEndpointConfig``).
- :func:`case_result`, :func:`run_result`: the results of the cases and of the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

import contract
from envelope import Envelope, Rejection, deployment_id_of_config, upper_snake
from integration_tester.cases import Answer, MalformedCase, TestCase, check, validation_problem
from ledger import StageState, Status, TestRun
from settings import is_test_stage

ENDPOINT_STATE_CHANGE = ("aws.sagemaker", "SageMaker Endpoint State Change")
#: The endpoint status ``DescribeEndpoint`` reports when it can be invoked.
IN_SERVICE = "InService"
#: Where the team adds test cases; told in every notification of a run without any.
HOW_TO_ADD_CASES = (
    "add test cases to the project-settings table with scripts/integration_tests.py "
    "(see project_templates/tabular-xgboost/integration-tests.json); the next deployment runs them"
)


@dataclass(frozen=True)
class TesterTarget:
    """A stage's account and the role the tester assumes there."""

    __test__ = False  # not a pytest test class

    account_id: str
    role_arn: str


@dataclass(frozen=True)
class TesterRules:
    """Where each stage's endpoints run, and the platform's region."""

    __test__ = False  # not a pytest test class

    targets: Mapping[str, TesterTarget]
    region: str


@dataclass(frozen=True)
class Later:
    """The endpoint cannot be tested yet: the message comes back."""

    reason: str


@dataclass(frozen=True)
class EndpointInService:
    """An endpoint of the platform reported in service; ``config_name`` is the configuration it serves."""

    event_id: str
    account: str
    deployment: contract.Deployment
    config_name: str


class _EndpointDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    EndpointName: str
    EndpointStatus: str
    EndpointConfigName: str = ""


def endpoint_in_service(event: Mapping[str, Any], rules: TesterRules) -> EndpointInService | Rejection:
    """Validate the event and name the deployment whose endpoint it reports in service."""
    try:
        envelope = Envelope.model_validate(event)
    except ValidationError as error:
        return Rejection(f"not an EventBridge event: {validation_problem(error)}")
    if (envelope.source, envelope.detail_type) != ENDPOINT_STATE_CHANGE:
        return Rejection(f"unexpected event: source {envelope.source!r}, detail-type {envelope.detail_type!r}")
    if envelope.region != rules.region:
        return Rejection(f"region {envelope.region} is not the platform's region {rules.region}")
    detail = envelope.detail_as(_EndpointDetail, whole="case")
    if isinstance(detail, Rejection):
        return detail
    deployment = contract.Deployment.from_resource_name(detail.EndpointName, tuple(rules.targets))
    if deployment is None or detail.EndpointName != deployment.endpoint_name:
        return Rejection(f"endpoint {detail.EndpointName!r} is not an endpoint of the platform")
    if upper_snake(detail.EndpointStatus) != "IN_SERVICE":
        return Rejection(f"endpoint {detail.EndpointName} is {detail.EndpointStatus}, not in service")
    expected_account = rules.targets[deployment.stage].account_id
    if envelope.account != expected_account:
        return Rejection(
            f"account {envelope.account} is not where stage {deployment.stage} deploys ({expected_account})"
        )
    return EndpointInService(envelope.id, envelope.account, deployment, detail.EndpointConfigName)


def deployment_to_test(change: EndpointInService, state: StageState | None) -> str | Rejection | Later:
    """The deployment id of the stage's current attempt, if the event reports that attempt in service.

    A test-stage attempt is tested once its stack completed (Later until then): CloudFormation may
    still roll an update back during its rollback monitoring, after the endpoint is in service, and
    the test-stage pass must not open the prod gate in that window.
    """
    if state is None or not state.deployment_id:
        return Rejection("the promoter has deployed nothing to this stage")
    reported = deployment_id_of_config(change.deployment.endpoint_name, change.config_name)
    if reported is None:
        return Rejection(f"endpoint configuration {change.config_name!r} was not deployed by the promoter")
    if reported != state.deployment_id:
        return Rejection(f"stale event: it reports {reported}, the stage's current deployment is {state.deployment_id}")
    if state.status in (Status.ROLLED_BACK, Status.FAILED):
        return Rejection(f"deployment {state.deployment_id} is {state.status}: nothing to test")
    if is_test_stage(change.deployment.stage) and state.status != Status.DEPLOYED:
        return Later(f"deployment {state.deployment_id} is {state.status or 'starting'}: waiting for its stack")
    return state.deployment_id


def readiness(
    described: Mapping[str, Any], deployment: contract.Deployment, deployment_id: str
) -> Later | Rejection | None:
    """None if ``DescribeEndpoint`` shows the attempt serving; Later while the endpoint is busy;
    a Rejection if it serves another configuration (rolled back or replaced meanwhile)."""
    status = described.get("EndpointStatus", "")
    if status != IN_SERVICE:
        return Later(f"endpoint {deployment.endpoint_name} is {status}, not {IN_SERVICE}")
    serving = described.get("EndpointConfigName", "")
    if deployment_id_of_config(deployment.endpoint_name, serving) != deployment_id:
        return Rejection(f"endpoint {deployment.endpoint_name} serves {serving}, not deployment {deployment_id}")
    return None


@dataclass(frozen=True)
class AsyncRequests:
    """Where the tester writes an asynchronous endpoint's test requests: one object per case under
    ``<endpoint>/async/input/<deployment id>/`` of the bucket SageMaker writes its results to."""

    bucket: str
    prefix: str

    def key(self, case_name: str) -> str:
        return f"{self.prefix}{case_name}"

    def location(self, case_name: str) -> str:
        return f"s3://{self.bucket}/{self.key(case_name)}"


def async_requests(
    endpoint_config: Mapping[str, Any], deployment: contract.Deployment, deployment_id: str
) -> AsyncRequests | None:
    """Where to put the test requests if ``DescribeEndpointConfig`` shows an asynchronous endpoint
    (its ``AsyncInferenceConfig``), else None: the endpoint answers ``InvokeEndpoint`` directly."""
    output_path = endpoint_config.get("AsyncInferenceConfig", {}).get("OutputConfig", {}).get("S3OutputPath")
    if not output_path:
        return None
    bucket, _ = s3_location(output_path)
    return AsyncRequests(bucket, f"{contract.async_prefix(deployment.endpoint_name)}input/{deployment_id}/")


def s3_location(uri: str) -> tuple[str, str]:
    """Bucket and key of an ``s3://bucket/key`` URI; ValueError if it is none."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return bucket, key


# --- Results --------------------------------------------------------------------------------------


def case_result(case: TestCase | MalformedCase, answer: Answer | None = None) -> dict[str, Any]:
    """One case's result as the ledger stores it (integers only)."""
    if isinstance(case, MalformedCase):
        return {"name": case.name, "passed": False, "problems": [f"malformed test case: {case.problem}"]}
    problems = check(case, answer)
    return {
        "name": case.name,
        "passed": not problems,
        "problems": problems,
        "status": answer.status,
        "latency_ms": answer.latency_ms,
    }


def run_result(stage: str, results: Sequence[Mapping[str, Any]], *, event_id: str, now: str) -> TestRun:
    """The run's result: passed only if there was at least one case and every case passed."""
    failed = [result for result in results if not result["passed"]]
    if not results:
        summary = f"no test cases configured for stage {stage}: {HOW_TO_ADD_CASES}"
    elif failed:
        first = failed[0]
        summary = f"{len(failed)} of {len(results)} cases failed; {first['name']}: {'; '.join(first['problems'])}"
    else:
        summary = f"{len(results)} of {len(results)} cases passed"
    return TestRun(
        passed=bool(results) and not failed,
        summary=summary,
        cases=tuple(dict(result) for result in results),
        event_id=event_id,
        tested_at=now,
    )
