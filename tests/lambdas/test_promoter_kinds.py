"""Deployment kinds: the project's choice over the platform's, the template and parameters each kind takes."""

from __future__ import annotations

import pytest

import contract
from contract import BatchParameters, EndpointParameters
from envelope import Rejection
from promoter.artifacts import ServedModel
from promoter.decisions import Deploy, endpoint_change_set
from promoter.kinds import StageKind, rollback_alarm_names, stage_kind, template_parameters
from tests.lambdas.events import REGION, TEST

DEPLOYMENT = contract.Deployment("churn", "dev")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (None, StageKind("realtime", "platform")),
        ({}, StageKind("realtime", "platform")),
        ({"kind": "async"}, StageKind("async", "project (kind)")),
        ({"kind": "async", "stages": {"dev": "batch"}}, StageKind("batch", "project (stages.dev)")),
        ({"stages": {"prod": "batch"}}, StageKind("realtime", "platform")),
    ],
)
def test_the_projects_choice_wins_over_the_platforms_stage_by_stage(item, expected):
    assert stage_kind(item, "dev", "realtime") == expected


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"kind": "nightly"}, "DEPLOYMENT item: kind='nightly' is not one of realtime, serverless, async, batch"),
        ({"stages": {"dev": "stream"}}, "DEPLOYMENT item: stages.dev='stream' is not one of"),
        ({"stages": ["dev", "batch"]}, "DEPLOYMENT item: stages must be a map of stage -> kind"),
    ],
)
def test_a_malformed_choice_is_rejected_naming_the_field(item, reason):
    result = stage_kind(item, "dev", "realtime")
    assert isinstance(result, Rejection)
    assert result.reason.startswith(reason)


def test_each_kind_takes_its_templates_parameters_and_rollback_alarms():
    endpoint_settings = {EndpointParameters.INSTANCE_TYPE: "ml.m5.large"}
    batch_settings = {BatchParameters.SCHEDULE_EXPRESSION: "rate(1 day)"}
    baselines = {BatchParameters.DATA_QUALITY_STATISTICS_URI: "s3://b/statistics.json"}
    settings = dict(endpoint_settings=endpoint_settings, batch_settings=batch_settings, baselines=baselines)

    asynchronous = StageKind("async", "project (kind)")
    assert template_parameters(asynchronous, **settings) == {**endpoint_settings, "DeploymentKind": "async"}
    assert rollback_alarm_names(asynchronous, DEPLOYMENT) == list(contract.alarm_names(DEPLOYMENT))

    batch = StageKind("batch", "platform")
    assert batch.template == "batch" and not batch.monitored_by_monitor_stack
    assert template_parameters(batch, **settings) == {
        **batch_settings,
        BatchParameters.DATA_QUALITY_STATISTICS_URI: "s3://b/statistics.json",
        BatchParameters.DATA_QUALITY_CONSTRAINTS_URI: "",
    }
    assert rollback_alarm_names(batch, DEPLOYMENT) == ["churn-dev-endpoint-batch-failures"]


def test_a_project_deploying_as_batch_gets_the_batch_template_with_its_settings_and_baselines(platform):
    platform.put_deployment_item({"kind": "batch"})
    package = platform.register("dev")

    platform.promote(platform.package_event(package))

    # the request is what is checked (moto applies it with stand-ins for the pipeline and schedule); the
    # batch template's resources are checked offline in tests/stacks.
    [request] = platform.change_set_requests()
    assert request["StackName"] == "churn-dev-endpoint"
    assert request["TemplateBody"] == platform.batch_template
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in request["Parameters"]}
    assert parameters[BatchParameters.SCHEDULE_EXPRESSION] == "cron(0 2 * * ? *)"
    assert parameters[BatchParameters.DATA_QUALITY_STATISTICS_URI].startswith("s3://")
    assert parameters[BatchParameters.MODEL_PACKAGE_ARN] == package
    assert EndpointParameters.DEPLOYMENT_KIND not in parameters


def test_a_batch_update_is_rolled_back_by_its_failures_alarm(platform):
    deploy = Deploy(
        deployment=DEPLOYMENT,
        target=platform.promoter.settings.targets["dev"],
        package_arn="arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn-dev/2",
        commit=None,
        deployment_id="v2-0123abcd",
        change_set_type="UPDATE",
        event_id="e-1",
    )
    request = endpoint_change_set(
        deploy,
        served=ServedModel(image="image", key="key"),
        template="{}",
        settings={},
        monitoring_minutes=10,
        rollback_alarms=rollback_alarm_names(StageKind("batch", "platform"), DEPLOYMENT),
    )
    assert request["RollbackConfiguration"]["RollbackTriggers"] == [
        {
            "Arn": f"arn:aws:cloudwatch:{REGION}:{TEST}:alarm:churn-dev-endpoint-batch-failures",
            "Type": "AWS::CloudWatch::Alarm",
        }
    ]


def test_a_project_stage_deploying_async_gets_the_endpoint_template_as_async(platform):
    platform.put_deployment_item({"stages": {"dev": "async"}})

    platform.promote(platform.package_event(platform.register("dev")))

    [request] = platform.change_set_requests()
    assert request["TemplateBody"] == platform.endpoint_template
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in request["Parameters"]}
    assert parameters[EndpointParameters.DEPLOYMENT_KIND] == "async"


def test_a_malformed_choice_refuses_the_deployment_and_tells_the_team(platform):
    platform.put_deployment_item({"kind": "nightly"})

    platform.promote(platform.package_event(platform.register("dev")))

    assert platform.change_set_requests() == []
    [attempt] = platform.attempts("dev")
    assert attempt["status"] == "REFUSED"
    [(subject, message)] = platform.alerts()
    assert subject == "[churn/dev] v1 refused: deployment kind not valid"
    assert "kind='nightly'" in message["reason"]
