"""The integration tester against an asynchronous endpoint: requests through S3, results awaited in S3."""

from __future__ import annotations

import pytest
from botocore.awsrequest import AWSResponse
from moto.sagemaker.models import sagemaker_backends

import contract
from integration_tester import handler as tester_module
from tests.lambdas.conftest import ACCOUNT_OF_STAGE, PROJECT, REGION, TYPICAL_CASE
from tests.lambdas.test_integration_tester import deployed

ENDPOINT = f"{PROJECT}-dev-endpoint"


class AsyncEndpoint:
    """Test-only stand-in for SageMaker's asynchronous inference, which moto answers with a bucket of its
    own: answers ``InvokeEndpointAsync`` with locations under the endpoint configuration's
    ``S3OutputPath``/``S3FailurePath`` and writes there what the model would (``results``, in request
    order: ``("output", body)``, ``("failure", message)`` or ``None`` for a request still queued)."""

    def __init__(self, platform, results: list[tuple[str, str] | None]) -> None:
        self.requests: list[dict] = []
        self._results = list(results)
        self._s3 = platform.admin[ACCOUNT_OF_STAGE["dev"]].client("s3")
        endpoint = sagemaker_backends[ACCOUNT_OF_STAGE["dev"]][REGION].endpoints[ENDPOINT]
        config = sagemaker_backends[ACCOUNT_OF_STAGE["dev"]][REGION].endpoint_configs[endpoint.endpoint_config_name]
        self.output_config = config.async_inference_config["OutputConfig"]
        self.bucket = self.output_config["S3OutputPath"].removeprefix("s3://").split("/")[0]
        self._s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        events = platform.tester_session.events
        events.register("provide-client-params.sagemaker-runtime.InvokeEndpointAsync", self._record)
        events.register("before-call.sagemaker-runtime.InvokeEndpointAsync", self._answer)  # after validation

    def _record(self, params, **_) -> None:
        self.requests.append(dict(params))

    def _answer(self, **_):
        number = len(self.requests)
        output = f"{self.output_config['S3OutputPath']}{number}.out"
        failure = f"{self.output_config['S3FailurePath']}{number}-error.out"
        result = self._results.pop(0) if self._results else None
        if result is not None:
            where, body = result
            _, _, key = (output if where == "output" else failure).removeprefix("s3://").partition("/")
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode())
        parsed = {"InferenceId": str(number), "OutputLocation": output, "FailureLocation": failure}
        return AWSResponse("https://runtime.sagemaker", 202, {}, None), parsed

    def request_body(self, location: str) -> str:
        key = location.removeprefix(f"s3://{self.bucket}/")
        return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()


@pytest.fixture
def asynchronous(platform):
    """The dev stage deploys as an asynchronous endpoint, serving its current deployment."""
    platform.put_deployment_item({"stages": {"dev": "async"}})
    package = deployed(platform)
    platform.serve("dev")
    platform.add_test_case("typical", **TYPICAL_CASE)
    return package


def test_an_async_endpoint_gets_its_cases_through_s3_and_its_answer_passes_the_gate(platform, asynchronous):
    endpoint = AsyncEndpoint(platform, [("output", "0.42\n")])
    deployment_id = platform.state("dev")["deployment_id"]

    assert platform.test_endpoint(platform.in_service("dev")) == {"batchItemFailures": []}

    [request] = endpoint.requests
    prefix = contract.async_prefix(ENDPOINT)
    assert request["InputLocation"] == f"s3://{endpoint.bucket}/{prefix}input/{deployment_id}/typical"
    assert (request["ContentType"], request["Accept"]) == ("text/csv", "text/csv")
    assert endpoint.request_body(request["InputLocation"]) == TYPICAL_CASE["payload"]
    assert platform.test_record(asynchronous)["passed"] is True
    [result] = platform.attempts("dev")[0]["tests_cases"]
    assert (result["status"], result["problems"]) == (200, [])


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        (("output", "0.42\n0.58"), "2 values, expected 1: 0.42 0.58"),
        (("failure", "ModelError: received server error (500)"), "invocation failed: the endpoint failed: ModelError"),
    ],
    ids=["wrong-output", "failure-location"],
)
def test_a_wrong_async_answer_or_a_failure_fails_the_gate(platform, asynchronous, result, problem):
    AsyncEndpoint(platform, [result])

    platform.test_endpoint(platform.in_service("dev"))

    record = platform.test_record(asynchronous)
    assert (record["passed"], record["failed_cases"]) == (False, ["typical"])
    [case] = platform.attempts("dev")[0]["tests_cases"]
    assert case["problems"][0].startswith(problem)


def test_an_async_answer_not_there_in_time_makes_the_message_come_back_and_records_nothing(
    platform, asynchronous, monkeypatch
):
    monkeypatch.setattr(tester_module, "ASYNC_WAIT_SECONDS", 0)
    endpoint = AsyncEndpoint(platform, [None, ("output", "0.42")])
    event = platform.in_service("dev")

    assert len(platform.test_endpoint(event)["batchItemFailures"]) == 1
    assert platform.test_record(asynchronous) == {}
    assert platform.alerts() == []

    assert platform.test_endpoint(event) == {"batchItemFailures": []}  # it came back: the request is sent again
    assert len(endpoint.requests) == 2
    assert platform.test_record(asynchronous)["passed"] is True


def test_the_same_async_event_twice_tests_once(platform, asynchronous):
    endpoint = AsyncEndpoint(platform, [("output", "0.42")])
    event = platform.in_service("dev")

    platform.test_endpoint(event)
    platform.test_endpoint(event)

    assert len(endpoint.requests) == 1
    assert len(platform.alerts()) == 1
