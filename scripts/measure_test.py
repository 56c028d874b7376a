"""Time `make test` once everything is installed: the figure docs/development.md records.

Usage: make measure-test. Runs `make test` once to warm up (installs, byte-compiled modules), then
``RUNS`` more times, and prints each run's wall time and their median. Every run must pass.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 3


def time_make_test() -> float:
    start = time.perf_counter()
    subprocess.run(["make", "--no-print-directory", "test"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    time_make_test()  # warm-up
    samples = []
    for run in range(1, RUNS + 1):
        samples.append(time_make_test())
        print(f"run {run}: {samples[-1]:.1f} s", flush=True)
    print(f"make test, warm: median {statistics.median(samples):.1f} s over {RUNS} runs")


if __name__ == "__main__":
    sys.exit(main())
