"""Dev account: approval in the registry -> promotion into the right account, and tracking of the outcome."""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from lambdas.contract import ENDPOINT_SUFFIX, STAGE_ACCOUNTS, stages_sharing_values
from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.functions import PlatformFunction
from mlops_constructs.messaging import AlertTopic, WorkQueue
from mlops_constructs.naming import PlatformNames
from mlops_constructs.storage import PlatformKey
from platform_config import AccountName, PlatformConfig
from stacks.batch import parameter_values as batch_parameter_values
from stacks.endpoint import parameter_values as endpoint_parameter_values

#: A handler attempt may take this long (mostly waiting for a change set to be created).
HANDLER_TIMEOUT = Duration.minutes(2)
#: What one promoter record needs besides waiting for its change set (``CHANGE_SET_WAIT_SECONDS``):
#: registry, ledger, STS and CloudFormation calls.
PROMOTER_RECORD_ALLOWANCE = Duration.seconds(45)
#: The promoter takes one message at a time, so a batch never waits for more than one change set
#: within HANDLER_TIMEOUT (RETRY_INTERVAL, the queue's visibility timeout, is six times that).
PROMOTER_BATCH_SIZE = 1
#: The tester invokes an endpoint once per test case, each invocation up to SageMaker's 60 seconds.
TESTER_TIMEOUT = Duration.minutes(5)
#: A message the handler could not process comes back after this; a busy stack is retried for
#: RETRY_INTERVAL x MAX_RECEIVES (two hours: longer than a blue/green rollout) before dead-lettering.
RETRY_INTERVAL = Duration.minutes(12)
MAX_RECEIVES = 10
FORWARDED_SOURCES = ["aws.cloudformation", "aws.sagemaker", "aws.cloudwatch"]
#: What the tracker records; alarm state changes (aws.cloudwatch) go to the operations stack's monitoring loop.
TRACKED_SOURCES = ["aws.cloudformation", "aws.sagemaker"]


class PromotionStack(Stack):
    """The promotion pipeline of the dev account.

    - an EventBridge rule sends ``SageMaker Model Package State Change`` events of the managed
      ``<project>-<stage>`` groups to the promotion queue; the promoter Lambda reconciles the stage;
    - the promotion bus receives stack, endpoint and alarm events forwarded by the deployment
      targets (its policy accepts only the test and prod accounts); the tracker Lambda records the
      outcome of stack and endpoint events in the ledger, notifies, and nudges the promoter to deploy
      the monitor stack (alarms are the operations stack's);
    - endpoints in service go to the integration tester Lambda, which runs the project's test cases
      through each target's endpoint-tester role and records the test-stage pass the prod gate reads;
    - the ledger (DynamoDB, point-in-time recovery, retained) records every attempt;
    - the project-settings table holds what each project's team configures for operations
      (items keyed by ``contract.project_settings_partition``), with the same protection;
    - every queue has a dead-letter queue with an alarm, every function an error alarm, all
      notifying the alert topic; the bus archives events for replay.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        endpoint_template_file: str,
        monitor_template_file: str,
        batch_template_file: str,
        champion_challenger_template_file: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = PlatformNames(config)
        prefix = config.prefix
        self.key = PlatformKey(
            self, "PromotionKey", alias=f"alias/{prefix}/promotion", description="Encrypts the promotion pipeline"
        )
        self.alerts = AlertTopic(
            self, "Alerts", topic_name=f"{prefix}-promotion-alerts", encryption_key=self.key, emails=config.alert_emails
        )
        self.ledger = dynamodb.TableV2(
            self,
            "Ledger",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(self.key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expiration",
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.project_settings = dynamodb.TableV2(
            self,
            "ProjectSettings",
            table_name=names.project_settings_table,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(self.key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

        queue_settings = dict(
            encryption_key=self.key,
            alarm_action=self.alerts.alarm_action,
            visibility_timeout=RETRY_INTERVAL,
            max_receives=MAX_RECEIVES,
        )
        self.promotion_queue = WorkQueue(
            self, "PromotionQueue", alarm_name=f"{prefix}-promotion-dead-letters", **queue_settings
        )
        self.tracking_queue = WorkQueue(
            self, "TrackingQueue", alarm_name=f"{prefix}-tracking-dead-letters", **queue_settings
        )
        self.tester_queue = WorkQueue(
            self, "TesterQueue", alarm_name=f"{prefix}-integration-tester-dead-letters", **queue_settings
        )

        self.bus = events.EventBus(self, "PromotionBus", event_bus_name=names.promotion_bus)
        # The forwarding roles are named in a condition rather than as principals: a role principal must
        # exist when the policy is saved (the targets are deployed after dev) and stops matching a
        # re-created role, while aws:PrincipalArn compares the name.
        target_accounts = ("test", "prod")
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TargetAccountsForwardPlatformEvents",
                principals=[iam.AccountPrincipal(names.account_id(account)) for account in target_accounts],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions={
                    "StringEquals": {"events:source": FORWARDED_SOURCES},
                    "ArnEquals": {
                        "aws:PrincipalArn": [
                            names.role_arn(account, names.event_forwarding_role(account)) for account in target_accounts
                        ]
                    },
                },
            )
        )
        self.bus.archive(
            "Archive",
            description="Forwarded platform events, kept for replay after an incident",
            event_pattern=events.EventPattern(source=FORWARDED_SOURCES),
            retention=Duration.days(30),
        )

        stages = config.stages
        events.Rule(
            self,
            "ModelPackageStateChanges",
            description="Approval-status changes of the platform's model package groups, to the promoter",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={"ModelPackageGroupName": [{"suffix": f"-{stage}"} for stage in stages]},
            ),
            targets=[
                targets.SqsQueue(self.promotion_queue.queue, dead_letter_queue=self.promotion_queue.dead_letters.queue)
            ],
        )
        events.Rule(
            self,
            "ForwardedDeploymentEvents",
            event_bus=self.bus,
            description="Stack and endpoint events forwarded by the deployment targets, to the tracker",
            event_pattern=events.EventPattern(source=TRACKED_SOURCES),
            targets=[
                targets.SqsQueue(self.tracking_queue.queue, dead_letter_queue=self.tracking_queue.dead_letters.queue)
            ],
        )

        events.Rule(
            self,
            "EndpointsInService",
            event_bus=self.bus,
            description="Platform endpoints in service after a deployment, to the integration tester",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Endpoint State Change"],
                detail={"EndpointName": [{"suffix": ENDPOINT_SUFFIX}], "EndpointStatus": ["IN_SERVICE"]},
            ),
            targets=[targets.SqsQueue(self.tester_queue.queue, dead_letter_queue=self.tester_queue.dead_letters.queue)],
        )
        events.Rule(
            self,
            "DeploymentStacksCompleted",
            event_bus=self.bus,
            description="Platform deployment stacks completed, to the integration tester (a batch stage's smoke run)",
            event_pattern=events.EventPattern(
                source=["aws.cloudformation"],
                detail_type=["CloudFormation Stack Status Change"],
                detail={
                    "stack-id": [{"wildcard": f"*{ENDPOINT_SUFFIX}/*"}],
                    "status-details": {"status": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]},
                },
            ),
            targets=[targets.SqsQueue(self.tester_queue.queue, dead_letter_queue=self.tester_queue.dead_letters.queue)],
        )

        endpoint_template = s3_assets.Asset(self, "EndpointTemplate", path=endpoint_template_file)
        monitor_template = s3_assets.Asset(self, "MonitorTemplate", path=monitor_template_file)
        batch_template = s3_assets.Asset(self, "BatchTemplate", path=batch_template_file)
        champion_challenger_template = s3_assets.Asset(
            self, "ChampionChallengerTemplate", path=champion_challenger_template_file
        )
        #: What every queue-fed handler reads (``settings.CommonSettings``); the operations stack's too.
        self.handler_environment = {
            "LEDGER_TABLE": self.ledger.table_name,
            "ALERT_TOPIC_ARN": self.alerts.topic.topic_arn,
            "DEV_ACCOUNT_ID": names.account_id("dev"),
            "STAGES": ",".join(stages),
        }
        function_settings = dict(
            powertools_version=config.powertools_layer_version,
            alarm_action=self.alerts.alarm_action,
            timeout=HANDLER_TIMEOUT,
        )
        self.promoter = PlatformFunction(
            self,
            "Promoter",
            handler="promoter.handler.handler",
            description="Reconciles a project stage with its highest approved model package",
            role_name=names.promoter_role,
            alarm_name=f"{prefix}-promoter-errors",
            environment={
                **self.handler_environment,
                "STAGE_TARGETS": stages_sharing_values(_stage_targets(names, stages)),
                "ENDPOINT_SETTINGS": stages_sharing_values(
                    {stage: endpoint_parameter_values(config.endpoint_for(stage)) for stage in stages}
                ),
                "ENDPOINT_TEMPLATE_BUCKET": endpoint_template.s3_bucket_name,
                "ENDPOINT_TEMPLATE_KEY": endpoint_template.s3_object_key,
                "MONITOR_TEMPLATE_BUCKET": monitor_template.s3_bucket_name,
                "MONITOR_TEMPLATE_KEY": monitor_template.s3_object_key,
                "BATCH_TEMPLATE_BUCKET": batch_template.s3_bucket_name,
                "BATCH_TEMPLATE_KEY": batch_template.s3_object_key,
                "CHAMPION_CHALLENGER_TEMPLATE_BUCKET": champion_challenger_template.s3_bucket_name,
                "CHAMPION_CHALLENGER_TEMPLATE_KEY": champion_challenger_template.s3_object_key,
                "DEFAULT_EVALUATION_MODE": config.champion_challenger.evaluation_mode,
                "EVALUATION_MODES": json.dumps(dict(config.champion_challenger.project_modes), sort_keys=True),
                "PROJECT_SETTINGS_TABLE": self.project_settings.table_name,
                "DEPLOYMENT_KINDS": stages_sharing_values({stage: config.endpoint_for(stage).kind for stage in stages}),
                "BATCH_SETTINGS": stages_sharing_values(
                    {stage: batch_parameter_values(config.endpoint_for(stage)) for stage in stages}
                ),
                "ROLLBACK_MONITORING_MINUTES": str(config.endpoint.rollback_monitoring_minutes),
            },
            **function_settings,
        )
        self.tracker = PlatformFunction(
            self,
            "Tracker",
            handler="tracker.handler.handler",
            description="Records deployment outcomes forwarded by the target accounts and notifies",
            alarm_name=f"{prefix}-tracker-errors",
            environment={
                **self.handler_environment,
                "PROMOTION_QUEUE_URL": self.promotion_queue.queue.queue_url,
                "TARGET_ACCOUNTS": json.dumps(sorted({names.account_id(a) for a in ("dev", "test", "prod")})),
            },
            **function_settings,
        )
        self.tester = PlatformFunction(
            self,
            "IntegrationTester",
            handler="integration_tester.handler.handler",
            description="Runs the project's integration tests against endpoints in service; records the test pass",
            role_name=names.integration_tester_role,
            alarm_name=f"{prefix}-integration-tester-errors",
            environment={
                **self.handler_environment,
                "PROJECT_SETTINGS_TABLE": self.project_settings.table_name,
                "TESTER_ROLES": json.dumps(
                    {stage: names.role_arn(a, names.endpoint_tester_role(a)) for stage, a in _stage_accounts(stages)}
                ),
            },
            **{**function_settings, "timeout": TESTER_TIMEOUT},
        )
        # The tester takes one event at a time: each may invoke an endpoint once per test case.
        queued_functions = (
            (self.promoter, self.promotion_queue, PROMOTER_BATCH_SIZE),
            (self.tracker, self.tracking_queue, 5),
            (self.tester, self.tester_queue, 1),
        )
        for function, work, batch_size in queued_functions:
            function.function.add_event_source(
                event_sources.SqsEventSource(
                    work.queue, batch_size=batch_size, max_concurrency=2, report_batch_item_failures=True
                )
            )
            self.ledger.grant(
                function.role,
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
            )
            self.key.grant_encrypt_decrypt(function.role)
            self.alerts.topic.grant_publish(function.role)
        self.promoter.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadDeployableTemplates",
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{self.partition}:s3:::{template.s3_bucket_name}/{template.s3_object_key}"
                    for template in (endpoint_template, monitor_template, batch_template, champion_challenger_template)
                ],
            )
        )
        self.promotion_queue.queue.grant_send_messages(self.tracker.role)
        self.project_settings.grant(self.tester.role, "dynamodb:Query")
        # The promoter reads a project's DEPLOYMENT item: the kind the project chose for its stages.
        self.project_settings.grant(self.promoter.role, "dynamodb:GetItem")
        self.tester.role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeEndpointTesterRoles",
                actions=["sts:AssumeRole"],
                resources=sorted(
                    {names.role_arn(a, names.endpoint_tester_role(a)) for _, a in _stage_accounts(stages)}
                ),
            )
        )
        self._grant_registry_access(names, stages)

    def _grant_registry_access(self, names: PlatformNames, stages: tuple[str, ...]) -> None:
        """The promoter reads the managed groups and assumes the deploy roles; the tracker annotates
        packages with where they run but can never change their approval status."""
        group_packages = [self._sagemaker_arn("model-package", f"*-{stage}/*") for stage in stages]
        groups = [self._sagemaker_arn("model-package-group", f"*-{stage}") for stage in stages]
        self.promoter.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadManagedModelPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[*groups, *group_packages],
            )
        )
        self.promoter.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListModelPackageVersions", actions=["sagemaker:ListModelPackages"], resources=["*"]
            )
        )
        self.promoter.role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeDeployRoles",
                actions=["sts:AssumeRole"],
                resources=sorted(
                    {names.role_arn(account, names.deploy_role(account)) for account in ("dev", "test", "prod")}
                ),
            )
        )
        self.tracker.role.add_to_policy(
            iam.PolicyStatement(
                sid="AnnotateManagedModelPackages",
                actions=["sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage"],
                resources=group_packages,
            )
        )
        self.tracker.role.add_to_policy(
            iam.PolicyStatement(
                sid="NeverChangeApprovalStatus",
                effect=iam.Effect.DENY,
                actions=["sagemaker:UpdateModelPackage"],
                resources=group_packages,
                conditions={"Null": {"sagemaker:ModelApprovalStatus": "false"}},
            )
        )
        acknowledge_wildcards(
            self,
            {
                "Resource::arn:*:sagemaker:*:model-package/*-*/*": "Versions of the managed <project>-<stage> "
                "groups; the stage suffix is the scope.",
                "Resource::arn:*:sagemaker:*:model-package-group/*-*": "The managed <project>-<stage> groups.",
                "Action::kms:GenerateDataKey*": "Data keys of the promotion key only (queues, topic, ledger).",
                "Action::kms:ReEncrypt*": "Re-encryption with the promotion key only (DynamoDB grant).",
                "Resource::*": "sagemaker:ListModelPackages supports no resource-level permissions.",
            },
        )

    def _sagemaker_arn(self, resource: str, name: str) -> str:
        return self.format_arn(service="sagemaker", resource=resource, resource_name=name)


def _stage_accounts(stages: tuple[str, ...]) -> list[tuple[str, AccountName]]:
    """Each stage with the account it deploys to."""
    return [(stage, STAGE_ACCOUNTS[stage]) for stage in stages]


def _stage_targets(names: PlatformNames, stages: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Where each stage deploys: account, region, the roles the promoter uses there, and the model bucket."""
    targets_by_stage = {}
    for stage in stages:
        account = STAGE_ACCOUNTS[stage]
        targets_by_stage[stage] = {
            "account_id": names.account_id(account),
            "region": names.region,
            "deploy_role_arn": names.role_arn(account, names.deploy_role(account)),
            "cloudformation_role_arn": names.role_arn(account, names.cloudformation_role(account)),
            "model_bucket": names.model_artifact_bucket(account),
        }
    return targets_by_stage
