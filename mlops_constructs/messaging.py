"""Messaging that loses nothing: encrypted queues with dead-letter queues, alarms and an alert topic."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_constructs.compliance import acknowledge


class AlertTopic(Construct):
    """A KMS-encrypted, TLS-only SNS topic for alerts or notifications, with optional e-mail subscribers.

    CloudWatch alarms publish to it, so the key lets CloudWatch use it for alarms of this account only
    (``aws:SourceAccount``, ``aws:SourceArn``); ``alarm_action`` is what an alarm adds to notify here.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, topic_name: str, encryption_key: kms.IKey, emails: Sequence[str]
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "Topic", topic_name=topic_name, master_key=encryption_key, enforce_ssl=True, display_name=topic_name
        )
        stack = Stack.of(self)
        alarms_here = stack.format_arn(
            service="cloudwatch", resource="alarm", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccountPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": alarms_here},
                },
            )
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.alarm_action = cloudwatch_actions.SnsAction(self.topic)


class DeadLetterQueue(Construct):
    """A KMS-encrypted queue keeping failed messages for 14 days, with an alarm as soon as one arrives.

    EventBridge may deliver into it (failed rule targets), so its key lets EventBridge encrypt, for rules
    of this account only (``aws:SourceAccount``, as CDK's own queue targets do).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_name: str,
        encryption_key: kms.IKey,
        alarm_action: cloudwatch.IAlarmAction,
        queue_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=queue_name,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeOfThisAccountEncryptsDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        acknowledge(self.queue, "AwsSolutions-SQS3", "This queue is itself a dead-letter queue.")
        self.alarm = cloudwatch.Alarm(
            self,
            "Depth",
            alarm_name=alarm_name,
            alarm_description="Messages that could not be processed or delivered are waiting here; see the runbook.",
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            actions_enabled=True,
        )
        self.alarm.add_alarm_action(alarm_action)


class WorkQueue(Construct):
    """A KMS-encrypted queue feeding a Lambda, whose messages move to a dead-letter queue after
    ``max_receives`` failed attempts instead of vanishing.

    ``visibility_timeout`` is how long a failed message waits before it is retried; with
    ``max_receives`` it bounds how long a message is retried in total.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_name: str,
        encryption_key: kms.IKey,
        alarm_action: cloudwatch.IAlarmAction,
        visibility_timeout: Duration,
        max_receives: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = DeadLetterQueue(
            self, "DeadLetters", alarm_name=alarm_name, encryption_key=encryption_key, alarm_action=alarm_action
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            visibility_timeout=visibility_timeout,
            retention_period=Duration.days(14),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters.queue, max_receive_count=max_receives),
        )
