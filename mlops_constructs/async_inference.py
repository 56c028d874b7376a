"""Asynchronous endpoints: queued requests, results in S3, notifications, and scaling to zero and back.

An asynchronous endpoint is the endpoint template's ``async`` kind: the same model, endpoint
configuration and blue/green endpoint as a real-time one, with an ``AsyncInferenceConfig`` and its
own autoscaling (:class:`BacklogAutoscaling`) instead of invocation-based autoscaling. The constructs
take CloudFormation tokens and a condition, like those of :mod:`mlops_constructs.endpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnCondition, Fn
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas.contract import SCALE_OUT_FROM_ZERO_ALARM_SUFFIX, async_prefix
from mlops_constructs.compliance import acknowledge
from mlops_constructs.endpoint import VARIANT_NAME, VariantAutoscaling


@dataclass(frozen=True)
class AsyncOutput:
    """Where an asynchronous endpoint puts its results, and whom it tells."""

    bucket: str
    """The target account's KMS-encrypted data-capture bucket."""
    kms_key_arn: str
    success_topic_arn: str
    error_topic_arn: str


def add_async_inference_config(
    endpoint_config: sagemaker.CfnEndpointConfig,
    *,
    endpoint_name: str,
    output: AsyncOutput,
    max_concurrent_invocations: float,
    condition: CfnCondition,
) -> None:
    """Make ``endpoint_config`` asynchronous under ``condition``: results and failures in the target's
    bucket, encrypted with its key, with a notification on each to the account's topics."""
    prefix = f"s3://{output.bucket}/{async_prefix(endpoint_name)}"
    config = {
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": max_concurrent_invocations},
        "OutputConfig": {
            "KmsKeyId": output.kms_key_arn,
            "S3OutputPath": f"{prefix}output/",
            "S3FailurePath": f"{prefix}failures/",
            "NotificationConfig": {"SuccessTopic": output.success_topic_arn, "ErrorTopic": output.error_topic_arn},
        },
    }
    endpoint_config.add_property_override(
        "AsyncInferenceConfig", Fn.condition_if(condition.logical_id, config, Aws.NO_VALUE)
    )
    acknowledge(
        endpoint_config,
        "CloudFormation-Validate::F3031",
        "NotificationConfig's topics are SSM-typed parameters: their defaults are the SSM parameters' names and "
        "CloudFormation passes the topic ARNs stored there.",
    )


class BacklogAutoscaling(VariantAutoscaling):
    """Scales an asynchronous endpoint on its queue: in to zero instances, and out again on a request.

    SageMaker's guide ("Autoscale an asynchronous endpoint") recommends target tracking on the
    ``ApproximateBacklogSizePerInstance`` metric; with a minimum of 0 the endpoint scales in to zero
    when the queue is empty. Target tracking alone starts again from zero only once the backlog
    exceeds the target, so a step-scaling policy adds one instance as soon as the
    ``HasBacklogWithoutCapacity`` metric reports queued requests and no instance
    (``<endpoint>-backlog-without-capacity`` alarm).

    Deployments start the new fleet with ``InstanceCount`` instances (the template does not retain
    the scaled count, which may be zero), and autoscaling scales it in afterwards.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: sagemaker.CfnEndpoint,
        endpoint_name: str,
        max_capacity: float,
        backlog_per_instance: float,
        condition: CfnCondition,
    ) -> None:
        super().__init__(
            scope, construct_id, endpoint=endpoint, variant_name=VARIANT_NAME, min_capacity=0, max_capacity=max_capacity
        )
        policy = autoscaling.CfnScalingPolicy
        self.backlog_policy = self.policy(
            "BacklogPerInstance",
            name_suffix="-backlog-per-instance",
            policy_type="TargetTrackingScaling",
            target_tracking_scaling_policy_configuration=policy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=backlog_per_instance,
                customized_metric_specification=policy.CustomizedMetricSpecificationProperty(
                    metric_name="ApproximateBacklogSizePerInstance",
                    namespace="AWS/SageMaker",
                    dimensions=[policy.MetricDimensionProperty(name="EndpointName", value=endpoint_name)],
                    statistic="Average",
                ),
                scale_in_cooldown=600,
                scale_out_cooldown=300,
            ),
        )
        self.scale_out_from_zero = self.policy(
            "ScaleOutFromZero",
            name_suffix="-scale-out-from-zero",
            policy_type="StepScaling",
            step_scaling_policy_configuration=policy.StepScalingPolicyConfigurationProperty(
                adjustment_type="ChangeInCapacity",
                metric_aggregation_type="Average",
                cooldown=300,
                step_adjustments=[policy.StepAdjustmentProperty(metric_interval_lower_bound=0, scaling_adjustment=1)],
            ),
        )
        self.backlog_alarm = cloudwatch.CfnAlarm(
            self,
            "BacklogWithoutCapacity",
            alarm_name=f"{endpoint_name}{SCALE_OUT_FROM_ZERO_ALARM_SUFFIX}",
            alarm_description="Requests are queued and the endpoint has no instance: add one",
            namespace="AWS/SageMaker",
            metric_name="HasBacklogWithoutCapacity",
            dimensions=[cloudwatch.CfnAlarm.DimensionProperty(name="EndpointName", value=endpoint_name)],
            statistic="Average",
            period=60,
            evaluation_periods=2,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="missing",
            alarm_actions=[self.scale_out_from_zero.ref],
            actions_enabled=True,
        )
        self.only_if(condition)
