"""``make demo``: the offline walk-through runs on the synthesized app and tells the promotion story."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from demo.runtime import matches
from demo.synthesized import PhysicalNames, Resolver, StackTemplate, UnsupportedTemplate
from tests import handler_calls
from tests.handler_calls import Call
from tests.handler_permissions import denials

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_run(assembly, tmp_path_factory) -> tuple[str, list[Call]]:
    """The demo's timeline and the AWS calls its handlers made (recorded by ``tests/handler_calls.py``)."""
    return run_demo(assembly, tmp_path_factory)


@pytest.fixture(scope="module")
def advanced_run(advanced_assembly, tmp_path_factory) -> tuple[str, list[Call]]:
    """The same for the advanced demo (``--advanced``), on the advanced scenario's app."""
    return run_demo(advanced_assembly, tmp_path_factory, "--advanced")


def run_demo(assembly, tmp_path_factory, *options: str) -> tuple[str, list[Call]]:
    calls_file = tmp_path_factory.mktemp("demo") / "handler-calls.jsonl"
    command = ["demo", "--cdk-out", assembly.directory, *options]
    result = subprocess.run(
        [sys.executable, "-m", "tests.handler_calls", str(calls_file), "--", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, handler_calls.read(calls_file)


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


@pytest.mark.parametrize("run", ["demo_run", "advanced_run"])
def test_what_moto_cannot_do_is_labelled_as_a_stand_in(run, request):
    timeline, _ = request.getfixturevalue(run)
    stand_ins = ("SageMaker (", "CloudFormation (", "CloudWatch (", "Service Catalog (", "EventBridge (", "labelling (")
    for line in timeline.splitlines():
        if any(actor in line for actor in stand_ins):
            assert "(stand-in)" in line, line


@pytest.fixture(scope="module")
def advanced_timeline(advanced_run) -> str:
    return advanced_run[0]


def section(timeline: str, number: int) -> str:
    """The timeline of the story's step ``number``."""
    return timeline.split(f"\n== {number}. ", 1)[1].split("\n== ", 1)[0]


def test_advanced_demo_serves_the_challenger_as_a_shadow_variant_of_the_champions_endpoint(advanced_timeline):
    assert (
        "groups pricing-challenger, pricing-champion, pricing-dev, pricing-feature, pricing-prod" in advanced_timeline
    )
    assert "pricing-champion-endpoint CREATE_COMPLETE (serves pricing-champion/1" in section(advanced_timeline, 1)
    shadow = section(advanced_timeline, 2)
    assert "refused" not in shadow
    assert "integration tests passed: v2" in shadow  # the challenger's dev package passed the test stage first
    served = (
        "serves pricing-champion/1 on 1 x ml.m5.large, ALL_AT_ONCE; challenger pricing-challenger/1 as a SHADOW variant"
    )
    [update] = [line for line in shadow.splitlines() if served in line]
    assert "pricing-champion-endpoint UPDATE_COMPLETE" in update and "(stand-in)" in update
    assert "ledger: stage challenger: pricing-challenger/1 DEPLOYED" in shadow


def test_advanced_demo_refuses_a_promotion_without_a_comparison(advanced_timeline):
    refusal = section(advanced_timeline, 3)
    assert "alert: [pricing/champion] v2 refused: no comparison on record" in refusal
    assert "CloudFormation" not in refusal  # nothing deployed


def test_advanced_demo_records_the_comparison_verdict_and_tells_the_approvers(advanced_timeline):
    compared = section(advanced_timeline, 4)
    assert "Challenger comparison (Lambda)   compares: {'pricing': 'BETTER_OR_EQUAL'}" in compared
    assert (
        "ledger: comparison of pricing-dev/2: BETTER_OR_EQUAL (pricing-challenger/1 vs pricing-champion/1" in compared
    )
    assert "accuracy 0.9200 vs 0.8400" in compared
    assert "alert: [pricing/challenger] comparison: BETTER_OR_EQUAL" in compared


def test_advanced_demo_promotes_the_challenger_and_retires_the_old_champion_and_the_variant(advanced_timeline):
    promoted = section(advanced_timeline, 5)
    assert "ledger: stage champion: pricing-champion/2 DEPLOYED" in promoted
    assert "ledger: stage challenger: pricing-challenger/1 RETIRED" in promoted
    assert "pricing-champion-endpoint UPDATE_COMPLETE (serves pricing-champion/2 on 1 x ml.m5.large" in promoted
    assert "pricing-champion/1 no longer serves; the Challenger variant is removed" in promoted
    ledger = advanced_timeline.split("== Ledger", 1)[1]
    assert [line.split()[3] for line in ledger.splitlines() if "pricing-champion/2" in line] == ["REFUSED", "DEPLOYED"]


def test_every_call_the_handlers_make_in_the_advanced_demo_is_allowed_by_their_roles(advanced_run, advanced_roles):
    _, calls = advanced_run
    problems, checked = denials(calls, advanced_roles)
    assert not problems, "\n".join(problems)
    assert {call.function for call in calls} >= {"promoter", "tracker", "integration_tester", "challenger_comparison"}
    assert any(role.endswith("prod-challenger-evaluator") for role, _ in checked), checked


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
