#!/usr/bin/env python3
"""Validate a project's integration test cases, and load them into the platform's project-settings table.

    python scripts/integration_tests.py validate integration-tests.json
    python scripts/integration_tests.py load --project churn integration-tests.json [--table <table>] [--replace]

The file is ``{"cases": [{"name": ..., "payload": ..., "content_type": ..., ...}]}``; each case is
checked with the model the integration tester uses (``lambdas/integration_tester/cases.py``), so a
file this accepts is one the tester runs. ``load`` writes one item per case (``PROJECT#<project>`` /
``TEST_CASE#<name>``) with the dev account's credentials; ``--replace`` also deletes the project's
cases the file no longer has. Run it as the MLOps engineer (the table is in the dev account).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambdas"))  # contract, the tester: as the handlers
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts.project_settings_cli

from pydantic import ValidationError

import contract
from integration_tester.cases import TestCase, validation_problem
from scripts.project_settings_cli import SettingsFile, SettingsFileError, run


class CaseFileError(SettingsFileError):
    """The file is not a valid set of test cases; the message names the case and the field."""


def read_cases(path: Path) -> list[TestCase]:
    """The file's test cases, validated; raise :class:`CaseFileError` at the first problem."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CaseFileError(f"{path}: {error}") from error
    cases = document.get("cases") if isinstance(document, dict) else None
    if not isinstance(cases, list) or not cases:
        raise CaseFileError(f'{path}: expected {{"cases": [...]}} with at least one case')
    parsed: dict[str, TestCase] = {}
    for index, raw in enumerate(cases):
        name = raw.get("name", f"#{index}") if isinstance(raw, dict) else f"#{index}"
        try:
            case = TestCase.model_validate(raw)
        except ValidationError as error:
            raise CaseFileError(f"{path}: case {name!r}: {validation_problem(error)}") from error
        if case.name in parsed:
            raise CaseFileError(f"{path}: case {case.name!r} appears twice")
        parsed[case.name] = case
    return list(parsed.values())


def load(table, project: str, cases: list[TestCase], *, replace: bool) -> dict[str, list[str]]:
    """Write the cases into ``table`` (a boto3 DynamoDB Table); with ``replace``, delete the others."""
    partition = contract.project_settings_partition(project)
    existing = _existing_names(table, partition)
    with table.batch_writer() as batch:
        for case in cases:
            batch.put_item(
                Item={"pk": partition, "sk": contract.test_case_sort_key(case.name), **case.item_attributes()}
            )
        removed = sorted(existing - {case.name for case in cases}) if replace else []
        for name in removed:
            batch.delete_item(Key={"pk": partition, "sk": contract.test_case_sort_key(name)})
    return {"written": [case.name for case in cases], "deleted": removed}


def _existing_names(table, partition: str) -> set[str]:
    names, arguments = set(), {}
    while True:
        page = table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": partition, ":prefix": contract.TEST_CASE_PREFIX},
            ProjectionExpression="sk",
            **arguments,
        )
        names |= {item["sk"].removeprefix(contract.TEST_CASE_PREFIX) for item in page["Items"]}
        if "LastEvaluatedKey" not in page:
            return names
        arguments = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


CASE_FILE = SettingsFile(
    noun="test cases",
    validate_help="check a file of test cases",
    load_help="validate, then write the cases into the project-settings table",
    read=read_cases,
    valid=lambda cases: f"{len(cases)} valid test cases",
    load=lambda table, project, cases, arguments: load(table, project, cases, replace=arguments.replace),
    load_options=lambda loader: loader.add_argument(
        "--replace", action="store_true", help="delete the project's cases the file does not have"
    ),
)


def main(argv: list[str] | None = None, dynamodb: Any = None) -> int:
    return run(CASE_FILE, __doc__.split("\n\n")[0], argv, dynamodb)


if __name__ == "__main__":
    sys.exit(main())
