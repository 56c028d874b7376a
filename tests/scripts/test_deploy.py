"""scripts/deploy.py (`make deploy`): nothing reaches AWS with placeholders, bad configuration or wrong credentials."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from moto import mock_aws

from scripts.deploy import main
from tests.conftest import ROOT

REAL = {"dev": "444455556666", "test": "777788889999", "prod": "101010101010"}


@pytest.fixture
def config_file(tmp_path) -> str:
    path = tmp_path / "acme.json"
    path.write_text(
        json.dumps(
            {"accounts": {name: {"account_id": account, "region": "eu-west-1"} for name, account in REAL.items()}}
        )
    )
    return str(path)


def _never(*args, **kwargs):
    raise AssertionError("must not be called")


def test_the_placeholder_accounts_are_refused_in_one_line_naming_the_key():
    """`make deploy` itself, as a newcomer runs it without a configuration: fails fast, one line."""
    result = subprocess.run(
        [sys.executable, "scripts/deploy.py"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "make deploy: accounts.dev.account_id='111111111111' is cdk.json's placeholder: set your dev account "
        "(a --config-file, or -c platform.accounts.dev.account_id=...)"
    ]


def test_one_remaining_placeholder_is_named(capsys):
    overrides = ["-c", f"platform.accounts.dev.account_id={REAL['dev']}"]
    overrides += ["-c", f"platform.accounts.test.account_id={REAL['test']}"]
    assert main(overrides, run=_never, account_of_credentials=_never) == 2
    assert "accounts.prod.account_id='333333333333' is cdk.json's placeholder" in capsys.readouterr().err


def test_invalid_configuration_is_refused_before_credentials(config_file, capsys):
    assert main(["--config-file", config_file, "-c", "platform.scenario=expert"], run=_never) == 2
    assert capsys.readouterr().err.startswith("make deploy: Invalid configuration: scenario='expert'")


def test_dry_run_prints_the_command_and_runs_nothing(config_file, capsys):
    assert main(["--config-file", config_file, "--dry-run", "-c", "platform.scenario=advanced"], run=_never) == 0
    assert capsys.readouterr().out.splitlines() == [
        "node_modules/.bin/cdk deploy --all --require-approval broadening "
        f"-c config_file={config_file} -c platform.scenario=advanced"
    ]


def test_credentials_of_another_account_are_refused(config_file, capsys, monkeypatch):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", REAL["prod"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        assert main(["--config-file", config_file], run=_never) == 2
    assert "the credentials are of account 101010101010, not the dev account 444455556666" in capsys.readouterr().err


def test_with_the_dev_accounts_credentials_it_runs_cdk_deploy_all(config_file, monkeypatch):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", REAL["dev"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    ran = []
    with mock_aws():
        code = main(["--config-file", config_file], run=lambda command, cwd: ran.append((command, cwd)) or 0)
    assert code == 0
    assert ran == [
        (
            [
                "node_modules/.bin/cdk",
                "deploy",
                "--all",
                "--require-approval",
                "broadening",
                "-c",
                f"config_file={config_file}",
            ],
            ROOT,
        )
    ]
