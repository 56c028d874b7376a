"""Model Monitor template: schedules only for given baselines, regional images, alarms on violations."""

from __future__ import annotations

import re

import pytest
from aws_cdk.assertions import Match

from lambdas.contract import MonitorParameters
from mlops_constructs.model_monitoring import MAPPING_NAME

NO_VALUE = {"Ref": "AWS::NoValue"}
KINDS = {
    # monitoring type: (condition, name suffix, job definition suffix)
    "DataQuality": ("MonitorsDataQuality", "data-quality", "dq"),
    "ModelQuality": ("MonitorsModelQuality", "model-quality", "mq"),
    "ModelBias": ("MonitorsModelBias", "model-bias", "mb"),
    "ModelExplainability": ("MonitorsExplainability", "explainability", "me"),
}


def ref(name: str) -> dict:
    return {"Ref": name}


def given(*parameters: str) -> dict:
    checks = [{"Fn::Not": [{"Fn::Equals": [ref(name), ""]}]} for name in parameters]
    return checks[0] if len(checks) == 1 else {"Fn::And": checks}


def image(registry: str, repository: str) -> dict:
    account = {"Fn::FindInMap": [MAPPING_NAME, ref("AWS::Region"), registry]}
    return {"Fn::Join": ["", [account, ".dkr.ecr.", ref("AWS::Region"), ".", ref("AWS::URLSuffix"), f"/{repository}"]]}


def output_config(kind_name: str) -> dict:
    uri = {
        "Fn::Join": [
            "",
            ["s3://", ref("DataCaptureBucketName"), "/", ref("EndpointName"), f"/monitoring/{kind_name}"],
        ]
    }
    return {
        "KmsKeyId": ref("TargetKmsKeyArn"),
        "MonitoringOutputs": [
            {"S3Output": {"S3Uri": uri, "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}
        ],
    }


ENCRYPTED_JOB = {
    "RoleArn": ref("SageMakerExecutionRoleArn"),
    "JobResources": {
        "ClusterConfig": Match.object_like(
            {"InstanceType": ref("MonitoringInstanceType"), "VolumeKmsKeyId": ref("TargetKmsKeyArn")}
        )
    },
}


@pytest.fixture(scope="module")
def monitor(platform, template_of):
    return template_of(platform.monitor_template)


@pytest.fixture(scope="module")
def template(monitor) -> dict:
    return monitor.to_json()


def test_parameters_are_the_contracts(template):
    contract_names = {value for name, value in vars(MonitorParameters).items() if name.isupper()}
    target_names = {"SageMakerExecutionRoleArn", "TargetKmsKeyArn", "DataCaptureBucketName"}
    assert set(template["Parameters"]) == contract_names | target_names


@pytest.mark.parametrize("name", [value for key, value in vars(MonitorParameters).items() if key.endswith("_URI")])
def test_uri_parameters_are_s3_uris_or_empty(template, name):
    parameter = template["Parameters"][name]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(
        parameter["AllowedPattern"], "s3://mlops-artifacts-111111111111-eu-west-1/projects/churn/x.json"
    )
    assert not re.fullmatch(parameter["AllowedPattern"], "https://example.com/constraints.json")


def test_each_monitor_needs_its_baselines(template):
    assert {name: template["Conditions"][condition] for name, (condition, _, _) in KINDS.items()} == {
        "DataQuality": given("DataQualityStatisticsUri", "DataQualityConstraintsUri"),
        "ModelQuality": given("GroundTruthS3Uri", "ModelQualityConstraintsUri"),
        "ModelBias": given("GroundTruthS3Uri", "BiasConfigUri", "BiasConstraintsUri"),
        "ModelExplainability": given("ExplainabilityConfigUri", "ExplainabilityConstraintsUri"),
    }


def test_a_deployment_must_monitor_something(template):
    (assertion,) = template["Rules"]["MonitorsSomething"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Or": [template["Conditions"][condition] for condition, _, _ in KINDS.values()]}


@pytest.mark.parametrize("monitoring_type", KINDS)
def test_schedules_exist_only_with_their_baselines(monitor, monitoring_type):
    condition, kind_name, abbreviation = KINDS[monitoring_type]
    monitor.has_resource(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "Condition": condition,
            "Properties": Match.object_like(
                {
                    "MonitoringScheduleName": {"Fn::Join": ["", [ref("EndpointName"), f"-{kind_name}"]]},
                    "MonitoringScheduleConfig": {
                        "MonitoringJobDefinitionName": {
                            "Fn::Join": ["", [ref("EndpointName"), "-", ref("DeploymentId"), f"-{abbreviation}"]]
                        },
                        "MonitoringType": monitoring_type,
                        "ScheduleConfig": {"ScheduleExpression": ref("ScheduleExpression")},
                    },
                }
            ),
        },
    )
    monitor.has_resource(f"AWS::SageMaker::{monitoring_type}JobDefinition", {"Condition": condition})


@pytest.mark.parametrize("monitoring_type", KINDS)
def test_violations_raise_an_enabled_alarm(template, monitoring_type):
    condition, kind_name, _ = KINDS[monitoring_type]
    resources = template["Resources"]
    (schedule,) = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::SageMaker::MonitoringSchedule" and resource["Condition"] == condition
    ]
    (rule,) = [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Events::Rule" and resource["Condition"] == condition
    ]
    assert resources[rule]["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {
            "MonitoringScheduleArn": [{"Fn::GetAtt": [schedule, "MonitoringScheduleArn"]}],
            "ExitMessage": [{"prefix": "CompletedWithViolations"}],
        },
    }
    (alarm,) = [
        resource
        for resource in resources.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm" and resource["Condition"] == condition
    ]
    expected = {
        "AlarmName": {"Fn::Join": ["", [ref("EndpointName"), f"-{kind_name}-violations"]]},
        "Namespace": "AWS/Events",
        "MetricName": "MatchedEvents",
        "Dimensions": [{"Name": "RuleName", "Value": ref(rule)}],
        "Statistic": "Sum",
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "ActionsEnabled": True,
    }
    assert {key: alarm["Properties"].get(key) for key in expected} == expected


def test_images_are_mapped_for_the_platforms_regions(template):
    registries = template["Mappings"][MAPPING_NAME]
    assert registries["eu-west-1"] == {"ModelMonitor": "468650794304", "Clarify": "131013547314"}
    assert registries["us-east-1"] == {"ModelMonitor": "156813124566", "Clarify": "205585389593"}
    assert all(set(accounts) == {"ModelMonitor", "Clarify"} for accounts in registries.values())


def test_data_quality_checks_captured_requests_against_the_baseline(monitor):
    monitor.has_resource_properties(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "DataQualityAppSpecification": {
                "ImageUri": image("ModelMonitor", "sagemaker-model-monitor-analyzer"),
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            "DataQualityBaselineConfig": {
                "StatisticsResource": {"S3Uri": ref("DataQualityStatisticsUri")},
                "ConstraintsResource": {"S3Uri": ref("DataQualityConstraintsUri")},
            },
            "DataQualityJobInput": {
                "EndpointInput": Match.object_like(
                    {"EndpointName": ref("EndpointName"), "LocalPath": "/opt/ml/processing/input/endpoint"}
                )
            },
            "DataQualityJobOutputConfig": output_config("data-quality"),
            **ENCRYPTED_JOB,
        },
    )


def test_model_quality_merges_ground_truth(monitor):
    monitor.has_resource_properties(
        "AWS::SageMaker::ModelQualityJobDefinition",
        {
            "ModelQualityAppSpecification": Match.object_like(
                {
                    "ImageUri": image("ModelMonitor", "sagemaker-model-monitor-analyzer"),
                    "ProblemType": ref("ProblemType"),
                }
            ),
            "ModelQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": ref("ModelQualityConstraintsUri")}},
            "ModelQualityJobInput": {
                "EndpointInput": Match.object_like(
                    {
                        "InferenceAttribute": {
                            "Fn::If": ["HasInferenceAttribute", ref("InferenceAttribute"), NO_VALUE]
                        },
                        "ProbabilityAttribute": {
                            "Fn::If": ["HasProbabilityAttribute", ref("ProbabilityAttribute"), NO_VALUE]
                        },
                        # an XGBoost binary:logistic endpoint returns a probability; above it is label 1
                        "ProbabilityThresholdAttribute": {
                            "Fn::If": ["HasProbabilityAttribute", ref("ProbabilityThreshold"), NO_VALUE]
                        },
                    }
                ),
                "GroundTruthS3Input": {"S3Uri": ref("GroundTruthS3Uri")},
            },
            "ModelQualityJobOutputConfig": output_config("model-quality"),
            **ENCRYPTED_JOB,
        },
    )


@pytest.mark.parametrize(
    ("monitoring_type", "config_uri", "kind_name"),
    [
        ("ModelBias", "BiasConfigUri", "model-bias"),
        ("ModelExplainability", "ExplainabilityConfigUri", "explainability"),
    ],
)
def test_bias_and_explainability_run_clarify(monitor, monitoring_type, config_uri, kind_name):
    monitor.has_resource_properties(
        f"AWS::SageMaker::{monitoring_type}JobDefinition",
        {
            f"{monitoring_type}AppSpecification": {
                "ImageUri": image("Clarify", "sagemaker-clarify-processing:1.0"),
                "ConfigUri": ref(config_uri),
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            f"{monitoring_type}JobOutputConfig": output_config(kind_name),
            **ENCRYPTED_JOB,
        },
    )


@pytest.mark.parametrize("monitoring_type", ["DataQuality", "ModelQuality", "ModelBias"])
def test_jobs_that_only_read_captured_traffic_run_network_isolated(monitor, monitoring_type):
    monitor.has_resource_properties(
        f"AWS::SageMaker::{monitoring_type}JobDefinition", {"NetworkConfig": {"EnableNetworkIsolation": True}}
    )


def test_explainability_job_keeps_the_network_it_needs_to_reach_its_shadow_endpoint(template):
    (job,) = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SageMaker::ModelExplainabilityJobDefinition"
    ]
    assert job["Properties"]["NetworkConfig"] == {"EnableNetworkIsolation": False}
