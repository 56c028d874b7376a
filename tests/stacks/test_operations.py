"""Operations stack: the hourly feature endpoint clean-up and the monitoring loop, and what they may do."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from tests.iam_evaluation import Request, identity_statements, is_allowed
from tests.stacks.test_promotion import function_environment

REGION, DEV = "eu-west-1", "111111111111"
#: What the operations stack shares with the promotion stack (key, topic, bus, tables): its outputs.
PROMOTION_OUTPUT = Match.object_like({"Fn::GetStackOutput": Match.object_like({"StackName": "mlops-dev-promotion"})})


@pytest.fixture(scope="module")
def operations(platform, template_of):
    return template_of(platform.operations)


def test_the_cleanup_runs_hourly_with_retries_and_a_dead_letter_queue(operations):
    operations.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 hour)",
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [Match.string_like_regexp("^EndpointCleanupFunction"), "Arn"]},
                        "RetryPolicy": {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600},
                        "DeadLetterConfig": {
                            "Arn": {"Fn::GetAtt": [Match.string_like_regexp("^CleanupDeadLettersQueue"), "Arn"]}
                        },
                    }
                )
            ],
        },
    )
    # a run that fails after Lambda's retries lands in the same dead-letter queue
    operations.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {
                "OnFailure": {
                    "Destination": {"Fn::GetAtt": [Match.string_like_regexp("^CleanupDeadLettersQueue"), "Arn"]}
                }
            },
        },
    )
    environment = function_environment(operations, "endpoint_cleanup.handler.handler")
    assert environment["FEATURE_ENDPOINT_TTL_HOURS"] == "24"
    assert environment["DEPLOY_ROLE_ARN"] == f"arn:aws:iam::{DEV}:role/mlops-dev-deployer"


@pytest.mark.parametrize(
    "alarm",
    [
        "mlops-endpoint-cleanup-dead-letters",
        "mlops-endpoint-cleanup-errors",
        "mlops-monitoring-dead-letters",
        "mlops-monitoring-loop-errors",
    ],
)
def test_failures_raise_alarms_on_the_alert_topic(operations, alarm):
    operations.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": alarm,
            "ActionsEnabled": True,
            "AlarmActions": [PROMOTION_OUTPUT],
        },
    )


def test_alarms_entering_alarm_on_the_promotion_bus_reach_the_monitoring_queue(operations):
    operations.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventBusName": PROMOTION_OUTPUT,
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {"state": {"value": ["ALARM"]}},
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [Match.string_like_regexp("^MonitoringQueue"), "Arn"]},
                        "DeadLetterConfig": Match.any_value(),
                    }
                )
            ],
        },
    )
    (mapping,) = operations.find_resources(
        "AWS::Lambda::EventSourceMapping",
        {"Properties": {"EventSourceArn": {"Fn::GetAtt": [Match.string_like_regexp("^MonitoringQueue"), "Arn"]}}},
    ).values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_tracker_no_longer_receives_alarms(platform, template_of):
    promotion = template_of(platform.promotion)
    bus_rules = [
        rule["Properties"]["EventPattern"]
        for rule in promotion.find_resources("AWS::Events::Rule").values()
        if "EventBusName" in rule["Properties"]
    ]
    assert {"source": ["aws.cloudformation", "aws.sagemaker"]} in bus_rules  # the tracker's
    assert not any("aws.cloudwatch" in pattern["source"] for pattern in bus_rules)  # nor the tester's


@pytest.fixture(scope="module")
def role_statements(platform, operations):
    """The identity policies of the two functions' roles, as the IAM evaluator reads them."""
    template, env = operations.to_json(), {"partition": "aws", "region": REGION, "account": DEV}
    return {
        name: identity_statements(
            template, platform.operations.resolve(function.role.node.default_child.logical_id), env
        )
        for name, function in (
            ("cleanup", platform.operations.cleanup.function),
            ("monitoring", platform.operations.monitoring),
        )
    }


def test_the_cleanup_can_assume_the_dev_deploy_role_only(role_statements):
    cleanup = role_statements["cleanup"]
    assert is_allowed(cleanup, Request("sts:AssumeRole", f"arn:aws:iam::{DEV}:role/mlops-dev-deployer"))
    for account, name in (("222222222222", "test"), ("333333333333", "prod")):
        assert not is_allowed(cleanup, Request("sts:AssumeRole", f"arn:aws:iam::{account}:role/mlops-{name}-deployer"))
    assert not any(
        statement["Action"] == "cloudformation:DeleteStack" or "cloudformation:DeleteStack" in statement["Action"]
        for statement in cleanup
    )


def test_the_cleanup_withdraws_feature_annotations_but_never_changes_an_approval(role_statements):
    cleanup = role_statements["cleanup"]
    package = f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-feature/3"
    assert is_allowed(cleanup, Request("sagemaker:UpdateModelPackage", package))
    approving = {"sagemaker:ModelApprovalStatus": "Approved"}
    assert not is_allowed(cleanup, Request("sagemaker:UpdateModelPackage", package, approving))
    assert not is_allowed(cleanup, Request("sagemaker:UpdateModelPackage", package.replace("-feature/", "-prod/")))


def test_the_cleanup_role_has_the_name_the_dev_deploy_role_trusts(operations):
    operations.has_resource_properties("AWS::IAM::Role", {"RoleName": "mlops-endpoint-cleanup"})


def test_the_monitoring_loop_starts_training_pipelines_only(role_statements):
    monitoring = role_statements["monitoring"]
    pipeline = f"arn:aws:sagemaker:{REGION}:{DEV}:pipeline/"
    assert is_allowed(monitoring, Request("sagemaker:StartPipelineExecution", pipeline + "churn-dev-training"))
    assert is_allowed(monitoring, Request("sagemaker:StartPipelineExecution", pipeline + "churn-feature-training"))
    assert not is_allowed(monitoring, Request("sagemaker:StartPipelineExecution", pipeline + "someone-elses-pipeline"))
    assert not is_allowed(monitoring, Request("sagemaker:StartPipelineExecution", pipeline + "churn-prod-training"))
    assert not is_allowed(monitoring, Request("sagemaker:CreatePipeline", pipeline + "churn-dev-training"))


def test_handlers_get_exactly_the_environment_their_tests_give_them(operations):
    from tests.lambdas.conftest import CLEANUP_ENVIRONMENT, MONITORING_ENVIRONMENT

    for handler, tested in (
        ("endpoint_cleanup.handler.handler", CLEANUP_ENVIRONMENT),
        ("monitoring_loop.handler.handler", MONITORING_ENVIRONMENT),
    ):
        synthesized = function_environment(operations, handler)
        assert set(synthesized) - {"POWERTOOLS_SERVICE_NAME"} == set(tested) - {"AWS_REGION"}, handler
        for name in ("DEV_ACCOUNT_ID", "STAGES", "DEPLOY_ROLE_ARN", "CLOUDFORMATION_ROLE_ARN"):
            if name in tested:
                assert synthesized[name] == tested[name], name
        if "TARGET_ACCOUNTS" in tested:
            assert json.loads(synthesized["TARGET_ACCOUNTS"]) == json.loads(tested["TARGET_ACCOUNTS"])
