"""The integration tester against moto: endpoints in service tested through the target accounts' tester roles."""

from __future__ import annotations

import io
import json
import re
import time
from decimal import Decimal

import pytest
from botocore.awsrequest import AWSResponse

import contract
from integration_tester import handler as tester_module
from integration_tester.handler import TesterSettings
from settings import ConfigurationError
from tests.lambdas.conftest import TESTER_ENVIRONMENT, TYPICAL_CASE
from tests.lambdas.events import PROD, TEST


@pytest.fixture
def logs(monkeypatch):
    """The tester's structured log lines, as parsed JSON."""
    stream = io.StringIO()
    monkeypatch.setattr(tester_module.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def deployed(platform, stage: str = "dev") -> str:
    """A version approved, deployed and confirmed by its stack's completion; the alerts so far drained."""
    package = platform.register(stage)
    platform.promote(platform.package_event(package))
    platform.track(platform.completion(stage, "CREATE_COMPLETE"))
    platform.alerts()
    platform.reconcile_requests()
    return package


def dropped(logs) -> list[str]:
    return [line["reason"] for line in logs() if line["message"] == "Dropped event"]


def slow_for(platform, payload: bytes, seconds: float) -> None:
    """The endpoint takes ``seconds`` longer to answer ``payload`` (moto answers in-process at once)."""

    def delay(request, **_) -> None:
        if request.body == payload:
            time.sleep(seconds)

    platform.tester_session.events.register("before-send.sagemaker-runtime.InvokeEndpoint", delay)


class RuntimeAnswers:
    """What SageMaker Runtime answers InvokeEndpoint with, on the wire, for what moto cannot simulate
    (throttling, a model's own error status); counts the attempts botocore makes."""

    def __init__(self, platform, monkeypatch, status: int, error_type: str, body: dict) -> None:
        self.attempts = 0
        self._status, self._error_type, self._body = status, error_type, json.dumps(body).encode()
        platform.tester_session.events.register("before-send.sagemaker-runtime.InvokeEndpoint", self._send)
        monkeypatch.setattr("botocore.endpoint.time.sleep", lambda seconds: None)  # retries without waiting

    def _send(self, request, **_) -> AWSResponse:
        self.attempts += 1
        body = self._body

        class Raw:
            def stream(self, **__):
                yield body

        return AWSResponse(request.url, self._status, {"x-amzn-errortype": self._error_type}, Raw())


def test_a_passing_run_records_the_test_stage_pass_and_notifies(platform):
    package = deployed(platform)
    deployment_id = platform.state("dev")["deployment_id"]
    platform.add_test_case("typical", **TYPICAL_CASE)
    platform.add_test_case("prod-only", **TYPICAL_CASE, stages=["prod"])

    assert platform.run_integration_tests("dev", "0.42\n") == {"batchItemFailures": []}

    record = platform.test_record(package)
    assert (record["passed"], record["deployment_id"], record["failed_cases"]) == (True, deployment_id, [])
    [attempt] = platform.attempts("dev")
    assert (attempt["tests_result"], attempt["tests_summary"]) == ("PASSED", "1 of 1 cases passed")
    [result] = attempt["tests_cases"]
    assert (result["name"], result["status"], result["problems"]) == ("typical", 200, [])
    assert platform.state("dev")["tests_result"] == "PASSED"
    [(subject, message)] = platform.alerts()
    assert subject == f"[churn/dev] integration tests passed: v1 ({deployment_id})"
    assert (message["result"], message["gates_prod"], message["account"]) == ("PASSED", True, TEST)


def test_a_failing_run_records_the_failed_cases_and_notifies(platform):
    package = deployed(platform)
    platform.add_test_case("typical", **TYPICAL_CASE)
    platform.add_test_case("batch", **{**TYPICAL_CASE, "payload": "35,12,80.5,2,1,1\n61,3,20.0,1,6,0"})
    platform.add_test_case("slow", **{**TYPICAL_CASE, "payload": "50,1,1.0,1,0,0", "latency_budget_ms": 10})
    slow_for(platform, b"50,1,1.0,1,0,0", seconds=0.05)

    platform.run_integration_tests("dev", "0.1\n0.2", "0.3", "0.42")  # asked in name order: batch, slow, typical

    record = platform.test_record(package)
    assert record["passed"] is False
    assert record["failed_cases"] == ["batch", "slow"]
    results = {case["name"]: case for case in platform.attempts("dev")[0]["tests_cases"]}
    assert results["batch"]["problems"] == ["2 values, expected 1: 0.1 0.2"]
    assert results["slow"]["problems"][0].startswith("latency ")
    assert results["typical"]["passed"] is True
    [(subject, message)] = platform.alerts()
    assert "integration tests FAILED" in subject
    assert message["summary"].startswith("2 of 3 cases failed; batch: 2 values, expected 1: 0.1 0.2")
    assert [case["name"] for case in message["failed_cases"]] == ["batch", "slow"]


def test_without_test_cases_the_gate_fails_closed_and_says_how_to_add_them(platform):
    package = deployed(platform)

    platform.endpoint_answers("dev", "0.42")
    platform.test_endpoint(platform.in_service("dev"))

    assert platform.test_record(package)["passed"] is False
    [(_, message)] = platform.alerts()
    assert message["summary"].startswith("no test cases configured for stage dev: add test cases")
    assert "scripts/integration_tests.py" in message["summary"]


def test_a_malformed_test_case_fails_by_name_and_field_while_the_others_run(platform):
    package = deployed(platform)
    platform.add_test_case("typical", **TYPICAL_CASE)
    platform.add_test_case("typo", **{**TYPICAL_CASE, "expected_status": Decimal(200), "latency_budgt_ms": 5})

    assert platform.run_integration_tests("dev", "0.42") == {"batchItemFailures": []}

    results = {case["name"]: case for case in platform.attempts("dev")[0]["tests_cases"]}
    assert results["typical"]["passed"] is True
    assert results["typo"]["problems"] == ["malformed test case: latency_budgt_ms: Extra inputs are not permitted"]
    assert platform.test_record(package)["failed_cases"] == ["typo"]


def test_an_unknown_endpoint_is_dropped_with_a_reason(platform, logs):
    deployed(platform)
    platform.add_test_case("typical", **TYPICAL_CASE)
    other = platform.in_service("dev")
    other["detail"]["EndpointName"] = "fraud-dev-endpoint"
    other["detail"]["EndpointConfigName"] = "fraud-dev-endpoint-v1-0a1b2c3d"

    assert platform.test_endpoint(other) == {"batchItemFailures": []}

    assert dropped(logs) == ["the promoter has deployed nothing to this stage"]
    assert "tests_result" not in platform.attempts("dev")[0]
    assert platform.alerts() == []


def test_a_stale_event_of_a_previous_deployment_is_dropped(platform, logs):
    deployed(platform)
    first = platform.state("dev")["deployment_id"]
    platform.promote(platform.package_event(platform.register("dev")))  # v2 is being deployed

    platform.test_endpoint(platform.in_service("dev", deployment_id=first))

    current = platform.state("dev")["deployment_id"]
    assert dropped(logs) == [f"stale event: it reports {first}, the stage's current deployment is {current}"]
    assert all("tests_result" not in attempt for attempt in platform.attempts("dev"))


def test_an_endpoint_not_in_service_makes_the_message_come_back(platform):
    package = deployed(platform)
    platform.add_test_case("typical", **TYPICAL_CASE)
    platform.serve("dev", "Updating")
    event = platform.in_service("dev")

    response = platform.test_endpoint(event)

    assert len(response["batchItemFailures"]) == 1
    assert platform.test_record(package) == {}
    platform.serve("dev")
    platform.endpoint_answers("dev", "0.42")
    assert platform.test_endpoint(event) == {"batchItemFailures": []}  # the same message, redelivered
    assert platform.test_record(package)["passed"] is True


def test_a_test_stage_deployment_waits_for_its_stack_to_complete(platform):
    package = platform.register("dev")
    platform.promote(platform.package_event(package))  # the endpoint is in service, the stack still running
    platform.add_test_case("typical", **TYPICAL_CASE)
    event = platform.in_service("dev")

    assert len(platform.test_endpoint(event)["batchItemFailures"]) == 1

    assert platform.test_record(package) == {}
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    platform.endpoint_answers("dev", "0.42")
    platform.test_endpoint(event)  # the message comes back
    assert platform.test_record(package)["passed"] is True


def test_a_throttled_endpoint_makes_the_message_come_back_after_botocores_retries(platform, monkeypatch):
    package = deployed(platform)
    platform.add_test_case("typical", **TYPICAL_CASE)
    runtime = RuntimeAnswers(platform, monkeypatch, 400, "ThrottlingException", {"message": "Rate exceeded"})

    response = platform.run_integration_tests("dev")

    assert len(response["batchItemFailures"]) == 1
    assert runtime.attempts == 3  # botocore's standard retry mode tried three times
    assert platform.test_record(package) == {}
    assert "tests_result" not in platform.attempts("dev")[0]
    assert platform.alerts() == []


def test_the_models_own_error_status_can_be_expected_and_other_errors_fail_with_details(platform, monkeypatch):
    package = deployed(platform)
    rejects = {"payload": "not,a,row", "content_type": "text/csv", "expected_status": 415, "output": {"pattern": "csv"}}
    platform.add_test_case("rejects-garbage", **rejects)
    platform.add_test_case("typical", **TYPICAL_CASE)
    model_error = {
        "Message": 'Received client error (415) from primary with message "unsupported csv row"',
        "OriginalStatusCode": 415,
        "OriginalMessage": "unsupported csv row",
        "LogStreamArn": f"arn:aws:logs:eu-west-1:{TEST}:log-group:/aws/sagemaker/Endpoints/churn-dev-endpoint",
    }
    RuntimeAnswers(platform, monkeypatch, 424, "ModelError", model_error)

    platform.run_integration_tests("dev")

    results = {case["name"]: case for case in platform.attempts("dev")[0]["tests_cases"]}
    assert results["rejects-garbage"]["passed"] is True
    assert results["typical"]["problems"] == ["status 415, expected 200: unsupported csv row"]
    assert platform.test_record(package)["passed"] is False


def test_the_same_event_twice_tests_once(platform):
    deployed(platform)
    platform.add_test_case("typical", **TYPICAL_CASE)
    platform.endpoint_answers("dev", "0.42")
    event = platform.in_service("dev")

    platform.test_endpoint(event, event)
    platform.test_endpoint(event)

    assert len(platform.alerts()) == 1
    assert platform.attempts("dev")[0]["tests_event_id"] == event["id"]


def test_a_notification_that_failed_is_sent_when_the_event_comes_back(platform):
    from botocore.exceptions import EndpointConnectionError

    package = deployed(platform)
    failures = iter([EndpointConnectionError(endpoint_url="https://sns.eu-west-1.amazonaws.com")])

    def publish_fails_once(**_) -> None:
        error = next(failures, None)
        if error:
            raise error

    platform.tester.clients.sns.meta.events.register("before-call.sns.Publish", publish_fails_once)
    platform.add_test_case("typical", **TYPICAL_CASE)
    platform.endpoint_answers("dev", "0.42")
    event = platform.in_service("dev")

    assert len(platform.test_endpoint(event)["batchItemFailures"]) == 1
    assert platform.test_record(package)["passed"] is True  # recorded before the notification failed
    assert platform.alerts() == []

    assert platform.test_endpoint(event) == {"batchItemFailures": []}
    [(subject, _)] = platform.alerts()
    assert subject.startswith("[churn/dev] integration tests passed")


def test_a_deployment_is_tested_once_even_when_its_endpoint_comes_back_into_service(platform, logs):
    package = deployed(platform)
    platform.run_integration_tests("dev")
    tested_at = platform.test_record(package)["updated_at"]
    platform.alerts()

    platform.test_endpoint(platform.in_service("dev"))  # e.g. after autoscaling

    assert dropped(logs)[0].startswith(f"deployment {platform.state('dev')['deployment_id']} was tested already")
    assert platform.test_record(package)["updated_at"] == tested_at
    assert platform.alerts() == []


def test_the_stage_shows_the_tests_of_its_current_deployment(platform):
    deployed(platform)
    platform.run_integration_tests("dev")
    assert platform.state("dev")["tests_result"] == "PASSED"

    platform.promote(platform.package_event(platform.register("dev")))

    assert (platform.state("dev")["tests_result"], platform.state("dev")["tests_summary"]) == ("PENDING", "")
    first, second = sorted(platform.attempts("dev"), key=lambda attempt: attempt["sk"])
    assert first["tests_result"] == "PASSED" and "tests_result" not in second


def test_a_rolled_back_deployment_is_not_tested(platform, logs):
    package = deployed(platform)
    platform.promote(platform.package_event(platform.register("dev")))
    platform.track(platform.completion("dev", "UPDATE_ROLLBACK_COMPLETE"))

    platform.test_endpoint(platform.in_service("dev"))

    assert dropped(logs)[0].endswith("is ROLLED_BACK: nothing to test")
    assert platform.test_record(package) == {}


def test_a_pass_is_never_recorded_for_an_attempt_that_rolled_back_meanwhile(platform):
    from ledger import Status, TestRun

    package = deployed(platform)
    state = platform.state("dev")
    ledger = platform.tester.ledger
    attempt = ledger.attempt(contract.Deployment("churn", "dev"), state["deployment_id"], None)
    ledger.record_outcome(attempt, Status.ROLLED_BACK, reason="alarm", event_id="e1")

    run = TestRun(passed=True, summary="1 of 1 cases passed", cases=(), event_id="e2", tested_at="now")
    assert ledger.record_test_run(attempt, run, gates_prod=True) is False
    assert platform.test_record(package) == {}


def test_prod_results_are_recorded_but_do_not_touch_the_test_stage_record(platform):
    dev_package = deployed(platform)
    platform.run_integration_tests("dev")
    prod_package = platform.register("prod", metadata={"SourceModelPackageArn": dev_package})
    platform.promote(platform.package_event(prod_package))
    platform.alerts()

    platform.run_integration_tests("prod", "1.7")

    assert platform.attempts("prod")[0]["tests_result"] == "FAILED"
    assert platform.test_record(prod_package) == {}
    assert platform.test_record(dev_package)["passed"] is True
    [(subject, message)] = platform.alerts()
    assert subject.startswith("[churn/prod] integration tests FAILED")
    assert (message["gates_prod"], message["account"]) == (False, PROD)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TESTER_ROLES", "[]", "TESTER_ROLES: must be a JSON object of stage -> role ARN"),
        ("TESTER_ROLES", '{"feature": "x"}', "TESTER_ROLES['feature']='x': must be an IAM role ARN"),
        (
            "TESTER_ROLES",
            json.dumps({**json.loads(TESTER_ENVIRONMENT["TESTER_ROLES"]), "feature": f"arn:aws:iam::{TEST}:role/t"}),
            "stage feature deploys to the dev account",
        ),
        ("PROJECT_SETTINGS_TABLE", "", "PROJECT_SETTINGS_TABLE: missing"),
    ],
)
def test_an_invalid_environment_stops_the_tester_with_the_variables_name(name, value, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        TesterSettings.from_environment({**TESTER_ENVIRONMENT, name: value})
