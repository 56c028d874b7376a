"""The command line the project-settings scripts share: ``validate FILE`` and ``load --project P [--table T] FILE``.

``scripts/integration_tests.py`` and ``scripts/deployment_kind.py`` each check one kind of file with the
handlers' own rules (a :class:`SettingsFile`) and write it into the dev account's project-settings table;
:func:`run` parses their arguments, reports a bad file or project name, and opens the table, so both
scripts behave alike. The scripts put ``lambdas/`` on the path before importing this module.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import contract  # from lambdas/, as the handlers import it

DEFAULT_TABLE = "mlops-project-settings"
#: What a script reads from its file (the test cases, the deployment item).
Content = TypeVar("Content")


class SettingsFileError(ValueError):
    """The file is not valid; the message names the file and the problem."""


def _no_options(parser: argparse.ArgumentParser) -> None:
    """``load`` takes only the shared options."""


@dataclass(frozen=True)
class SettingsFile(Generic[Content]):
    """One kind of file a script validates and loads.

    ``read`` parses and checks the file (raising :class:`SettingsFileError`), ``valid`` says what
    ``validate`` found in it, ``load`` writes it for a project into the table (a boto3 DynamoDB Table)
    and returns what to report beside the project and table; ``load_options`` adds ``load``'s own options.
    """

    noun: str
    validate_help: str
    load_help: str
    read: Callable[[Path], Content]
    valid: Callable[[Content], str]
    load: Callable[[Any, str, Content, argparse.Namespace], dict[str, Any]]
    load_options: Callable[[argparse.ArgumentParser], None] = _no_options


def run(settings_file: SettingsFile[Any], description: str, argv: Sequence[str] | None, dynamodb: Any) -> int:
    """Run ``validate`` or ``load`` on ``argv``: 0 when done, 1 (with the reason on stderr) for a bad file
    or project name. ``dynamodb`` is a boto3 DynamoDB resource (the default session's when None)."""
    parser = argparse.ArgumentParser(description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help=settings_file.validate_help)
    validate.add_argument("file", type=Path)
    loader = commands.add_parser("load", help=settings_file.load_help)
    loader.add_argument("file", type=Path)
    loader.add_argument("--project", required=True, help="the SageMaker project name")
    loader.add_argument("--table", default=DEFAULT_TABLE, help=f"the project-settings table (default {DEFAULT_TABLE})")
    settings_file.load_options(loader)
    arguments = parser.parse_args(argv)
    try:
        content = settings_file.read(arguments.file)
    except SettingsFileError as error:
        print(f"invalid {settings_file.noun}: {error}", file=sys.stderr)
        return 1
    if arguments.command == "validate":
        print(f"{arguments.file}: {settings_file.valid(content)}")
        return 0
    if not contract.PROJECT_NAME.match(arguments.project):
        print(f"invalid project name {arguments.project!r}", file=sys.stderr)
        return 1
    if dynamodb is None:
        import boto3

        dynamodb = boto3.resource("dynamodb")
    result = settings_file.load(dynamodb.Table(arguments.table), arguments.project, content, arguments)
    print(json.dumps({"project": arguments.project, "table": arguments.table, **result}))
    return 0
