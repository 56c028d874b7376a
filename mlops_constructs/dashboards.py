"""A CloudWatch dashboard of the platform's endpoints in one account, and the rollback count it shows.

Endpoints come and go with promotions, so the graphs use SEARCH expressions over the metrics of every
``*-endpoint`` endpoint instead of naming endpoints at synthesis time.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.contract import BATCH_FAILURES_ALARM_SUFFIX, ENDPOINT_SUFFIX, MONITOR_SUFFIX
from mlops_constructs.storage import let_cloudwatch_logs_encrypt

#: Search term matching the platform's endpoints: CloudWatch splits dimension values into tokens at
#: punctuation, so ``endpoint`` matches every ``<project>-<stage>-endpoint``.
ENDPOINT_TOKEN = ENDPOINT_SUFFIX.strip("-")
MONITOR_TOKEN = MONITOR_SUFFIX.strip("-")
PERIOD = Duration.minutes(5)
#: SageMaker metrics per endpoint: (metric, statistic, graph title).
ENDPOINT_METRICS = (
    ("Invocations", "Sum", "Invocations"),
    ("ModelLatency", "Average", "Model latency (microseconds)"),
    ("Invocation4XXErrors", "Sum", "4xx errors"),
    ("Invocation5XXErrors", "Sum", "5xx errors"),
)
#: Instance metrics SageMaker publishes per endpoint variant (percentages; CPU and memory of all the
#: instances' cores summed, so CPU can exceed 100): (metric, graph title).
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
INSTANCE_METRICS = (
    ("CPUUtilization", "Instance CPU utilization (%)"),
    ("MemoryUtilization", "Instance memory utilization (%)"),
    ("DiskUtilization", "Instance disk utilization (%)"),
)
#: Metrics of asynchronous endpoints, per endpoint only (no variant): (metric, statistic, graph title).
ASYNC_METRICS = (
    ("ApproximateBacklogSizePerInstance", "Average", "Async backlog per instance"),
    ("HasBacklogWithoutCapacity", "Maximum", "Async backlog without capacity (scaled to zero)"),
    ("InvocationsProcessed", "Sum", "Async invocations processed"),
    ("InvocationFailures", "Sum", "Async invocation failures"),
)
#: Search terms matching the batch templates' failed-runs rules (``<endpoint>-batch-failures``).
BATCH_FAILURES_TOKENS = BATCH_FAILURES_ALARM_SUFFIX.strip("-").replace("-", " ")
#: Stack statuses meaning a deployment was rolled back (an update) or a creation failed and was undone.
ROLLBACK_STACK_STATUSES = ["UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE"]
#: A blue/green deployment SageMaker rolls back, in the events' and the API's spelling.
ROLLBACK_ENDPOINT_STATUSES = ["ROLLING_BACK", "RollingBack"]


def search(term: str, statistic: str, label: str) -> cloudwatch.MathExpression:
    """A SEARCH over every metric matching ``term`` (one graph line per endpoint)."""
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{term}', '{statistic}', {int(PERIOD.to_seconds())})", label=label, period=PERIOD
    )


class RollbackLog(Construct):
    """Rollbacks of the platform's stacks and endpoints in this account, as log entries and a metric.

    An EventBridge rule writes each rollback event to a KMS-encrypted log group kept for a year; a
    metric filter counts them as ``<namespace>/Rollbacks``. Events the rule cannot deliver land in
    ``dead_letter_queue``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        namespace: str,
        encryption_key: kms.IKey,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=encryption_key,
            retention=logs.RetentionDays.ONE_YEAR,
            removal_policy=RemovalPolicy.RETAIN,
        )
        let_cloudwatch_logs_encrypt(
            encryption_key,
            sid="CloudWatchLogsEncryptsTheRollbackLog",
            log_groups=stack.format_arn(
                service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
            ),
        )
        # EventBridge writes to a log group through the log group's resource policy (CDK's own log
        # group target would add a custom resource Lambda to write that policy).
        logs.ResourcePolicy(
            self,
            "EventBridgeWrites",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[
                        iam.ServicePrincipal("events.amazonaws.com"),
                        iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                    ],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.log_group.log_group_arn],
                )
            ],
        )
        self.rule = events.CfnRule(
            self,
            "Rollbacks",
            description="Rollbacks of the platform's endpoint and monitor stacks and of its endpoints' deployments",
            event_pattern={
                "$or": [
                    {
                        "source": ["aws.cloudformation"],
                        "detail-type": ["CloudFormation Stack Status Change"],
                        "detail": {
                            "stack-id": [
                                {"wildcard": f"*:stack/*{ENDPOINT_SUFFIX}/*"},
                                {"wildcard": f"*:stack/*{MONITOR_SUFFIX}/*"},
                            ],
                            "status-details": {"status": ROLLBACK_STACK_STATUSES},
                        },
                    },
                    {
                        "source": ["aws.sagemaker"],
                        "detail-type": ["SageMaker Endpoint Deployment State Change"],
                        "detail": {
                            "EndpointName": [{"suffix": ENDPOINT_SUFFIX}],
                            "EndpointStatus": ROLLBACK_ENDPOINT_STATUSES,
                        },
                    },
                ]
            },
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    id="RollbackLog",
                    arn=self.log_group.log_group_arn,
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dead_letter_queue.queue_arn),
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=3600, maximum_retry_attempts=10
                    ),
                )
            ],
        )
        self.metric_filter = self.log_group.add_metric_filter(
            "Count",
            filter_pattern=logs.FilterPattern.all_events(),
            metric_namespace=namespace,
            metric_name="Rollbacks",
            metric_value="1",
            default_value=0,
        )
        self.metric = self.metric_filter.metric(statistic=cloudwatch.Stats.SUM, period=PERIOD, label="Rollbacks")


class PlatformDashboard(Construct):
    """One dashboard per account: the platform endpoints' invocations, model latency, 4xx and 5xx
    errors, their instances' CPU, memory and disk utilization, asynchronous endpoints' backlog (per
    instance, and without capacity when scaled to zero), processed and failed requests, batch stages'
    failed runs, the Model Monitor runs that found violations, and the rollbacks.

    Failed batch runs are what each batch template's ``<endpoint>-batch-failures`` alarm watches:
    ``MatchedEvents`` of its failed-runs rule.

    Violations are the metric the monitor templates' violation alarms watch: ``MatchedEvents`` of the
    rules in the monitor stacks (``AWS/Events``, by ``RuleName``).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, dashboard_name: str, rollbacks: cloudwatch.IMetric
    ) -> None:
        super().__init__(scope, construct_id)
        widgets = [
            cloudwatch.GraphWidget(
                title=title,
                left=[
                    search(
                        f'{{AWS/SageMaker,EndpointName,VariantName}} MetricName="{metric}" {ENDPOINT_TOKEN}',
                        statistic,
                        "",
                    )
                ],
                width=12,
            )
            for metric, statistic, title in ENDPOINT_METRICS
        ]
        # The namespace has non-alphanumeric characters, which a SEARCH schema takes in double quotes.
        widgets += [
            cloudwatch.GraphWidget(
                title=title,
                left=[
                    search(
                        f'{{"{INSTANCE_NAMESPACE}",EndpointName,VariantName}} MetricName="{metric}" {ENDPOINT_TOKEN}',
                        "Average",
                        "",
                    )
                ],
                width=12,
            )
            for metric, title in INSTANCE_METRICS
        ]
        widgets += [
            cloudwatch.GraphWidget(
                title=title,
                left=[search(f'{{AWS/SageMaker,EndpointName}} MetricName="{metric}" {ENDPOINT_TOKEN}', statistic, "")],
                width=12,
            )
            for metric, statistic, title in ASYNC_METRICS
        ]
        widgets.append(
            cloudwatch.GraphWidget(
                title="Batch runs failed",
                left=[search(f'{{AWS/Events,RuleName}} MetricName="MatchedEvents" {BATCH_FAILURES_TOKENS}', "Sum", "")],
                width=12,
            )
        )
        widgets.append(
            cloudwatch.GraphWidget(
                title="Model Monitor runs with violations",
                left=[search(f'{{AWS/Events,RuleName}} MetricName="MatchedEvents" {MONITOR_TOKEN}', "Sum", "")],
                width=12,
            )
        )
        widgets.append(cloudwatch.GraphWidget(title="Rollbacks", left=[rollbacks], width=12))
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        for index in range(0, len(widgets), 2):
            self.dashboard.add_widgets(*widgets[index : index + 2])
