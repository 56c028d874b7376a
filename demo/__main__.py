"""``make demo``: one model's way from the registry to production, and a bad model rolled back.

Offline, in three moto accounts (dev, test, prod) stood up from ``cdk.out``, with the real handlers
configured from their synthesized environment. What moto cannot do is played by stand-ins, and every
line a stand-in prints says so: the deployment of the platform's own stacks, EventBridge delivery,
Lambda's queue polling, the events SageMaker, CloudFormation and CloudWatch emit, CloudWatch
alarms firing, and the runs of a batch stage's pipeline. Prints a timeline: who did what, in which
account, and what the ledger says.

Usage: ``make demo`` (runs ``make synth`` first), or ``python -m demo [--cdk-out DIR] [--verbose]``.
``make demo-advanced`` (``python -m demo --advanced``, on ``cdk.out/advanced``, an app synthesized with
``platform.scenario=advanced``) tells the champion/challenger story instead (``demo/advanced.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "project_templates" / "tabular-xgboost"
# The handlers' code root, as in Lambda; last, the project template's CI modules (the copy to
# production), after the platform's own packages (both have a ``tests`` package).
sys.path.insert(0, str(ROOT / "lambdas"))
sys.path.append(str(TEMPLATE))
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_SERVICE_NAME": "platform",
}.items():
    os.environ[_name] = _value

from demo.advanced import AdvancedStory  # noqa: E402 - after the environment the handlers read at import
from demo.story import Story  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cdk-out", type=Path, help="the synthesized app (default: cdk.out, or cdk.out/advanced with --advanced)"
    )
    parser.add_argument("--verbose", action="store_true", help="also print the handlers' structured logs")
    parser.add_argument(
        "--advanced", action="store_true", help="the advanced scenario: a challenger in shadow, promoted on evidence"
    )
    arguments = parser.parse_args(argv)
    arguments.cdk_out = arguments.cdk_out or ROOT / ("cdk.out/advanced" if arguments.advanced else "cdk.out")
    log_file = arguments.cdk_out / "demo-handler-logs.jsonl"
    with log_file.open("w") as logs:
        _send_handler_logs(sys.stdout if arguments.verbose else logs)
        story = AdvancedStory if arguments.advanced else Story
        story(arguments.cdk_out, out=sys.stdout).run()
    if not arguments.verbose:
        print(f"\nThe handlers' structured logs: {log_file}")
    return 0


def _send_handler_logs(stream) -> None:
    """The handlers log JSON to stdout as in Lambda; the demo writes those lines to a file instead."""
    for handler in logging.getLogger(os.environ["POWERTOOLS_SERVICE_NAME"]).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


if __name__ == "__main__":
    sys.exit(main())
