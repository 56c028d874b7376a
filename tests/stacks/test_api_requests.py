"""The API requests CloudFormation's handlers send for the deployable templates are valid for AWS.

cfn-lint checks a template against the resource schemas, but a handler turns the properties into an
API request that AWS validates against its own model, which can be stricter (a member the API marks
required, a type the schema leaves open). This test builds, for every resource of the endpoint
template (each traffic-shifting strategy, serverless and asynchronous) and of the monitor template (every
baseline given), the request its create handler sends (and the update request where the template
relies on updates): SageMaker's, Application Auto Scaling's, the alarms' and the rules'. Parameters
are substituted and conditions evaluated (``tests.template_deployments``), and each request is validated
with botocore's ``ParamValidator`` against the service model. CloudFormation property names are the
API member names; the CloudFormation-only properties are mapped or dropped explicitly below, and any
other property the API does not know fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from mlops_constructs.naming import PlatformNames
from tests.template_deployments import (
    ENDPOINT_STACK,
    MONITOR_STACK,
    Deployment,
    TargetAccount,
    batch_deployment,
    champion_challenger_deployments,
    endpoint_deployments,
    monitor_deployment,
    transform_step_request,
)

_SESSION = botocore.session.get_session()


@dataclass(frozen=True)
class ApiCall:
    """The request a handler sends for a resource type: which operation, and how properties become members."""

    service: str
    operation: str
    #: CloudFormation-only properties the request does not carry, with why.
    dropped: dict[str, str] = field(default_factory=dict)
    #: Rewrites of the properties into members: (resource's deployment, logical id, params) -> params.
    mapped: Callable[[Deployment, str, dict], dict] | None = None


def _scalable_target_of(deployment: Deployment, logical_id: str, params: dict) -> dict:
    """``ScalingTargetId`` is CloudFormation's reference to the target; the API names the target itself."""
    target = deployment.properties(deployment.resources()[logical_id]["Properties"]["ScalingTargetId"]["Ref"])
    del params["ScalingTargetId"]
    return {**params, **{key: target[key] for key in ("ServiceNamespace", "ResourceId", "ScalableDimension")}}


def _rule(deployment: Deployment, logical_id: str, params: dict) -> dict:
    """CloudFormation names an unnamed rule and sends the event pattern as JSON text."""
    return {**params, "Name": deployment.names.name(logical_id), "EventPattern": json.dumps(params["EventPattern"])}


def _pipeline(deployment: Deployment, logical_id: str, params: dict) -> dict:
    """The definition travels as text; CloudFormation adds the idempotency token the API requires."""
    body = params.pop("PipelineDefinition")["PipelineDefinitionBody"]
    return {**params, "PipelineDefinition": body, "ClientRequestToken": "0123456789abcdef0123456789abcdef"}


_JOB_DEFINITION = {"EndpointName": "CloudFormation-only: the endpoint is named in the job input."}
#: The requests of every resource type the deployable templates use; a type missing here fails the test.
API_CALLS: dict[str, list[ApiCall]] = {
    "AWS::SageMaker::Model": [ApiCall("sagemaker", "CreateModel")],
    "AWS::SageMaker::EndpointConfig": [ApiCall("sagemaker", "CreateEndpointConfig")],
    "AWS::SageMaker::Endpoint": [
        ApiCall(
            "sagemaker",
            "CreateEndpoint",
            dropped={
                "RetainAllVariantProperties": "Used by UpdateEndpoint only.",
                "ExcludeRetainedVariantProperties": "Used by UpdateEndpoint only.",
                "RetainDeploymentConfig": "Used by UpdateEndpoint only.",
            },
        ),
        # Every promotion updates the endpoint to a new configuration: the blue/green deployment.
        ApiCall("sagemaker", "UpdateEndpoint", dropped={"Tags": "Updated with AddTags/DeleteTags."}),
    ],
    "AWS::SageMaker::MonitoringSchedule": [
        ApiCall("sagemaker", "CreateMonitoringSchedule", dropped={"EndpointName": "CloudFormation-only."}),
        ApiCall(
            "sagemaker",
            "UpdateMonitoringSchedule",
            dropped={"EndpointName": "CloudFormation-only.", "Tags": "Updated with AddTags/DeleteTags."},
        ),
    ],
    "AWS::SageMaker::DataQualityJobDefinition": [
        ApiCall("sagemaker", "CreateDataQualityJobDefinition", dropped=_JOB_DEFINITION)
    ],
    "AWS::SageMaker::ModelQualityJobDefinition": [
        ApiCall("sagemaker", "CreateModelQualityJobDefinition", dropped=_JOB_DEFINITION)
    ],
    "AWS::SageMaker::ModelBiasJobDefinition": [
        ApiCall("sagemaker", "CreateModelBiasJobDefinition", dropped=_JOB_DEFINITION)
    ],
    "AWS::SageMaker::ModelExplainabilityJobDefinition": [
        ApiCall("sagemaker", "CreateModelExplainabilityJobDefinition", dropped=_JOB_DEFINITION)
    ],
    "AWS::ApplicationAutoScaling::ScalableTarget": [
        ApiCall(
            "application-autoscaling",
            "RegisterScalableTarget",
            dropped={"ScheduledActions": "Sent as PutScheduledAction requests."},
        )
    ],
    "AWS::ApplicationAutoScaling::ScalingPolicy": [
        ApiCall("application-autoscaling", "PutScalingPolicy", mapped=_scalable_target_of)
    ],
    "AWS::SageMaker::Pipeline": [ApiCall("sagemaker", "CreatePipeline", mapped=_pipeline)],
    "AWS::Scheduler::Schedule": [ApiCall("scheduler", "CreateSchedule")],
    "AWS::CloudWatch::Alarm": [ApiCall("cloudwatch", "PutMetricAlarm")],
    "AWS::Events::Rule": [
        ApiCall("events", "PutRule", dropped={"Targets": "Sent as a PutTargets request."}, mapped=_rule)
    ],
}


def request(deployment: Deployment, logical_id: str, call: ApiCall) -> tuple[dict, Any]:
    """The members the handler sends, typed as the API's input shape, and that shape."""
    shape = _SESSION.get_service_model(call.service).operation_model(call.operation).input_shape
    params = {k: v for k, v in deployment.properties(logical_id).items() if k not in call.dropped}
    if call.mapped:
        params = call.mapped(deployment, logical_id, params)
    if "Tags" in params and shape.members.get("Tags") is not None and shape.members["Tags"].type_name == "map":
        params["Tags"] = {tag["Key"]: tag["Value"] for tag in params["Tags"]}
    unknown = sorted(set(params) - set(shape.members))
    assert not unknown, f"{logical_id}: {call.operation} has no member {unknown}: map or drop them in API_CALLS"
    return _typed(params, shape), shape


def _typed(value: Any, shape) -> Any:
    """CloudFormation passes parameters as text and converts them to the types the resource declares."""
    kind = shape.type_name
    if kind == "structure":
        return {key: _typed(item, shape.members[key]) for key, item in value.items()}
    if kind == "list":
        return [_typed(item, shape.member) for item in value]
    if kind == "map":
        return {key: _typed(item, shape.value) for key, item in value.items()}
    if isinstance(value, str) and kind in ("integer", "long"):
        return int(value)
    if isinstance(value, str) and kind in ("float", "double"):
        return float(value)
    if isinstance(value, str) and kind == "boolean":
        return {"true": True, "false": False}[value.lower()]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and kind == "string":
        return str(value)
    return value


def validation_errors(deployment: Deployment) -> tuple[list[str], int]:
    """What AWS would refuse in the requests of every resource the deployment creates, and how many."""
    errors, validated = [], 0
    for logical_id, resource in deployment.resources().items():
        if not deployment.exists(logical_id):
            continue
        assert resource["Type"] in API_CALLS, f"{logical_id}: which request creates a {resource['Type']}?"
        for call in API_CALLS[resource["Type"]]:
            params, shape = request(deployment, logical_id, call)
            report = ParamValidator().validate(params, shape)
            validated += 1
            if report.has_errors():
                errors.append(f"{logical_id} {call.operation}: {report.generate_report()}")
    return errors, validated


@pytest.fixture(scope="module")
def target(platform) -> TargetAccount:
    return TargetAccount.named(PlatformNames(platform.config), "test")


#: Requests at least validated per variant: model, configuration, endpoint (create, update), two alarms;
#: autoscaled variants add a scalable target and a policy, the async one a second policy and its alarm.
VALIDATED_AT_LEAST = {"ALL_AT_ONCE": 8, "CANARY": 8, "LINEAR": 8, "serverless": 6, "async": 10}


@pytest.mark.parametrize("variant", sorted(VALIDATED_AT_LEAST))
def test_endpoint_requests_are_valid(platform, template_of, target, variant):
    body = template_of(platform.endpoint_template).to_json()
    parameters = endpoint_deployments(platform.config.endpoint, target)[variant]
    deployment = Deployment.of(body, ENDPOINT_STACK, target.account, parameters)
    errors, validated = validation_errors(deployment)
    assert validated >= VALIDATED_AT_LEAST[variant]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("mode", ["SHADOW", "SPLIT"])
def test_champion_challenger_requests_are_valid(platform, template_of, target, mode):
    body = template_of(platform.champion_challenger_template).to_json()
    parameters = champion_challenger_deployments(platform.config.endpoint_for("prod"), target)[mode]
    deployment = Deployment.of(body, ENDPOINT_STACK, target.account, parameters)
    errors, validated = validation_errors(deployment)
    # both models, the configuration with the challenger, the endpoint, both variants' alarms and autoscaling
    assert validated >= 12
    assert not errors, "\n".join(errors)


def test_the_async_scale_out_from_zero_policy_is_a_valid_step_scaling_request(platform, template_of, target):
    body = template_of(platform.endpoint_template).to_json()
    parameters = endpoint_deployments(platform.config.endpoint, target)["async"]
    deployment = Deployment.of(body, ENDPOINT_STACK, target.account, parameters)
    policies = [
        logical_id
        for logical_id, resource in body["Resources"].items()
        if resource["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy" and deployment.exists(logical_id)
    ]
    requests = [
        request(deployment, policy, API_CALLS["AWS::ApplicationAutoScaling::ScalingPolicy"][0]) for policy in policies
    ]
    by_type = {params["PolicyType"]: params for params, _ in requests}
    assert set(by_type) == {"TargetTrackingScaling", "StepScaling"}
    assert by_type["StepScaling"]["ResourceId"] == "endpoint/churn-test-endpoint/variant/AllTraffic"
    # ParamValidator does not check enumerations: the step policy's are checked against the model here.
    model = _SESSION.get_service_model("application-autoscaling")
    step = by_type["StepScaling"]["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] in model.shape_for("AdjustmentType").enum
    assert step["MetricAggregationType"] in model.shape_for("MetricAggregationType").enum
    assert {"StepScaling", "TargetTrackingScaling"} <= set(model.shape_for("PolicyType").enum)
    (registered,) = [
        deployment.properties(logical_id)
        for logical_id, resource in body["Resources"].items()
        if resource["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget" and deployment.exists(logical_id)
    ]
    assert registered["MinCapacity"] == 0


def test_monitor_requests_are_valid(platform, template_of, target):
    body = template_of(platform.monitor_template).to_json()
    parameters = monitor_deployment(target)
    deployment = Deployment.of(body, MONITOR_STACK, target.account, parameters)
    errors, validated = validation_errors(deployment)
    kinds = {resource["Type"] for resource in body["Resources"].values()}
    assert validated >= len(kinds)  # every monitor exists with all baselines given
    assert not errors, "\n".join(errors)


def test_a_request_aws_would_refuse_is_reported(platform, template_of, target):
    """The check itself: a required member left out of a resource is reported."""
    body = json.loads(json.dumps(template_of(platform.endpoint_template).to_json()))
    (model,) = [r for r in body["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    del model["Properties"]["ModelName"]
    parameters = endpoint_deployments(platform.config.endpoint, target)["CANARY"]
    errors, _ = validation_errors(Deployment.of(body, ENDPOINT_STACK, target.account, parameters))
    assert any("CreateModel" in error and "ModelName" in error for error in errors)


def test_batch_requests_are_valid(platform, template_of, target):
    body = template_of(platform.batch_template).to_json()
    deployment = Deployment.of(body, ENDPOINT_STACK, target.account, batch_deployment(platform.config.endpoint, target))
    errors, validated = validation_errors(deployment)
    kinds = {resource["Type"] for resource in body["Resources"].values()}
    assert validated >= len(kinds)  # the monitor exists with its baseline given
    assert not errors, "\n".join(errors)
    (pipeline,) = [logical_id for logical_id, r in body["Resources"].items() if r["Type"] == "AWS::SageMaker::Pipeline"]
    shape = _SESSION.get_service_model("sagemaker").operation_model("CreateTransformJob").input_shape
    transform = transform_step_request(deployment, pipeline)
    report = ParamValidator().validate(_typed(transform, shape), shape)
    assert not report.has_errors(), report.generate_report()
    assert transform["TransformResources"]["VolumeKmsKeyId"] == transform["TransformOutput"]["KmsKeyId"]
    assert transform["DataCaptureConfig"]["DestinationS3Uri"].endswith("/churn-test-endpoint/batch/capture/")
