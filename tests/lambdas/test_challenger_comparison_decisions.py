"""The champion/challenger comparison's pure decisions: capture parsing, pairing, metrics and the verdict."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from challenger_comparison.decisions import (
    CapturedInference,
    Comparison,
    ComparisonRule,
    VariantResult,
    VariantTraffic,
    Verdict,
    captured_inference,
    compare,
    comparison_rule,
    comparison_window,
    day_prefixes,
    first_number,
    ground_truth_label,
    in_window,
    judge,
    metric_value,
    pair_requests,
    variant_locations,
)
from envelope import Rejection
from tests.lambdas.events import data_capture_line

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=48)
RULE = ComparisonRule(minimum_requests=100, minimum_duration_hours=24, minimum_labelled=4)


def capture_line(event_id: str, request: str, answer: str, *, at: datetime = START, inference_id: str = "") -> str:
    return data_capture_line(event_id, request, answer, at=at, inference_id=inference_id)


def inference(event_id: str, prediction: float, *, request: str = "", at: datetime = START, inference_id: str = ""):
    return CapturedInference(event_id, inference_id, at, request or f"req-{event_id}", prediction)


def variant(requests=1000, error_rate=0.0, latency=10.0, labelled=500, metric=0.9) -> VariantResult:
    return VariantResult(requests, error_rate, latency, labelled, metric)


def comparison(champion: VariantResult, challenger: VariantResult, *, hours=48, agreement=0.95, metric="accuracy"):
    return Comparison(START, START + timedelta(hours=hours), champion, challenger, 100, agreement, metric)


# --- Parsing ----------------------------------------------------------------------------------------------


def test_a_csv_capture_line_gives_the_request_and_the_first_output_value():
    parsed = captured_inference(capture_line("e-1", "35,12,80.5", "0.42\n", inference_id="client-7"))

    assert parsed == CapturedInference("e-1", "client-7", START, "35,12,80.5", 0.42)


def test_a_base64_capture_is_decoded():
    line = json.loads(capture_line("e-1", "x", "y"))
    line["captureData"]["endpointOutput"] = {"data": base64.b64encode(b"0.7,1").decode(), "encoding": "BASE64"}

    assert captured_inference(json.dumps(line)).prediction == 0.7


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not a capture record"),
        (json.dumps({"captureData": {}}), "not a capture record: captureData.endpointInput"),
        (capture_line("e-1", "x", "no-number"), "without a usable prediction"),
        (capture_line("e-1", "x", ""), "without a usable prediction"),
        (capture_line("e-1", "x", "nan"), "without a usable prediction"),
        (
            json.dumps({**json.loads(capture_line("e-1", "x", "1")), "eventMetadata": {"eventId": "e-1"}}),
            "no inferenceTime",
        ),
    ],
)
def test_a_malformed_capture_line_is_rejected_with_its_reason(line, reason):
    parsed = captured_inference(line)

    assert isinstance(parsed, Rejection) and reason in parsed.reason


@pytest.mark.parametrize(
    ("text", "number"),
    [("0.3", 0.3), ("0.3,0.7", 0.3), ("[0.8]", 0.8), ('{"predictions": [{"score": 0.6}]}', 0.6), ("[[2.5, 1]]", 2.5)],
)
def test_the_prediction_is_the_first_number_of_csv_or_json(text, number):
    assert first_number(text) == number


def test_a_ground_truth_line_gives_the_event_id_and_the_label():
    line = json.dumps(
        {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "e-1"}, "eventVersion": "0"}
    )

    assert ground_truth_label(line) == ("e-1", 1.0)
    assert isinstance(ground_truth_label('{"groundTruthData": {"data": "yes", "encoding": "CSV"}}'), Rejection)


# --- Pairing ----------------------------------------------------------------------------------------------


def test_requests_pair_by_inference_id_then_event_id():
    champion = [inference("e-1", 0.1, inference_id="i-1"), inference("e-2", 0.2)]
    challenger = [inference("s-1", 0.3, inference_id="i-1"), inference("e-2", 0.4)]

    pairs = pair_requests(champion, challenger)

    assert [(a.event_id, b.event_id) for a, b in pairs] == [("e-1", "s-1"), ("e-2", "e-2")]


def test_a_shadow_copy_with_its_own_event_id_pairs_with_the_identical_request_within_the_window():
    champion = [
        inference("e-1", 0.1, request="35,12", at=START),
        inference("e-2", 0.2, request="35,12", at=START + timedelta(minutes=10)),
    ]
    challenger = [
        inference("s-9", 0.3, request="35,12", at=START + timedelta(minutes=10, seconds=2)),
        inference("s-8", 0.3, request="99,99", at=START),  # no identical request: unpaired
    ]

    pairs = pair_requests(champion, challenger)

    assert [(a.event_id, b.event_id) for a, b in pairs] == [("e-2", "s-9")]


def test_no_captures_no_pairs():
    assert pair_requests([], [inference("s-1", 0.2)]) == []


# --- Metrics ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "predictions", "labels", "value"),
    [
        ("accuracy", [0.9, 0.2, 0.7, 0.4], [1, 0, 0, 0], 0.75),
        ("f1", [0.9, 0.2, 0.7, 0.4], [1, 0, 0, 1], 0.5),
        ("f1", [0.1, 0.2], [0, 0], 1.0),  # no positives, none predicted
        ("mae", [1.0, 3.0], [2.0, 2.0], 1.0),
        ("rmse", [1.0, 4.0], [1.0, 2.0], 2**0.5),
    ],
)
def test_metrics(metric, predictions, labels, value):
    assert metric_value(metric, predictions, labels, RULE) == pytest.approx(value)


def test_the_threshold_is_exclusive_a_probability_equal_to_it_is_negative():
    assert metric_value("accuracy", [0.5], [0], RULE) == 1.0


def test_compare_gives_each_variant_its_traffic_agreement_and_metric_on_its_labelled_requests():
    champion = [inference(f"e-{i}", p) for i, p in enumerate([0.9, 0.8, 0.2, 0.1])]
    challenger = [inference(f"e-{i}", p) for i, p in enumerate([0.9, 0.3, 0.2, 0.6])]
    labels = {"e-0": 1.0, "e-1": 1.0, "e-2": 0.0}  # e-3 has no ground truth yet

    result = compare(
        window=(START, END),
        traffic=(VariantTraffic(1000, 2, 12.0), VariantTraffic(1000, 0, 15.0)),
        captures=(champion, challenger),
        labels=labels,
        rule=RULE,
    )

    assert result.paired == 4 and result.agreement == 0.5
    assert result.champion == VariantResult(1000, 0.002, 12.0, 3, 1.0)
    assert result.challenger.labelled == 3 and result.challenger.metric == pytest.approx(2 / 3)
    assert result.duration_hours == 48


def test_in_shadow_mode_the_challengers_copy_takes_the_label_of_the_champions_request():
    champion = [inference("e-1", 0.9, request="a", at=START)]
    challenger = [inference("s-1", 0.2, request="a", at=START + timedelta(seconds=1))]

    result = compare(
        window=(START, END),
        traffic=(VariantTraffic(1, 0, 1.0), VariantTraffic(1, 0, 1.0)),
        captures=(champion, challenger),
        labels={"e-1": 1.0},
        rule=RULE,
    )

    assert (result.champion.metric, result.challenger.metric) == (1.0, 0.0)


def test_in_split_mode_nothing_pairs_and_each_variant_is_measured_on_its_own_requests():
    result = compare(
        window=(START, END),
        traffic=(VariantTraffic(900, 0, 10.0), VariantTraffic(100, 0, 10.0)),
        captures=([inference("e-1", 0.9)], [inference("e-2", 0.1)]),
        labels={"e-1": 1.0, "e-2": 0.0},
        rule=RULE,
    )

    assert result.paired == 0 and result.agreement is None
    assert (result.champion.metric, result.challenger.metric) == (1.0, 1.0)


def test_no_traffic_compares_to_nothing():
    result = compare(
        window=(START, END),
        traffic=(VariantTraffic(0, 0, None), VariantTraffic(0, 0, None)),
        captures=([], []),
        labels={},
        rule=RULE,
    )

    assert result.champion == VariantResult(0, None, None, 0, None) and result.agreement is None


# --- The verdict ------------------------------------------------------------------------------------------


def test_a_challenger_as_good_as_the_champion_meets_the_rule_a_tie_is_not_worse():
    judgement = judge(comparison(variant(), variant()), RULE)

    assert judgement.verdict is Verdict.BETTER_OR_EQUAL and judgement.promotable
    assert "accuracy 0.9000 vs 0.9000" in judgement.summary


def test_no_traffic_is_insufficient_evidence_not_a_verdict():
    judgement = judge(comparison(variant(requests=0, labelled=0), variant(requests=0, labelled=0)), RULE)

    assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE and not judgement.promotable
    assert "challenger served 0 requests, fewer than 100" in judgement.reasons


def test_too_short_and_too_few_requests_are_all_reported():
    judgement = judge(comparison(variant(), variant(requests=99), hours=2), RULE)

    assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE
    assert len(judgement.reasons) == 2 and "2.0 h, less than 24 h" in judgement.summary


def test_without_labels_when_the_rule_requires_them_the_evidence_is_insufficient():
    no_labels = variant(labelled=0, metric=None)

    judgement = judge(comparison(no_labels, no_labels), RULE)

    assert judgement.verdict is Verdict.INSUFFICIENT_EVIDENCE and "ground truth" in judgement.summary


def test_without_labels_when_not_required_the_operational_checks_decide():
    no_labels = variant(labelled=0, metric=None)
    rule = ComparisonRule(minimum_requests=100, require_labels=False, minimum_agreement=0.9)

    assert judge(comparison(no_labels, no_labels, agreement=0.95), rule).verdict is Verdict.BETTER_OR_EQUAL
    disagreeing = judge(comparison(no_labels, no_labels, agreement=0.5), rule)
    assert disagreeing.verdict is Verdict.WORSE and "agreement 50.00%, below 90.00%" in disagreeing.summary
    unpaired = judge(comparison(no_labels, no_labels, agreement=None), rule)
    assert unpaired.verdict is Verdict.WORSE and "agreement unknown" in unpaired.summary


@pytest.mark.parametrize(
    ("challenger_metric", "verdict"),
    [(0.89, Verdict.BETTER_OR_EQUAL), (0.8899, Verdict.WORSE), (0.95, Verdict.BETTER_OR_EQUAL)],
)
def test_a_higher_is_better_metric_may_be_worse_by_the_tolerance_at_most(challenger_metric, verdict):
    assert judge(comparison(variant(), variant(metric=challenger_metric)), RULE).verdict is verdict


@pytest.mark.parametrize(("challenger_error", "verdict"), [(0.30, Verdict.BETTER_OR_EQUAL), (0.32, Verdict.WORSE)])
def test_a_lower_is_better_metric_is_judged_the_other_way(challenger_error, verdict):
    rule = ComparisonRule(minimum_requests=100, minimum_labelled=4, metric="mae", metric_tolerance=0.01)

    result = judge(comparison(variant(metric=0.30), variant(metric=challenger_error), metric="mae"), rule)

    assert result.verdict is verdict


def test_more_errors_and_slower_answers_fail_with_both_reasons():
    judgement = judge(comparison(variant(), variant(error_rate=0.01, latency=13.0, metric=0.95)), RULE)

    assert judgement.verdict is Verdict.WORSE
    assert len(judgement.reasons) == 2
    assert "error rate 1.00% vs 0.00%" in judgement.reasons[0] and "30% slower" in judgement.reasons[1]


def test_latency_exactly_at_the_allowed_increase_passes():
    assert judge(comparison(variant(), variant(latency=12.0)), RULE).verdict is Verdict.BETTER_OR_EQUAL


# --- The project's rule -----------------------------------------------------------------------------------


def test_a_projects_item_overrides_the_defaults_field_by_field():
    item = {"pk": "PROJECT#churn", "sk": "COMPARISON", "metric": "f1", "minimum_requests": Decimal("5000")}

    rule = comparison_rule(item, ComparisonRule())

    assert rule == ComparisonRule(metric="f1", minimum_requests=5000)


def test_no_item_is_the_platform_default():
    assert comparison_rule(None, RULE) == RULE


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"metric": "auc"}, "COMPARISON.metric='auc'"),
        ({"minimum_requests": Decimal("0")}, "COMPARISON.minimum_requests=0"),
        ({"require_labels": "yes"}, "COMPARISON.require_labels='yes'"),
        ({"tolerance": Decimal("1")}, "COMPARISON.tolerance=1"),
    ],
)
def test_a_bad_field_of_the_projects_rule_is_named(item, reason):
    rule = comparison_rule(item, RULE)

    assert isinstance(rule, Rejection) and rule.reason.startswith(reason)


def test_the_window_starts_when_both_serve_and_reaches_back_two_weeks_at_most():
    now = START + timedelta(days=30)

    assert comparison_window(START, START + timedelta(days=20), now) == (START + timedelta(days=20), now)
    assert comparison_window(START, START + timedelta(days=1), now) == (now - timedelta(days=14), now)
    assert comparison_window(None, START, now) is None


def test_variants_are_found_on_the_champions_endpoint_or_on_their_own():
    champion, challenger = variant_locations("churn", "shadow")
    assert (champion.capture_prefix, challenger.capture_prefix) == (
        "churn-champion-endpoint/AllTraffic/",
        "churn-champion-endpoint/Challenger/",
    )
    assert variant_locations("churn", "separate")[1].capture_prefix == "churn-challenger-endpoint/AllTraffic/"


def test_capture_keys_are_read_by_the_hour_of_the_window():
    key = "churn-champion-endpoint/AllTraffic/2026/12/01/09/05-12-123-abc.jsonl"
    assert day_prefixes(START, START + timedelta(hours=30)) == ["2026/12/01/", "2026/12/02/"]
    assert in_window(key, START + timedelta(minutes=30), END)
    assert not in_window(key, START + timedelta(hours=1), END)
    assert not in_window("churn-champion-endpoint/AllTraffic/2026/12/01/09/readme.txt", START, END)
