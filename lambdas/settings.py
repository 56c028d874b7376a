"""The settings every function of the platform reads: typed, validated environment variables and the stages.

The infrastructure configures each function through environment variables; :class:`Environment` reads
them so that a missing or malformed one stops the function with a :class:`ConfigurationError` naming
the variable, and :class:`CommonSettings` holds those every queue-fed function shares. The stage
helpers say which account a stage of the contract deploys to. Like every module directly under
``lambdas/``, it is imported top-level by the handler packages and holds no decisions.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import contract

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


class ConfigurationError(RuntimeError):
    """An environment variable set by the infrastructure is missing or invalid: the function cannot run."""


class Environment:
    """Typed access to environment variables; every error names the variable and what was expected."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def text(self, name: str) -> str:
        """A required, non-empty variable."""
        value = self._environ.get(name, "").strip()
        if not value:
            raise ConfigurationError(f"{name}: missing; the infrastructure must set it")
        return value

    def json(self, name: str) -> Any:
        """A required variable holding JSON."""
        try:
            return json.loads(self.text(name))
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"{name}: not valid JSON ({error})") from error

    def per_stage_json(self, name: str) -> Any:
        """A required JSON object of stage -> value, stages sharing a value under one key
        (``contract.stages_sharing_values``); anything but an object as it is, for the caller to refuse."""
        value = self.json(name)
        if not isinstance(value, dict):
            return value
        try:
            return contract.values_per_stage(value)
        except ValueError as error:
            raise ConfigurationError(f"{name}: {error}") from error

    def account_id(self, name: str) -> str:
        """A required 12-digit AWS account id."""
        value = self.text(name)
        if not ACCOUNT_ID.match(value):
            raise ConfigurationError(f"{name}={value!r}: must be a 12-digit AWS account id")
        return value

    def account_ids(self, name: str) -> frozenset[str]:
        """A required JSON list of account ids."""
        value = self.json(name)
        valid = isinstance(value, list) and value and all(isinstance(v, str) and ACCOUNT_ID.match(v) for v in value)
        if not valid:
            raise ConfigurationError(f"{name}={value!r}: must be a JSON list of 12-digit AWS account ids")
        return frozenset(value)

    def stages(self, name: str = "STAGES") -> tuple[str, ...]:
        """The comma-separated stages of the installation's scenario; each must be one the contract knows."""
        stages = tuple(stage.strip() for stage in self.text(name).split(",") if stage.strip())
        unknown = [stage for stage in stages if stage not in contract.STAGES]
        if unknown or not stages:
            raise ConfigurationError(f"{name}={','.join(stages)!r}: stages must be among {', '.join(contract.STAGES)}")
        return stages

    def whole_number(self, name: str, minimum: int, maximum: int) -> int:
        """A required integer within ``[minimum, maximum]``."""
        value = self.text(name)
        if not value.isdigit() or not minimum <= int(value) <= maximum:
            raise ConfigurationError(f"{name}={value!r}: must be a whole number from {minimum} to {maximum}")
        return int(value)


@dataclass(frozen=True)
class CommonSettings:
    """The settings both functions receive: ledger, alerts, dev account, stages, and the region they run in."""

    ledger_table: str
    alert_topic_arn: str
    dev_account_id: str
    stages: tuple[str, ...]
    region: str

    @classmethod
    def from_environment(cls, env: Environment) -> CommonSettings:
        """Read and validate the shared variables (``AWS_REGION`` is set by the Lambda runtime)."""
        return cls(
            ledger_table=env.text("LEDGER_TABLE"),
            alert_topic_arn=env.text("ALERT_TOPIC_ARN"),
            dev_account_id=env.account_id("DEV_ACCOUNT_ID"),
            stages=env.stages("STAGES"),
            region=env.text("AWS_REGION"),
        )


def is_test_stage(stage: str) -> bool:
    """A stage deployed to the test account: passing it is what lets a package reach prod."""
    return contract.STAGE_ACCOUNTS[stage] == "test"


def is_prod_stage(stage: str) -> bool:
    """A stage deployed to the prod account: guarded by the test-stage record."""
    return contract.STAGE_ACCOUNTS[stage] == "prod"
