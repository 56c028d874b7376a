"""Endpoint template: blue/green deployment guarded by enabled alarms, serverless variant, autoscaling."""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Match

from lambdas.contract import Deployment, EndpointParameters, alarm_names
from stacks.endpoint import parameter_values

NO_VALUE = {"Ref": "AWS::NoValue"}


def ref(name: str) -> dict:
    return {"Ref": name}


def if_(condition: str, when_true, when_false) -> dict:
    return {"Fn::If": [condition, when_true, when_false]}


@pytest.fixture(scope="module")
def endpoint(platform, template_of):
    return template_of(platform.endpoint_template)


@pytest.fixture(scope="module")
def resources(endpoint) -> dict:
    return endpoint.to_json()["Resources"]


def logical_id(resources: dict, resource_type: str) -> str:
    (found,) = [name for name, resource in resources.items() if resource["Type"] == resource_type]
    return found


def test_parameters_are_the_contracts(endpoint):
    contract_names = {value for name, value in vars(EndpointParameters).items() if name.isupper()}
    target_names = {
        "SageMakerExecutionRoleArn",
        "TargetKmsKeyArn",
        "DataCaptureBucketName",
        "ModelBucketName",
        "AsyncSuccessTopicArn",
        "AsyncErrorTopicArn",
    }
    assert set(endpoint.to_json()["Parameters"]) == contract_names | target_names


def test_parameter_defaults_are_the_installations_endpoint_defaults(endpoint, platform):
    parameters = endpoint.to_json()["Parameters"]
    defaults = {name: str(parameters[name]["Default"]) for name in parameter_values(platform.config.endpoint)}
    assert defaults == parameter_values(platform.config.endpoint)
    assert parameters[EndpointParameters.DEPLOYMENT_STRATEGY]["AllowedValues"] == ["CANARY", "LINEAR", "ALL_AT_ONCE"]


def test_stage_settings_cover_every_parameter_but_the_per_deployment_ones(platform):
    per_deployment = {
        EndpointParameters.MODEL_PACKAGE_ARN,
        EndpointParameters.MODEL_DATA_KEY,
        EndpointParameters.IMAGE,
        EndpointParameters.ENDPOINT_NAME,
        EndpointParameters.DEPLOYMENT_ID,
        EndpointParameters.DEPLOYMENT_KIND,
    }
    contract_names = {value for name, value in vars(EndpointParameters).items() if name.isupper()}
    assert set(parameter_values(platform.config.endpoint_for("prod"))) == contract_names - per_deployment


def rollback_alarms(resources: dict) -> dict:
    """The alarms of every kind (the asynchronous kind's scaling alarm has a condition)."""
    return {
        name: resource
        for name, resource in resources.items()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and "Condition" not in resource
    }


def test_endpoint_rolls_back_on_both_alarms_and_waits_for_them(resources):
    alarms = sorted(rollback_alarms(resources))
    endpoint = resources[logical_id(resources, "AWS::SageMaker::Endpoint")]
    rollback = endpoint["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]
    assert sorted(alarm["AlarmName"]["Ref"] for alarm in rollback["Alarms"]) == alarms
    assert sorted(endpoint["DependsOn"]) == alarms
    assert all(resources[alarm]["Properties"]["ActionsEnabled"] is True for alarm in alarms)


def test_alarm_names_are_the_contracts(resources):
    deployment = Deployment("churn", "prod")
    names = set()
    for resource in rollback_alarms(resources).values():
        delimiter, parts = resource["Properties"]["AlarmName"]["Fn::Join"]
        assert parts[0] == ref("EndpointName")
        names.add(deployment.endpoint_name + delimiter.join(parts[1:]))
    assert names == set(alarm_names(deployment))


def test_errors_alarm_fires_on_any_5xx(endpoint):
    endpoint.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SageMaker",
            "MetricName": "Invocation5XXErrors",
            "Dimensions": [
                {"Name": "EndpointName", "Value": ref("EndpointName")},
                {"Name": "VariantName", "Value": "AllTraffic"},
            ],
            "Statistic": "Sum",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "ActionsEnabled": True,
        },
    )


def test_latency_alarm_compares_milliseconds_with_the_threshold(endpoint):
    endpoint.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Metrics": [
                Match.object_like(
                    {
                        "Id": "latency",
                        "ReturnData": False,
                        "MetricStat": Match.object_like(
                            {
                                "Metric": {
                                    "Namespace": "AWS/SageMaker",
                                    "MetricName": "ModelLatency",  # microseconds
                                    "Dimensions": [
                                        {"Name": "EndpointName", "Value": ref("EndpointName")},
                                        {"Name": "VariantName", "Value": "AllTraffic"},
                                    ],
                                }
                            }
                        ),
                    }
                ),
                Match.object_like({"Expression": "latency / 1000", "ReturnData": True}),
            ],
            "Threshold": ref("LatencyThresholdMs"),
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "ActionsEnabled": True,
        },
    )


def test_traffic_shifts_as_the_deployment_strategy_says(endpoint, platform):
    step = {"Type": "CAPACITY_PERCENT", "Value": ref("TrafficStepPercent")}
    endpoint.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "EndpointName": ref("EndpointName"),
            "DeploymentConfig": Match.object_like(
                {
                    "BlueGreenUpdatePolicy": {
                        "TrafficRoutingConfiguration": {
                            "Type": if_("Serverless", "ALL_AT_ONCE", ref("DeploymentStrategy")),
                            "CanarySize": if_("ShiftsCanary", step, NO_VALUE),
                            "LinearStepSize": if_("ShiftsLinearly", step, NO_VALUE),
                            "WaitIntervalInSeconds": ref("WaitIntervalSeconds"),
                        },
                        "TerminationWaitInSeconds": ref("WaitIntervalSeconds"),
                        "MaximumExecutionTimeoutInSeconds": platform.config.endpoint.deployment_timeout_minutes * 60,
                    }
                }
            ),
        },
    )


def test_model_serves_the_verified_copy_in_the_target_account_named_per_deployment(endpoint):
    per_deployment = {"Fn::Join": ["", [ref("EndpointName"), "-", ref("DeploymentId")]]}
    endpoint.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "ModelName": per_deployment,
            "ExecutionRoleArn": ref("SageMakerExecutionRoleArn"),
            # only the target's model bucket: the template cannot be pointed at the dev artifact store
            "PrimaryContainer": {
                "Image": ref("Image"),
                "ModelDataUrl": {"Fn::Join": ["", ["s3://", ref("ModelBucketName"), "/", ref("ModelDataKey")]]},
            },
            "Tags": Match.array_with(
                [
                    {"Key": "mlops:deployment-id", "Value": ref("DeploymentId")},
                    {"Key": "mlops:model-package-arn", "Value": ref("ModelPackageArn")},
                ]
            ),
        },
    )
    endpoint.has_resource_properties("AWS::SageMaker::EndpointConfig", {"EndpointConfigName": per_deployment})


def test_model_container_runs_network_isolated(endpoint):
    endpoint.has_resource_properties("AWS::SageMaker::Model", {"EnableNetworkIsolation": True})


def test_data_capture_is_encrypted_with_the_target_key(endpoint):
    endpoint.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": ref("TargetKmsKeyArn"),
            "DataCaptureConfig": if_(
                "Serverless",
                NO_VALUE,
                {
                    "EnableCapture": True,
                    "InitialSamplingPercentage": ref("DataCapturePercent"),
                    "DestinationS3Uri": {
                        "Fn::Join": ["", ["s3://", ref("DataCaptureBucketName"), "/", ref("EndpointName"), "/"]]
                    },
                    "KmsKeyId": ref("TargetKmsKeyArn"),
                    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                    "CaptureContentTypeHeader": Match.any_value(),
                },
            ),
        },
    )


def test_the_serverless_kind_selects_a_serverless_variant(endpoint):
    assert endpoint.to_json()["Conditions"]["Serverless"] == {"Fn::Equals": [ref("DeploymentKind"), "serverless"]}
    endpoint.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like(
                    {
                        "VariantName": "AllTraffic",
                        "InstanceType": if_("Serverless", NO_VALUE, ref("InstanceType")),
                        "InitialInstanceCount": if_("Serverless", NO_VALUE, ref("InstanceCount")),
                        "ServerlessConfig": if_(
                            "Serverless",
                            {
                                "MemorySizeInMB": ref("ServerlessMemorySizeMB"),
                                "MaxConcurrency": ref("ServerlessMaxConcurrency"),
                            },
                            NO_VALUE,
                        ),
                    }
                )
            ]
        },
    )


def test_canary_and_linear_steps_are_for_instance_backed_endpoints_only(endpoint):
    conditions = endpoint.to_json()["Conditions"]
    not_serverless = {"Fn::Not": [{"Condition": "Serverless"}]}
    assert conditions["ShiftsCanary"] == {
        "Fn::And": [not_serverless, {"Fn::Equals": [ref("DeploymentStrategy"), "CANARY"]}]
    }
    assert conditions["ShiftsLinearly"] == {
        "Fn::And": [not_serverless, {"Fn::Equals": [ref("DeploymentStrategy"), "LINEAR"]}]
    }


def test_instance_backed_endpoints_scale_on_invocations_per_instance(endpoint, resources):
    assert endpoint.to_json()["Conditions"]["Autoscaled"] == {
        "Fn::And": [
            {"Fn::Equals": [ref("DeploymentKind"), "realtime"]},
            {"Fn::Not": [{"Fn::Equals": [ref("MaxInstanceCount"), ref("InstanceCount")]}]},
        ]
    }
    endpoint_id = logical_id(resources, "AWS::SageMaker::Endpoint")
    endpoint.has_resource(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "Condition": "Autoscaled",
            "Properties": Match.object_like(
                {
                    "ServiceNamespace": "sagemaker",
                    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                    "ResourceId": {
                        "Fn::Join": [
                            "",
                            ["endpoint/", {"Fn::GetAtt": [endpoint_id, "EndpointName"]}, "/variant/AllTraffic"],
                        ]
                    },
                    "MinCapacity": ref("InstanceCount"),
                    "MaxCapacity": ref("MaxInstanceCount"),
                }
            ),
        },
    )
    endpoint.has_resource(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "Condition": "Autoscaled",
            "Properties": Match.object_like(
                {
                    "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                        {
                            "TargetValue": ref("InvocationsPerInstanceTarget"),
                            "PredefinedMetricSpecification": {
                                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                            },
                        }
                    ),
                }
            ),
        },
    )


def test_autoscaled_endpoints_keep_their_instance_count_across_deployments_but_take_new_weights(endpoint):
    endpoint.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "RetainAllVariantProperties": if_("Autoscaled", True, NO_VALUE),
            "ExcludeRetainedVariantProperties": if_(
                "Autoscaled",
                [{"VariantPropertyType": "DataCaptureConfig"}, {"VariantPropertyType": "DesiredWeight"}],
                NO_VALUE,
            ),
        },
    )


def test_outputs_name_the_endpoint_model_and_alarms(endpoint):
    assert set(endpoint.to_json()["Outputs"]) == {
        "DeployedEndpointName",
        "ModelName",
        "ErrorsAlarmName",
        "LatencyAlarmName",
    }


@pytest.mark.parametrize(
    ("parameter", "value", "valid"),
    [
        ("ModelDataKey", "churn/prod/v4/0123456789abcdef0123456789abcdef/model.tar.gz", True),
        ("ModelDataKey", "churn/prod/v4/0123456789abcdef0123456789abcdef-3/model.tar.gz", True),
        ("ModelDataKey", "../projects/churn/model.tar.gz", False),
        ("ModelDataKey", "s3://mlops-artifacts-111111111111-eu-west-1/projects/churn/model.tar.gz", False),
        ("Image", "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1", True),
        ("Image", "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost@sha256:" + "0" * 64, True),
        ("Image", "docker.io/library/python:3.12", False),
    ],
)
def test_the_served_model_parameters_accept_only_verified_copies_and_ecr_images(endpoint, parameter, value, valid):
    definition = endpoint.to_json()["Parameters"][parameter]
    assert (re.fullmatch(definition["AllowedPattern"], value) is not None) is valid


def test_the_async_kind_queues_requests_with_results_and_failures_in_the_targets_encrypted_bucket(endpoint):
    assert endpoint.to_json()["Conditions"]["Asynchronous"] == {"Fn::Equals": [ref("DeploymentKind"), "async"]}
    prefix = ["s3://", ref("DataCaptureBucketName"), "/", ref("EndpointName")]
    endpoint.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "AsyncInferenceConfig": if_(
                "Asynchronous",
                {
                    "ClientConfig": {"MaxConcurrentInvocationsPerInstance": ref("AsyncMaxConcurrentInvocations")},
                    "OutputConfig": {
                        "KmsKeyId": ref("TargetKmsKeyArn"),
                        "S3OutputPath": {"Fn::Join": ["", [*prefix, "/async/output/"]]},
                        "S3FailurePath": {"Fn::Join": ["", [*prefix, "/async/failures/"]]},
                        "NotificationConfig": {
                            "SuccessTopic": ref("AsyncSuccessTopicArn"),
                            "ErrorTopic": ref("AsyncErrorTopicArn"),
                        },
                    },
                },
                NO_VALUE,
            ),
            # Data capture applies to asynchronous endpoints too (only serverless ones have none).
            "DataCaptureConfig": if_("Serverless", NO_VALUE, Match.object_like({"EnableCapture": True})),
        },
    )
    parameters = endpoint.to_json()["Parameters"]
    assert parameters["DeploymentKind"]["AllowedValues"] == ["realtime", "serverless", "async"]
    for topic in ("AsyncSuccessTopicArn", "AsyncErrorTopicArn"):
        assert parameters[topic]["Type"] == "AWS::SSM::Parameter::Value<String>"


def test_async_endpoints_scale_in_to_zero_on_their_backlog_and_out_again_on_a_request(endpoint, resources):
    asynchronous = {
        name: resource for name, resource in resources.items() if resource.get("Condition") == "Asynchronous"
    }
    by_type = sorted(resource["Type"] for resource in asynchronous.values())
    assert by_type == [
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::CloudWatch::Alarm",
    ]
    (target,) = [name for name, r in asynchronous.items() if r["Type"].endswith("ScalableTarget")]
    assert asynchronous[target]["Properties"]["MinCapacity"] == 0
    assert asynchronous[target]["Properties"]["MaxCapacity"] == ref("MaxInstanceCount")
    endpoint.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": ref(target),
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": ref("AsyncBacklogPerInstanceTarget"),
                    "CustomizedMetricSpecification": {
                        "MetricName": "ApproximateBacklogSizePerInstance",
                        "Namespace": "AWS/SageMaker",
                        "Dimensions": [{"Name": "EndpointName", "Value": ref("EndpointName")}],
                        "Statistic": "Average",
                    },
                }
            ),
        },
    )
    (step,) = [name for name, r in asynchronous.items() if r["Properties"].get("PolicyType") == "StepScaling"]
    (alarm,) = [r for r in asynchronous.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarm["Properties"]["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["Properties"]["AlarmActions"] == [ref(step)]
    assert asynchronous[step]["Properties"]["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
    ]
