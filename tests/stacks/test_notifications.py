"""Operations stack, notifications: which events reach the notifier, its queue, topic and permissions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from aws_cdk.assertions import Match

from demo.runtime import matches
from tests.iam_evaluation import Request, is_allowed
from tests.lambdas.events import (
    build_state_change,
    model_package_state_change,
    pipeline_execution_status_change,
)

REGION, DEV = "eu-west-1", "111111111111"
#: The logical id of the notification queue itself (its dead-letter queue's starts the same).
WORK_QUEUE = "^NotificationQueue[0-9A-F]{8}$"


@pytest.fixture(scope="module")
def operations(platform, template_of):
    return template_of(platform.operations)


@pytest.fixture(scope="module")
def notification_rules(operations) -> dict[str, dict]:
    """The properties of the rules that feed the notification queue, by rule logical id."""
    rules = operations.find_resources("AWS::Events::Rule")
    return {
        logical_id: rule["Properties"]
        for logical_id, rule in rules.items()
        if any("NotificationQueue" in str(target["Arn"]) for target in rule["Properties"].get("Targets", []))
    }


@pytest.fixture(scope="module")
def patterns(notification_rules) -> dict[str, dict]:
    return {logical_id: rule["EventPattern"] for logical_id, rule in notification_rules.items()}


def routed(patterns: dict[str, dict], event: dict) -> list[str]:
    return sorted(logical_id for logical_id, pattern in patterns.items() if matches(pattern, event))


def package(group: str, status: str = "PendingManualApproval") -> dict:
    return {
        "ModelPackageGroupName": group,
        "ModelPackageVersion": 2,
        "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/{group}/2",
        "ModelApprovalStatus": status,
        "CreationTime": datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
        "CustomerMetadataProperties": {"GitCommit": "9f1c2ab", "MetricAuc": "0.91"},
    }


def test_three_rules_on_the_default_bus_feed_the_notification_queue_with_its_dead_letter_queue(
    notification_rules,
):
    assert len(notification_rules) == 3
    for properties in notification_rules.values():
        assert "EventBusName" not in properties  # the account's default bus: SageMaker and CodeBuild events
        [target] = properties["Targets"]
        assert "NotificationQueueDeadLetters" in str(target["DeadLetterConfig"]["Arn"])


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (model_package_state_change(package("churn-dev")), "VersionsPendingApproval"),
        (model_package_state_change(package("churn-prod")), "VersionsPendingApproval"),
        (pipeline_execution_status_change(pipeline_name="churn-dev-training"), "FailedTrainingPipelines"),
        (pipeline_execution_status_change(pipeline_name="churn-feature-training"), "FailedTrainingPipelines"),
        (build_state_change(project_name="churn-ci"), "FailedProjectBuilds"),
    ],
)
def test_real_shaped_events_that_need_someone_reach_the_notifier(patterns, event, expected):
    [rule] = routed(patterns, event)
    assert rule.startswith(expected)


@pytest.mark.parametrize(
    "event",
    [
        model_package_state_change(package("churn-feature")),  # the data scientists approve feature versions
        model_package_state_change(package("churn-dev", status="Approved")),
        model_package_state_change(package("churn-champion")),  # not a stage of the baseline scenario
        pipeline_execution_status_change(pipeline_name="churn-dev-training", status="Succeeded"),
        pipeline_execution_status_change(pipeline_name="nightly-etl"),
        build_state_change(project_name="churn-ci", status="SUCCEEDED"),
        build_state_change(project_name="churn-docs"),
    ],
)
def test_events_that_need_no_one_do_not_reach_the_notifier(patterns, event):
    assert routed(patterns, event) == []


def test_the_notification_queue_is_encrypted_and_dead_letters_after_five_receives(operations):
    operations.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "KmsMasterKeyId": Match.any_value(),
            "VisibilityTimeout": 300,
            "RedrivePolicy": {
                "deadLetterTargetArn": {
                    "Fn::GetAtt": [Match.string_like_regexp("^NotificationQueueDeadLetters"), "Arn"]
                },
                "maxReceiveCount": 5,
            },
        },
    )
    for alarm in ("mlops-notifier-dead-letters", "mlops-notifier-errors"):
        operations.has_resource_properties(
            "AWS::CloudWatch::Alarm", {"AlarmName": alarm, "AlarmActions": [Match.any_value()]}
        )
    operations.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [Match.string_like_regexp(WORK_QUEUE), "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def test_only_rules_of_this_account_may_send_to_the_notification_queue(operations):
    [policy] = [
        p
        for p in operations.find_resources("AWS::SQS::QueuePolicy").values()
        if any(re.match(WORK_QUEUE, queue.get("Ref", "")) for queue in p["Properties"]["Queues"])
    ]
    [statement] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert "sqs:SendMessage" in statement["Action"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": DEV}}  # as CDK does for KMS queues


def test_the_approval_topic_is_encrypted_tls_only_and_subscribes_the_approvers(operations):
    operations.has_resource_properties(
        "AWS::SNS::Topic", {"TopicName": "mlops-model-approvals", "KmsMasterKeyId": Match.any_value()}
    )
    [policy] = operations.find_resources("AWS::SNS::TopicPolicy").values()
    [deny] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_notifier_publishes_to_the_two_topics_and_touches_nothing_else(synthesized_roles):
    notifier = synthesized_roles.function("notifier").statements
    topic = f"arn:aws:sns:{REGION}:{DEV}:"
    for name in ("mlops-model-approvals", "mlops-promotion-alerts"):
        assert is_allowed(notifier, Request("sns:Publish", topic + name)), name
    assert not is_allowed(notifier, Request("sns:Publish", topic + "someone-elses-topic"))
    assert not is_allowed(notifier, Request("sagemaker:UpdateModelPackage", "*"))
    assert not is_allowed(notifier, Request("sagemaker:StartPipelineExecution", "*"))
