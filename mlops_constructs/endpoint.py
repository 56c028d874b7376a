"""A SageMaker endpoint that takes new models by blue/green deployment and rolls back on its alarms.

The constructs here are built from CloudFormation parameters (tokens), not from Python values: the
endpoint template is synthesized once and deployed many times with different parameters. Choices
that depend on parameters are CloudFormation conditions, given to the constructs in
:class:`EndpointModes`. Properties that exist only under a condition are written as raw
CloudFormation inside ``Fn::If``, because typed property classes cannot sit inside an intrinsic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, CfnCondition, CfnResource, Fn, Tags, Token
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas.contract import TAG_MODEL_PACKAGE, variant_alarm_names
from mlops_constructs.compliance import acknowledge

#: The endpoint's one production variant. Blue/green deployments require the new endpoint
#: configuration to keep the variant name, and the alarms and the scalable target name it.
VARIANT_NAME = "AllTraffic"
#: Tag on the per-deployment resources (model, endpoint configuration) naming the promotion attempt.
DEPLOYMENT_ID_TAG = "mlops:deployment-id"


@dataclass(frozen=True)
class EndpointModes:
    """CloudFormation conditions that choose how the endpoint is built from its parameters."""

    serverless: CfnCondition
    """Serverless memory size above zero: no instances, no data capture, no autoscaling."""
    canary_steps: CfnCondition
    """Instance-backed and the CANARY strategy: one canary step, then the rest."""
    linear_steps: CfnCondition
    """Instance-backed and the LINEAR strategy: equal steps."""
    autoscaled: CfnCondition
    """Instance-backed, not asynchronous, with a maximum instance count above the minimum."""
    asynchronous: CfnCondition
    """The ``async`` kind: an ``AsyncInferenceConfig`` and backlog-based autoscaling (``async_inference``)."""


class RollbackAlarms(Construct):
    """The two alarms of a variant that roll a deployment back: any 5xx error, and average model latency too high.

    SageMaker watches them during a blue/green deployment (``AutoRollbackConfiguration``) and the
    promoter gives the same names to CloudFormation as rollback triggers. Their actions stay enabled:
    their state changes are what the target account forwards to the dev account. ``ModelLatency`` is
    reported in microseconds, so the alarm compares ``latency / 1000`` with the threshold in
    milliseconds. Both watch the whole variant (old and new fleet) and treat missing data, an idle
    endpoint, as fine. Named by ``contract.variant_alarm_names`` (as ``contract.alarm_names``, or
    ``contract.challenger_alarm_names`` for the challenger's variant, name them).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        latency_threshold_ms,
        variant_name: str = VARIANT_NAME,
        name_infix: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        errors_name, latency_name = variant_alarm_names(endpoint_name, name_infix)
        dimensions = [
            cloudwatch.CfnAlarm.DimensionProperty(name="EndpointName", value=endpoint_name),
            cloudwatch.CfnAlarm.DimensionProperty(name="VariantName", value=variant_name),
        ]
        self.errors = cloudwatch.CfnAlarm(
            self,
            "ServerErrors",
            alarm_name=errors_name,
            alarm_description=f"The {variant_name} variant answered with a 5xx error: a deployment watching it "
            "rolls back",
            namespace="AWS/SageMaker",
            metric_name="Invocation5XXErrors",
            dimensions=dimensions,
            statistic="Sum",
            period=60,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            actions_enabled=True,
        )
        self.latency = cloudwatch.CfnAlarm(
            self,
            "ModelLatency",
            alarm_name=latency_name,
            alarm_description=f"Average model latency of the {variant_name} variant above the threshold: a "
            "deployment watching it rolls back",
            metrics=[
                cloudwatch.CfnAlarm.MetricDataQueryProperty(
                    id="latency",
                    return_data=False,
                    metric_stat=cloudwatch.CfnAlarm.MetricStatProperty(
                        metric=cloudwatch.CfnAlarm.MetricProperty(
                            namespace="AWS/SageMaker", metric_name="ModelLatency", dimensions=dimensions
                        ),
                        period=60,
                        stat="Average",
                    ),
                ),
                cloudwatch.CfnAlarm.MetricDataQueryProperty(
                    id="latency_ms", expression="latency / 1000", label="ModelLatency (ms)", return_data=True
                ),
            ],
            evaluation_periods=3,
            datapoints_to_alarm=2,
            threshold=latency_threshold_ms,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            actions_enabled=True,
        )

    @property
    def alarms(self) -> tuple[cloudwatch.CfnAlarm, cloudwatch.CfnAlarm]:
        return self.errors, self.latency


@dataclass(frozen=True)
class BlueGreenEndpointProps:
    """What the endpoint is built from: the template's parameters and the target account's resources."""

    endpoint_name: str
    deployment_id: str
    model_package_arn: str
    image: str
    model_data_url: str
    execution_role_arn: str
    kms_key_arn: str
    data_capture_bucket: str
    data_capture_percent: float
    instance_type: str
    instance_count: float
    serverless_memory_mb: float
    serverless_max_concurrency: float
    deployment_strategy: str
    traffic_step_percent: float
    wait_interval_seconds: float
    deployment_timeout_seconds: int
    rollback_alarms: Sequence[cloudwatch.CfnAlarm]
    modes: EndpointModes


class BlueGreenEndpoint(Construct):
    """Model, endpoint configuration and endpoint of one deployment of a model package.

    The model serves the package's image and the promoter's verified, immutable copy of its artifact
    in the target account (``model_data_url``), never the registry's dev location: deployments,
    rollbacks and scale-outs read only what was verified, whatever happens in the dev account later.

    The model and the endpoint configuration are named ``<EndpointName>-<DeploymentId>``: SageMaker
    cannot change either in place, so each promotion creates new ones, the endpoint moves to them by
    a blue/green deployment, and CloudFormation deletes the old ones only once the update succeeded
    (a rollback moves the endpoint back to them). Traffic shifts by canary, linear steps or all at
    once as ``DeploymentStrategy`` says, with ``WaitIntervalSeconds`` of baking between steps and
    before the old fleet is terminated; any rollback alarm rolls the deployment back.

    Serverless endpoints (``serverless`` condition): no instance type or count, no data capture
    (SageMaker's serverless feature exclusions list data capture and Model Monitor) and always all at
    once, since canary and linear sizes are fractions of an instance fleet; the alarms still guard
    the final baking period. The configuration's ``KmsKeyId`` applies to both kinds (instance volumes,
    or the copy of the image SageMaker keeps for a serverless endpoint).

    The model container runs network isolated: it serves from the model data SageMaker downloads for
    it and can make no outbound call, so a model cannot send what it receives anywhere.

    Autoscaled endpoints (``autoscaled`` condition) keep their current instance count across
    deployments (``RetainAllVariantProperties``), so a promotion under load does not shrink the fleet
    to ``InstanceCount``; the data-capture settings and the variants' weights (a champion/challenger
    split) still come from the new configuration.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: BlueGreenEndpointProps) -> None:
        super().__init__(scope, construct_id)
        modes = props.modes
        deployment_name = f"{props.endpoint_name}-{props.deployment_id}"
        self.model = network_isolated_model(
            self,
            "Model",
            name=deployment_name,
            execution_role_arn=props.execution_role_arn,
            image=props.image,
            model_data_url=props.model_data_url,
            model_package_arn=props.model_package_arn,
        )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            endpoint_config_name=deployment_name,
            kms_key_id=props.kms_key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    model_name=self.model.attr_model_name,
                    initial_variant_weight=1,
                    instance_type=Token.as_string(_unless(modes.serverless, props.instance_type)),
                    initial_instance_count=Token.as_number(_unless(modes.serverless, props.instance_count)),
                    serverless_config=Fn.condition_if(
                        modes.serverless.logical_id,
                        {
                            "MemorySizeInMB": props.serverless_memory_mb,
                            "MaxConcurrency": props.serverless_max_concurrency,
                        },
                        Aws.NO_VALUE,
                    ),
                )
            ],
            data_capture_config=_unless(modes.serverless, self._data_capture(props)),
        )
        for per_deployment in (self.model, self.endpoint_config):
            Tags.of(per_deployment).add(DEPLOYMENT_ID_TAG, props.deployment_id)
        # CDK's template validation resolves parameters to their defaults and reads both branches of Fn::If.
        acknowledge(
            self.endpoint_config,
            "CloudFormation-Validate::F3017",
            "DataCaptureConfig.KmsKeyId is an SSM-typed parameter: its default is the SSM parameter's name and "
            "CloudFormation passes the key ARN stored there.",
        )
        acknowledge(
            self.endpoint_config,
            "CloudFormation-Validate::W9003",
            "ServerlessConfig.MemorySizeInMB is the ServerlessMemorySizeMB parameter, a String limited to SageMaker's "
            "sizes (1024-6144) that CloudFormation converts to the integer the property takes.",
        )

        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=props.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=self._traffic_routing(props),
                    termination_wait_in_seconds=props.wait_interval_seconds,
                    maximum_execution_timeout_in_seconds=props.deployment_timeout_seconds,
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[
                        sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.ref) for alarm in props.rollback_alarms
                    ]
                ),
            ),
            retain_all_variant_properties=Fn.condition_if(modes.autoscaled.logical_id, True, Aws.NO_VALUE),
            exclude_retained_variant_properties=Fn.condition_if(
                modes.autoscaled.logical_id,
                [{"VariantPropertyType": "DataCaptureConfig"}, {"VariantPropertyType": "DesiredWeight"}],
                Aws.NO_VALUE,
            ),
        )
        self.rollback_alarms = tuple(props.rollback_alarms)
        for alarm in self.rollback_alarms:
            self.endpoint.add_resource_dependency(alarm)

    def add_rollback_alarms(self, alarms: Sequence[cloudwatch.CfnAlarm], *, condition: CfnCondition) -> None:
        """Under ``condition``, ``alarms`` roll a blue/green deployment back too, beside the endpoint's own.

        The alarms exist before the endpoint is updated (a dependency), so SageMaker can watch them
        during the very deployment that creates them.
        """
        own = [{"AlarmName": alarm.ref} for alarm in self.rollback_alarms]
        both = [*own, *({"AlarmName": alarm.ref} for alarm in alarms)]
        self.endpoint.add_property_override(
            "DeploymentConfig.AutoRollbackConfiguration.Alarms", Fn.condition_if(condition.logical_id, both, own)
        )
        for alarm in alarms:
            self.endpoint.add_resource_dependency(alarm)

    @staticmethod
    def _data_capture(props: BlueGreenEndpointProps) -> dict:
        """Requests and responses, CSV and JSON kept as text, encrypted with the target's key."""
        return {
            "EnableCapture": True,
            "InitialSamplingPercentage": props.data_capture_percent,
            "DestinationS3Uri": f"s3://{props.data_capture_bucket}/{props.endpoint_name}/",
            "KmsKeyId": props.kms_key_arn,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
        }

    @staticmethod
    def _traffic_routing(props: BlueGreenEndpointProps) -> sagemaker.CfnEndpoint.TrafficRoutingConfigProperty:
        modes = props.modes
        step = {"Type": "CAPACITY_PERCENT", "Value": props.traffic_step_percent}
        return sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type=Token.as_string(
                Fn.condition_if(modes.serverless.logical_id, "ALL_AT_ONCE", props.deployment_strategy)
            ),
            canary_size=Fn.condition_if(modes.canary_steps.logical_id, step, Aws.NO_VALUE),
            linear_step_size=Fn.condition_if(modes.linear_steps.logical_id, step, Aws.NO_VALUE),
            # Required by SageMaker's API for every strategy, ALL_AT_ONCE included (the bake time before
            # the old fleet goes), although CloudFormation's schema leaves it optional.
            wait_interval_in_seconds=props.wait_interval_seconds,
        )


class VariantAutoscaling(Construct):
    """An endpoint variant's instance count as an Application Auto Scaling target, and its policies.

    The base of every autoscaling the endpoint templates build (invocations per instance, an
    asynchronous endpoint's backlog): the scalable target ``endpoint/<endpoint>/variant/<variant>``,
    policies on it (:meth:`policy`), and one condition for all of them (:meth:`only_if`). Registering
    the target uses Application Auto Scaling's service-linked role, so the template creates no IAM role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: sagemaker.CfnEndpoint,
        variant_name: str,
        min_capacity: float,
        max_capacity: float,
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint.attr_endpoint_name
        self.target = autoscaling.CfnScalableTarget(
            self,
            "Target",
            service_namespace="sagemaker",
            resource_id=f"endpoint/{self.endpoint_name}/variant/{variant_name}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=min_capacity,
            max_capacity=max_capacity,
        )

    def policy(self, construct_id: str, *, name_suffix: str, **properties) -> autoscaling.CfnScalingPolicy:
        """A scaling policy of the target, named ``<endpoint><name_suffix>`` (names are unique per target)."""
        return autoscaling.CfnScalingPolicy(
            self,
            construct_id,
            policy_name=f"{self.endpoint_name}{name_suffix}",
            scaling_target_id=self.target.ref,
            **properties,
        )

    def only_if(self, condition: CfnCondition) -> None:
        """Create the target and everything scaling it only under ``condition``."""
        for child in self.node.children:
            if isinstance(child, CfnResource):
                child.cfn_options.condition = condition


class InvocationsAutoscaling(VariantAutoscaling):
    """Target tracking on a variant's invocations per instance, between ``min_capacity`` and ``max_capacity``.

    How it meets blue/green deployments (SageMaker developer guide, "Update endpoints that use auto
    scaling"):

    - A deployment that only changes the model (every promotion) is allowed while the variant is a
      registered scalable target; autoscaling is paused while the update runs.
    - An update that changes the instance type of a registered variant fails. Since CloudFormation
      updates the endpoint before the scalable target that depends on it, changing ``InstanceType``
      takes three deployments: one with ``MaxInstanceCount`` equal to ``InstanceCount`` (removes the
      target), one with the new type, one restoring the maximum.
    - ``RetainAllVariantProperties`` on the endpoint (see :class:`BlueGreenEndpoint`) keeps the
      scaled-out instance count across deployments; the scalable target's minimum still follows
      ``InstanceCount``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: sagemaker.CfnEndpoint,
        min_capacity: float,
        max_capacity: float,
        invocations_per_instance: float,
        condition: CfnCondition,
        variant_name: str = VARIANT_NAME,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            endpoint=endpoint,
            variant_name=variant_name,
            min_capacity=min_capacity,
            max_capacity=max_capacity,
        )
        policy = autoscaling.CfnScalingPolicy
        self.invocations_policy = self.policy(
            "InvocationsPerInstance",
            name_suffix="-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            target_tracking_scaling_policy_configuration=policy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=invocations_per_instance,
                predefined_metric_specification=policy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=300,
                scale_out_cooldown=60,
            ),
        )
        self.only_if(condition)


def network_isolated_model(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    execution_role_arn: str,
    image: str,
    model_data_url: str,
    model_package_arn: str,
) -> sagemaker.CfnModel:
    """A model serving a verified artifact with no network access, tagged with its package (lineage)."""
    model = sagemaker.CfnModel(
        scope,
        construct_id,
        model_name=name,
        execution_role_arn=execution_role_arn,
        enable_network_isolation=True,
        primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(image=image, model_data_url=model_data_url),
    )
    Tags.of(model).add(TAG_MODEL_PACKAGE, model_package_arn)
    return model


def _unless(condition: CfnCondition, value):
    """``value`` unless ``condition`` holds, in which case the property is left out."""
    return Fn.condition_if(condition.logical_id, Aws.NO_VALUE, value)
