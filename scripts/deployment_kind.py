#!/usr/bin/env python3
"""Validate a project's deployment kinds, and load them as its ``DEPLOYMENT`` item in the project-settings table.

    python scripts/deployment_kind.py validate config/deployment.json
    python scripts/deployment_kind.py load --project churn config/deployment.json [--table <table>]

The file is ``{"kind": "<kind>", "stages": {"<stage>": "<kind>"}}`` (both optional; a stage's entry wins
over ``kind``; without either the platform's per-stage default applies), kinds being
``realtime``, ``serverless``, ``async`` and ``batch``. It is checked with the promoter's own rules
(``lambdas/promoter/kinds.py``), so a file this accepts is one the promoter deploys. ``load`` replaces
the item (``PROJECT#<project>`` / ``DEPLOYMENT``) with the dev account's credentials; the next
approval or reconcile deploys the stage with its new kind. Run it as the MLOps engineer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))

import contract  # from lambdas/, as the handlers import it
from envelope import Rejection
from promoter.kinds import stage_kind

DEFAULT_TABLE = "mlops-project-settings"
FIELDS = {contract.DeploymentFields.KIND, contract.DeploymentFields.STAGES}


class DeploymentFileError(ValueError):
    """The file is not a valid choice of deployment kinds; the message names the field."""


def read_deployment(path: Path) -> dict[str, Any]:
    """The file's deployment item attributes, validated; raise :class:`DeploymentFileError` at the first problem."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DeploymentFileError(f"{path}: {error}") from error
    if not isinstance(document, dict):
        raise DeploymentFileError(f'{path}: expected {{"kind": ..., "stages": {{...}}}}')
    unknown = sorted(set(document) - FIELDS)
    if unknown:
        raise DeploymentFileError(f"{path}: unknown field(s) {', '.join(unknown)}; fields are kind, stages")
    stages = document.get(contract.DeploymentFields.STAGES, {})
    unknown_stages = sorted(set(stages) - set(contract.STAGES)) if isinstance(stages, dict) else []
    if unknown_stages:
        raise DeploymentFileError(f"{path}: unknown stage(s) {', '.join(unknown_stages)}")
    for stage in contract.STAGES:
        kind = stage_kind(document, stage, "realtime")
        if isinstance(kind, Rejection):
            raise DeploymentFileError(f"{path}: {kind.reason}")
    return document


def main(argv: list[str] | None = None, dynamodb: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a deployment file")
    validate.add_argument("file", type=Path)
    loader = commands.add_parser("load", help="validate, then write the project's DEPLOYMENT item")
    loader.add_argument("file", type=Path)
    loader.add_argument("--project", required=True, help="the SageMaker project name")
    loader.add_argument("--table", default=DEFAULT_TABLE, help=f"the project-settings table (default {DEFAULT_TABLE})")
    arguments = parser.parse_args(argv)
    try:
        document = read_deployment(arguments.file)
    except DeploymentFileError as error:
        print(f"invalid deployment kinds: {error}", file=sys.stderr)
        return 1
    if arguments.command == "validate":
        print(f"{arguments.file}: valid deployment kinds")
        return 0
    if not contract.PROJECT_NAME.match(arguments.project):
        print(f"invalid project name {arguments.project!r}", file=sys.stderr)
        return 1
    if dynamodb is None:
        import boto3

        dynamodb = boto3.resource("dynamodb")
    key = {"pk": contract.project_settings_partition(arguments.project), "sk": contract.DEPLOYMENT_SORT_KEY}
    dynamodb.Table(arguments.table).put_item(Item={**key, **document})
    print(json.dumps({"project": arguments.project, "table": arguments.table, "deployment": document}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
