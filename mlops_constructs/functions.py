"""The platform's Lambda functions: one code asset, the Powertools managed layer, logs that are kept."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

#: Handler code root: every function ships the same directory, so shared helpers need no packaging.
LAMBDA_CODE = Path(__file__).resolve().parents[1] / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
DEFAULT_TIMEOUT = Duration.minutes(1)


def powertools_layer(scope: Construct, version: str) -> lambda_.ILayerVersion:
    """The Powertools for AWS Lambda (Python) layer matching the runtime, pinned to ``version``.

    AWS publishes each release's layer ARN as a public SSM parameter, so the layer is resolved at
    deploy time in whichever region the stack is deployed to, without hard-coded layer numbers.
    """
    stack = Stack.of(scope)
    layer_id = f"PowertoolsLayer{version.replace('.', '')}"
    existing = stack.node.try_find_child(layer_id)
    if existing:
        return existing
    parameter = f"/aws/service/powertools/python/arm64/{RUNTIME.name}/{version}"
    arn = ssm.StringParameter.value_for_string_parameter(stack, parameter)
    return lambda_.LayerVersion.from_layer_version_arn(stack, layer_id, arn)


class PlatformFunction(Construct):
    """A Python Lambda function of the platform with its own role, log group and error alarm.

    ``handler`` is a dotted path under ``lambdas/`` (e.g. ``promoter.handler.handler``). The role
    starts with permission to write its own logs only; callers grant the rest. The log group keeps
    logs for a year and is retained. Errors raise ``error_alarm`` (notifying ``alarm_action``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        powertools_version: str,
        alarm_name: str,
        alarm_action: cloudwatch.IAlarmAction,
        role_name: str | None = None,
        function_name: str | None = None,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_size: int = 256,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            function_name=function_name,
            code=lambda_.Code.from_asset(str(LAMBDA_CODE), exclude=["**/__pycache__", "**/*.pyc"]),
            description=description,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            layers=[powertools_layer(self, powertools_version)],
            timeout=timeout,
            memory_size=memory_size,
            environment={"POWERTOOLS_SERVICE_NAME": construct_id.lower(), **environment},
        )
        self.error_alarm = cloudwatch.Alarm(
            self,
            "Errors",
            alarm_name=alarm_name,
            alarm_description=f"{construct_id} failed; the failed messages wait in its dead-letter queue.",
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic=cloudwatch.Stats.SUM),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            actions_enabled=True,
        )
        self.error_alarm.add_alarm_action(alarm_action)
