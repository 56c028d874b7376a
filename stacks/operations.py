"""Dev account: operations around the deployed models: feature endpoint clean-up, the monitoring loop and
the notifier (approvals pending, failed pipelines and builds)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from lambdas.contract import APPROVER_STAGES, CI_PROJECT_SUFFIX, TRAINING_STAGES, training_pipeline_name
from mlops_constructs.comparison import ChallengerComparisonJob
from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.functions import PlatformFunction
from mlops_constructs.messaging import AlertTopic, WorkQueue
from mlops_constructs.naming import PlatformNames
from mlops_constructs.scheduled_job import JobPartIds, ScheduledJob
from platform_config import PlatformConfig

#: The clean-up runs this often; a feature endpoint lives at most its time to live plus this.
CLEANUP_RATE = Duration.hours(1)
#: A clean-up run waits for monitor stacks to be deleted before their endpoint stacks.
CLEANUP_TIMEOUT = Duration.minutes(15)
#: A throttled retraining start comes back after this, up to MONITORING_MAX_RECEIVES times.
MONITORING_RETRY_INTERVAL = Duration.minutes(5)
MONITORING_MAX_RECEIVES = 6
#: A notification that could not be published comes back after this, up to NOTIFIER_MAX_RECEIVES times.
NOTIFIER_RETRY_INTERVAL = Duration.minutes(5)
NOTIFIER_MAX_RECEIVES = 5


class OperationsStack(Stack):
    """Operations of the dev account, sharing the promotion stack's key, alert topic, bus and tables.

    - the endpoint clean-up Lambda, run hourly by an EventBridge schedule (retries, a dead-letter
      queue with an alarm for failed deliveries and failed runs), deletes feature-stage endpoint and
      monitor stacks older than ``operations.feature_endpoint_ttl_hours`` through the dev deploy role;
    - a rule on the promotion bus sends the targets' alarms entering ALARM to the monitoring queue;
      the monitoring-loop Lambda notifies the project and, if its ``RETRAINING`` item enables it,
      starts its training pipeline at most once per cool-down;
    - rules on the default bus send versions pending approval in the groups the approver governs,
      failed training pipeline executions and failed ``<project>-ci`` builds to the notification
      queue; the notifier Lambda tells the approvers (approval topic, ``approver_emails``) once per
      version, and the project's team (alert topic) about failures.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        key: kms.IKey,
        alerts: AlertTopic,
        bus: events.IEventBus,
        ledger: dynamodb.ITableV2,
        project_settings: dynamodb.ITableV2,
        handler_environment: Mapping[str, str],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = PlatformNames(config)
        prefix = config.prefix
        function_settings = dict(powertools_version=config.powertools_layer_version, alarm_action=alerts.alarm_action)

        # Monitoring loop: target alarms -> the project's team, and retraining.
        self.monitoring_queue = WorkQueue(
            self,
            "MonitoringQueue",
            alarm_name=f"{prefix}-monitoring-dead-letters",
            encryption_key=key,
            alarm_action=alerts.alarm_action,
            visibility_timeout=MONITORING_RETRY_INTERVAL,
            max_receives=MONITORING_MAX_RECEIVES,
        )
        self.alarm_rule = events.Rule(
            self,
            "AlarmStateChanges",
            event_bus=bus,
            description="Alarms of the deployment targets entering ALARM, to the monitoring loop",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={"state": {"value": ["ALARM"]}},
            ),
            targets=[
                targets.SqsQueue(
                    self.monitoring_queue.queue, dead_letter_queue=self.monitoring_queue.dead_letters.queue
                )
            ],
        )
        self.monitoring = PlatformFunction(
            self,
            "MonitoringLoop",
            handler="monitoring_loop.handler.handler",
            description="Notifies a project of its endpoints' alarms and starts its retraining, once per cool-down",
            alarm_name=f"{prefix}-monitoring-loop-errors",
            environment={
                **handler_environment,
                "PROJECT_SETTINGS_TABLE": project_settings.table_name,
                "TARGET_ACCOUNTS": json.dumps({names.account_id(a): a for a in ("dev", "test", "prod")}),
                "RETRAINING_COOLDOWN_HOURS": str(config.operations.retraining_cooldown_hours),
            },
            **function_settings,
        )
        self.monitoring.function.add_event_source(
            event_sources.SqsEventSource(
                self.monitoring_queue.queue, batch_size=5, max_concurrency=2, report_batch_item_failures=True
            )
        )
        # Idempotency records of each alarm event live in the ledger table.
        ledger.grant(
            self.monitoring.role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        )
        project_settings.grant(self.monitoring.role, "dynamodb:GetItem", "dynamodb:UpdateItem")
        self.monitoring.role.add_to_policy(
            iam.PolicyStatement(
                sid="StartProjectTrainingPipelines",
                actions=["sagemaker:StartPipelineExecution"],
                resources=[
                    self.format_arn(
                        service="sagemaker", resource="pipeline", resource_name=training_pipeline_name("*", s)
                    )
                    for s in TRAINING_STAGES
                ],
            )
        )

        self._add_notifier(config, key, alerts, ledger, handler_environment, function_settings)

        # Clean-up of feature endpoints in dev. Made with the id "Default" and its parts' former ids, the job
        # keeps the logical ids (and so the named role, function and alarms) of the deployed stack.
        dev_deploy_role = names.role_arn("dev", names.deploy_role("dev"))
        self.cleanup = ScheduledJob(
            self,
            "Default",
            name=f"{prefix}-endpoint-cleanup",
            handler="endpoint_cleanup.handler.handler",
            description="Deletes feature-stage endpoint stacks in dev after their time to live",
            role_name=names.endpoint_cleanup_role,
            timeout=CLEANUP_TIMEOUT,
            environment={
                **handler_environment,
                "DEPLOY_ROLE_ARN": dev_deploy_role,
                "CLOUDFORMATION_ROLE_ARN": names.role_arn("dev", names.cloudformation_role("dev")),
                "FEATURE_ENDPOINT_TTL_HOURS": str(config.operations.feature_endpoint_ttl_hours),
            },
            rate=CLEANUP_RATE,
            schedule_description="Runs the feature endpoint clean-up every hour",
            key=key,
            alerts=alerts,
            powertools_version=config.powertools_layer_version,
            part_ids=JobPartIds(
                dead_letters="CleanupDeadLetters", function="EndpointCleanup", schedule="CleanupSchedule"
            ),
        )
        cleanup_role = self.cleanup.function.role
        cleanup_role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeTheDevDeployRoleOnly", actions=["sts:AssumeRole"], resources=[dev_deploy_role]
            )
        )
        ledger.grant(cleanup_role, "dynamodb:UpdateItem")
        feature_packages = self.format_arn(service="sagemaker", resource="model-package", resource_name="*-feature/*")
        cleanup_role.add_to_policy(
            iam.PolicyStatement(
                sid="WithdrawFeaturePackageAnnotations",
                actions=["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
                resources=[feature_packages],
            )
        )
        cleanup_role.add_to_policy(
            iam.PolicyStatement(
                sid="NeverChangeApprovalStatus",
                effect=iam.Effect.DENY,
                actions=["sagemaker:UpdateModelPackage"],
                resources=[feature_packages],
                conditions={"Null": {"sagemaker:ModelApprovalStatus": "false"}},
            )
        )

        self.challenger_comparison = ChallengerComparisonJob(
            self,
            "ChallengerComparison",
            config=config,
            key=key,
            alerts=alerts,
            ledger=ledger,
            project_settings=project_settings,
            handler_environment=handler_environment,
        )

        for function in (self.monitoring, self.cleanup.function, self.notifier):
            key.grant_encrypt_decrypt(function.role)
            alerts.topic.grant_publish(function.role)
        acknowledge_wildcards(
            self,
            {
                "Resource::arn:*:sagemaker:*:pipeline/*-*-training": "The projects' training pipelines "
                "(<project>-<stage>-training, the project template's names); the RETRAINING item must name "
                "the alarm's own project's pipeline.",
                "Resource::arn:*:sagemaker:*:model-package/*-feature/*": "Versions of the feature groups, whose "
                "deployed-feature annotation the clean-up removes (approval status changes are denied).",
                "Action::kms:GenerateDataKey*": "Data keys of the promotion key only (queues, topics, tables).",
                "Action::kms:ReEncrypt*": "Re-encryption with the promotion key only (DynamoDB grant).",
            },
        )

    def _add_notifier(
        self,
        config: PlatformConfig,
        key: kms.IKey,
        alerts: AlertTopic,
        ledger: dynamodb.ITableV2,
        handler_environment: Mapping[str, str],
        function_settings: Mapping,
    ) -> None:
        """Versions pending approval -> the approvers; failed pipelines and builds -> the project's team."""
        prefix = config.prefix
        self.approvals = AlertTopic(
            self,
            "ApprovalRequests",
            topic_name=f"{prefix}-model-approvals",
            encryption_key=key,
            emails=config.approver_emails,
        )
        self.notification_queue = WorkQueue(
            self,
            "NotificationQueue",
            alarm_name=f"{prefix}-notifier-dead-letters",
            encryption_key=key,
            alarm_action=alerts.alarm_action,
            visibility_timeout=NOTIFIER_RETRY_INTERVAL,
            max_receives=NOTIFIER_MAX_RECEIVES,
        )
        to_queue = targets.SqsQueue(
            self.notification_queue.queue, dead_letter_queue=self.notification_queue.dead_letters.queue
        )
        governed = [stage for stage in config.stages if stage in APPROVER_STAGES]
        # (rule id, description, (source, detail-type), detail pattern) of each event the notifier handles.
        notified_events = (
            (
                "VersionsPendingApproval",
                "Versions pending approval in the groups the model approver governs, to the notifier",
                ("aws.sagemaker", "SageMaker Model Package State Change"),
                {
                    "ModelPackageGroupName": [{"suffix": f"-{stage}"} for stage in governed],
                    "ModelApprovalStatus": ["PendingManualApproval"],
                },
            ),
            (
                "FailedTrainingPipelines",
                "Failed executions of the projects' training pipelines, to the notifier",
                ("aws.sagemaker", "SageMaker Model Building Pipeline Execution Status Change"),
                {
                    "currentPipelineExecutionStatus": ["Failed"],
                    # <project>-<stage>-training: the ARN ends with the training pipeline name of any project
                    "pipelineArn": [{"suffix": training_pipeline_name("", stage)} for stage in TRAINING_STAGES],
                },
            ),
            (
                "FailedProjectBuilds",
                "Failed builds of the projects' CI (<project>-ci), to the notifier",
                ("aws.codebuild", "CodeBuild Build State Change"),
                {"build-status": ["FAILED"], "project-name": [{"suffix": CI_PROJECT_SUFFIX}]},
            ),
        )
        self.notification_rules = [
            events.Rule(
                self,
                rule_id,
                description=description,
                event_pattern=events.EventPattern(source=[source], detail_type=[detail_type], detail=detail),
                targets=[to_queue],
            )
            for rule_id, description, (source, detail_type), detail in notified_events
        ]
        self.notifier = PlatformFunction(
            self,
            "Notifier",
            handler="notifier.handler.handler",
            description="Notifies the approvers of versions pending approval, once, and teams of failed runs",
            alarm_name=f"{prefix}-notifier-errors",
            environment={**handler_environment, "APPROVAL_TOPIC_ARN": self.approvals.topic.topic_arn},
            **function_settings,
        )
        self.notifier.function.add_event_source(
            event_sources.SqsEventSource(
                self.notification_queue.queue, batch_size=5, max_concurrency=2, report_batch_item_failures=True
            )
        )
        # Idempotency records and the once-per-version claims live in the ledger table.
        ledger.grant(
            self.notifier.role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
        )
        self.approvals.topic.grant_publish(self.notifier.role)
