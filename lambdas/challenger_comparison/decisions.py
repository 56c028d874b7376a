"""The champion/challenger comparison's decisions, as pure functions of what was read: no AWS calls.

- :func:`captured_inference`, :func:`ground_truth_label`: one line of a data-capture or ground-truth
  JSONL file (the formats SageMaker data capture and Model Monitor use), validated.
- :func:`pair_requests`: the champion's and the challenger's answers to the same request (shadow mode).
- :func:`compare`: latency, error rate, prediction agreement and the project's metric of both variants.
- :func:`comparison_rule`: a project's rule (its ``COMPARISON`` item over the platform's defaults), validated.
- :func:`judge`: the verdict of a comparison against the rule, with every reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError

import contract
from envelope import Rejection, first_error
from settings import ConfigurationError, Environment

#: Metrics a project may be judged on, and whether higher is better.
METRICS: dict[str, bool] = {"accuracy": True, "f1": True, "mae": False, "rmse": False}
Metric = Literal["accuracy", "f1", "mae", "rmse"]
#: Metrics of classifiers: predictions are probabilities, a label is the prediction above the threshold.
CLASSIFICATION_METRICS = ("accuracy", "f1")
#: In shadow mode a request captured without a shared id is paired by identical input within this time.
PAIRING_WINDOW = timedelta(seconds=60)


# --- Captured data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapturedInference:
    """One request a variant answered, as data capture recorded it."""

    event_id: str
    inference_id: str
    inference_time: datetime
    request: str
    prediction: float


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: str
    encoding: Literal["CSV", "JSON", "BASE64"]
    observedContentType: str = ""


class _CaptureData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    endpointInput: _Payload
    endpointOutput: _Payload


class _EventMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore")

    eventId: str = Field(min_length=1)
    inferenceId: str = ""
    inferenceTime: AwareDatetime | None = None


class _CaptureRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    captureData: _CaptureData
    eventMetadata: _EventMetadata


class _GroundTruthData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: str
    encoding: Literal["CSV", "JSON"]


class _GroundTruthRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    groundTruthData: _GroundTruthData
    eventMetadata: _EventMetadata


def _text(payload: _Payload) -> str:
    if payload.encoding != "BASE64":
        return payload.data
    try:
        return base64.b64decode(payload.data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError(f"undecodable BASE64 data ({error})") from error


def first_number(text: str) -> float:
    """The first value of a CSV line, a JSON number or list, or ``{"predictions": [...]}``: the prediction."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        value: Any = json.loads(stripped)
        if isinstance(value, dict):
            value = value.get("predictions", value.get("score"))
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, dict):
            value = value.get("score")
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    else:
        number = float(stripped.splitlines()[0].split(",")[0]) if stripped else math.nan
    if not math.isfinite(number):
        raise ValueError(f"no numeric prediction in {text[:80]!r}")
    return number


def captured_inference(line: str) -> CapturedInference | Rejection:
    """Parse one data-capture line; a malformed one is rejected with the reason (the caller counts it)."""
    try:
        record = _CaptureRecord.model_validate_json(line)
        metadata = record.eventMetadata
        if metadata.inferenceTime is None:
            return Rejection(f"capture {metadata.eventId}: no inferenceTime")
        return CapturedInference(
            event_id=metadata.eventId,
            inference_id=metadata.inferenceId,
            inference_time=metadata.inferenceTime,
            request=_text(record.captureData.endpointInput),
            prediction=first_number(_text(record.captureData.endpointOutput)),
        )
    except ValidationError as error:
        return Rejection(f"not a capture record: {first_error(error)}")
    except (ValueError, json.JSONDecodeError) as error:
        return Rejection(f"capture record without a usable prediction: {error}")


def ground_truth_label(line: str) -> tuple[str, float] | Rejection:
    """Parse one ground-truth line (Model Monitor's format): the event id it labels, and the label."""
    try:
        record = _GroundTruthRecord.model_validate_json(line)
        return record.eventMetadata.eventId, first_number(record.groundTruthData.data)
    except ValidationError as error:
        return Rejection(f"not a ground-truth record: {first_error(error)}")
    except (ValueError, json.JSONDecodeError) as error:
        return Rejection(f"ground-truth record without a numeric label: {error}")


def _request_key(inference: CapturedInference) -> str:
    """What identifies a request across variants: the caller's inference id, else SageMaker's event id."""
    return inference.inference_id or inference.event_id


def pair_requests(
    champion: Iterable[CapturedInference], challenger: Iterable[CapturedInference]
) -> list[tuple[CapturedInference, CapturedInference]]:
    """The champion's and challenger's answers to the same requests (shadow mode), each used at most once.

    By inference id or event id first; a challenger capture left over is paired with an unpaired
    champion capture of the identical request within :data:`PAIRING_WINDOW` (the earliest), so the
    pairing does not depend on SageMaker giving the shadow copy the production request's event id.
    """
    champions = {_request_key(item): item for item in champion}
    pairs, leftovers = [], []
    for item in challenger:
        partner = champions.pop(_request_key(item), None)
        if partner is None:
            leftovers.append(item)
        else:
            pairs.append((partner, item))
    unpaired = sorted(champions.values(), key=lambda item: item.inference_time)
    for item in sorted(leftovers, key=lambda item: item.inference_time):
        for index, candidate in enumerate(unpaired):
            if candidate.request == item.request and abs(candidate.inference_time - item.inference_time) <= (
                PAIRING_WINDOW
            ):
                pairs.append((unpaired.pop(index), item))
                break
    return pairs


# --- The comparison -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantTraffic:
    """What CloudWatch says a variant served in the window: requests, 5xx errors, average model latency."""

    requests: int
    errors: int
    latency_ms: float | None  # None without requests

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class ComparisonRule:
    """What a challenger must show before it may become the champion (a project may override each field)."""

    minimum_requests: int = 1000
    minimum_duration_hours: float = 24.0
    metric: Metric = "accuracy"
    #: How much worse than the champion's metric the challenger's may be (absolute, in the metric's units).
    metric_tolerance: float = 0.01
    #: Without ground truth the metric is unknown: with labels required the verdict is insufficient evidence.
    require_labels: bool = True
    #: Minimum labelled requests per variant for its metric to count.
    minimum_labelled: int = 100
    maximum_error_rate_increase: float = 0.001
    maximum_latency_increase_percent: float = 20.0
    #: Share of paired requests on which both variants must agree (shadow mode), 0 to not require it.
    minimum_agreement: float = 0.0
    #: A classifier's probability above it is the positive label (agreement and classification metrics).
    probability_threshold: float = 0.5

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric]

    def label_of(self, prediction: float) -> float:
        return 1.0 if prediction > self.probability_threshold else 0.0


class _RuleItem(BaseModel):
    """A project's ``COMPARISON`` item: any field of :class:`ComparisonRule`, validated."""

    model_config = ConfigDict(extra="forbid")

    minimum_requests: int = Field(default=None, ge=1, le=100_000_000)
    minimum_duration_hours: float = Field(default=None, ge=0, le=24 * 90)
    metric: Metric = None
    metric_tolerance: float = Field(default=None, ge=0, le=1_000_000)
    require_labels: StrictBool = None
    minimum_labelled: int = Field(default=None, ge=1, le=100_000_000)
    maximum_error_rate_increase: float = Field(default=None, ge=0, le=1)
    maximum_latency_increase_percent: float = Field(default=None, ge=0, le=1000)
    minimum_agreement: float = Field(default=None, ge=0, le=1)
    probability_threshold: float = Field(default=None, ge=0, le=1)


#: Attributes of a project-settings item that are its keys or bookkeeping, not rule fields.
ITEM_KEYS = ("pk", "sk", "updated_at", "updated_by")


def comparison_rule(item: Mapping[str, Any] | None, defaults: ComparisonRule) -> ComparisonRule | Rejection:
    """The project's rule: its ``COMPARISON`` item's fields over the platform's defaults; a bad field is named."""
    given = {name: _plain(value) for name, value in (item or {}).items() if name not in ITEM_KEYS}
    try:
        validated = _RuleItem.model_validate(given)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "item"
        return Rejection(f"COMPARISON.{location}={first.get('input')!r}: {first['msg']}")
    overrides = {name: value for name, value in validated.model_dump().items() if name in given}
    return ComparisonRule(**{**defaults.__dict__, **overrides})


def _plain(value: Any) -> Any:
    """DynamoDB numbers arrive as ``Decimal``: an integral one as int, another as float."""
    if type(value).__name__ == "Decimal":
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass(frozen=True)
class VariantResult:
    """One variant's side of the comparison."""

    requests: int
    error_rate: float | None
    latency_ms: float | None
    labelled: int
    metric: float | None


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger over the same window: what the verdict is judged on, and what is recorded."""

    window_start: datetime
    window_end: datetime
    champion: VariantResult
    challenger: VariantResult
    paired: int
    agreement: float | None
    metric: str

    @property
    def duration_hours(self) -> float:
        return (self.window_end - self.window_start).total_seconds() / 3600


def metric_value(metric: str, predictions: Sequence[float], labels: Sequence[float], rule: ComparisonRule) -> float:
    """The metric of predictions against labels (both non-empty, same length)."""
    if metric in CLASSIFICATION_METRICS:
        predicted = [rule.label_of(value) for value in predictions]
        truth = [1.0 if label >= 0.5 else 0.0 for label in labels]
        if metric == "accuracy":
            return sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
        true_positive = sum(p == t == 1.0 for p, t in zip(predicted, truth, strict=True))
        predicted_positive, actual_positive = sum(predicted), sum(truth)
        if predicted_positive + actual_positive == 0:
            return 1.0  # no positives anywhere, none predicted: nothing was missed
        return 2 * true_positive / (predicted_positive + actual_positive)
    errors = [p - t for p, t in zip(predictions, labels, strict=True)]
    if metric == "mae":
        return sum(abs(error) for error in errors) / len(errors)
    return math.sqrt(sum(error * error for error in errors) / len(errors))


def _labelled_metric(
    captures: Iterable[CapturedInference], labels: Mapping[str, float], rule: ComparisonRule
) -> tuple[int, float | None]:
    predictions, truth = [], []
    for item in captures:
        label = labels.get(item.inference_id) if item.inference_id in labels else labels.get(item.event_id)
        if label is not None:
            predictions.append(item.prediction)
            truth.append(label)
    if not truth:
        return 0, None
    return len(truth), metric_value(rule.metric, predictions, truth, rule)


def _agrees(champion: float, challenger: float, rule: ComparisonRule) -> bool:
    if rule.metric in CLASSIFICATION_METRICS:
        return rule.label_of(champion) == rule.label_of(challenger)
    return math.isclose(champion, challenger, rel_tol=0.05, abs_tol=1e-9)


def compare(
    *,
    window: tuple[datetime, datetime],
    traffic: tuple[VariantTraffic, VariantTraffic],
    captures: tuple[Sequence[CapturedInference], Sequence[CapturedInference]],
    labels: Mapping[str, float],
    rule: ComparisonRule,
) -> Comparison:
    """Compare champion (first of each pair) and challenger (second) over ``window``.

    Errors and latency come from ``traffic`` (CloudWatch, every request); agreement from the requests
    both answered (shadow mode; none in split mode, where each request goes to one variant); each
    variant's metric from its own captured requests that have ground truth in ``labels`` (by inference
    id or event id). In shadow mode the challenger's copy of a request takes the label of the
    champion's.
    """
    champion_captures, challenger_captures = captures
    pairs = pair_requests(champion_captures, challenger_captures)
    shadow_labels = dict(labels)
    for champion, challenger in pairs:
        label = labels.get(champion.inference_id) if champion.inference_id in labels else labels.get(champion.event_id)
        if label is not None:
            shadow_labels.setdefault(_request_key(challenger), label)
            shadow_labels.setdefault(challenger.event_id, label)
    results = []
    for variant_traffic, variant_captures, variant_labels in (
        (traffic[0], champion_captures, labels),
        (traffic[1], challenger_captures, shadow_labels),
    ):
        labelled, value = _labelled_metric(variant_captures, variant_labels, rule)
        results.append(
            VariantResult(
                requests=variant_traffic.requests,
                error_rate=variant_traffic.error_rate,
                latency_ms=variant_traffic.latency_ms,
                labelled=labelled,
                metric=value,
            )
        )
    agreement = sum(_agrees(a.prediction, b.prediction, rule) for a, b in pairs) / len(pairs) if pairs else None
    return Comparison(window[0], window[1], results[0], results[1], len(pairs), agreement, rule.metric)


# --- The verdict ----------------------------------------------------------------------------------------


class Verdict(StrEnum):
    """What a comparison says about the challenger."""

    BETTER_OR_EQUAL = "BETTER_OR_EQUAL"  # meets the rule: may be promoted
    WORSE = "WORSE"  # enough evidence, and it does not meet the rule
    INSUFFICIENT_EVIDENCE = "INSUFFICIENT_EVIDENCE"  # too little traffic, time or ground truth to say


@dataclass(frozen=True)
class Judgement:
    """A verdict with every reason for it (all failed checks, not only the first)."""

    verdict: Verdict
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def promotable(self) -> bool:
        return self.verdict is Verdict.BETTER_OR_EQUAL

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def judge(comparison: Comparison, rule: ComparisonRule) -> Judgement:
    """The verdict: insufficient evidence first (traffic, duration, labels), then every check of the rule.

    A tie (equal metric, equal error rate, equal latency) meets the rule: the challenger is not worse.
    """
    champion, challenger = comparison.champion, comparison.challenger
    missing = []
    for name, variant in (("champion", champion), ("challenger", challenger)):
        if variant.requests < rule.minimum_requests:
            missing.append(f"{name} served {variant.requests} requests, fewer than {rule.minimum_requests}")
    if comparison.duration_hours < rule.minimum_duration_hours:
        missing.append(f"compared over {comparison.duration_hours:.1f} h, less than {rule.minimum_duration_hours:g} h")
    labelled = min(champion.labelled, challenger.labelled)
    if rule.require_labels and labelled < rule.minimum_labelled:
        missing.append(f"{labelled} requests with ground truth for {rule.metric}, fewer than {rule.minimum_labelled}")
    if missing:
        return Judgement(Verdict.INSUFFICIENT_EVIDENCE, tuple(missing))

    failures, passes = [], []
    champion_errors, challenger_errors = champion.error_rate or 0.0, challenger.error_rate or 0.0
    error_line = f"error rate {_percent(challenger.error_rate)} vs {_percent(champion.error_rate)}"
    if challenger_errors - champion_errors > rule.maximum_error_rate_increase:
        failures.append(f"{error_line}, more than {rule.maximum_error_rate_increase:.2%} above the champion's")
    else:
        passes.append(error_line)
    if champion.latency_ms and challenger.latency_ms is not None:
        increase = (challenger.latency_ms / champion.latency_ms - 1) * 100
        latency_line = f"latency {challenger.latency_ms:.1f} ms vs {champion.latency_ms:.1f} ms"
        if increase > rule.maximum_latency_increase_percent:
            failures.append(
                f"{latency_line}, {increase:.0f}% slower (at most {rule.maximum_latency_increase_percent:g}%)"
            )
        else:
            passes.append(latency_line)
    if rule.minimum_agreement > 0:
        if comparison.agreement is None:
            failures.append("no request answered by both variants: agreement unknown")
        elif comparison.agreement < rule.minimum_agreement:
            failures.append(f"agreement {comparison.agreement:.2%}, below {rule.minimum_agreement:.2%}")
        else:
            passes.append(f"agreement {comparison.agreement:.2%}")
    if champion.metric is not None and challenger.metric is not None and labelled >= rule.minimum_labelled:
        # Positive when the challenger is worse, whichever direction the metric improves in.
        shortfall = (
            champion.metric - challenger.metric if rule.higher_is_better else challenger.metric - champion.metric
        )
        metric_line = f"{rule.metric} {challenger.metric:.4f} vs {champion.metric:.4f}"
        if shortfall > rule.metric_tolerance + 1e-12:
            failures.append(f"{metric_line}, worse by more than {rule.metric_tolerance:g}")
        else:
            passes.append(metric_line)
    else:
        passes.append(f"{rule.metric} not compared: no ground truth (labels not required)")
    if failures:
        return Judgement(Verdict.WORSE, tuple(failures))
    return Judgement(Verdict.BETTER_OR_EQUAL, tuple(passes))


# --- Where the two variants serve and capture -----------------------------------------------------------


#: The champion's variant (``mlops_constructs.endpoint.VARIANT_NAME``) and the challenger's beside it
#: (``mlops_constructs.variants.CHALLENGER_VARIANT_NAME``).
CHAMPION_VARIANT = "AllTraffic"
CHALLENGER_VARIANT = "Challenger"
EVALUATION_MODES = ("shadow", "split", "separate")


@dataclass(frozen=True)
class EvaluationModes:
    """The platform's evaluation mode and the projects' own (``champion_challenger`` settings)."""

    default: str
    projects: Mapping[str, str]

    @classmethod
    def from_environment(cls, env: Environment) -> EvaluationModes:
        """``DEFAULT_EVALUATION_MODE`` and ``EVALUATION_MODES`` (project -> mode), validated."""
        default, projects = env.text("DEFAULT_EVALUATION_MODE"), env.json("EVALUATION_MODES")
        if default not in EVALUATION_MODES:
            raise ConfigurationError(f"DEFAULT_EVALUATION_MODE={default!r}: must be one of {EVALUATION_MODES}")
        if not isinstance(projects, dict) or not all(mode in EVALUATION_MODES for mode in projects.values()):
            raise ConfigurationError(f"EVALUATION_MODES: must map project -> one of {EVALUATION_MODES}")
        return cls(default, dict(projects))

    def of(self, project: str) -> str:
        """The project's mode: its own, or the platform's."""
        return self.projects.get(project, self.default)


@dataclass(frozen=True)
class VariantLocation:
    """Where a variant serves: its endpoint and variant name, the CloudWatch dimensions and capture prefix."""

    endpoint_name: str
    variant_name: str

    @property
    def capture_prefix(self) -> str:
        """Data capture writes ``<endpoint>/<variant>/yyyy/mm/dd/hh/...jsonl`` under the bucket's root."""
        return f"{self.endpoint_name}/{self.variant_name}/"


def variant_locations(project: str, mode: str) -> tuple[VariantLocation, VariantLocation]:
    """Champion and challenger: both on the champion's endpoint (shadow, split), or each on its own (separate)."""
    champion = contract.Deployment(project, contract.CHAMPION_STAGE).endpoint_name
    if mode == "separate":
        challenger = contract.Deployment(project, contract.CHALLENGER_STAGE).endpoint_name
        return VariantLocation(champion, CHAMPION_VARIANT), VariantLocation(challenger, CHAMPION_VARIANT)
    return VariantLocation(champion, CHAMPION_VARIANT), VariantLocation(champion, CHALLENGER_VARIANT)


def day_prefixes(start: datetime, end: datetime) -> list[str]:
    """``yyyy/mm/dd/`` of every UTC day the window touches (data capture and ground truth are laid out by hour)."""
    day, last, days = start.astimezone(UTC).date(), end.astimezone(UTC).date(), []
    while day <= last:
        days.append(day.strftime("%Y/%m/%d/"))
        day += timedelta(days=1)
    return days


def key_hour(key: str) -> datetime | None:
    """The hour a capture or ground-truth key was written in (``.../yyyy/mm/dd/hh/file.jsonl``), if it says."""
    parts = key.split("/")
    if len(parts) < 5 or not key.endswith(".jsonl"):
        return None
    try:
        return datetime.strptime("/".join(parts[-5:-1]), "%Y/%m/%d/%H").replace(tzinfo=UTC)
    except ValueError:
        return None


def in_window(key: str, start: datetime, end: datetime) -> bool:
    """The key's hour overlaps the window."""
    hour = key_hour(key)
    return hour is not None and hour + timedelta(hours=1) > start and hour <= end


#: The longest window compared: CloudWatch keeps one-minute data for 15 days, and the capture read stays bounded.
LONGEST_WINDOW = timedelta(days=14)


def comparison_window(champion_started: datetime | None, challenger_started: datetime | None, now: datetime):
    """From when both variants serve their current models (at most :data:`LONGEST_WINDOW` ago) until ``now``;
    None if one never started."""
    if champion_started is None or challenger_started is None:
        return None
    return max(champion_started, challenger_started, now - LONGEST_WINDOW), now


def comparison_record(
    *,
    project: str,
    mode: str,
    champion_arn: str,
    challenger_arn: str,
    source_arn: str,
    comparison: Comparison,
    judgement: Judgement,
    evaluated_at: str,
) -> dict[str, Any]:
    """The comparison as the ledger keeps it (``contract.ComparisonFields``) and the alert tells it."""
    fields = contract.ComparisonFields

    def side(result: VariantResult) -> dict[str, Any]:
        return {name: value for name, value in result.__dict__.items() if value is not None}

    numbers = {"champion": side(comparison.champion), "challenger": side(comparison.challenger)}
    numbers["paired"] = comparison.paired
    if comparison.agreement is not None:
        numbers["agreement"] = comparison.agreement
    return {
        fields.PROJECT: project,
        fields.MODE: mode,
        fields.SOURCE_PACKAGE_ARN: source_arn,
        fields.CHAMPION_PACKAGE_ARN: champion_arn,
        fields.CHALLENGER_PACKAGE_ARN: challenger_arn,
        fields.VERDICT: str(judgement.verdict),
        fields.REASONS: list(judgement.reasons),
        fields.NUMBERS: {**numbers, "metric": comparison.metric},
        fields.WINDOW_START: comparison.window_start.isoformat(timespec="seconds"),
        fields.WINDOW_END: comparison.window_end.isoformat(timespec="seconds"),
        fields.EVALUATED_AT: evaluated_at,
    }
