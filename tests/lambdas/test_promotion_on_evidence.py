"""Promotion on evidence: approving a challenger's model in the ``-champion`` group needs a passing comparison.

The gate's decision (``promoter/evidence.py``) unit-tested, then the promoter against moto in the
advanced scenario: refused without evidence (champion untouched), deployed with it, and duplicate or
out-of-order events during a promotion.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import contract
from challenger_comparison.decisions import Comparison, Judgement, VariantResult, Verdict, comparison_record
from contract import ComparisonFields, EndpointParameters
from ledger import Ledger
from promoter.evidence import NO_EVIDENCE, NOT_BETTER, STALE, evidence_refusal
from tests.lambdas.conftest import LEDGER_TABLE, PROJECT, PROMOTER_ENVIRONMENT
from tests.lambdas.events import DEV, REGION
from tracker.handler import Tracker, TrackerSettings

ADVANCED_STAGES = ("feature", "dev", "prod", "champion", "challenger")
CHAMPION = contract.Deployment(PROJECT, "champion")
SERVING = f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-champion/1"
CANDIDATE = f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-champion/2"
SOURCE = f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-dev/2"


def comparison(verdict: str = "BETTER_OR_EQUAL", champion: str = SERVING, **fields) -> dict:
    return {
        ComparisonFields.PROJECT: PROJECT,
        ComparisonFields.SOURCE_PACKAGE_ARN: SOURCE,
        ComparisonFields.CHAMPION_PACKAGE_ARN: champion,
        ComparisonFields.CHALLENGER_PACKAGE_ARN: f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-challenger/1",
        ComparisonFields.MODE: "shadow",
        ComparisonFields.VERDICT: verdict,
        ComparisonFields.REASONS: ["accuracy 0.9100 vs 0.9000"],
        ComparisonFields.NUMBERS: {"paired": 1200, "agreement": 0.97},
        ComparisonFields.WINDOW_START: "2026-12-01T09:00:00+00:00",
        ComparisonFields.WINDOW_END: "2026-12-02T09:00:00+00:00",
        ComparisonFields.EVALUATED_AT: "2026-12-02T09:05:00+00:00",
        **fields,
    }


def refusal(**overrides):
    given = {
        "candidate_arn": CANDIDATE,
        "source_arn": SOURCE,
        "serving_arn": SERVING,
        "served_before": False,
        "comparison": comparison(),
    }
    return evidence_refusal(overrides.pop("deployment", CHAMPION), **{**given, **overrides})


# --- The decision -----------------------------------------------------------------------------------------


def test_a_passing_comparison_against_the_serving_champion_allows_the_promotion():
    assert refusal() is None


def test_without_a_comparison_the_promotion_is_refused():
    refused = refusal(comparison=None)

    assert refused.headline == NO_EVIDENCE and SOURCE in refused.reason


@pytest.mark.parametrize("verdict", ["WORSE", "INSUFFICIENT_EVIDENCE", ""])
def test_a_comparison_that_does_not_meet_the_rule_refuses_with_its_reasons(verdict):
    refused = refusal(comparison=comparison(verdict))

    assert refused.headline == NOT_BETTER and "accuracy 0.9100 vs 0.9000" in refused.reason


def test_a_comparison_against_an_earlier_champion_is_no_evidence_against_this_one():
    earlier = f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-champion/0"

    assert refusal(comparison=comparison(champion=earlier)).headline == STALE


@pytest.mark.parametrize(
    "overrides",
    [
        {"serving_arn": ""},  # the first champion: nothing to compare with
        {"candidate_arn": SERVING},  # already the champion
        {"served_before": True, "comparison": None},  # a former champion coming back (a rollback)
        {"deployment": contract.Deployment(PROJECT, "prod"), "comparison": None},  # other stages are not gated
        {"deployment": contract.Deployment(PROJECT, "challenger"), "comparison": None},
    ],
)
def test_what_the_gate_does_not_ask_evidence_of(overrides):
    assert refusal(**overrides) is None


# --- The promoter, advanced scenario ----------------------------------------------------------------------


@pytest.fixture
def advanced(platform, request):
    """The platform with the advanced scenario's groups and a promoter configured for its five stages.

    The session's synthesized app is the default (baseline) one, whose roles name only the baseline
    groups: the calls of these tests are not checked against it.
    """
    request.node.add_marker(pytest.mark.other_configuration("the advanced scenario's champion and challenger groups"))
    sagemaker = platform.client(DEV, "sagemaker")
    for stage in ("champion", "challenger"):
        sagemaker.create_model_package_group(ModelPackageGroupName=f"{PROJECT}-{stage}")
    # every per-stage setting (a JSON object keyed by stage)
    baseline = {
        name: value
        for name, raw in PROMOTER_ENVIRONMENT.items()
        if raw.startswith("{") and "prod" in (value := json.loads(raw))
    }
    advanced_values = {
        name: {**value, "champion": value["prod"], "challenger": value["prod"]} for name, value in baseline.items()
    }
    platform.promoter_environment.update(
        STAGES=",".join(ADVANCED_STAGES),
        **{name: json.dumps(value) for name, value in advanced_values.items()},
    )
    platform.promoter = platform.new_promoter()
    platform.tracker_environment["STAGES"] = ",".join(ADVANCED_STAGES)
    platform.tracker = Tracker(TrackerSettings.from_environment(platform.tracker_environment), platform._clients())
    return platform


def passed_dev_package(platform) -> str:
    """A dev version that passed the test stage (the record the integration tester writes)."""
    package = platform.register("dev")
    platform._table().put_item(
        Item={"pk": f"PACKAGE#{package}", "sk": "TEST", "passed": True, "deployment_id": "v1-00000000"}
    )
    return package


def serving_champion(platform) -> str:
    """Champion v1 deployed and confirmed (the first champion needs no comparison)."""
    champion = platform.register("champion", metadata={contract.META_SOURCE_PACKAGE: passed_dev_package(platform)})
    platform.promote(platform.package_event(champion))
    platform.track(platform.completion("champion", "CREATE_COMPLETE"))
    assert platform.state("champion")["status"] == "DEPLOYED"
    platform.alerts()
    return champion


def record(platform, source: str, verdict: str, champion: str) -> None:
    Ledger(platform.client(DEV, "dynamodb"), LEDGER_TABLE).record_comparison(
        source, comparison(verdict, champion, **{ComparisonFields.SOURCE_PACKAGE_ARN: source})
    )


def test_approving_a_challengers_model_as_champion_without_a_comparison_is_refused_and_the_champion_kept(advanced):
    champion = serving_champion(advanced)
    source = passed_dev_package(advanced)
    candidate = advanced.register("champion", metadata={contract.META_SOURCE_PACKAGE: source})
    change_sets = len(advanced.change_set_requests())

    advanced.promote(advanced.package_event(candidate))

    assert len(advanced.change_set_requests()) == change_sets
    assert advanced.parameters("champion")[EndpointParameters.MODEL_PACKAGE_ARN] == champion
    refused = [attempt for attempt in advanced.attempts("champion") if attempt["status"] == "REFUSED"]
    assert [attempt["package_arn"] for attempt in refused] == [candidate]
    assert "no champion/challenger comparison" in refused[0]["reason"]
    state = advanced.state("champion")
    assert (state["decision"], state["package_arn"], state["status"]) == ("REFUSED", champion, "DEPLOYED")
    [(subject, message)] = advanced.alerts()
    assert subject == "[churn/champion] v2 refused: no comparison on record"
    assert message["reason"] == refused[0]["reason"] and message["project"] == PROJECT


def test_a_comparison_that_did_not_meet_the_rule_refuses_with_its_reasons(advanced):
    champion = serving_champion(advanced)
    source = passed_dev_package(advanced)
    record(advanced, source, "WORSE", champion)
    candidate = advanced.register("champion", metadata={contract.META_SOURCE_PACKAGE: source})

    advanced.promote(advanced.package_event(candidate))

    assert advanced.parameters("champion")[EndpointParameters.MODEL_PACKAGE_ARN] == champion
    [(subject, message)] = advanced.alerts()
    assert subject.endswith("comparison does not meet the rule") and "is WORSE: accuracy" in message["reason"]


def test_with_a_passing_comparison_the_challengers_model_becomes_the_champion_once(advanced):
    champion = serving_champion(advanced)
    source = passed_dev_package(advanced)
    record(advanced, source, "BETTER_OR_EQUAL", champion)
    candidate = advanced.register("champion", metadata={contract.META_SOURCE_PACKAGE: source})
    approval = advanced.package_event(candidate)
    change_sets = len(advanced.change_set_requests())

    advanced.promote(approval)
    advanced.promote(approval)  # SageMaker may send the same event twice

    assert advanced.parameters("champion")[EndpointParameters.MODEL_PACKAGE_ARN] == candidate
    assert len(advanced.change_set_requests()) == change_sets + 1
    assert advanced.change_set_requests()[-1]["ChangeSetType"] == "UPDATE"
    assert advanced.state("champion")["package_arn"] == candidate


def test_a_late_event_of_the_old_champion_during_the_promotion_changes_nothing(advanced):
    champion = serving_champion(advanced)
    late = advanced.package_event(champion)  # emitted before the promotion, delivered after it started
    source = passed_dev_package(advanced)
    record(advanced, source, "BETTER_OR_EQUAL", champion)
    candidate = advanced.register("champion", metadata={contract.META_SOURCE_PACKAGE: source})
    advanced.promote(advanced.package_event(candidate))
    change_sets = len(advanced.change_set_requests())

    advanced.promote(late)
    advanced.track(advanced.completion("champion"))
    advanced.promote(late)

    assert len(advanced.change_set_requests()) == change_sets
    assert advanced.parameters("champion")[EndpointParameters.MODEL_PACKAGE_ARN] == candidate
    assert advanced.state("champion")["status"] == "DEPLOYED"
    assert not any(attempt["status"] == "REFUSED" for attempt in advanced.attempts("champion"))


def test_rejecting_the_promoted_champion_brings_the_former_one_back_without_new_evidence(advanced):
    champion = serving_champion(advanced)
    source = passed_dev_package(advanced)
    record(advanced, source, "BETTER_OR_EQUAL", champion)
    candidate = advanced.register("champion", metadata={contract.META_SOURCE_PACKAGE: source})
    advanced.promote(advanced.package_event(candidate))
    advanced.track(advanced.completion("champion"))

    advanced.set_approval(candidate, "Rejected")
    advanced.promote(advanced.package_event(candidate))

    assert advanced.parameters("champion")[EndpointParameters.MODEL_PACKAGE_ARN] == champion
    assert not any(attempt["status"] == "REFUSED" for attempt in advanced.attempts("champion"))


def test_the_record_the_comparison_writes_is_the_evidence_the_gate_reads():
    side = VariantResult(2000, 0.0, 10.0, 500, 0.9)
    compared = Comparison(
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC), side, side, 1800, 0.98, "accuracy"
    )

    def written(verdict: Verdict) -> dict:
        return comparison_record(
            project=PROJECT,
            mode="shadow",
            champion_arn=SERVING,
            challenger_arn=f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-challenger/1",
            source_arn=SOURCE,
            comparison=compared,
            judgement=Judgement(verdict, ("accuracy 0.9000 vs 0.9000",)),
            evaluated_at="2026-12-02T00:05:00+00:00",
        )

    assert refusal(comparison=written(Verdict.BETTER_OR_EQUAL)) is None
    assert refusal(comparison=written(Verdict.WORSE)).headline == NOT_BETTER
