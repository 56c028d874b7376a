"""The integration tester's smoke run of a batch stage: its cases through one run of the stage's pipeline."""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse

import contract
from tests.lambdas.conftest import PREFIX, PROJECT, REGION, TYPICAL_CASE
from tests.lambdas.events import TEST
from tests.lambdas.moto_stand_ins import BatchPipelineRuns

ENDPOINT = f"{PROJECT}-dev-endpoint"
PIPELINE = f"{ENDPOINT}-batch"
BUCKET = f"{PREFIX}-data-capture-{TEST}-{REGION}"


def batch_pipeline(platform, monkeypatch, **run) -> BatchPipelineRuns:
    """The stand-in of the runs of the stage's pipeline (which the batch template created), and the
    target's data-capture bucket, where they read and write."""
    s3 = platform.admin[TEST].client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return BatchPipelineRuns(**run).install(monkeypatch)


@pytest.fixture
def batch(platform):
    """The dev stage deploys as batch; its stack completed (moto applies the change set at once, the
    template's pipeline included; the stack event is what CloudFormation then sends) and the tracker
    recorded it deployed; two cases, three rows."""
    platform.put_deployment_item({"stages": {"dev": "batch"}})
    package = platform.register("dev")
    assert platform.promote(platform.package_event(package)) == {"batchItemFailures": []}
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    platform.alerts()
    platform.add_test_case("typical", **TYPICAL_CASE)
    two_rows = {"payload": "35,12,80.5,2,1,1\n61,3,20.0,1,6,0", "output": {**TYPICAL_CASE["output"], "count": 2}}
    platform.add_test_case("two-rows", **{**TYPICAL_CASE, **two_rows})
    platform.add_test_case("json", **{**TYPICAL_CASE, "content_type": "application/json", "stages": ["prod"]})
    return package


def test_a_batch_deployment_is_smoke_run_once_with_its_cases_and_passes_the_gate(platform, batch, monkeypatch):
    pipeline = batch_pipeline(platform, monkeypatch, output="0.42\n0.1\n0.9\n")
    deployment_id = platform.state("dev")["deployment_id"]

    assert platform.test_endpoint(platform.completion("dev", "CREATE_COMPLETE")) == {"batchItemFailures": []}

    [start] = pipeline.starts
    assert start["PipelineName"] == PIPELINE
    smoke = f"s3://{BUCKET}/{ENDPOINT}/batch/smoke/{deployment_id}"
    assert start["PipelineParameters"] == [
        {"Name": "InputUri", "Value": f"{smoke}/input/"},
        {"Name": "OutputPrefix", "Value": f"{smoke}/output/"},
    ]
    assert pipeline.smoke_input() == "35,12,80.5,2,1,1\n61,3,20.0,1,6,0\n35,12,80.5,2,1,1\n"  # by name
    record = platform.test_record(batch)
    assert (record["passed"], record["deployment_id"]) == (True, deployment_id)
    [(subject, _)] = platform.alerts()
    assert subject == f"[churn/dev] integration tests passed: v1 ({deployment_id})"


@pytest.mark.parametrize(
    ("pipeline", "problem"),
    [
        ({"output": "0.42\n0.1\n7.5\n"}, "1 of 2 cases failed; typical: 1 value(s) outside [0, 1], first 7.5"),
        ({"output": "0.42\n"}, "two-rows: invocation failed: the smoke run wrote 1 rows for 3 input rows"),
        (
            {"status": "Failed", "failure": "Step Transform failed: ClientError: model container exited"},
            "two-rows: invocation failed: the smoke run failed: Failed: Step Transform failed",
        ),
    ],
    ids=["wrong-output", "missing-rows", "failed-run"],
)
def test_a_wrong_or_failed_smoke_run_fails_the_gate(platform, batch, monkeypatch, pipeline, problem):
    batch_pipeline(platform, monkeypatch, **pipeline)

    platform.test_endpoint(platform.completion("dev", "CREATE_COMPLETE"))

    assert platform.test_record(batch)["passed"] is False
    [(_, message)] = platform.alerts()
    assert problem in message["summary"]


def test_a_running_smoke_run_comes_back_without_starting_another(platform, batch, monkeypatch):
    pipeline = batch_pipeline(platform, monkeypatch, status="Executing")
    event = platform.completion("dev", "CREATE_COMPLETE")

    assert len(platform.test_endpoint(event)["batchItemFailures"]) == 1
    assert platform.test_record(batch) == {}

    pipeline.finish("0.42\n0.1\n0.9\n")
    assert platform.test_endpoint(event) == {"batchItemFailures": []}  # it came back: same execution
    assert len({start["ClientRequestToken"] for start in pipeline.starts}) == 1
    assert len(pipeline.executions) == 1
    assert platform.test_record(batch)["passed"] is True


def test_the_same_stack_event_twice_runs_once_and_other_stacks_are_dropped(platform, batch, monkeypatch):
    pipeline = batch_pipeline(platform, monkeypatch, output="0.42\n0.1\n0.9\n")
    event = platform.completion("dev", "CREATE_COMPLETE")

    platform.test_endpoint(event)
    platform.test_endpoint(event)
    platform.test_endpoint(platform.completion("dev", "UPDATE_COMPLETE", token="v9-0a1b2c3d"))  # stale
    platform.test_endpoint(platform.completion("dev", "CREATE_COMPLETE", token=""))  # not the promoter's

    assert len(pipeline.starts) == 1
    assert len(platform.alerts()) == 1


def no_pipeline(request, **_) -> AWSResponse:
    """What SageMaker answers ``DescribePipeline`` of a pipeline that does not exist (moto answers a
    ``ValidationException``; the API model names ``ResourceNotFound``)."""
    body = json.dumps({"__type": "ResourceNotFound", "message": "Pipeline does not exist"}).encode()

    class Raw:
        def stream(self, **__):
            yield body

    return AWSResponse(request.url, 400, {"x-amzn-errortype": "ResourceNotFound"}, Raw())


def test_a_stack_completion_of_a_stage_with_an_endpoint_is_left_to_the_in_service_event(platform):
    platform.tester_session.events.register("before-send.sagemaker.DescribePipeline", no_pipeline)
    package = platform.register("dev")
    platform.promote(platform.package_event(package))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    platform.add_test_case("typical", **TYPICAL_CASE)

    result = platform.test_endpoint(platform.completion("dev", "CREATE_COMPLETE"))

    assert result == {"batchItemFailures": []}
    assert platform.test_record(package) == {}


@pytest.mark.parametrize(("output", "reaches_prod"), [("0.42\n0.1\n0.9\n", True), ("0.42\n0.1\n7.5\n", False)])
def test_the_smoke_run_in_test_gates_the_batch_versions_way_to_prod(platform, batch, monkeypatch, output, reaches_prod):
    batch_pipeline(platform, monkeypatch, output=output)
    platform.test_endpoint(platform.completion("dev", "CREATE_COMPLETE"))

    prod_package = platform.register("prod", metadata={contract.META_SOURCE_PACKAGE: batch})
    platform.promote(platform.package_event(prod_package))

    [attempt] = platform.attempts("prod")
    assert (attempt["status"] == "REFUSED") is not reaches_prod
    prod_change_sets = [r for r in platform.change_set_requests() if r["StackName"] == "churn-prod-endpoint"]
    assert len(prod_change_sets) == (1 if reaches_prod else 0)
