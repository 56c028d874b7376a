"""Test, prod (and dev, for feature endpoints): what the promoter needs to deploy into an account."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from lambdas.contract import (
    BATCH_RESOURCE_SUFFIX,
    ENDPOINT_SUFFIX,
    SSM_ASYNC_ERROR_TOPIC,
    SSM_ASYNC_SUCCESS_TOPIC,
    SSM_BATCH_SCHEDULER_ROLE_ARN,
    SSM_DATA_CAPTURE_BUCKET,
    SSM_EXECUTION_ROLE_ARN,
    SSM_KMS_KEY_ARN,
    SSM_MODEL_BUCKET,
    target_parameter,
)
from mlops_constructs.comparison import ChallengerEvaluatorRole, comparison_widgets
from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.dashboards import PlatformDashboard, RollbackLog
from mlops_constructs.deployment_roles import DeploymentRoles, EndpointTesterRole
from mlops_constructs.event_forwarding import PlatformEventForwarder
from mlops_constructs.messaging import AlertTopic, DeadLetterQueue
from mlops_constructs.model_monitoring import CLARIFY_REPOSITORY, MODEL_MONITOR_REPOSITORY, MONITORING_IMAGE_REGISTRIES
from mlops_constructs.naming import PROJECTS_PREFIX, PlatformNames
from mlops_constructs.storage import AccessLogBucket, EncryptedBucket, PlatformKey, VerifiedModelBucket
from platform_config import AccountName


class DeploymentTargetStack(Stack):
    """What the dev promoter needs to deploy endpoints into one account, and to hear back from them.

    - a KMS key and the data-capture bucket endpoints and Model Monitor write to;
    - the model bucket: verified copies of the registered models its endpoints serve, written only by
      the deploy role (which copies a model only while its bytes match the registered ETag);
    - the SageMaker execution role endpoints run as, named so the dev artifact store can grant it
      read access without a cross-account reference;
    - the deploy role (trusted only by the dev promoter role) and the CloudFormation execution role;
    - the endpoint-tester role (trusted only by the dev integration tester role);
    - the topics asynchronous endpoints notify of each result and failure (KMS, TLS only), which teams
      and the integration tester's successors may subscribe to;
    - the batch scheduler role, which EventBridge Scheduler (of this account only) assumes to start
      the batch templates' pipelines, and what those pipelines' transform jobs need of the SageMaker role;
    - SSM parameters the endpoint and monitor templates resolve at deploy time;
    - forwarding of stack, endpoint and alarm events to the dev promotion bus, with a dead-letter
      queue and an alarm, notifying this account's alert topic;
    - a dashboard of the platform's endpoints (traffic, latency, errors, monitor violations) and of
      the rollbacks a rule logs to an encrypted log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: PlatformNames,
        account: AccountName,
        alert_emails: Sequence[str],
        cleanup_role_arn: str | None = None,
        comparison_role_arn: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = PlatformKey(
            self,
            "TargetKey",
            alias=f"alias/{names.prefix}/{account}/endpoints",
            description="Encrypts endpoint volumes, data capture and monitoring output",
        )
        self.access_logs = AccessLogBucket(self, "AccessLogs")
        self.data_capture = EncryptedBucket(
            self,
            "DataCapture",
            bucket_name=names.data_capture_bucket(account),
            encryption_key=self.key,
            access_logs=self.access_logs,
        )
        self.models = VerifiedModelBucket(
            self,
            "Models",
            bucket_name=names.model_artifact_bucket(account),
            encryption_key=self.key,
            access_logs=self.access_logs,
            writer_role_arn=names.role_arn(account, names.deploy_role(account)),
        )
        self.sagemaker_role = iam.Role(
            self,
            "SageMakerExecutionRole",
            role_name=names.sagemaker_execution_role(account),
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Runs the platform's endpoints and Model Monitor jobs in this account",
        )
        self._grant_data_capture(self.sagemaker_role)
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadVerifiedModels", actions=["s3:GetObject"], resources=[self.models.arn_for_objects("*")]
            )
        )
        self._grant_dev_artifact_read(names)
        self._grant_container_requirements()
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="WatchRollbackAlarms",
                actions=["cloudwatch:DescribeAlarms"],
                resources=[
                    self.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=f"*{ENDPOINT_SUFFIX}-*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.async_topics = {
            outcome: sns.Topic(
                self,
                f"Async{outcome.title()}Topic",
                topic_name=f"{names.prefix}-{account}-async-{outcome}",
                master_key=self.key,
                enforce_ssl=True,
            )
            for outcome in ("success", "error")
        }
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="NotifyAsyncResults",
                actions=["sns:Publish"],
                resources=[topic.topic_arn for topic in self.async_topics.values()],
            )
        )
        self.batch_scheduler_role = self._batch_scheduler_role(names, account)
        self._grant_batch_transforms()
        self._publish_parameters(names.prefix)
        self.roles = DeploymentRoles(
            self,
            "Deployment",
            deploy_role_name=names.deploy_role(account),
            cloudformation_role_name=names.cloudformation_role(account),
            promoter_role_arn=names.role_arn("dev", names.promoter_role),
            sagemaker_role=self.sagemaker_role,
            encryption_key=self.key,
            parameter_path=target_parameter(names.prefix, ""),
            scheduler_role_arn=self.batch_scheduler_role.role_arn,
            cleanup_role_arn=cleanup_role_arn,
        )
        self._grant_verified_copies(names)
        self.endpoint_tester = EndpointTesterRole(
            self,
            "EndpointTester",
            role_name=names.endpoint_tester_role(account),
            tester_role_arn=names.role_arn("dev", names.integration_tester_role),
            data_capture=self.data_capture,
            key=self.key,
        )
        if comparison_role_arn:
            self.challenger_evaluator = ChallengerEvaluatorRole(
                self,
                "ChallengerEvaluator",
                role_name=names.challenger_evaluator_role(account),
                comparison_role_arn=comparison_role_arn,
                data_capture=self.data_capture,
                key=self.key,
                namespace=names.champion_challenger_namespace,
            )
        self.alerts = AlertTopic(
            self,
            "Alerts",
            topic_name=f"{names.prefix}-{account}-alerts",
            encryption_key=self.key,
            emails=alert_emails,
        )
        self.forwarding_dead_letters = DeadLetterQueue(
            self,
            "ForwardingDeadLetters",
            alarm_name=f"{names.prefix}-{account}-event-forwarding-dead-letters",
            encryption_key=self.key,
            alarm_action=self.alerts.alarm_action,
        )
        self.forwarder = PlatformEventForwarder(
            self,
            "EventForwarding",
            destination_bus_arn=names.promotion_bus_arn,
            alarm_name_prefix=f"{names.prefix}-",
            dead_letter_queue=self.forwarding_dead_letters.queue,
            role_name=names.event_forwarding_role(account),
        )
        self.rollbacks = RollbackLog(
            self,
            "Rollbacks",
            namespace=f"{names.prefix}/platform",
            encryption_key=self.key,
            dead_letter_queue=self.forwarding_dead_letters.queue,
        )
        self.dashboard = PlatformDashboard(
            self, "Dashboard", dashboard_name=f"{names.prefix}-{account}-models", rollbacks=self.rollbacks.metric
        )
        if comparison_role_arn:
            self.dashboard.dashboard.add_widgets(*comparison_widgets(names.champion_challenger_namespace))
        acknowledge_wildcards(
            self.sagemaker_role,
            {
                "Resource::<Models*.Arn>/*": "Verified model copies in this account's model bucket, which "
                "endpoints serve.",
                "Resource::<DataCapture*.Arn>/*": "Objects of this account's data-capture bucket: endpoints "
                "write captured requests, monitoring jobs read them and write reports.",
                f"Resource::arn:*:s3:::{names.artifact_bucket}/projects/*": "Model Monitor baselines under "
                "the projects/ prefix of the dev artifact store.",
                "Resource::arn:*:cloudwatch:*:alarm:*-endpoint-*": "The endpoints' rollback alarms, which SageMaker "
                "watches during blue/green deployments.",
                "Resource::arn:*:kms:*:key/*": "Keys of the dev account, only through S3 (kms:ViaService); "
                "the dev artifact key's policy is what grants access, naming this role.",
                "Resource::arn:*:logs:*:log-group:/aws/sagemaker/Endpoints/*-endpoint*": "The log groups and "
                "streams SageMaker writes the platform endpoints' container logs to.",
                "Resource::arn:*:logs:*:log-group:/aws/sagemaker/ProcessingJobs:*": "The log streams of processing "
                "jobs, Model Monitor's runs among them (one log group for the account's processing jobs).",
                "Resource::arn:*:sagemaker:*:transform-job/pipelines-*": "The transform jobs the batch pipelines "
                "start; SageMaker names them pipelines-<execution id>-<step>-<suffix>.",
                "Resource::*": "cloudwatch:PutMetricData (limited to the aws/sagemaker/Endpoints/* namespaces Model "
                "Monitor publishes to, cloudwatch:namespace) and ecr:GetAuthorizationToken have no resource-level "
                "permissions.",
            },
        )

    def _publish_parameters(self, prefix: str) -> None:
        """What the endpoint and monitor templates resolve in this account at deploy time."""
        for name, value in (
            (SSM_EXECUTION_ROLE_ARN, self.sagemaker_role.role_arn),
            (SSM_KMS_KEY_ARN, self.key.key_arn),
            (SSM_DATA_CAPTURE_BUCKET, self.data_capture.bucket_name),
            (SSM_MODEL_BUCKET, self.models.bucket_name),
            (SSM_ASYNC_SUCCESS_TOPIC, self.async_topics["success"].topic_arn),
            (SSM_ASYNC_ERROR_TOPIC, self.async_topics["error"].topic_arn),
            (SSM_BATCH_SCHEDULER_ROLE_ARN, self.batch_scheduler_role.role_arn),
        ):
            ssm.StringParameter(
                self,
                f"Parameter-{name}",
                parameter_name=target_parameter(prefix, name),
                string_value=value,
                description="Read by the MLOps platform's endpoint and monitor templates",
            )

    def _batch_pipelines(self) -> str:
        return self.format_arn(
            service="sagemaker", resource="pipeline", resource_name=f"*{ENDPOINT_SUFFIX}{BATCH_RESOURCE_SUFFIX}"
        )

    def _batch_scheduler_role(self, names: PlatformNames, account: AccountName) -> iam.Role:
        """Assumed by this account's EventBridge Scheduler only, to start the batch templates' pipelines."""
        role = iam.Role(
            self,
            "BatchSchedulerRole",
            role_name=names.batch_scheduler_role(account),
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description="Starts the platform's batch transform pipelines on their schedules",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="StartBatchPipelines",
                actions=["sagemaker:StartPipelineExecution"],
                resources=[self._batch_pipelines()],
            )
        )
        acknowledge_wildcards(
            role,
            {
                "Resource::arn:*:sagemaker:*:pipeline/*-endpoint-batch": "The batch templates' pipelines, "
                "<project>-<stage>-endpoint-batch."
            },
        )
        return role

    def _grant_batch_transforms(self) -> None:
        """A batch pipeline runs as the SageMaker role: it starts, watches and stops its transform jobs
        (named ``pipelines-<execution>-...`` by SageMaker), whose volumes SageMaker encrypts with a grant."""
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="RunBatchTransforms",
                actions=[
                    "sagemaker:CreateTransformJob",
                    "sagemaker:DescribeTransformJob",
                    "sagemaker:StopTransformJob",
                    "sagemaker:AddTags",
                ],
                resources=[self.format_arn(service="sagemaker", resource="transform-job", resource_name="pipelines-*")],
            )
        )
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptTransformVolumes",
                actions=["kms:CreateGrant"],
                resources=[self.key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )

    def _grant_data_capture(self, role: iam.IRole) -> None:
        """Endpoints write captured traffic; monitoring jobs read it and write their reports."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DataCaptureObjects",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.data_capture.arn_for_objects("*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DataCaptureBucket",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[self.data_capture.bucket_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DataCaptureKey",
                # kms:Encrypt: the monitoring jobs' output KmsKeyId (CreateProcessingJob's requirements).
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:DescribeKey"],
                resources=[self.key.key_arn],
            )
        )

    def _grant_container_requirements(self) -> None:
        """What SageMaker's execution-role requirements (CreateModel, CreateProcessingJob) ask for the
        containers it runs as this role: the endpoints' and the monitoring jobs' CloudWatch logs, the
        metrics the monitors publish (``publish_cloudwatch_metrics``), grants on the monitoring jobs'
        volume key, and pulling the prebuilt Model Monitor and Clarify images of this region."""
        log_groups = [
            self.format_arn(
                service="logs",
                resource="log-group",
                resource_name=name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for group in (f"/aws/sagemaker/Endpoints/*{ENDPOINT_SUFFIX}", "/aws/sagemaker/ProcessingJobs")
            for name in (group, f"{group}:*")
        ]
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointAndMonitoringLogs",
                actions=["logs:CreateLogGroup", "logs:DescribeLogStreams", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=log_groups,
            )
        )
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="MonitorMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "aws/sagemaker/Endpoints/*"}},
            )
        )
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="MonitoringJobVolumes",
                actions=["kms:CreateGrant"],
                resources=[self.key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
        if self.region not in MONITORING_IMAGE_REGISTRIES:
            return  # No prebuilt images to pull: the monitor template cannot run in this region.
        repositories = [
            f"arn:{self.partition}:ecr:{self.region}:{account}:repository/{repository.split(':')[0]}"
            for account, repository in zip(
                MONITORING_IMAGE_REGISTRIES[self.region], (MODEL_MONITOR_REPOSITORY, CLARIFY_REPOSITORY), strict=True
            )
        ]
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="PullMonitoringImages",
                actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                resources=repositories,
            )
        )
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(sid="AuthenticateToEcr", actions=["ecr:GetAuthorizationToken"], resources=["*"])
        )

    def _grant_verified_copies(self, names: PlatformNames) -> None:
        """The deploy role copies registered model artifacts from the dev artifact store (whose policies
        name it) into the model bucket, and checks whether a copy exists."""
        deploy_role = self.roles.deploy_role
        for statement in _dev_artifact_read_statements(self, names, "RegisteredModels"):
            deploy_role.add_to_policy(statement)
        deploy_role.add_to_policy(
            iam.PolicyStatement(
                sid="ListDevRegisteredModels",
                actions=["s3:ListBucket"],
                resources=[f"arn:{self.partition}:s3:::{names.artifact_bucket}"],
                conditions={"StringLike": {"s3:prefix": [f"{PROJECTS_PREFIX}*"]}},
            )
        )
        deploy_role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteVerifiedCopies",
                actions=["s3:PutObject", "s3:GetObject"],
                resources=[self.models.arn_for_objects("*")],
            )
        )
        deploy_role.add_to_policy(
            iam.PolicyStatement(sid="FindVerifiedCopies", actions=["s3:ListBucket"], resources=[self.models.bucket_arn])
        )
        deploy_role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptVerifiedCopies",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.key.key_arn],
            )
        )
        acknowledge_wildcards(
            deploy_role,
            {
                "Resource::<Models*.Arn>/*": "Objects of this account's model bucket: verified copies, one key each.",
                f"Resource::arn:*:s3:::{names.artifact_bucket}/projects/*": "Registered model artifacts under "
                "the projects/ prefix of the dev artifact store.",
                "Resource::arn:*:kms:*:key/*": "Keys of the dev account, only through S3 (kms:ViaService); "
                "the dev artifact key's policy is what grants access, naming this role.",
            },
        )

    def _grant_dev_artifact_read(self, names: PlatformNames) -> None:
        """Read baselines (Model Monitor) from the dev artifact store (its policies name this role); models
        come from the model bucket."""
        for statement in _dev_artifact_read_statements(self, names, "DevBaselines"):
            self.sagemaker_role.add_to_policy(statement)


def _dev_artifact_read_statements(stack: Stack, names: PlatformNames, what: str) -> list[iam.PolicyStatement]:
    """Read objects under the dev artifact store's ``projects/``, decrypting them through S3 only."""
    return [
        iam.PolicyStatement(
            sid=f"Read{what}",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[f"arn:{stack.partition}:s3:::{names.artifact_bucket}/{PROJECTS_PREFIX}*"],
        ),
        iam.PolicyStatement(
            sid=f"Decrypt{what}ThroughS3",
            actions=["kms:Decrypt", "kms:DescribeKey"],
            resources=[f"arn:{stack.partition}:kms:{stack.region}:{names.account_id('dev')}:key/*"],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
        ),
    ]
