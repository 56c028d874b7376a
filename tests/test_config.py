"""Configuration: defaults load, overrides apply, and every kind of bad input names its key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from platform_config import FIRST_POWERTOOLS_WITH_PYTHON_3_14_PARAMETER, ConfigError, load_config
from tests.conftest import ROOT, default_context


def test_defaults_are_valid_placeholder_accounts():
    config = load_config(default_context())
    assert config.scenario == "baseline"
    assert config.stages == ("feature", "dev", "prod")
    assert {a.account_id for a in (config.accounts.dev, config.accounts.test, config.accounts.prod)} == {
        "111111111111",
        "222222222222",
        "333333333333",
    }
    assert {user.persona for user in config.users} == {
        "data_engineer",
        "data_scientist",
        "mlops_engineer",
        "model_approver",
    }


def test_operations_default_to_a_day_and_can_be_overridden():
    assert load_config(default_context()).operations.model_dump() == {
        "feature_endpoint_ttl_hours": 24,
        "retraining_cooldown_hours": 24,
    }
    config = load_config({**default_context(), "platform.operations.feature_endpoint_ttl_hours": "8"})
    assert config.operations.feature_endpoint_ttl_hours == 8
    assert config.operations.retraining_cooldown_hours == 24


def test_single_keys_override_with_dotted_context():
    context = {
        **default_context(),
        "platform.scenario": "advanced",
        "platform.accounts.prod.account_id": "012345678901",
        "platform.endpoint.instance_count": "3",
    }
    config = load_config(context)
    assert config.scenario == "advanced"
    assert config.stages == ("feature", "dev", "prod", "champion", "challenger")
    assert config.accounts.prod.account_id == "012345678901"  # leading zero kept: ids are strings
    assert config.endpoint.instance_count == 3


def test_config_file_is_deep_merged_over_defaults(tmp_path):
    override = tmp_path / "platform.json"
    override.write_text(json.dumps({"prefix": "acme", "accounts": {"test": {"account_id": "444444444444"}}}))
    config = load_config({**default_context(), "config_file": str(override)})
    assert config.prefix == "acme"
    assert config.accounts.test.account_id == "444444444444"
    assert config.accounts.test.region == "eu-west-1"  # untouched keys keep their defaults


def test_stage_overrides_apply_to_their_stage_only():
    config = load_config(
        {**default_context(), "platform.endpoint_overrides": '{"dev": {"serverless_memory_mb": 2048}}'}
    )
    assert config.endpoint_for("dev").serverless_memory_mb == 2048
    assert config.endpoint_for("feature").serverless_memory_mb == 0
    defaults = load_config(default_context())
    assert defaults.endpoint_for("prod").deployment_strategy == "canary"
    assert defaults.endpoint_for("prod").instance_count == 2
    assert defaults.endpoint_for("dev").deployment_strategy == "all_at_once"


def test_the_deployment_kind_is_chosen_per_stage_and_inferred_for_older_configurations():
    config = load_config(
        {
            **default_context(),
            "platform.endpoint_overrides": json.dumps(
                {"dev": {"serverless_memory_mb": 2048}, "prod": {"deployment_kind": "batch"}}
            ),
        }
    )
    assert [config.endpoint_for(stage).kind for stage in config.stages] == ["realtime", "serverless", "batch"]
    assert config.endpoint_for("dev").deployment_kind is None  # inferred from serverless_memory_mb
    explicit = load_config({**default_context(), "platform.endpoint.deployment_kind": "async"})
    assert explicit.endpoint_for("feature").kind == "async"


def test_stage_accounts_follow_the_promotion_path():
    config = load_config({**default_context(), "platform.scenario": "advanced"})
    assert [config.account_of_stage(stage).account_id for stage in config.stages] == [
        "111111111111",
        "222222222222",
        "333333333333",
        "333333333333",
        "333333333333",
    ]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"platform.accounts.dev.account_id": "1234"}, "accounts.dev.account_id='1234': must be a 12-digit"),
        ({"platform.scenario": "fancy"}, "scenario='fancy': Input should be 'baseline' or 'advanced'"),
        (
            {"platform.users": '[{"name": "kim", "persona": "wizard"}]'},
            "users[0].persona='wizard': Input should be 'data_engineer'",
        ),
        (
            {
                "platform.users": json.dumps(
                    [{"name": "kim", "persona": "data_scientist"}, {"name": "kim", "persona": "model_approver"}]
                )
            },
            "users[1].name='kim': duplicate user",
        ),
        ({"platform.accounts.test.region": "us-east-1"}, "accounts.test.region='us-east-1': must equal accounts.dev"),
        ({"platform.accounts.prod.account_id": "222222222222"}, "accounts.prod.account_id='222222222222': the same"),
        ({"platform.vpc_cidr": "8.8.8.0/24"}, "vpc_cidr='8.8.8.0/24': must be a private IPv4 CIDR"),
        ({"platform.endpoint.instance_count": "0"}, "endpoint.instance_count='0': Input should be greater"),
        ({"platform.endpoint.deployment_strategy": "yolo"}, "endpoint.deployment_strategy='yolo'"),
        (
            {"platform.endpoint.instance_type": "ml.g5.xlarge"},
            "endpoint.instance_type='ml.g5.xlarge': must be a SageMaker instance type with EBS storage only",
        ),
        (
            {"platform.endpoint.instance_count": "5"},
            "endpoint.max_instance_count=4: must be at least instance_count (5)",
        ),
        ({"platform.endpoint.latency_threshold_ms": "0"}, "endpoint.latency_threshold_ms='0': Input should be greater"),
        (
            {"platform.endpoint.deployment_timeout_minutes": "600"},
            "endpoint.deployment_timeout_minutes='600': Input should be less than or equal to 480",
        ),
        (
            {"platform.endpoint.serverless_max_concurrency": "201"},
            "endpoint.serverless_max_concurrency='201': Input should be less than or equal to 200",
        ),
        (
            {"platform.operations.feature_endpoint_ttl_hours": "0"},
            "operations.feature_endpoint_ttl_hours='0': Input should be greater than or equal to 1",
        ),
        (
            {"platform.operations.retraining_cooldown_hours": "1000"},
            "operations.retraining_cooldown_hours='1000': Input should be less than or equal to 720",
        ),
        ({"platform.operations.cleanup": "weekly"}, "operations.cleanup='weekly': Extra inputs are not permitted"),
        ({"platform.prefix": "Bad_Prefix"}, "prefix='Bad_Prefix': must be 1-16 lower-case"),
        ({"platform.colour": "red"}, "colour='red': Extra inputs are not permitted"),
        ({"platform.alert_emails": '["ops@example.com", "nobody"]'}, "alert_emails[1]='nobody': must be an e-mail"),
        ({"platform.approver_emails": '["approver@"]'}, "approver_emails[0]='approver@': must be an e-mail"),
        ({"platform.users": "[{broken"}, "users='[{broken': not valid JSON"),
        (
            {"platform.endpoint.deployment_strategy": "canary"},
            "endpoint.deployment_strategy='canary': canary traffic shifting needs instance_count >= 2",
        ),
        ({"platform.endpoint.serverless_memory_mb": "1500"}, "endpoint.serverless_memory_mb='1500': must be one of"),
        (
            {"platform.endpoint.deployment_kind": "stream"},
            "endpoint.deployment_kind='stream': Input should be 'realtime', 'serverless', 'async' or 'batch'",
        ),
        (
            {"platform.endpoint_overrides": '{"dev": {"deployment_kind": "serverless"}}'},
            "endpoint_overrides.dev.deployment_kind='serverless': needs serverless_memory_mb",
        ),
        (
            {"platform.endpoint_overrides": '{"dev": {"deployment_kind": "async", "serverless_memory_mb": 2048}}'},
            "endpoint_overrides.dev.serverless_memory_mb=2048: only a serverless deployment_kind uses it",
        ),
        (
            {"platform.endpoint.batch_schedule": "every night"},
            "endpoint.batch_schedule='every night': must be an EventBridge Scheduler expression",
        ),
        (
            {"platform.endpoint.async_max_concurrent_invocations": "0"},
            "endpoint.async_max_concurrent_invocations='0': Input should be greater than or equal to 1",
        ),
        (
            {"platform.endpoint_overrides": '{"champion": {}}'},
            "endpoint_overrides.champion: not a stage of the baseline",
        ),
        (
            {"platform.endpoint_overrides": '{"prod": {"instance_count": 1, "deployment_strategy": "linear"}}'},
            "endpoint_overrides.prod.deployment_strategy='linear': linear traffic shifting needs instance_count >= 2",
        ),
        (
            {"platform.endpoint_overrides": '{"dev": {"instance_kount": 2}}'},
            "endpoint_overrides.dev.instance_kount=2: Extra inputs are not permitted",
        ),
        (
            {"platform.projects.repository_provider": "gitlab"},
            "projects.repository_provider='gitlab': Input should be 'codecommit' or 'github'",
        ),
        ({"platform.powertools_layer_version": "3.23.0"}, "powertools_layer_version='3.23.0': must be a Powertools"),
        ({"platform.powertools_layer_version": "latest"}, "powertools_layer_version='latest': must be a Powertools"),
        (
            {"platform.projects.repository_provider": "github"},
            "projects.github_organization: missing; required when repository_provider is 'github'",
        ),
        ({"platform.projects.github_organization": "acme_ml"}, "projects.github_organization='acme_ml': must be a"),
        ({"platform.projects.github_api_url": "http://github.local"}, "projects.github_api_url='http://github.local'"),
        ({"platform.projects.template": "nlp"}, "projects.template='nlp': not a directory of project_templates/"),
        ({"platform.projects.on_delete": "delete"}, "projects.on_delete='delete': Input should be 'retain' or"),
        (
            {"platform.projects.github_oidc_provider_arn": "token.actions.githubusercontent.com"},
            "projects.github_oidc_provider_arn='token.actions.githubusercontent.com': must be the ARN of an IAM OIDC",
        ),
        ({"platform.projects.ci_build_timeout_minutes": "3000"}, "projects.ci_build_timeout_minutes='3000'"),
    ],
)
def test_invalid_values_name_key_and_value(override, expected):
    with pytest.raises(ConfigError) as error:
        load_config({**default_context(), **override})
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize("instance_type", ["ml.m5.large", "ml.t2.medium", "ml.c6i.4xlarge", "ml.p3.2xlarge"])
def test_ebs_only_instance_types_are_accepted(instance_type):
    config = load_config({**default_context(), "platform.endpoint.instance_type": instance_type})
    assert config.endpoint.instance_type == instance_type


def test_projects_default_to_codecommit_and_accept_github_enterprise():
    assert load_config(default_context()).projects.repository_provider == "codecommit"
    config = load_config(
        {
            **default_context(),
            "platform.projects.repository_provider": "github",
            "platform.projects.github_organization": "acme-ml",
            "platform.projects.github_token_secret_name": "mlops/github-token",
            "platform.projects.github_api_url": "https://github.acme.example/api/v3",
            "platform.projects.create_launch_role": "false",
        }
    )
    assert config.projects.github_api_url == "https://github.acme.example/api/v3"
    assert config.projects.create_launch_role is False


def test_switching_to_github_needs_the_provider_and_the_organization_only():
    """CodeCommit may refuse new repositories: GitHub is one provider key plus the organization away."""
    config = load_config(
        {
            **default_context(),
            "platform.prefix": "ml",
            "platform.projects.repository_provider": "github",
            "platform.projects.github_organization": "acme-ml",
        }
    )
    assert config.projects.github_token_secret_name == "ml/github-token"
    assert config.projects.github_api_url == "https://api.github.com"


def test_powertools_minimum_was_checked_for_the_functions_runtime():
    """The minimum Powertools release was checked for python3.14; a runtime change must revisit it."""
    from mlops_constructs.functions import RUNTIME

    assert RUNTIME.name == "python3.14"
    version = load_config(default_context()).powertools_layer_version
    assert tuple(map(int, version.split("."))) >= FIRST_POWERTOOLS_WITH_PYTHON_3_14_PARAMETER


def test_missing_region_is_named():
    context = default_context()
    context["platform"] = json.loads(json.dumps(context["platform"]))
    del context["platform"]["accounts"]["test"]["region"]
    with pytest.raises(ConfigError, match=r"^accounts\.test\.region: missing$"):
        load_config(context)


def test_unreadable_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"config_file=.*cannot be read as JSON"):
        load_config({**default_context(), "config_file": str(tmp_path / "absent.json")})


def test_app_stops_before_synthesis_with_one_line(tmp_path):
    """Run app.py as the CDK CLI would (context in CDK_CONTEXT_JSON): no cloud assembly, one line."""
    outdir = tmp_path / "cdk.out"
    context = {**default_context(), "platform.accounts.test.account_id": "not-an-account"}
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)}
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert error_lines == [
        "Invalid configuration: accounts.test.account_id='not-an-account': must be a 12-digit AWS account id"
    ]
    assert not (outdir / "manifest.json").exists()


def test_champion_challenger_defaults_to_shadow_and_a_project_may_choose_its_mode():
    config = load_config(
        {
            **default_context(),
            "platform.scenario": "advanced",
            "platform.champion_challenger.project_modes": '{"churn": "split"}',
        }
    )

    assert config.champion_challenger.mode_of("fraud") == "shadow"
    assert config.champion_challenger.mode_of("churn") == "split"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"platform.champion_challenger.evaluation_mode": "canary"},
            "champion_challenger.evaluation_mode='canary': Input should be 'shadow', 'split' or 'separate'",
        ),
        (
            {"platform.scenario": "advanced", "platform.champion_challenger.project_modes": '{"Churn": "split"}'},
            "champion_challenger.project_modes.Churn: not a project name",
        ),
        (
            {"platform.champion_challenger.project_modes": '{"churn": "split"}'},
            "champion_challenger.project_modes: only the advanced scenario has champions and challengers",
        ),
        (
            {"platform.champion_challenger.split_challenger_percent": "60"},
            "champion_challenger.split_challenger_percent='60': Input should be less than or equal to 50",
        ),
    ],
)
def test_a_bad_champion_challenger_setting_is_named(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config({**default_context(), **overrides})

    assert str(error.value).startswith(message)
