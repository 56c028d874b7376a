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

from lambdas.contract import PROJECT_NAME, STAGE_ACCOUNTS

Scenario = Literal["baseline", "advanced"]
Persona = Literal["data_engineer", "data_scientist", "mlops_engineer", "model_approver"]
DeploymentStrategy = Literal["canary", "linear", "all_at_once"]
#: How a project stage serves its model (see docs/configuration.md, "Deployment kinds").
DeploymentKind = Literal["realtime", "serverless", "async", "batch"]
AccountName = Literal["dev", "test", "prod"]
RepositoryProvider = Literal["codecommit", "github"]
OnProjectDelete = Literal["retain", "archive"]

#: The code new projects start from: one directory per template.
PROJECT_TEMPLATES = Path(__file__).resolve().parent / "project_templates"

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
                    f"{name}.account_id={account.account_id!r}: "
                    f"the same account as accounts.{seen[account.account_id]}; use three separate accounts"
                )
            seen[account.account_id] = name
            # Cross-account model packages can only be deployed in the region they were registered in.
            if account.region != self.dev.region:
                raise ConfigError(
                    f"{name}.region={account.region!r}: must equal accounts.dev.region "
                    f"({self.dev.region!r}); SageMaker cannot deploy a model package from another region"
                )
        return self


class StudioUser(_Strict):
    """A person with a Studio user profile and the persona role they work with."""

    name: UserName
    persona: Persona


#: Memory sizes SageMaker offers serverless endpoints (1 GB steps); 0 means instance-backed.
SERVERLESS_MEMORY_SIZES_MB = (0, 1024, 2048, 3072, 4096, 5120, 6144)
ServerlessMemory = Annotated[
    int,
    _check(lambda v: v in SERVERLESS_MEMORY_SIZES_MB, f"must be one of {SERVERLESS_MEMORY_SIZES_MB} (0: instances)"),
]


#: An EventBridge Scheduler expression: ``rate(<n> <unit>)`` or a six-field ``cron(...)``.
ScheduleExpression = Annotated[
    str,
    _check(
        lambda v: (
            re.fullmatch(r"rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)", v) is not None
            or re.fullmatch(r"cron\(\S+ \S+ \S+ \S+ \S+ \S+\)", v) is not None
        ),
        "must be an EventBridge Scheduler expression such as cron(0 2 * * ? *) or rate(1 day)",
    ),
]


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
    deployment_strategy: DeploymentStrategy = "all_at_once"
    traffic_step_percent: int = Field(default=10, ge=1, le=50)
    wait_interval_seconds: int = Field(default=300, ge=0, le=3600)
    #: How long SageMaker lets one blue/green deployment run before it gives up and rolls back.
    deployment_timeout_minutes: int = Field(default=120, ge=10, le=480)
    rollback_monitoring_minutes: int = Field(default=10, ge=0, le=180)
    #: Average model latency above which the latency alarm fires and a deployment rolls back.
    latency_threshold_ms: int = Field(default=1000, ge=1, le=60_000)
    data_capture_percent: int = Field(default=20, ge=0, le=100)
    #: Memory of a serverless (scale-to-zero) endpoint; 0 deploys an instance-backed endpoint. Serverless
    #: endpoints have no data capture, so no Model Monitor: meant for the test stage, not prod.
    serverless_memory_mb: ServerlessMemory = 0
    serverless_max_concurrency: int = Field(default=5, ge=1, le=200)
    #: ``realtime``, ``serverless``, ``async`` or ``batch``; unset, it is ``serverless`` when
    #: ``serverless_memory_mb`` is above 0 and ``realtime`` otherwise (configurations from before kinds).
    deployment_kind: DeploymentKind | None = None
    #: Asynchronous endpoints: requests one instance works on at once, and the queued requests per
    #: instance that autoscaling aims for (it scales in to zero instances when the queue is empty).
    async_max_concurrent_invocations: int = Field(default=4, ge=1, le=1000)
    async_backlog_per_instance_target: int = Field(default=5, ge=1, le=10_000)
    #: Batch: when the transform runs, as an EventBridge Scheduler expression (UTC).
    batch_schedule: ScheduleExpression = "cron(0 2 * * ? *)"

    @property
    def kind(self) -> DeploymentKind:
        """The deployment kind, ``deployment_kind`` or the one ``serverless_memory_mb`` implies."""
        if self.deployment_kind:
            return self.deployment_kind
        return "serverless" if self.serverless_memory_mb else "realtime"

    @model_validator(mode="after")
    def _kind_settings(self) -> EndpointDefaults:
        if self.kind == "serverless" and not self.serverless_memory_mb:
            raise ConfigError(
                f"deployment_kind='serverless': needs serverless_memory_mb, one of {SERVERLESS_MEMORY_SIZES_MB[1:]}"
            )
        if self.kind != "serverless" and self.serverless_memory_mb:
            raise ConfigError(
                f"serverless_memory_mb={self.serverless_memory_mb!r}: only a serverless deployment_kind uses it "
                f"(deployment_kind={self.kind!r}); set it to 0"
            )
        return self

    @model_validator(mode="after")
    def _scaling_range(self) -> EndpointDefaults:
        if self.max_instance_count < self.instance_count:
            raise ConfigError(
                f"max_instance_count={self.max_instance_count!r}: must be at least "
                f"instance_count ({self.instance_count!r}), the autoscaling minimum"
            )
        if self.serverless_memory_mb == 0 and self.deployment_strategy != "all_at_once" and self.instance_count < 2:
            raise ConfigError(
                f"deployment_strategy={self.deployment_strategy!r}: {self.deployment_strategy} traffic shifting "
                f"needs instance_count >= 2 (SageMaker routes at most half of the new fleet's capacity in a step); "
                f"use all_at_once for a single instance"
            )
        return self


class OperationsSettings(_Strict):
    """Operations in the dev account: how long feature endpoints live, and how often retraining may start."""

    #: A feature-stage endpoint (and its monitor) is deleted this long after its last deployment.
    feature_endpoint_ttl_hours: int = Field(default=24, ge=1, le=720)
    #: Hours between two retraining runs a project's alarms start; a project's RETRAINING item may override it.
    retraining_cooldown_hours: int = Field(default=24, ge=1, le=720)


GitHubName = Annotated[
    str,
    _check(
        lambda v: v == "" or re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}", v) is not None,
        "must be a GitHub organization name (letters, digits, single hyphens, at most 39 characters)",
    ),
]
SecretName = Annotated[
    str,
    _check(
        lambda v: v == "" or re.fullmatch(r"[A-Za-z0-9/_+=.@-]{1,512}", v) is not None,
        "must be a Secrets Manager secret name (letters, digits and /_+=.@-)",
    ),
]
HttpsUrl = Annotated[
    str,
    _check(
        lambda v: (
            re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?", v) is not None
            and not v.endswith("/")
        ),
        "must be an https:// URL without a trailing slash, e.g. https://api.github.com or "
        "https://github.example.com/api/v3",
    ),
]


OidcProviderArn = Annotated[
    str,
    _check(
        lambda v: (
            v == "" or re.fullmatch(r"arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/[A-Za-z0-9./_-]+", v) is not None
        ),
        "must be the ARN of an IAM OIDC provider of the dev account, "
        "arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com, or empty to create it",
    ),
]

#: The first Powertools release whose Lambda layer AWS publishes for the functions' runtime (python3.14)
#: under a versioned public SSM parameter: 3.23.0 added the python3.14 layers, but its versioned
#: parameters were written under a wrong name (aws-powertools/powertools-lambda-python#7689, fixed by
#: #7695 for later releases). Only ``latest`` resolved for it.
FIRST_POWERTOOLS_WITH_PYTHON_3_14_PARAMETER = (3, 24, 0)
PowertoolsVersion = Annotated[
    str,
    _check(
        lambda v: (
            re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", v) is not None
            and tuple(int(part) for part in v.split(".")) >= FIRST_POWERTOOLS_WITH_PYTHON_3_14_PARAMETER
        ),
        "must be a Powertools for AWS Lambda (Python) release x.y.z, 3.24.0 or later: earlier releases have "
        "no /aws/service/powertools/python/arm64/python3.14/<version> parameter for the functions' runtime",
    ),
]


class ProjectsConfig(_Strict):
    """How SageMaker projects created from Studio get their repository and model groups.

    ``repository_provider`` chooses where a project's git repository is created: ``codecommit`` in
    the dev account, or ``github`` in ``github_organization`` with the token stored in the Secrets
    Manager secret ``github_token_secret_name`` (``<prefix>/github-token`` unless given;
    ``github_api_url`` points to GitHub Enterprise Server if needed). CodeCommit has at times been
    closed to accounts that never had a repository, so switching to GitHub needs only the provider
    and the organization. ``on_delete`` says what deleting a project does to its repository (model
    groups are always kept). ``create_launch_role`` is false when the account already has
    ``AmazonSageMakerServiceCatalogProductsLaunchRole`` (created by the console when projects were
    enabled for a domain).

    Every project gets its CI with it: on CodeCommit a CodeBuild project ``<project>-ci`` whose builds
    may run ``ci_build_timeout_minutes`` (above a pipeline run, which ``pipelines.run --wait`` waits
    for); on GitHub a role its workflow assumes through GitHub's OIDC provider, which the platform
    creates in the dev account unless ``github_oidc_provider_arn`` names an existing one (an account
    has at most one provider per URL).
    """

    repository_provider: RepositoryProvider = "codecommit"
    github_organization: GitHubName = ""
    github_token_secret_name: SecretName = ""
    github_api_url: HttpsUrl = "https://api.github.com"
    template: str = "tabular-xgboost"
    on_delete: OnProjectDelete = "retain"
    create_launch_role: bool = True
    ci_build_timeout_minutes: int = Field(default=300, ge=5, le=2160)  # CodeBuild's limits
    github_oidc_provider_arn: OidcProviderArn = ""

    @model_validator(mode="after")
    def _complete_provider_settings(self) -> ProjectsConfig:
        if self.repository_provider == "github" and not self.github_organization:
            raise ConfigError("github_organization: missing; required when repository_provider is 'github'")
        available = sorted(path.name for path in PROJECT_TEMPLATES.iterdir() if path.is_dir())
        if self.template not in available:
            raise ConfigError(
                f"template={self.template!r}: not a directory of project_templates/ (available: {', '.join(available)})"
            )
        return self

    @property
    def template_path(self) -> Path:
        return PROJECT_TEMPLATES / self.template


EvaluationMode = Literal["shadow", "split", "separate"]
ComparisonMetric = Literal["accuracy", "f1", "mae", "rmse"]


class ChampionChallengerSettings(_Strict):
    """How the advanced scenario evaluates a challenger against the champion in prod, and the default rule.

    ``evaluation_mode``: ``shadow`` (the challenger is a shadow variant of the champion's endpoint: copies
    of live requests, answers captured, never returned), ``split`` (a second production variant taking
    ``split_challenger_percent`` of live traffic) or ``separate`` (two endpoints; clients choose).
    ``project_modes`` overrides the mode per project. The rule fields are the defaults a project's
    ``COMPARISON`` item in the project-settings table may override.
    """

    #: ``shadow``: the challenger sees live traffic without answering it (the promoter deploys it into
    #: its champion's stack, see ``lambdas/promoter/shared_endpoint.py``).
    evaluation_mode: EvaluationMode = "shadow"
    project_modes: dict[str, EvaluationMode] = {}
    split_challenger_percent: int = Field(default=10, ge=1, le=50)
    comparison_interval_hours: int = Field(default=24, ge=1, le=168)
    minimum_requests: int = Field(default=1000, ge=1, le=100_000_000)
    minimum_duration_hours: int = Field(default=24, ge=0, le=2160)
    metric: ComparisonMetric = "accuracy"
    metric_tolerance: float = Field(default=0.01, ge=0, le=1_000_000)
    require_labels: bool = True

    @model_validator(mode="after")
    def _project_names(self) -> ChampionChallengerSettings:
        for project in self.project_modes:
            if not PROJECT_NAME.match(project):
                raise ConfigError(
                    f"project_modes.{project}: not a project name (2-24 lower-case letters, digits, single hyphens)"
                )
        return self

    def mode_of(self, project: str) -> EvaluationMode:
        """The evaluation mode of a project: its own, or the platform's."""
        return self.project_modes.get(project, self.evaluation_mode)


class PlatformConfig(_Strict):
    """Everything an installation decides: accounts, scenario, naming, people and endpoint sizing."""

    prefix: Prefix = "mlops"
    scenario: Scenario = "baseline"
    accounts: Accounts
    vpc_cidr: VpcCidr = "10.20.0.0/16"
    users: tuple[StudioUser, ...] = ()
    alert_emails: tuple[Email, ...] = ()
    #: The model approvers: subscribed to the approval topic (versions pending approval).
    approver_emails: tuple[Email, ...] = ()
    studio_idle_timeout_minutes: int = Field(default=60, ge=60, le=525600)
    endpoint: EndpointDefaults = EndpointDefaults()
    #: Per-stage changes to ``endpoint``, e.g. ``{"prod": {"instance_count": 2, "deployment_strategy": "canary"}}``.
    endpoint_overrides: dict[str, dict[str, Any]] = {}
    operations: OperationsSettings = OperationsSettings()
    powertools_layer_version: PowertoolsVersion = "3.37.0"
    projects: ProjectsConfig = ProjectsConfig()
    champion_challenger: ChampionChallengerSettings = ChampionChallengerSettings()

    @model_validator(mode="before")
    @classmethod
    def _default_github_token_secret(cls, data: Any) -> Any:
        """With GitHub and no secret named, the token lives in ``<prefix>/github-token``."""
        if not isinstance(data, Mapping):
            return data
        projects = data.get("projects")
        if (
            isinstance(projects, Mapping)
            and projects.get("repository_provider") == "github"
            and not projects.get("github_token_secret_name")
        ):
            prefix = data.get("prefix", cls.model_fields["prefix"].default)
            return {**data, "projects": {**projects, "github_token_secret_name": f"{prefix}/github-token"}}
        return data

    @model_validator(mode="after")
    def _unique_users(self) -> PlatformConfig:
        names = [user.name for user in self.users]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ConfigError(f"users[{index}].name={name!r}: duplicate user; each person needs one profile")
        return self

    @model_validator(mode="after")
    def _valid_endpoint_overrides(self) -> PlatformConfig:
        for stage in self.endpoint_overrides:
            if stage not in self.stages:
                raise ConfigError(
                    f"endpoint_overrides.{stage}: not a stage of the {self.scenario} scenario "
                    f"({', '.join(self.stages)})"
                )
            self.endpoint_for(stage)
        return self

    @model_validator(mode="after")
    def _champion_challenger_in_advanced_scenario(self) -> PlatformConfig:
        if self.champion_challenger.project_modes and self.scenario != "advanced":
            raise ConfigError(
                "champion_challenger.project_modes: only the advanced scenario has champions and challengers "
                f"(scenario is {self.scenario!r})"
            )
        return self

    @property
    def stages(self) -> tuple[str, ...]:
        """Model package group stages of the scenario, in promotion order."""
        return SCENARIO_STAGES[self.scenario]

    def account_of_stage(self, stage: str) -> AccountConfig:
        """The account a stage's endpoints run in."""
        return getattr(self.accounts, STAGE_ACCOUNTS[stage])

    def endpoint_for(self, stage: str) -> EndpointDefaults:
        """The endpoint settings of a stage: ``endpoint`` with the stage's overrides applied."""
        merged = {**self.endpoint.model_dump(), **self.endpoint_overrides.get(stage, {})}
        try:
            return EndpointDefaults.model_validate(merged)
        except ValidationError as error:
            raise ConfigError(f"endpoint_overrides.{stage}.{_describe(error)}") from None


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


def _describe(error: ValidationError) -> str:
    """One line for the first error, keyed relative to the model that was validated.

    A :class:`ConfigError` raised by a nested model's validator already names its key relative to
    that model; it is prefixed with where the model sits.
    """
    first = error.errors()[0]
    location = first["loc"]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):
        return f"{_dotted_key(location)}.{cause}" if location else str(cause)
    if first["type"] == "missing":
        return f"{_dotted_key(location)}: missing"
    message = first["msg"].removeprefix("Value error, ")
    return f"{_dotted_key(location)}={first['input']!r}: {message}"


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
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
