"""Deployed by the promoter into a stage's account: one project's endpoint with its rollback alarms."""

from __future__ import annotations

from aws_cdk import CfnCondition, CfnOutput, CfnParameter, Fn, Token
from constructs import Construct

from lambdas.contract import (
    ENDPOINT_KINDS,
    SSM_ASYNC_ERROR_TOPIC,
    SSM_ASYNC_SUCCESS_TOPIC,
    EndpointParameters,
)
from mlops_constructs.async_inference import AsyncOutput, BacklogAutoscaling, add_async_inference_config
from mlops_constructs.compliance import acknowledge
from mlops_constructs.deployable_template import DeployableTemplateStack
from mlops_constructs.endpoint import (
    BlueGreenEndpoint,
    BlueGreenEndpointProps,
    EndpointModes,
    InvocationsAutoscaling,
    RollbackAlarms,
)
from platform_config import EBS_ONLY_INSTANCE_TYPE_PATTERN, SERVERLESS_MEMORY_SIZES_MB, EndpointDefaults

DEPLOYMENT_STRATEGIES = ("CANARY", "LINEAR", "ALL_AT_ONCE")
#: Memory of a serverless endpoint whose stage configures none (``serverless_memory_mb`` 0).
DEFAULT_SERVERLESS_MEMORY_MB = 2048


class EndpointStack(DeployableTemplateStack):
    """The endpoint template: a model package served by a blue/green endpoint with automatic rollback.

    Parameters are those of ``contract.EndpointParameters`` (defaults from the installation's
    :class:`EndpointDefaults`) plus the target account's role, key and bucket from SSM. Resources: the
    model and endpoint configuration of this deployment, the endpoint, the two rollback alarms it
    depends on, and invocation-based autoscaling for instance-backed endpoints. Outputs name the
    endpoint, the model and the alarms for the handlers that track the deployment.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, prefix: str, defaults: EndpointDefaults, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, prefix=prefix, **kwargs)
        endpoint_name = self.endpoint_name_parameter(EndpointParameters.ENDPOINT_NAME).value_as_string
        deployment_id = self.deployment_id_parameter(EndpointParameters.DEPLOYMENT_ID).value_as_string
        served = self.served_model_parameters(prefix)
        instance_type = CfnParameter(
            self,
            EndpointParameters.INSTANCE_TYPE,
            default=defaults.instance_type,
            allowed_pattern=EBS_ONLY_INSTANCE_TYPE_PATTERN,
            constraint_description="must be an instance type with EBS storage only (volumes are KMS-encrypted)",
            description="Instance type of an instance-backed endpoint",
        ).value_as_string
        instance_count = self._number(
            EndpointParameters.INSTANCE_COUNT, defaults.instance_count, 1, 20, "Instances, and the autoscaling minimum"
        )
        max_instance_count = self._number(
            EndpointParameters.MAX_INSTANCE_COUNT,
            defaults.max_instance_count,
            1,
            100,
            "Autoscaling maximum; equal to InstanceCount turns autoscaling off",
        )
        invocations_per_instance = self._number(
            EndpointParameters.INVOCATIONS_PER_INSTANCE,
            defaults.invocations_per_instance_target,
            1,
            100_000,
            "Autoscaling target: invocations per instance per minute",
        )
        data_capture_percent = self._number(
            EndpointParameters.DATA_CAPTURE_PERCENT,
            defaults.data_capture_percent,
            0,
            100,
            "Share of requests captured for Model Monitor (instance-backed endpoints)",
        )
        deployment_strategy = CfnParameter(
            self,
            EndpointParameters.DEPLOYMENT_STRATEGY,
            default=defaults.deployment_strategy.upper(),
            allowed_values=list(DEPLOYMENT_STRATEGIES),
            description="Blue/green traffic shifting; serverless endpoints always shift all at once",
        ).value_as_string
        traffic_step_percent = self._number(
            EndpointParameters.TRAFFIC_STEP_PERCENT,
            defaults.traffic_step_percent,
            1,
            50,
            "Canary size or linear step, in percent of the new fleet (SageMaker allows up to 50)",
        )
        wait_interval_seconds = self._number(
            EndpointParameters.WAIT_INTERVAL_SECONDS,
            defaults.wait_interval_seconds,
            0,
            3600,
            "Baking time between traffic steps and before the old fleet is terminated",
        )
        latency_threshold_ms = self._number(
            EndpointParameters.LATENCY_THRESHOLD_MS,
            defaults.latency_threshold_ms,
            1,
            60_000,
            "Average model latency (ms) above which the latency alarm fires",
        )
        serverless_memory_mb = CfnParameter(
            self,
            EndpointParameters.SERVERLESS_MEMORY_MB,
            type="String",
            default=serverless_memory(defaults),
            allowed_values=[str(size) for size in SERVERLESS_MEMORY_SIZES_MB if size],
            description="Memory of a serverless endpoint (DeploymentKind serverless only)",
        )
        serverless_max_concurrency = self._number(
            EndpointParameters.SERVERLESS_MAX_CONCURRENCY,
            defaults.serverless_max_concurrency,
            1,
            200,
            "Concurrent invocations of a serverless endpoint",
        )
        deployment_kind = CfnParameter(
            self,
            EndpointParameters.DEPLOYMENT_KIND,
            default=endpoint_kind(defaults),
            allowed_values=list(ENDPOINT_KINDS),
            description="realtime (instances), serverless (ServerlessMemorySizeMB) or async (queued requests)",
        ).value_as_string
        async_max_concurrent_invocations = self._number(
            EndpointParameters.ASYNC_MAX_CONCURRENT_INVOCATIONS,
            defaults.async_max_concurrent_invocations,
            1,
            1000,
            "Requests one instance of an asynchronous endpoint works on at once",
        )
        async_backlog_per_instance = self._number(
            EndpointParameters.ASYNC_BACKLOG_PER_INSTANCE,
            defaults.async_backlog_per_instance_target,
            1,
            10_000,
            "Autoscaling target of an asynchronous endpoint: queued requests per instance",
        )

        modes = self._modes(deployment_kind, deployment_strategy, instance_count, max_instance_count)
        alarms = RollbackAlarms(
            self, "RollbackAlarms", endpoint_name=endpoint_name, latency_threshold_ms=latency_threshold_ms
        )
        endpoint = BlueGreenEndpoint(
            self,
            "BlueGreenEndpoint",
            props=BlueGreenEndpointProps(
                endpoint_name=endpoint_name,
                deployment_id=deployment_id,
                model_package_arn=served.package_arn,
                image=served.image,
                model_data_url=served.model_data_url,
                execution_role_arn=self.execution_role_arn,
                kms_key_arn=self.kms_key_arn,
                data_capture_bucket=self.data_capture_bucket,
                data_capture_percent=data_capture_percent,
                instance_type=instance_type,
                instance_count=instance_count,
                serverless_memory_mb=Token.as_number(serverless_memory_mb.value_as_string),
                serverless_max_concurrency=serverless_max_concurrency,
                deployment_strategy=deployment_strategy,
                traffic_step_percent=traffic_step_percent,
                wait_interval_seconds=wait_interval_seconds,
                deployment_timeout_seconds=defaults.deployment_timeout_minutes * 60,
                rollback_alarms=alarms.alarms,
                modes=modes,
            ),
        )
        InvocationsAutoscaling(
            self,
            "Autoscaling",
            endpoint=endpoint.endpoint,
            min_capacity=instance_count,
            max_capacity=max_instance_count,
            invocations_per_instance=invocations_per_instance,
            condition=modes.autoscaled,
        )
        add_async_inference_config(
            endpoint.endpoint_config,
            endpoint_name=endpoint_name,
            output=AsyncOutput(
                bucket=self.data_capture_bucket,
                kms_key_arn=self.kms_key_arn,
                success_topic_arn=self._target_parameter(
                    "AsyncSuccessTopicArn", prefix, SSM_ASYNC_SUCCESS_TOPIC, "Topic of asynchronous results (SSM)"
                ),
                error_topic_arn=self._target_parameter(
                    "AsyncErrorTopicArn", prefix, SSM_ASYNC_ERROR_TOPIC, "Topic of asynchronous failures (SSM)"
                ),
            ),
            max_concurrent_invocations=async_max_concurrent_invocations,
            condition=modes.asynchronous,
        )
        BacklogAutoscaling(
            self,
            "BacklogAutoscaling",
            endpoint=endpoint.endpoint,
            endpoint_name=endpoint_name,
            max_capacity=max_instance_count,
            backlog_per_instance=async_backlog_per_instance,
            condition=modes.asynchronous,
        )

        CfnOutput(self, "DeployedEndpointName", value=endpoint.endpoint.attr_endpoint_name)
        CfnOutput(self, "ModelName", value=endpoint.model.attr_model_name)
        CfnOutput(self, "ErrorsAlarmName", value=alarms.errors.ref)
        CfnOutput(self, "LatencyAlarmName", value=alarms.latency.ref)

    def _number(self, name: str, default: int, minimum: int, maximum: int, description: str) -> float:
        return CfnParameter(
            self, name, type="Number", default=default, min_value=minimum, max_value=maximum, description=description
        ).value_as_number

    def _modes(
        self, deployment_kind: str, deployment_strategy: str, instance_count, max_instance_count
    ) -> EndpointModes:
        serverless = CfnCondition(self, "Serverless", expression=Fn.condition_equals(deployment_kind, "serverless"))
        asynchronous = CfnCondition(self, "Asynchronous", expression=Fn.condition_equals(deployment_kind, "async"))
        instance_backed = Fn.condition_not(serverless)
        canary_steps = CfnCondition(
            self,
            "ShiftsCanary",
            expression=Fn.condition_and(instance_backed, Fn.condition_equals(deployment_strategy, "CANARY")),
        )
        linear_steps = CfnCondition(
            self,
            "ShiftsLinearly",
            expression=Fn.condition_and(instance_backed, Fn.condition_equals(deployment_strategy, "LINEAR")),
        )
        autoscaled = CfnCondition(
            self,
            "Autoscaled",
            expression=Fn.condition_and(
                Fn.condition_equals(deployment_kind, "realtime"),
                Fn.condition_not(Fn.condition_equals(max_instance_count, instance_count)),
            ),
        )
        acknowledge(
            self,
            "CloudFormation-Validate::W8003",
            "The Autoscaled condition compares two parameters, MaxInstanceCount and InstanceCount; CDK's template "
            "validation compares their defaults and concludes the result never changes.",
        )
        return EndpointModes(
            serverless=serverless,
            canary_steps=canary_steps,
            linear_steps=linear_steps,
            autoscaled=autoscaled,
            asynchronous=asynchronous,
        )


def serverless_memory(settings: EndpointDefaults) -> str:
    """The serverless memory of a stage, or SageMaker's 2 GB where it sets none: a project may still
    choose the serverless kind for that stage."""
    return str(settings.serverless_memory_mb or DEFAULT_SERVERLESS_MEMORY_MB)


def endpoint_kind(settings: EndpointDefaults) -> str:
    """The endpoint template's ``DeploymentKind`` for a stage; a batch stage's endpoint settings are used only
    by projects that choose an endpoint kind, so they default to ``realtime``."""
    return settings.kind if settings.kind in ENDPOINT_KINDS else "realtime"


def parameter_values(settings: EndpointDefaults) -> dict[str, str]:
    """The template parameters a stage's settings translate to: every parameter but those the promoter
    sets per deployment (model package, its verified copy and image, endpoint name, deployment id, and
    the kind, which the project may choose)."""
    return {
        EndpointParameters.INSTANCE_TYPE: settings.instance_type,
        EndpointParameters.INSTANCE_COUNT: str(settings.instance_count),
        EndpointParameters.MAX_INSTANCE_COUNT: str(settings.max_instance_count),
        EndpointParameters.INVOCATIONS_PER_INSTANCE: str(settings.invocations_per_instance_target),
        EndpointParameters.DATA_CAPTURE_PERCENT: str(settings.data_capture_percent),
        EndpointParameters.DEPLOYMENT_STRATEGY: settings.deployment_strategy.upper(),
        EndpointParameters.TRAFFIC_STEP_PERCENT: str(settings.traffic_step_percent),
        EndpointParameters.WAIT_INTERVAL_SECONDS: str(settings.wait_interval_seconds),
        EndpointParameters.LATENCY_THRESHOLD_MS: str(settings.latency_threshold_ms),
        EndpointParameters.SERVERLESS_MEMORY_MB: serverless_memory(settings),
        EndpointParameters.SERVERLESS_MAX_CONCURRENCY: str(settings.serverless_max_concurrency),
        EndpointParameters.ASYNC_MAX_CONCURRENT_INVOCATIONS: str(settings.async_max_concurrent_invocations),
        EndpointParameters.ASYNC_BACKLOG_PER_INSTANCE: str(settings.async_backlog_per_instance_target),
    }
