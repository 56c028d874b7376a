"""The advanced scenario (champion and challenger): its app synthesized once, linted, and its demo run.

One module, so a parallel run synthesizes the advanced app on one worker only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.demo_runs import assert_stand_ins_labelled, run_demo
from tests.handler_calls import Call
from tests.handler_permissions import denials
from tests.test_cfn_lint import assert_clean


@pytest.fixture(scope="module")
def advanced_run(advanced_assembly, tmp_path_factory) -> tuple[str, list[Call]]:
    """The advanced demo's timeline (``--advanced``, on the advanced scenario's app) and its handlers' calls."""
    return run_demo(advanced_assembly, tmp_path_factory, "--advanced")


def test_the_advanced_scenarios_stacks_are_clean_for_cfn_lint(advanced_assembly, assembly):
    """The templates the scenario changes (its five stages in the functions' settings, its roles and schedules);
    those equal to the default app's, byte for byte, are linted with it (``tests/test_cfn_lint.py``)."""
    linted_with_the_default_app = _template_files(assembly.directory)
    changed = sorted(
        str(Path(advanced_assembly.directory, name))
        for name, body in _template_files(advanced_assembly.directory).items()
        if linted_with_the_default_app.get(name) != body
    )
    assert {Path(path).name for path in changed} >= {
        "mlops-dev-promotion.template.json",
        "mlops-dev-operations.template.json",
        "mlops-dev-projects.template.json",
    }
    assert_clean(changed)


def _template_files(directory: str) -> dict[Path, bytes]:
    """Every template file of a cloud assembly (nested assemblies included), by its path in the assembly."""
    return {path.relative_to(directory): path.read_bytes() for path in Path(directory).rglob("*.template.json")}


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
    # Both attempts are in the ledger; which comes first in the table is not checked: the ledger's times are to
    # the second, and on a fast machine the refusal and the later deployment share one.
    statuses = [line.split()[3] for line in ledger.splitlines() if "pricing-champion/2" in line]
    assert sorted(statuses) == ["DEPLOYED", "REFUSED"]


def test_every_call_the_handlers_make_in_the_advanced_demo_is_allowed_by_their_roles(advanced_run, advanced_roles):
    _, calls = advanced_run
    problems, checked = denials(calls, advanced_roles)
    assert not problems, "\n".join(problems)
    assert {call.function for call in calls} >= {"promoter", "tracker", "integration_tester", "challenger_comparison"}
    assert any(role.endswith("prod-challenger-evaluator") for role, _ in checked), checked


def test_what_moto_cannot_do_in_the_advanced_demo_is_labelled_as_a_stand_in(advanced_timeline):
    assert_stand_ins_labelled(advanced_timeline)
