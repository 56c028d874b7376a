"""Integration test cases, as pure functions: what a case is, and whether an endpoint's answer passes it.

A case is an item of the project-settings table (``contract.TestCaseFields``), validated with
:class:`TestCase`; ``scripts/integration_tests.py`` validates and loads case files with the same model.

- :func:`parse_case`: a table item -> a :class:`TestCase`, or the problem that makes it malformed.
- :func:`check`: an :class:`Answer` of the endpoint against a case -> the problems found (none: passed).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

import contract
from envelope import first_error

#: Largest request body a case may hold (a DynamoDB item holds at most 400 KB).
MAX_PAYLOAD_CHARACTERS = 100_000
#: SageMaker answers an invocation within 60 seconds or times it out.
MAX_LATENCY_BUDGET_MS = 60_000
#: At most this many characters of an answer are kept in results and notifications.
EXCERPT_CHARACTERS = 200


class OutputExpectation(BaseModel):
    """What the answer's body must look like: its numbers (CSV cells or JSON numbers) and/or a pattern.

    ``count``: how many values; ``minimum``/``maximum``: the range every value must fall in (for
    example a probability in [0, 1]); ``pattern``: a regular expression the body must contain.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["csv", "json"] = "csv"
    count: int | None = Field(None, ge=1)
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = Field(None, min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"not a regular expression: {error}") from error
        return pattern

    @model_validator(mode="after")
    def _range(self) -> OutputExpectation:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} is greater than maximum {self.maximum}")
        return self

    @property
    def checks_values(self) -> bool:
        return self.count is not None or self.minimum is not None or self.maximum is not None


class TestCase(BaseModel):
    """One request to send to an endpoint and what its answer must be."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=contract.TEST_CASE_NAME.pattern)
    payload: str = Field(min_length=1, max_length=MAX_PAYLOAD_CHARACTERS)
    content_type: str = Field(min_length=1)
    accept: str | None = Field(None, min_length=1)
    stages: tuple[str, ...] | None = Field(None, min_length=1)
    expected_status: int = Field(200, ge=200, le=599)
    latency_budget_ms: int = Field(1000, ge=1, le=MAX_LATENCY_BUDGET_MS)
    output: OutputExpectation | None = None

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, stages: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = [stage for stage in stages or () if stage not in contract.STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(unknown)}; stages are {', '.join(contract.STAGES)}")
        return stages

    def applies_to(self, stage: str) -> bool:
        return self.stages is None or stage in self.stages

    def item_attributes(self) -> dict[str, Any]:
        """The case as table attributes (without keys), with decimals where DynamoDB refuses floats."""
        return json.loads(self.model_dump_json(exclude={"name"}, exclude_none=True), parse_float=Decimal)


@dataclass(frozen=True)
class MalformedCase:
    """A table item that is no valid test case: it fails, naming the field."""

    name: str
    problem: str


def parse_case(item: Mapping[str, Any]) -> TestCase | MalformedCase:
    """A test case from a project-settings item (``pk``, ``sk`` = ``TEST_CASE#<name>``, and the fields)."""
    name = str(item.get("sk", "")).removeprefix(contract.TEST_CASE_PREFIX)
    fields = {key: value for key, value in item.items() if key not in ("pk", "sk")}
    try:
        return TestCase.model_validate({"name": name, **fields})
    except ValidationError as error:
        return MalformedCase(name, validation_problem(error))


def validation_problem(error: ValidationError) -> str:
    """The first problem of a validation error, naming the field: ``output.minimum: Input should be ...``."""
    return first_error(error, whole="case")


# --- Checking an answer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What an invocation returned: the status (the model's own status for a model error), the body,
    and the time it took. ``error`` is set when the invocation failed before the model answered.
    ``queued``: an asynchronous endpoint's answer, whose time is mostly queueing and polling, so the
    case's latency budget does not apply."""

    status: int
    body: str
    latency_ms: int
    error: str = ""
    queued: bool = False


def check(case: TestCase, answer: Answer) -> list[str]:
    """The problems of ``answer`` against ``case``; an empty list means the case passed."""
    if answer.error:
        return [f"invocation failed: {answer.error}"]
    problems = []
    if answer.status != case.expected_status:
        problems.append(f"status {answer.status}, expected {case.expected_status}: {excerpt(answer.body)}")
    if not answer.queued and answer.latency_ms > case.latency_budget_ms:
        problems.append(f"latency {answer.latency_ms} ms is over the budget of {case.latency_budget_ms} ms")
    if case.output and not problems:
        problems.extend(output_problems(case.output, answer.body))
    return problems


def output_problems(expected: OutputExpectation, body: str) -> list[str]:
    """What in ``body`` does not match ``expected``."""
    problems = []
    if expected.pattern and not re.search(expected.pattern, body):
        problems.append(f"the answer does not match /{expected.pattern}/: {excerpt(body)}")
    if not expected.checks_values:
        return problems
    try:
        values = list(csv_values(body) if expected.format == "csv" else json_values(body))
    except ValueError as error:
        return [*problems, f"{error}: {excerpt(body)}"]
    if expected.count is not None and len(values) != expected.count:
        problems.append(f"{len(values)} values, expected {expected.count}: {excerpt(body)}")
    outside = [
        value
        for value in values
        if (expected.minimum is not None and value < expected.minimum)
        or (expected.maximum is not None and value > expected.maximum)
    ]
    if outside:
        bounds = f"[{_bound(expected.minimum, '-inf')}, {_bound(expected.maximum, 'inf')}]"
        problems.append(f"{len(outside)} value(s) outside {bounds}, first {outside[0]:g}")
    return problems


def csv_values(body: str) -> Iterator[float]:
    """The numbers of a CSV answer: every cell of every line (one prediction a line, or a row of them)."""
    for cell in re.split(r"[,\n]", body):
        if cell.strip():
            yield _number(cell.strip())


def json_values(body: str) -> Iterator[float]:
    """Every number in a JSON answer (``[0.1, 0.9]``, ``{"predictions": [{"score": 0.9}]}``...)."""
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise ValueError(f"the answer is not JSON ({error.msg})") from error
    yield from _numbers_in(document)


def _numbers_in(value: Any) -> Iterator[float]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers_in(item)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"value {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"value {text!r} is not a finite number")
    return value


def _bound(value: float | None, default: str) -> str:
    return default if value is None else f"{value:g}"


def excerpt(text: str) -> str:
    """The start of an answer, on one line, for results and notifications."""
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARACTERS else flat[: EXCERPT_CHARACTERS - 1] + "…"
