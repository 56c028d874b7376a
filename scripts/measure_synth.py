"""Time `cdk synth` of the platform against a one-bucket app, with the same CLI, in the same run.

Usage: make measure-synth (after make synth has set up .venv and node_modules). Both apps run with
the CDK's defaults, as `make synth` does (its built-in CloudFormation validation included: it has a
fixed start-up cost of about three seconds, so ``CDK_VALIDATION=false make measure-synth`` shows
the synthesis alone). Prints the median of several runs of each and their ratio; the README
records the result for a 2-core machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
RUNS = 5


def time_synth(app: str | None) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        command = [str(CDK), "synth", "--quiet", "--output", outdir]
        if app:
            command += ["--app", app]
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    python = sys.executable
    samples: dict[str, list[float]] = {"one bucket": [], "platform": []}
    for _ in range(RUNS):  # interleaved so both see the same machine load
        samples["one bucket"].append(time_synth(f"{python} scripts/one_bucket_app.py"))
        samples["platform"].append(time_synth(None))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"CDK_VALIDATION={os.environ.get('CDK_VALIDATION', 'true (default)')}")
    for name, median in medians.items():
        print(f"{name:>10}: median {median:.1f} s over {RUNS} runs ({', '.join(f'{v:.1f}' for v in samples[name])})")
    print(f"     ratio: {medians['platform'] / medians['one bucket']:.2f}x")


if __name__ == "__main__":
    main()
