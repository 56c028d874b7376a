"""The champion/challenger endpoint template: the challenger as a shadow variant or a weighted production variant."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from lambdas import contract
from lambdas.contract import ChallengerParameters, EndpointParameters
from mlops_constructs.naming import PlatformNames
from mlops_constructs.variants import CHALLENGER_VARIANT_NAME
from tests.template_deployments import (
    CHALLENGER_DATA_KEY,
    ENDPOINT_NAME,
    ENDPOINT_STACK,
    Deployment,
    TargetAccount,
    champion_challenger_deployments,
)

TEMPLATE_BODY_LIMIT = 51_200
SCALABLE_TARGET = "AWS::ApplicationAutoScaling::ScalableTarget"


@pytest.fixture(scope="module")
def template(platform, template_of):
    return template_of(platform.champion_challenger_template)


@pytest.fixture(scope="module")
def deployments(platform, template) -> dict[str, Deployment]:
    target = TargetAccount.named(PlatformNames(platform.config), "prod")
    return {
        mode: Deployment.of(template.to_json(), ENDPOINT_STACK, target.account, parameters)
        for mode, parameters in champion_challenger_deployments(platform.config.endpoint_for("prod"), target).items()
    }


def configuration(deployment: Deployment) -> dict:
    (logical_id,) = [
        name for name, r in deployment.resources().items() if r["Type"] == "AWS::SageMaker::EndpointConfig"
    ]
    return deployment.properties(logical_id)


def test_in_shadow_mode_the_champion_takes_all_traffic_and_the_challenger_gets_every_request_copied(deployments):
    config = configuration(deployments["SHADOW"])

    [champion] = config["ProductionVariants"]
    [shadow] = config["ShadowProductionVariants"]
    assert (champion["VariantName"], champion["InitialVariantWeight"]) == ("AllTraffic", 1)
    assert (shadow["VariantName"], shadow["InitialVariantWeight"]) == (CHALLENGER_VARIANT_NAME, 1)
    assert shadow["ModelName"] != champion["ModelName"]
    assert (shadow["InstanceType"], shadow["InitialInstanceCount"]) == (
        champion["InstanceType"],
        champion["InitialInstanceCount"],
    )


def test_in_split_mode_live_traffic_divides_by_the_two_weights_and_there_is_no_shadow(deployments):
    config = configuration(deployments["SPLIT"])

    weights = {variant["VariantName"]: variant["InitialVariantWeight"] for variant in config["ProductionVariants"]}
    assert weights == {"AllTraffic": "90", CHALLENGER_VARIANT_NAME: "10"}
    assert "ShadowProductionVariants" not in config


@pytest.mark.parametrize("mode", ["SHADOW", "SPLIT"])
def test_data_capture_of_both_variants_is_on_and_encrypted(deployments, mode):
    capture = configuration(deployments[mode])["DataCaptureConfig"]

    assert capture["EnableCapture"] is True
    assert capture["KmsKeyId"].startswith("arn:aws:kms:")
    assert (
        capture["DestinationS3Uri"]
        == f"s3://mlops-data-capture-333333333333-eu-west-1/{contract.Deployment('churn', 'test').endpoint_name}/"
    )
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]


def test_the_challenger_serves_its_verified_copy_network_isolated_named_per_deployment(deployments):
    deployment = deployments["SHADOW"]
    models = {
        name: deployment.properties(name)
        for name, r in deployment.resources().items()
        if r["Type"] == "AWS::SageMaker::Model"
    }
    [challenger] = [m for m in models.values() if m["ModelName"].endswith("-c")]
    assert (
        challenger["PrimaryContainer"]["ModelDataUrl"]
        == f"s3://mlops-models-333333333333-eu-west-1/{CHALLENGER_DATA_KEY}"
    )
    assert challenger["EnableNetworkIsolation"] is True
    assert challenger["ModelName"] == "churn-test-endpoint-v3-0123abcd-c"
    longest = len(contract.Deployment("p" * 24, "champion").endpoint_name) + len("-v99999-0123abcd-c")
    assert longest <= 63


def of_type(deployment: Deployment, resource_type: str) -> list[dict]:
    """The properties of the deployment's resources of ``resource_type`` that exist with its parameters."""
    return [
        deployment.properties(name)
        for name, resource in deployment.resources().items()
        if resource["Type"] == resource_type and deployment.exists(name)
    ]


@pytest.mark.parametrize("mode", ["SHADOW", "SPLIT"])
def test_both_variants_scale_on_invocations_per_instance_within_the_same_bounds(deployments, mode):
    deployment = deployments[mode]

    targets = {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in of_type(deployment, SCALABLE_TARGET)}
    assert set(targets) == {
        f"endpoint/{ENDPOINT_NAME}/variant/AllTraffic",
        f"endpoint/{ENDPOINT_NAME}/variant/{CHALLENGER_VARIANT_NAME}",
    }
    assert len(set(targets.values())) == 1
    policies = of_type(deployment, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracked = [
        p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
        for p in policies
    ]
    assert tracked == ["SageMakerVariantInvocationsPerInstance"] * 2


def test_without_autoscaling_neither_variant_is_a_scalable_target(platform, template, deployments):
    parameters = {**deployments["SPLIT"].names.parameters}
    parameters[EndpointParameters.MAX_INSTANCE_COUNT] = parameters[EndpointParameters.INSTANCE_COUNT]
    fixed = Deployment.of(template.to_json(), ENDPOINT_STACK, deployments["SPLIT"].stack.account, parameters)

    assert of_type(fixed, SCALABLE_TARGET) == []
    assert of_type(fixed, "AWS::ApplicationAutoScaling::ScalingPolicy") == []


@pytest.mark.parametrize("mode", ["SHADOW", "SPLIT"])
def test_the_challenger_variant_has_error_and_latency_alarms_of_its_own_named_by_the_contract(
    template, deployments, mode
):
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Invocation5XXErrors",
            "Dimensions": Match.array_with([{"Name": "VariantName", "Value": CHALLENGER_VARIANT_NAME}]),
            "ActionsEnabled": True,
        },
    )
    alarms = of_type(deployments[mode], "AWS::CloudWatch::Alarm")

    variants = {
        alarm["AlarmName"]: {
            dimension["Name"]: dimension["Value"]
            for dimension in alarm.get("Dimensions") or alarm["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"]
        }["VariantName"]
        for alarm in alarms
    }
    endpoint = contract.Deployment("churn", "test")
    assert variants == {
        **dict.fromkeys(contract.alarm_names(endpoint), "AllTraffic"),
        **dict.fromkeys(contract.challenger_alarm_names(endpoint), CHALLENGER_VARIANT_NAME),
    }


@pytest.mark.parametrize("rollout", ["true", "false"])
def test_only_a_challenger_rollout_rolls_back_on_the_challengers_alarms(template, deployments, rollout):
    parameters = {**deployments["SPLIT"].names.parameters, ChallengerParameters.ROLLOUT: rollout}
    deployment = Deployment.of(template.to_json(), ENDPOINT_STACK, deployments["SPLIT"].stack.account, parameters)

    [endpoint] = of_type(deployment, "AWS::SageMaker::Endpoint")
    watched = [alarm["AlarmName"] for alarm in endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    champion = contract.Deployment("churn", "test")
    expected = list(contract.alarm_names(champion))
    if rollout == "true":
        expected += contract.challenger_alarm_names(champion)
    assert watched == expected


def test_the_endpoint_waits_for_every_alarm_it_may_watch(template):
    resources = template.to_json()["Resources"]
    [endpoint] = [r for r in resources.values() if r["Type"] == "AWS::SageMaker::Endpoint"]
    watched = json.dumps(endpoint["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"])
    alarms = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm" and name in watched}
    assert len(alarms) == 4
    assert alarms <= set(endpoint["DependsOn"])
    assert template.to_json()["Parameters"][ChallengerParameters.ROLLOUT]["Default"] == "false"


def test_parameters_default_to_the_installations_evaluation_settings(template, platform):
    parameters = template.to_json()["Parameters"]
    settings = platform.config.champion_challenger
    assert parameters[ChallengerParameters.EVALUATION_MODE]["Default"] == (
        "SPLIT" if settings.evaluation_mode == "split" else "SHADOW"
    )
    assert parameters[ChallengerParameters.EVALUATION_MODE]["AllowedValues"] == ["SHADOW", "SPLIT"]
    assert parameters[ChallengerParameters.CHALLENGER_WEIGHT]["Default"] == settings.split_challenger_percent
    assert parameters[ChallengerParameters.CHAMPION_WEIGHT]["Default"] == 100 - settings.split_challenger_percent
    assert (
        parameters[EndpointParameters.INSTANCE_COUNT]["Default"] == platform.config.endpoint_for("prod").instance_count
    )


def test_only_a_realtime_champion_challenger_endpoint_passes_the_rule(template):
    [assertion] = template.to_json()["Rules"]["InstanceBackedOnly"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": EndpointParameters.DEPLOYMENT_KIND}, "realtime"]}


def test_the_template_stands_alone_and_fits_a_template_body(template):
    body = template.to_json()
    assert len(json.dumps(body, separators=(",", ":"))) < TEMPLATE_BODY_LIMIT
    assert not [r["Type"] for r in body["Resources"].values() if r["Type"].startswith("AWS::IAM::")]
    assert "CDKMetadata" not in body["Resources"] and "cdk-hnb659fds" not in json.dumps(body)
