"""``make demo``: the offline walk-through runs on the synthesized app and tells the promotion story."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.runtime import matches
from demo.synthesized import PhysicalNames, Resolver, StackTemplate, UnsupportedTemplate
from tests.demo_runs import assert_stand_ins_labelled, run_demo
from tests.handler_calls import Call
from tests.handler_permissions import denials

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_run(assembly, tmp_path_factory) -> tuple[str, list[Call]]:
    """The demo's timeline and the AWS calls its handlers made (recorded by ``tests/handler_calls.py``)."""
    return run_demo(assembly, tmp_path_factory)


@pytest.fixture(scope="module")
def timeline(demo_run) -> str:
    return demo_run[0]


def test_demo_starts_from_a_push_that_the_projects_ci_trigger_matches(timeline):
    assert "pushes 9f1c2ab to dev of the CodeCommit repository churn" in timeline
    assert "churn-ci-push matches the push" in timeline
    assert timeline.index("churn-ci-push matches the push") < timeline.index("registers churn-dev/1")


def test_demo_promotes_to_test_then_prod_rolls_back_a_bad_model_and_refuses_it_for_prod(timeline):
    assert "stage dev: churn-dev/1 DEPLOYED" in timeline
    assert "alert: [churn/dev] integration tests passed: v1" in timeline
    assert "test stage: churn-dev/1 passed" in timeline
    assert "churn-prod-endpoint CREATE_COMPLETE (serves churn-prod/1 on 2 x ml.m5.large, CANARY)" in timeline
    assert "stage dev: churn-dev/2 ROLLED_BACK" in timeline
    assert "alert: [churn/dev] ALARM churn-dev-endpoint-5xx-errors" in timeline  # through the monitoring loop
    assert "alert: [churn/prod] v2 refused: no test-stage pass" in timeline
    ledger = timeline.split("== Ledger", 1)[1]
    assert "churn-prod/1" in ledger and "DEPLOYED" in ledger
    assert "churn-prod/2" in ledger and "REFUSED" in ledger


def test_demo_notifies_the_approvers_of_each_version_registered_pending_approval_once(timeline):
    registered = timeline.split("registers churn-dev/1", 1)[1].split("Model approver", 1)[0]
    assert "Notifier (Lambda)" in registered
    assert "approvers notified: [churn/dev] v1 of churn-dev awaits your approval" in registered
    assert timeline.count("approvers notified: [churn/dev] v2 of churn-dev awaits your approval") == 1


def test_demo_refuses_an_approved_model_whose_artifact_was_overwritten(timeline):
    assert "overwrites the artifact of churn-dev/3" in timeline
    assert "alert: [churn/dev] v3 refused: model artifact not verified" in timeline
    ledger = timeline.split("== Ledger", 1)[1]
    [refusal] = [line for line in ledger.splitlines() if "churn-dev/3" in line]
    assert "REFUSED" in refusal and "ETag mismatch at s3://mlops-artifacts-" in refusal and ", found " in refusal


def test_demo_creates_the_project_with_the_real_project_template_function(timeline):
    assert "Service Catalog (stand-in)       launches the product; the function answers SUCCESS" in timeline
    assert "CodeCommit repository churn: prod at" in timeline
    readers = "their policies let roles of 222222222222, 333333333333 read them"
    assert f"groups churn-dev, churn-feature, churn-prod; {readers}" in timeline


def test_demo_deploys_a_second_project_as_batch_smoke_runs_it_in_test_and_releases_it_to_prod(timeline):
    story = timeline.split("== 6.", 1)[1].split("== Ledger", 1)[0]
    steps = [
        "creates the project 'scoring' from the catalog product",
        "groups scoring-dev, scoring-feature, scoring-prod;",
        'sets config/deployment.json of scoring to {"kind": "batch"}',
        "loads it with scripts/deployment_kind.py: scoring deploys as batch",
        "loads the integration test cases typical-customer, batch-of-three, extreme-values",
        "approves scoring-dev/1",
        "scoring-dev-endpoint CREATE_COMPLETE (scores with scoring-dev/1 on 1 x ml.m5.large at cron(0 2 * * ? *): "
        "s3://mlops-data-capture-222222222222-eu-west-1/scoring-dev-endpoint/batch/input/ -> ",
        "SageMaker (stand-in)             runs the pipeline scoring-dev-endpoint-batch on its smoke input "
        "(5 rows of the cases, s3://mlops-data-capture-222222222222-eu-west-1/scoring-dev-endpoint/batch/smoke/",
        "integration tests PASSED",
        "alert: [scoring/dev] integration tests passed: v1",
        "scoring-prod/1 pending approval, copied from scoring-dev/1",
        "approves scoring-prod/1",
        "scoring-prod-endpoint CREATE_COMPLETE (scores with scoring-prod/1 on 2 x ml.m5.large at ",
        "alert: [scoring/prod] ALARM scoring-prod-endpoint-batch-failures",
    ]
    positions = [story.find(step) for step in steps]
    assert -1 not in positions, [step for step, position in zip(steps, positions, strict=True) if position == -1]
    assert positions == sorted(positions)
    assert "refused" not in story
    ledger = timeline.split("== Ledger", 1)[1]
    [prod] = [line for line in ledger.splitlines() if "scoring-prod/1" in line]
    assert "DEPLOYED" in prod
    assert "test stage: scoring-dev/1 passed" in ledger


def test_every_call_the_handlers_make_in_the_demo_is_allowed_by_their_roles(demo_run, synthesized_roles):
    _, calls = demo_run
    problems, checked = denials(calls, synthesized_roles)
    assert not problems, "\n".join(problems)
    assert {call.function for call in calls} >= {
        "promoter",
        "tracker",
        "integration_tester",
        "monitoring_loop",
        "project_template",
        "notifier",
    }
    assert len(checked) > 40, checked  # (role, action) pairs


def test_what_moto_cannot_do_is_labelled_as_a_stand_in(timeline):
    assert_stand_ins_labelled(timeline)


@pytest.mark.parametrize(
    ("pattern", "event", "matched"),
    [
        ({"source": ["aws.sagemaker"]}, {"source": "aws.sagemaker"}, True),
        ({"source": ["aws.sagemaker"]}, {"source": "aws.s3"}, False),
        ({"detail": {"name": [{"suffix": "-dev"}]}}, {"detail": {"name": "churn-dev"}}, True),
        ({"detail": {"name": [{"prefix": "churn"}]}}, {"detail": {"name": "fraud-dev"}}, False),
        ({"detail": {"name": [{"wildcard": "*-endpoint"}]}}, {"detail": {"name": "churn-dev-endpoint"}}, True),
        ({"detail": {"name": [{"wildcard": "*-endpoint"}]}}, {"detail": {"name": "churn-dev-monitor"}}, False),
        ({"detail": {"status": [{"anything-but": ["OK"]}]}}, {"detail": {"status": "ALARM"}}, True),
        ({"detail": {"missing": ["x"]}}, {"detail": {}}, False),
        ({"resources": ["arn:b"]}, {"resources": ["arn:a", "arn:b"]}, True),
        (
            {"$or": [{"source": ["aws.s3"]}, {"detail": {"name": ["x"]}}]},
            {"source": "a", "detail": {"name": "x"}},
            True,
        ),
        (
            {"$or": [{"source": ["aws.s3"]}, {"detail": {"name": ["x"]}}]},
            {"source": "a", "detail": {"name": "y"}},
            False,
        ),
    ],
)
def test_the_eventbridge_stand_in_matches_patterns_as_eventbridge_does(pattern, event, matched):
    assert matches(pattern, event) is matched


def test_an_intrinsic_the_stand_in_cannot_resolve_stops_the_demo_with_its_name():
    stack = StackTemplate("s", "111111111111", "eu-west-1", {"Resources": {}}, ROOT)
    with pytest.raises(UnsupportedTemplate, match="Fn::ImportValue"):
        Resolver(PhysicalNames(stack)).resolve({"Fn::ImportValue": "elsewhere"})
