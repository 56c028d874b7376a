"""Typed platform configuration: one model, its defaults, validation and loading.

The default configuration lives in ``cdk.json`` under the ``platform`` context key. An installation
overrides it with a JSON file (``-c config_file=my-platform.json``, deep-merged over the defaults)
and/or single keys (``-c platform.scenario=advanced``). Anything invalid stops the app before
synthesis with one line that names the offending key and value (:class:`ConfigError`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from lambdas.contract import STAGE_ACCOUNTS

Scenario = Literal["baseline", "advanced"]
Persona = Literal["data_engineer", "data_scientist", "mlops_engineer", "model_approver"]
DeploymentStrategy = Literal["canary", "linear", "all_at_once"]
AccountName = Literal["dev", "test", "prod"]

SCENARIO_STAGES: dict[str, tuple[str, ...]] = {
    "baseline": ("feature", "dev", "prod"),
    "advanced": ("feature", "dev", "prod", "champion", "challenger"),
}


class ConfigError(ValueError):
    """Invalid platform configuration; the message is one line naming the key and the value."""


def _check(predicate, message: str):
    """Build a validator that raises ``message`` when ``predicate(value)`` is false."""

    def validate(value):
        if not predicate(value):
            raise ValueError(message)
        return value

    return AfterValidator(validate)


def _is_region(value: str) -> bool:
    parts = value.split("-")
    return len(parts) >= 3 and parts[-1].isdigit() and all(p.isalpha() and p.islower() for p in parts[:-1])


def _is_cidr(value: str) -> bool:
    try:
        network = ipaddress.IPv4Network(value)
    except ValueError:
        return False
    return 16 <= network.prefixlen <= 22 and network.is_private


def _is_name(value: str, max_length: int) -> bool:
    return (
        0 < len(value) <= max_length
        and value[0].isalpha()
        and value[-1].isalnum()
        and all(c.isdigit() or c == "-" or (c.isalpha() and c.islower()) for c in value)
    )


AccountId = Annotated[str, _check(lambda v: len(v) == 12 and v.isdigit(), "must be a 12-digit AWS account id")]
Region = Annotated[str, _check(_is_region, "must be an AWS region name such as eu-west-1")]
Prefix = Annotated[
    str, _check(lambda v: _is_name(v, 16), "must be 1-16 lower-case letters, digits or hyphens, starting with a letter")
]
UserName = Annotated[
    str,
    _check(
        lambda v: _is_name(v, 63),
        "must be 1-63 lower-case letters, digits or hyphens, starting with a letter (a Studio user profile name)",
    ),
]
Email = Annotated[
    str,
    _check(
        lambda v: v.count("@") == 1 and "." in v.split("@")[1] and " " not in v and v.split("@")[0] != "",
        "must be an e-mail address",
    ),
]
VpcCidr = Annotated[str, _check(_is_cidr, "must be a private IPv4 CIDR between /16 and /22")]
#: Instance families whose SageMaker instances have EBS storage only. SageMaker rejects a volume KMS
#: key on instances with local NVMe storage (m5d, c5d, g4dn, g5, p3dn, ...: "You can't request a
#: KmsKeyId when using an instance type with local storage", CreateEndpointConfig API reference), and
#: the platform always encrypts endpoint and monitoring volumes with its own key.
EBS_ONLY_INSTANCE_FAMILIES = (
    *("t2", "t3", "m4", "m5", "m6i", "m7i"),  # burstable and general purpose
    *("c4", "c5", "c6i", "c7i", "r5", "r6i", "r7i"),  # compute and memory optimized
    *("p2", "p3"),  # GPU (g4dn, g5 and p3dn have local storage)
)
#: The same rule as a regular expression, shared with the endpoint and monitor templates' parameters.
EBS_ONLY_INSTANCE_TYPE_PATTERN = rf"^ml\.({'|'.join(EBS_ONLY_INSTANCE_FAMILIES)})\.(medium|large|[0-9]*xlarge)$"
EbsOnlyInstanceType = Annotated[
    str,
    _check(
        lambda v: re.fullmatch(EBS_ONLY_INSTANCE_TYPE_PATTERN, v) is not None,
        "must be a SageMaker instance type with EBS storage only, like ml.m5.large (families: "
        + ", ".join(EBS_ONLY_INSTANCE_FAMILIES)
        + "); volumes are KMS-encrypted, which instances with local NVMe storage do not allow",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountConfig(_Strict):
    """One AWS account and the region the platform uses in it."""

    account_id: AccountId
    region: Region


class Accounts(_Strict):
    """The three accounts: dev (Studio, registry, promotion), test and prod (endpoints)."""

    dev: AccountConfig
    test: AccountConfig
    prod: AccountConfig

    @model_validator(mode="after")
    def _distinct_accounts_one_region(self) -> Accounts:
        seen: dict[str, str] = {}
        for name in ("dev", "test", "prod"):
            account = getattr(self, name)
            if account.account_id in seen:
                raise ConfigError(
                    f"accounts.{name}.account_id={account.account_id!r}: "
                    f"the same account as accounts.{seen[account.account_id]}; use three separate accounts"
                )
            seen[account.account_id] = name
            # Cross-account model packages can only be deployed in the region they were registered in.
            if account.region != self.dev.region:
                raise ConfigError(
                    f"accounts.{name}.region={account.region!r}: must equal accounts.dev.region "
                    f"({self.dev.region!r}); SageMaker cannot deploy a model package from another region"
                )
        return self


class StudioUser(_Strict):
    """A person with a Studio user profile and the persona role they work with."""

    name: UserName
    persona: Persona


class EndpointDefaults(_Strict):
    """Defaults for the endpoints the promoter deploys, overridable per installation.

    They become the default values of the endpoint template's parameters; ranges follow SageMaker's
    limits (blue/green waits up to an hour, a deployment up to eight hours, serverless concurrency
    up to 200).
    """

    instance_type: EbsOnlyInstanceType = "ml.m5.large"
    instance_count: int = Field(default=1, ge=1, le=20)
    #: Upper bound of target-tracking autoscaling; equal to ``instance_count`` turns autoscaling off.
    max_instance_count: int = Field(default=4, ge=1, le=100)
    #: Target of ``SageMakerVariantInvocationsPerInstance`` (requests per instance per minute).
    invocations_per_instance_target: int = Field(default=100, ge=1, le=100_000)
    deployment_strategy: DeploymentStrategy = "canary"
    traffic_step_percent: int = Field(default=10, ge=1, le=50)
    wait_interval_seconds: int = Field(default=300, ge=0, le=3600)
    #: How long SageMaker lets one blue/green deployment run before it gives up and rolls back.
    deployment_timeout_minutes: int = Field(default=120, ge=10, le=480)
    rollback_monitoring_minutes: int = Field(default=10, ge=0, le=180)
    #: Average model latency above which the latency alarm fires and a deployment rolls back.
    latency_threshold_ms: int = Field(default=1000, ge=1, le=60_000)
    data_capture_percent: int = Field(default=20, ge=0, le=100)
    serverless_in_test: bool = False
    serverless_max_concurrency: int = Field(default=5, ge=1, le=200)

    @model_validator(mode="after")
    def _scaling_range(self) -> EndpointDefaults:
        if self.max_instance_count < self.instance_count:
            raise ConfigError(
                f"endpoint.max_instance_count={self.max_instance_count!r}: must be at least "
                f"endpoint.instance_count ({self.instance_count!r}), the autoscaling minimum"
            )
        return self


class PlatformConfig(_Strict):
    """Everything an installation decides: accounts, scenario, naming, people and endpoint sizing."""

    prefix: Prefix = "mlops"
    scenario: Scenario = "baseline"
    accounts: Accounts
    vpc_cidr: VpcCidr = "10.20.0.0/16"
    users: tuple[StudioUser, ...] = ()
    alert_emails: tuple[Email, ...] = ()
    studio_idle_timeout_minutes: int = Field(default=60, ge=60, le=525600)
    endpoint: EndpointDefaults = EndpointDefaults()
    powertools_layer_version: str = "3.37.0"

    @model_validator(mode="after")
    def _unique_users(self) -> PlatformConfig:
        names = [user.name for user in self.users]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ConfigError(f"users[{index}].name={name!r}: duplicate user; each person needs one profile")
        return self

    @property
    def stages(self) -> tuple[str, ...]:
        """Model package group stages of the scenario, in promotion order."""
        return SCENARIO_STAGES[self.scenario]

    def account_of_stage(self, stage: str) -> AccountConfig:
        """The account a stage's endpoints run in."""
        return getattr(self.accounts, STAGE_ACCOUNTS[stage])


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_cli_value(key: str, value: Any) -> Any:
    """``-c`` values arrive as strings: JSON lists and objects are decoded, scalars stay strings.

    Scalars are left to the model, which converts "3" to an int where a number is expected but keeps
    an account id such as "012345678901" a string, leading zero included.
    """
    if isinstance(value, str) and value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{key}={value!r}: not valid JSON ({error})") from error
    return value


def _set_dotted(target: dict[str, Any], dotted_key: str, value: Any) -> None:
    *parents, leaf = dotted_key.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        node[part] = dict(child) if isinstance(child, Mapping) else {}
        node = node[part]
    node[leaf] = value


def _dotted_key(location: tuple[str | int, ...]) -> str:
    key = ""
    for part in location:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key.lstrip(".") or "platform"


def _format_error(error: ValidationError) -> str:
    first = error.errors()[0]
    key = _dotted_key(first["loc"])
    if first["type"] == "missing":
        return f"{key}: missing"
    message = first["msg"].removeprefix("Value error, ")
    return f"{key}={first['input']!r}: {message}"


def load_config(context: Mapping[str, Any]) -> PlatformConfig:
    """Build the configuration from CDK context; raise :class:`ConfigError` naming the first bad key."""
    raw = context.get("platform")
    if not isinstance(raw, Mapping):
        raise ConfigError("platform: missing; cdk.json must hold the default configuration under 'platform'")
    settings = dict(raw)
    config_file = context.get("config_file")
    if config_file:
        path = Path(config_file)
        try:
            settings = _deep_merge(settings, json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise ConfigError(f"config_file={str(path)!r}: cannot be read as JSON ({error})") from error
    for context_key, value in sorted(context.items()):
        if context_key.startswith("platform."):
            key = context_key.removeprefix("platform.")
            _set_dotted(settings, key, _parse_cli_value(key, value))
    try:
        return PlatformConfig.model_validate(settings)
    except ConfigError:
        raise
    except ValidationError as error:
        # ConfigError raised in a model validator arrives wrapped as a "value_error".
        cause = error.errors()[0].get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(_format_error(error)) from None
