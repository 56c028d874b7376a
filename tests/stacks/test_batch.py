"""Batch template: scheduled transforms of the approved model, encrypted, captured, monitored, alarmed."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from lambdas.contract import BATCH_FAILURES_ALARM_SUFFIX, BatchParameters
from mlops_constructs.naming import PlatformNames
from stacks.batch import TRANSFORM_STEP, parameter_values
from tests.template_deployments import (
    ENDPOINT_STACK,
    Deployment,
    TargetAccount,
    batch_deployment,
    key_arn,
    transform_step_request,
)


@pytest.fixture(scope="module")
def batch(platform, template_of):
    return template_of(platform.batch_template)


@pytest.fixture(scope="module")
def resources(batch) -> dict:
    return batch.to_json()["Resources"]


def only(resources: dict, resource_type: str) -> tuple[str, dict]:
    (found,) = [(name, resource) for name, resource in resources.items() if resource["Type"] == resource_type]
    return found


@pytest.fixture(scope="module")
def deployed(platform, batch):
    """The template deployed in the test account with a baseline, its intrinsics resolved."""
    names = PlatformNames(platform.config)
    target = TargetAccount.named(names, "test")
    parameters = batch_deployment(platform.config.endpoint, target)
    return Deployment.of(batch.to_json(), ENDPOINT_STACK, target.account, parameters), target


def test_the_model_is_the_verified_copy_network_isolated(batch):
    batch.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "EnableNetworkIsolation": True,
            "ExecutionRoleArn": {"Ref": "SageMakerExecutionRoleArn"},
            "PrimaryContainer": {
                "Image": {"Ref": "Image"},
                "ModelDataUrl": {"Fn::Join": ["", ["s3://", {"Ref": "ModelBucketName"}, "/", {"Ref": "ModelDataKey"}]]},
            },
            "Tags": Match.array_with([{"Key": "mlops:model-package-arn", "Value": {"Ref": "ModelPackageArn"}}]),
        },
    )


def test_the_transform_reads_input_writes_output_per_run_encrypted_and_captures_for_model_monitor(resources, deployed):
    deployment, target = deployed
    pipeline_id, pipeline = only(resources, "AWS::SageMaker::Pipeline")
    (step,) = json.loads(deployment.properties(pipeline_id)["PipelineDefinition"]["PipelineDefinitionBody"])["Steps"]
    assert (step["Name"], step["Type"]) == (TRANSFORM_STEP, "Transform")
    request = transform_step_request(deployment, pipeline_id)  # the output prefix of one execution
    location = f"s3://{target.data_capture_bucket}/churn-test-endpoint/batch"
    assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"{location}/input/"
    assert request["TransformOutput"]["S3OutputPath"].startswith(f"{location}/output/")
    key = key_arn(target.account)
    assert request["TransformOutput"]["KmsKeyId"] == request["TransformResources"]["VolumeKmsKeyId"] == key
    assert request["DataCaptureConfig"] == {
        "DestinationS3Uri": f"{location}/capture/",
        "KmsKeyId": key,
        "GenerateInferenceId": True,
    }
    assert request["ModelName"] == "churn-test-endpoint-v3-0123abcd"
    # the integration tester's smoke run reads and writes prefixes of its own, outside the scheduled input
    smoke = f"{location}/smoke/v3-0123abcd"
    request = transform_step_request(
        deployment, pipeline_id, InputUri=f"{smoke}/input/", OutputPrefix=f"{smoke}/output/"
    )
    assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"{smoke}/input/"
    assert request["TransformOutput"]["S3OutputPath"] == f"{smoke}/output/abcdef123456"
    assert pipeline["Properties"]["RoleArn"] == {"Ref": "SageMakerExecutionRoleArn"}


def test_a_schedule_starts_the_pipeline_as_the_targets_scheduler_role(batch, resources, deployed):
    pipeline_id, _ = only(resources, "AWS::SageMaker::Pipeline")
    schedule_id, schedule = only(resources, "AWS::Scheduler::Schedule")
    properties = schedule["Properties"]
    assert properties["ScheduleExpression"] == {"Ref": BatchParameters.SCHEDULE_EXPRESSION}
    assert properties["Target"]["RoleArn"] == {"Ref": "BatchSchedulerRoleArn"}
    assert "SageMakerPipelineParameters" in properties["Target"]
    deployment, target = deployed
    resolved = deployment.properties(schedule_id)["Target"]
    assert resolved["Arn"] == f"arn:aws:sagemaker:eu-west-1:{target.account}:pipeline/churn-test-endpoint-batch"
    assert resolved["RoleArn"] == target.batch_scheduler_role_arn
    assert pipeline_id in schedule["DependsOn"]
    parameters = batch.to_json()["Parameters"]
    assert parameters["BatchSchedulerRoleArn"]["Type"] == "AWS::SSM::Parameter::Value<String>"


def test_a_failed_run_alarms_under_the_stages_name(batch, resources):
    ((rule_id, rule),) = [
        (name, r)
        for name, r in resources.items()
        if r["Type"] == "AWS::Events::Rule"
        and "currentPipelineExecutionStatus" in r["Properties"]["EventPattern"]["detail"]
    ]
    assert rule["Properties"]["EventPattern"]["detail-type"] == [
        "SageMaker Model Building Pipeline Execution Status Change"
    ]
    assert rule["Properties"]["EventPattern"]["detail"]["currentPipelineExecutionStatus"] == ["Failed"]
    batch.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": {"Fn::Join": ["", [{"Ref": "EndpointName"}, BATCH_FAILURES_ALARM_SUFFIX]]},
            "MetricName": "MatchedEvents",
            "Dimensions": [{"Name": "RuleName", "Value": {"Ref": rule_id}}],
            "ActionsEnabled": True,
        },
    )


def test_model_monitor_checks_the_captured_records_when_a_baseline_is_given(batch):
    batch.has_resource(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "Condition": "MonitorsDataQuality",
            "Properties": Match.object_like(
                {
                    "DataQualityJobInput": {
                        "BatchTransformInput": Match.object_like(
                            {
                                "DataCapturedDestinationS3Uri": Match.any_value(),
                                "DatasetFormat": {"Csv": {"Header": False}},
                            }
                        )
                    },
                    "NetworkConfig": {"EnableNetworkIsolation": True},
                }
            ),
        },
    )
    batch.has_resource(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "Condition": "MonitorsDataQuality",
            "Properties": Match.not_(Match.object_like({"EndpointName": Match.any_value()})),
        },
    )


def test_stage_settings_are_the_installations(platform, batch):
    parameters = batch.to_json()["Parameters"]
    settings = parameter_values(platform.config.endpoint_for("prod"))
    assert settings[BatchParameters.SCHEDULE_EXPRESSION] == "cron(0 2 * * ? *)"
    assert {name: str(parameters[name]["Default"]) for name in settings} == parameter_values(platform.config.endpoint)
