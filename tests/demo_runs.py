"""Running the demo as ``make demo`` does, for the demo's tests: its timeline and its handlers' AWS calls."""

from __future__ import annotations

import sys

from tests import handler_calls
from tests.conftest import run_in_repository
from tests.handler_calls import Call

#: The actors whose lines are played by stand-ins (what moto cannot do).
STAND_IN_ACTORS = (
    "SageMaker (",
    "CloudFormation (",
    "CloudWatch (",
    "Service Catalog (",
    "EventBridge (",
    "labelling (",
)


def run_demo(assembly, tmp_path_factory, *options: str) -> tuple[str, list[Call]]:
    """``python -m demo`` on ``assembly`` with ``options``, its calls recorded by ``tests/handler_calls.py``."""
    calls_file = tmp_path_factory.mktemp("demo") / "handler-calls.jsonl"
    command = ["demo", "--cdk-out", assembly.directory, *options]
    timeline = run_in_repository(
        [sys.executable, "-m", "tests.handler_calls", str(calls_file), "--", *command], timeout=120
    )
    return timeline, handler_calls.read(calls_file)


def assert_stand_ins_labelled(timeline: str) -> None:
    """Every line of an actor moto cannot play says it is a stand-in."""
    for line in timeline.splitlines():
        if any(actor in line for actor in STAND_IN_ACTORS):
            assert "(stand-in)" in line, line
