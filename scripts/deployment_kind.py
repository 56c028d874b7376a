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

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))  # contract, the promoter: as the handlers
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts.project_settings_cli

import contract
from envelope import Rejection
from promoter.kinds import stage_kind
from scripts.project_settings_cli import SettingsFile, SettingsFileError, run

FIELDS = {contract.DeploymentFields.KIND, contract.DeploymentFields.STAGES}


class DeploymentFileError(SettingsFileError):
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


def write_deployment(table, project: str, document: dict[str, Any], arguments: argparse.Namespace) -> dict[str, Any]:
    """Replace the project's ``DEPLOYMENT`` item in ``table`` (a boto3 DynamoDB Table) with the file's."""
    key = {"pk": contract.project_settings_partition(project), "sk": contract.DEPLOYMENT_SORT_KEY}
    table.put_item(Item={**key, **document})
    return {"deployment": document}


DEPLOYMENT_FILE = SettingsFile(
    noun="deployment kinds",
    validate_help="check a deployment file",
    load_help="validate, then write the project's DEPLOYMENT item",
    read=read_deployment,
    valid=lambda document: "valid deployment kinds",
    load=write_deployment,
)


def main(argv: list[str] | None = None, dynamodb: Any = None) -> int:
    return run(DEPLOYMENT_FILE, __doc__.split("\n\n")[0], argv, dynamodb)


if __name__ == "__main__":
    sys.exit(main())
