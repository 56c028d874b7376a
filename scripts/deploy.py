#!/usr/bin/env python3
"""`make deploy`: check the configuration and the credentials, then deploy the platform with the CDK CLI.

    python scripts/deploy.py [--config-file acme.json] [-c platform.key=value ...] [--dry-run]

Before anything reaches AWS it stops with one line when the configuration is invalid, when an account
is still the placeholder of ``cdk.json`` (naming the key to set), or when the credentials are missing
or belong to another account than dev (the CDK deploys the test and prod stacks through the roles
``cdk bootstrap --trust`` created there). Then it prints and runs ``cdk deploy --all``, which deploys
the stacks in the order their dependencies give (see ``app.py``). ``--dry-run`` prints the command
without checking credentials or running it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from platform_config import ConfigError, PlatformConfig, load_config  # noqa: E402

CDK = ROOT / "node_modules" / ".bin" / "cdk"
ACCOUNTS = ("dev", "test", "prod")


class DeployRefused(Exception):
    """Deploying would fail or go to the wrong place; the message is the one line to show."""


def context_of(config_file: str | None, overrides: Sequence[str]) -> dict:
    """The context ``cdk deploy`` will see: cdk.json, the committed look-ups, the file and the overrides."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update(json.loads((ROOT / "cdk.context.json").read_text()))
    if config_file:
        context["config_file"] = config_file
    for override in overrides:
        key, separator, value = override.partition("=")
        if not separator or not key:
            raise DeployRefused(f"-c {override!r}: must be key=value")
        context[key] = value
    return context


def placeholder_problem(config: PlatformConfig) -> str | None:
    """The first account still set to ``cdk.json``'s placeholder, named by its key."""
    defaults = json.loads((ROOT / "cdk.json").read_text())["context"]["platform"]["accounts"]
    for account in ACCOUNTS:
        account_id = getattr(config.accounts, account).account_id
        if account_id == defaults[account]["account_id"]:
            return (
                f"accounts.{account}.account_id={account_id!r} is cdk.json's placeholder: set your {account} "
                f"account (a --config-file, or -c platform.accounts.{account}.account_id=...)"
            )
    return None


def caller_account() -> str:
    """The account of the credentials the CDK CLI will use (the default boto3 chain, as the CLI reads it)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return boto3.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        raise DeployRefused(f"no usable AWS credentials for the dev account: {error}") from None


def deploy_command(config_file: str | None, overrides: Sequence[str]) -> list[str]:
    """``cdk deploy --all`` with the same configuration; asks before IAM or security group changes widen."""
    command = [str(CDK.relative_to(ROOT)), "deploy", "--all", "--require-approval", "broadening"]
    if config_file:
        command += ["-c", f"config_file={config_file}"]
    for override in overrides:
        command += ["-c", override]
    return command


def plan(
    config_file: str | None, overrides: Sequence[str], *, dry_run: bool, account_of_credentials: Callable[[], str]
) -> list[str]:
    """The command to run, once the configuration and (unless ``dry_run``) the credentials are checked."""
    try:
        config = load_config(context_of(config_file, overrides))
    except ConfigError as error:
        raise DeployRefused(f"Invalid configuration: {error}") from None
    problem = placeholder_problem(config)
    if problem:
        raise DeployRefused(problem)
    if not dry_run:
        account = account_of_credentials()
        if account != config.accounts.dev.account_id:
            raise DeployRefused(
                f"the credentials are of account {account}, not the dev account {config.accounts.dev.account_id} "
                "(accounts.dev.account_id): deploy with the dev account's credentials"
            )
    return deploy_command(config_file, overrides)


def main(argv: Sequence[str] | None = None, *, run=subprocess.call, account_of_credentials=caller_account) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", help="JSON file deep-merged over cdk.json's configuration")
    parser.add_argument("-c", dest="overrides", action="append", default=[], help="context key=value, as for cdk")
    parser.add_argument("--dry-run", action="store_true", help="check the configuration and print the command only")
    args = parser.parse_args(argv)
    try:
        command = plan(
            args.config_file, args.overrides, dry_run=args.dry_run, account_of_credentials=account_of_credentials
        )
    except DeployRefused as refusal:
        print(f"make deploy: {refusal}", file=sys.stderr)
        return 2
    print(shlex.join(command))
    if args.dry_run:
        return 0
    return run(command, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
