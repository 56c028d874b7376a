"""How long the promoter's handler takes for one approval, AWS latency excluded (every call answered by moto)."""

from __future__ import annotations

import statistics
import time

from tests.lambdas.events import LambdaContext, sqs_event

RUNS = 20
#: Generous on purpose (the goal is well under a second): it fails on a regression, not on a slow machine.
#: The handler's CPU time is measured (moto answers in-process), not the wall clock, which other processes
#: on a loaded machine stretch.
MEDIAN_BOUND_SECONDS = 1.0


def test_one_approval_is_handled_well_under_a_second(platform):
    durations = []
    for _ in range(RUNS):
        batch = sqs_event(platform.package_event(platform.register("dev")))
        started = time.process_time()
        response = platform.promoter.handle(batch, LambdaContext("mlops-promoter"))
        durations.append(time.process_time() - started)
        assert response == {"batchItemFailures": []}

    median = statistics.median(durations)
    print(
        f"\npromoter handler, one approval, {RUNS} runs against moto: CPU time median {median * 1000:.0f} ms "
        f"(min {min(durations) * 1000:.0f} ms, max {max(durations) * 1000:.0f} ms)"
    )
    assert len(platform.attempts("dev")) == RUNS  # every run deployed its version
    assert median < MEDIAN_BOUND_SECONDS
