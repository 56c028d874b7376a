"""What every deployable template guarantees: they stand alone, fit a TemplateBody and name within limits."""

from __future__ import annotations

import json
import re

import pytest

from lambdas import contract
from mlops_constructs.deployable_template import DEPLOYMENT_ID_PATTERN, ENDPOINT_NAME_PATTERN

#: CloudFormation's limit for a template passed inline (CreateChangeSet TemplateBody).
TEMPLATE_BODY_LIMIT = 51_200
#: The longest values the contract allows: a 24-character project in the longest stage, and a
#: deployment id of a five-digit model package version.
LONGEST_ENDPOINT_NAME = contract.Deployment("p" * 24, "challenger").endpoint_name
LONGEST_DEPLOYMENT_ID = "v99999-0123abcd"
#: The property that names each kind of SageMaker resource (at most 63 characters).
NAME_PROPERTIES = {
    "AWS::SageMaker::Model": "ModelName",
    "AWS::SageMaker::EndpointConfig": "EndpointConfigName",
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::SageMaker::DataQualityJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::ModelQualityJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::ModelBiasJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::ModelExplainabilityJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::MonitoringSchedule": "MonitoringScheduleName",
    "AWS::SageMaker::Pipeline": "PipelineName",
}
TARGET_PARAMETERS = {
    "SageMakerExecutionRoleArn": contract.SSM_EXECUTION_ROLE_ARN,
    "TargetKmsKeyArn": contract.SSM_KMS_KEY_ARN,
    "DataCaptureBucketName": contract.SSM_DATA_CAPTURE_BUCKET,
}
#: The endpoint template alone also resolves the model bucket, where the verified model copies live.
ENDPOINT_TARGET_PARAMETERS = {"ModelBucketName": contract.SSM_MODEL_BUCKET}


DEPLOYABLE_TEMPLATES = ("endpoint_template", "monitor_template", "batch_template")


@pytest.fixture(scope="module", params=DEPLOYABLE_TEMPLATES)
def template(request, platform, template_of) -> dict:
    return template_of(getattr(platform, request.param)).to_json()


def _resolve(node, parameters: dict[str, str]) -> str:
    """A name built with Ref and Fn::Join, as CloudFormation resolves it with ``parameters``."""
    if isinstance(node, str):
        return node
    if "Ref" in node:
        return parameters[node["Ref"]]
    delimiter, parts = node["Fn::Join"]
    return delimiter.join(_resolve(part, parameters) for part in parts)


def test_templates_are_not_deployed_by_cdk_deploy_all(platform, assembly):
    top_level = {stack.stack_name for stack in assembly.stacks}
    nested = {stack.stack_name for nested in assembly.nested_assemblies for stack in nested.nested_assembly.stacks}
    stacks = {getattr(platform, name) for name in DEPLOYABLE_TEMPLATES}
    templates = {stack.stack_name for stack in stacks}
    assert templates <= nested
    assert not templates & top_level
    assert not stacks & set(platform.stacks)


def test_template_stands_alone(template):
    body = json.dumps(template)
    assert "CDKMetadata" not in template.get("Resources", {})
    assert "BootstrapVersion" not in template.get("Parameters", {})
    assert "CheckBootstrapVersion" not in template.get("Rules", {})
    assert "cdk-hnb659fds" not in body  # no bootstrap bucket, role or asset reference
    for account_id in ("111111111111", "222222222222", "333333333333"):
        assert account_id not in body


def test_template_needs_no_iam_capability(template):
    assert not [r["Type"] for r in template["Resources"].values() if r["Type"].startswith("AWS::IAM::")]


def test_template_fits_in_a_template_body(template):
    assert len(json.dumps(template, separators=(",", ":"))) < TEMPLATE_BODY_LIMIT


def test_target_resources_are_resolved_from_the_targets_ssm_parameters(template):
    for name, ssm_name in TARGET_PARAMETERS.items():
        assert template["Parameters"][name] == {
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": contract.target_parameter("mlops", ssm_name),
            "Description": template["Parameters"][name]["Description"],
        }


def test_the_endpoint_template_resolves_the_model_bucket_from_ssm(platform, template_of):
    parameters = template_of(platform.endpoint_template).to_json()["Parameters"]
    for name, ssm_name in ENDPOINT_TARGET_PARAMETERS.items():
        assert parameters[name]["Type"] == "AWS::SSM::Parameter::Value<String>"
        assert parameters[name]["Default"] == contract.target_parameter("mlops", ssm_name)


def test_every_passed_parameter_is_validated(template):
    validations = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue", "MaxLength"}
    unvalidated = [
        name
        for name, parameter in template["Parameters"].items()
        if parameter["Type"] != "AWS::SSM::Parameter::Value<String>" and not validations & set(parameter)
    ]
    assert unvalidated == []


@pytest.mark.parametrize(
    ("value", "pattern", "accepted"),
    [
        (contract.Deployment("churn", "dev").endpoint_name, ENDPOINT_NAME_PATTERN, True),
        (LONGEST_ENDPOINT_NAME, ENDPOINT_NAME_PATTERN, True),
        ("churn-qa-endpoint", ENDPOINT_NAME_PATTERN, False),
        ("Churn-dev-endpoint", ENDPOINT_NAME_PATTERN, False),
        ("churn-dev", ENDPOINT_NAME_PATTERN, False),
        ("v12-1a2b3c4d", DEPLOYMENT_ID_PATTERN, True),
        (LONGEST_DEPLOYMENT_ID, DEPLOYMENT_ID_PATTERN, True),
        ("v123456-1a2b3c4d", DEPLOYMENT_ID_PATTERN, False),
        ("12-1a2b3c4d", DEPLOYMENT_ID_PATTERN, False),
    ],
)
def test_identity_parameters_accept_what_the_contract_produces(value, pattern, accepted):
    assert (re.fullmatch(pattern, value) is not None) is accepted


def test_sagemaker_names_fit_63_characters_for_the_longest_deployment(template):
    parameters = {"EndpointName": LONGEST_ENDPOINT_NAME, "DeploymentId": LONGEST_DEPLOYMENT_ID}
    names = {
        logical_id: _resolve(resource["Properties"][NAME_PROPERTIES[resource["Type"]]], parameters)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"].startswith("AWS::SageMaker::")
    }
    assert names
    assert {logical_id: name for logical_id, name in names.items() if len(name) > 63} == {}
