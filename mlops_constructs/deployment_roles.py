"""The two roles through which the dev promoter deploys into a target account, and nothing more."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.contract import (
    BATCH_RESOURCE_SUFFIX,
    ENDPOINT_SUFFIX,
    MONITOR_SUFFIX,
    async_prefix,
    batch_smoke_prefix,
)
from mlops_constructs.compliance import acknowledge_wildcards

#: SageMaker resource types the endpoint and monitor templates create; all are named after the
#: endpoint (``<project>-<stage>-endpoint...``), which is what scopes the permissions below.
_SAGEMAKER_RESOURCES = (
    "model",
    "endpoint-config",
    "monitoring-schedule",
    "data-quality-job-definition",
    "model-quality-job-definition",
    "model-bias-job-definition",
    "model-explainability-job-definition",
    "pipeline",  # the batch template's transform pipeline, <endpoint>-batch
)


#: What CloudFormation's AWS::Events::Rule handler calls (its registry schema's handler permissions but
#: iam:PassRole, which a stack's role is given for the roles its rules name).
RULE_HANDLER_ACTIONS = (
    "events:DescribeRule",
    "events:PutRule",
    "events:DeleteRule",
    "events:PutTargets",
    "events:RemoveTargets",
    "events:ListTargetsByRule",
    "events:TagResource",
    "events:UntagResource",
    "events:ListTagsForResource",
)


class DeploymentRoles(Construct):
    """A deploy role trusted only by the dev promoter role, and the CloudFormation execution role.

    The deploy role can only drive CloudFormation change sets of the platform's endpoint and monitor
    stacks, and only with the execution role (``cloudformation:RoleArn`` condition), so whatever the
    promoter does, SageMaker resources are created by CloudFormation with the execution role's
    scoped permissions. The execution role may pass only the SageMaker execution role. In dev the
    deploy role also trusts ``cleanup_role_arn`` (the feature endpoint clean-up), which additionally
    needs to list the account's stacks.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        deploy_role_name: str,
        cloudformation_role_name: str,
        promoter_role_arn: str,
        sagemaker_role: iam.IRole,
        encryption_key: kms.IKey,
        parameter_path: str,
        scheduler_role_arn: str,
        cleanup_role_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = Stack.of(self)
        self.cloudformation_role = iam.Role(
            self,
            "CloudFormationExecutionRole",
            role_name=cloudformation_role_name,
            assumed_by=iam.ServicePrincipal("cloudformation.amazonaws.com"),
            description="Creates the platform's endpoint and Model Monitor stacks in this account",
        )
        for statement in self._execution_statements(sagemaker_role, encryption_key, parameter_path, scheduler_role_arn):
            self.cloudformation_role.add_to_policy(statement)

        self.deploy_role = iam.Role(
            self,
            "DeployRole",
            role_name=deploy_role_name,
            assumed_by=iam.CompositePrincipal(
                *(iam.ArnPrincipal(arn) for arn in (promoter_role_arn, cleanup_role_arn) if arn)
            ),
            description="Assumed by the dev promoter (in dev also the clean-up) to deploy endpoint and monitor stacks",
        )
        for statement in self._deploy_statements():
            self.deploy_role.add_to_policy(statement)
        if cleanup_role_arn:
            self.deploy_role.add_to_policy(
                iam.PolicyStatement(
                    sid="ListStacksForTheCleanup", actions=["cloudformation:ListStacks"], resources=["*"]
                )
            )

        acknowledge_wildcards(self, _WILDCARD_REASONS)

    def _deploy_statements(self):
        stacks = [self._arn("cloudformation", "stack", f"*{suffix}/*") for suffix in (ENDPOINT_SUFFIX, MONITOR_SUFFIX)]
        yield iam.PolicyStatement(
            sid="ChangeSetsWithTheExecutionRoleOnly",
            actions=["cloudformation:CreateChangeSet"],
            resources=stacks,
            conditions={"StringEquals": {"cloudformation:RoleArn": self.cloudformation_role.role_arn}},
        )
        yield iam.PolicyStatement(
            sid="DrivePlatformStacks",
            actions=[
                "cloudformation:DescribeChangeSet",
                "cloudformation:ExecuteChangeSet",
                "cloudformation:DeleteChangeSet",
                "cloudformation:ListChangeSets",
                "cloudformation:DescribeStacks",
                "cloudformation:DescribeStackEvents",
                "cloudformation:DeleteStack",
                "cloudformation:TagResource",
            ],
            resources=stacks,
        )
        yield iam.PolicyStatement(
            sid="PassTheExecutionRoleToCloudFormation",
            actions=["iam:PassRole"],
            resources=[self.cloudformation_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}},
        )

    def _execution_statements(self, sagemaker_role, encryption_key, parameter_path, scheduler_role_arn):
        endpoint_named = [self._arn("sagemaker", kind, f"*{ENDPOINT_SUFFIX}-*") for kind in _SAGEMAKER_RESOURCES]
        yield iam.PolicyStatement(
            sid="EndpointAndMonitorResources",
            actions=[
                "sagemaker:CreateModel",
                "sagemaker:DeleteModel",
                "sagemaker:DescribeModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:UpdateEndpointWeightsAndCapacities",
                "sagemaker:DeleteEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:CreateMonitoringSchedule",
                "sagemaker:UpdateMonitoringSchedule",
                "sagemaker:DeleteMonitoringSchedule",
                "sagemaker:DescribeMonitoringSchedule",
                "sagemaker:StopMonitoringSchedule",
                "sagemaker:CreateDataQualityJobDefinition",
                "sagemaker:DeleteDataQualityJobDefinition",
                "sagemaker:DescribeDataQualityJobDefinition",
                "sagemaker:CreateModelQualityJobDefinition",
                "sagemaker:DeleteModelQualityJobDefinition",
                "sagemaker:DescribeModelQualityJobDefinition",
                "sagemaker:CreateModelBiasJobDefinition",
                "sagemaker:DeleteModelBiasJobDefinition",
                "sagemaker:DescribeModelBiasJobDefinition",
                "sagemaker:CreateModelExplainabilityJobDefinition",
                "sagemaker:DeleteModelExplainabilityJobDefinition",
                "sagemaker:DescribeModelExplainabilityJobDefinition",
                "sagemaker:CreatePipeline",
                "sagemaker:UpdatePipeline",
                "sagemaker:DeletePipeline",
                "sagemaker:DescribePipeline",
                "sagemaker:AddTags",
                "sagemaker:DeleteTags",
                "sagemaker:ListTags",
            ],
            resources=[*endpoint_named, self._arn("sagemaker", "endpoint", f"*{ENDPOINT_SUFFIX}")],
        )
        yield iam.PolicyStatement(
            sid="EndpointAlarms",
            actions=[
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
                "cloudwatch:ListTagsForResource",
            ],
            resources=[
                self._arn("cloudwatch", "alarm", f"*{ENDPOINT_SUFFIX}-*", arn_format=ArnFormat.COLON_RESOURCE_NAME)
            ],
        )
        yield iam.PolicyStatement(
            sid="MonitorViolationRules",
            actions=list(RULE_HANDLER_ACTIONS),
            # CloudFormation names a rule without a Name <stack name>-<logical id>-<suffix>, on the default bus;
            # the batch template names its failed-runs rule <endpoint>-batch-failures.
            resources=[self._arn("events", "rule", f"*{suffix}-*") for suffix in (MONITOR_SUFFIX, ENDPOINT_SUFFIX)],
        )
        yield iam.PolicyStatement(
            sid="BatchSchedules",
            actions=[
                "scheduler:CreateSchedule",
                "scheduler:GetSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
            ],
            resources=[self._arn("scheduler", "schedule", f"default/*{ENDPOINT_SUFFIX}{BATCH_RESOURCE_SUFFIX}")],
        )
        yield iam.PolicyStatement(
            sid="PassTheBatchSchedulerRole",
            actions=["iam:PassRole"],
            resources=[scheduler_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        )
        yield iam.PolicyStatement(
            sid="TargetTrackingAlarms",
            actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
            resources=[
                self._arn(
                    "cloudwatch",
                    "alarm",
                    f"TargetTracking-endpoint/*{ENDPOINT_SUFFIX}/variant/*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        yield iam.PolicyStatement(
            sid="DescribeAlarmsAndAutoscaling",
            actions=[
                "cloudwatch:DescribeAlarms",
                "cloudwatch:GetMetricData",
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:DescribeScalableTargets",
                "application-autoscaling:DescribeScalingPolicies",
                "application-autoscaling:DescribeScheduledActions",
                "application-autoscaling:PutScheduledAction",
                "application-autoscaling:DeleteScheduledAction",
                "application-autoscaling:TagResource",
                "application-autoscaling:UntagResource",
                "application-autoscaling:ListTagsForResource",
            ],
            resources=["*"],
        )
        yield iam.PolicyStatement(
            sid="AutoscalingServiceLinkedRole",
            actions=["iam:CreateServiceLinkedRole"],
            resources=[
                f"arn:{self._stack.partition}:iam::{self._stack.account}:role/aws-service-role/"
                "sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
            ],
            conditions={"StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
        )
        yield iam.PolicyStatement(
            sid="PassTheSageMakerExecutionRole",
            actions=["iam:PassRole"],
            resources=[sagemaker_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        yield iam.PolicyStatement(
            sid="ReadTargetParameters",
            actions=["ssm:GetParameters", "ssm:GetParameter"],
            resources=[
                self._arn("ssm", "parameter", f"{parameter_path.strip('/')}/*"),
            ],
        )
        # Its own statement: a DescribeKey request carries no grant keys, so under the CreateGrant
        # condition below it would never be allowed.
        yield iam.PolicyStatement(
            sid="DescribeTheTargetKey",
            actions=["kms:DescribeKey"],
            resources=[encryption_key.key_arn],
        )
        yield iam.PolicyStatement(
            sid="EncryptEndpointVolumesAndCapture",
            actions=["kms:CreateGrant"],
            resources=[encryption_key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        )

    def _arn(self, service: str, resource: str, name: str, *, account: str | None = None, arn_format=None) -> str:
        return self._stack.format_arn(
            service=service,
            resource=resource,
            resource_name=name,
            account=account,
            arn_format=arn_format or ArnFormat.SLASH_RESOURCE_NAME,
        )


class EndpointTesterRole(Construct):
    """The role the dev integration tester assumes to check and invoke the platform's endpoints.

    Trusted only by the tester's role (exact ARN), it can describe and invoke ``*-endpoint``
    endpoints (asynchronously too) and read their configurations, start and follow one smoke run of
    a batch stage's ``*-endpoint-batch`` pipeline over ``<endpoint>/batch/smoke/``, write test requests under
    ``<endpoint>/async/input/`` of the data-capture bucket and read the results SageMaker writes
    under ``output/`` and ``failures/`` (through S3 with the bucket's key), and nothing else: the
    tester sees what a client of the endpoint sees.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        tester_role_arn: str,
        data_capture: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ArnPrincipal(tester_role_arn),
            description="Assumed by the dev integration tester only, to invoke the platform's endpoints",
        )
        prefix = async_prefix(f"*{ENDPOINT_SUFFIX}")
        results = [f"{prefix}output/*", f"{prefix}failures/*"]
        batch_pipelines = f"*{ENDPOINT_SUFFIX}{BATCH_RESOURCE_SUFFIX}"
        smoke = batch_smoke_prefix(f"*{ENDPOINT_SUFFIX}", "*")
        for statement in (
            iam.PolicyStatement(
                sid="TestPlatformEndpoints",
                actions=["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointAsync"],
                resources=[
                    stack.format_arn(service="sagemaker", resource="endpoint", resource_name=f"*{ENDPOINT_SUFFIX}")
                ],
            ),
            iam.PolicyStatement(
                sid="ReadEndpointConfigurations",  # whether an endpoint is asynchronous, and where it answers
                actions=["sagemaker:DescribeEndpointConfig"],
                resources=[
                    stack.format_arn(
                        service="sagemaker", resource="endpoint-config", resource_name=f"*{ENDPOINT_SUFFIX}-*"
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="SmokeRunBatchPipelines",  # one run per batch deployment, over the smoke prefixes
                actions=["sagemaker:DescribePipeline", "sagemaker:StartPipelineExecution"],
                resources=[stack.format_arn(service="sagemaker", resource="pipeline", resource_name=batch_pipelines)],
            ),
            iam.PolicyStatement(
                sid="FollowSmokeRuns",
                actions=["sagemaker:DescribePipelineExecution"],
                resources=[
                    stack.format_arn(
                        service="sagemaker", resource="pipeline", resource_name=f"{batch_pipelines}/execution/*"
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="WriteSmokeInputs",
                actions=["s3:PutObject"],
                resources=[data_capture.arn_for_objects(f"{smoke}input/*")],
            ),
            iam.PolicyStatement(
                sid="ReadSmokeOutputs",
                actions=["s3:GetObject"],
                resources=[data_capture.arn_for_objects(f"{smoke}output/*")],
            ),
            iam.PolicyStatement(
                sid="WriteAsyncTestRequests",
                actions=["s3:PutObject"],
                resources=[data_capture.arn_for_objects(f"{prefix}input/*")],
            ),
            iam.PolicyStatement(
                sid="ReadAsyncResults",
                actions=["s3:GetObject"],
                resources=[data_capture.arn_for_objects(r) for r in results],
            ),
            iam.PolicyStatement(
                sid="FindAsyncResults",
                actions=["s3:ListBucket"],
                resources=[data_capture.bucket_arn],
                conditions={"StringLike": {"s3:prefix": results}},
            ),
            iam.PolicyStatement(
                sid="AsyncObjectsThroughS3",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
        ):
            self.role.add_to_policy(statement)
        acknowledge_wildcards(
            self,
            {
                _ENDPOINTS: _WILDCARD_REASONS[_ENDPOINTS],
                "Resource::arn:*:sagemaker:*:endpoint-config/*-endpoint-*": "The configurations of the platform's "
                "endpoints, <endpoint>-<deployment id>.",
                "Resource::<DataCapture*.Arn>/*-endpoint/async/input/*": "The tester's requests to the platform's "
                "asynchronous endpoints.",
                "Resource::<DataCapture*.Arn>/*-endpoint/async/output/*": "Results of the platform's asynchronous "
                "endpoints.",
                "Resource::<DataCapture*.Arn>/*-endpoint/async/failures/*": "Failures of the platform's "
                "asynchronous endpoints.",
                "Resource::arn:*:sagemaker:*:pipeline/*-endpoint-batch": "The batch stages' pipelines, "
                "<project>-<stage>-endpoint-batch.",
                "Resource::arn:*:sagemaker:*:pipeline/*-endpoint-batch/execution/*": "Executions of the batch "
                "stages' pipelines (the smoke runs the tester started).",
                "Resource::<DataCapture*.Arn>/*-endpoint/batch/smoke/*/input/*": "The smoke inputs of batch "
                "deployments.",
                "Resource::<DataCapture*.Arn>/*-endpoint/batch/smoke/*/output/*": "The smoke outputs of batch "
                "deployments.",
            },
        )


_ENDPOINTS = "Resource::arn:*:sagemaker:*:endpoint/*-endpoint"
_WILDCARD_REASONS = {
    "Resource::arn:*:cloudformation:*:stack/*-endpoint/*": "The platform's endpoint stacks, one per project stage.",
    "Resource::arn:*:cloudformation:*:stack/*-monitor/*": "The platform's monitor stacks, one per project stage.",
    "Resource::arn:*:sagemaker:*-endpoint-*": "Resources the endpoint and monitor templates name after the endpoint.",
    _ENDPOINTS: "The platform's endpoints, named <project>-<stage>-endpoint.",
    "Resource::arn:*:cloudwatch:*:alarm:*-endpoint-*": "The endpoint and monitor templates' alarms.",
    "Resource::arn:*:cloudwatch:*:alarm:TargetTracking-endpoint/*-endpoint/variant/*": "The target-tracking "
    "alarms Application Auto Scaling keeps for the platform endpoints' variants (the scalable target's handler "
    "lists them).",
    "Resource::arn:*:events:*:rule/*-monitor-*": "The monitor templates' violation rules, which CloudFormation "
    "names <stack>-<logical id>-<suffix> in the platform's <project>-<stage>-monitor stacks.",
    "Resource::arn:*:events:*:rule/*-endpoint-*": "The batch templates' rules (failed runs, and violations of their "
    "monitor), named after the stage's <project>-<stage>-endpoint stack.",
    "Resource::arn:*:scheduler:*:schedule/default/*-endpoint-batch": "The batch templates' schedules, "
    "<project>-<stage>-endpoint-batch.",
    "Resource::*": "cloudwatch:DescribeAlarms (on alarms Application Auto Scaling names), cloudwatch:GetMetricData, "
    "Application Auto Scaling (scalable target ARNs carry a service-assigned id) and cloudformation:ListStacks "
    "(the dev clean-up): no resource-level permissions to scope them with.",
    "Resource::arn:*:ssm:*:parameter/*/target/*": "The parameters this stack publishes for the templates.",
}
