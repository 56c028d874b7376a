"""Concrete deployments of the templates the platform deploys through its own roles, for offline checks.

A deployment is a template with every parameter given a value (as the promoter or Service Catalog
would pass it, the SSM-typed ones as the target account stores them) and its intrinsics resolved by
the demo's stand-in resolver (:mod:`demo.synthesized`), conditions included. The endpoint template
is deployed once per traffic-shifting strategy, once serverless and once asynchronous; the batch
template with its data-quality baseline; the monitor template with every baseline given, so every
monitor exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.synthesized import PhysicalNames, StackTemplate
from lambdas import contract
from lambdas.contract import (
    BatchParameters,
    ChallengerParameters,
    EndpointParameters,
    MonitorParameters,
    ProjectParameters,
)
from stacks.batch import parameter_values as batch_parameter_values
from stacks.champion_challenger_endpoint import EVALUATION_MODES
from stacks.endpoint import DEPLOYMENT_STRATEGIES, parameter_values
from stacks.model_monitor import PROBLEM_TYPES
from tests.iam_evaluation import identity_statements

REGION = "eu-west-1"
DEV_ACCOUNT = "111111111111"
PROJECT, STAGE = "churn", "test"
DEPLOYED = contract.Deployment(PROJECT, STAGE)
ENDPOINT_NAME, ENDPOINT_STACK, MONITOR_STACK = DEPLOYED.endpoint_name, DEPLOYED.endpoint_stack, DEPLOYED.monitor_stack
DEPLOYMENT_ID = "v3-0123abcd"
MODEL_PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:model-package/{PROJECT}-dev/3"
#: The promoter's verified copy of the package's artifact, and the image the package registers (pinned).
MODEL_DATA_KEY = f"{PROJECT}/dev/v3/0123456789abcdef0123456789abcdef/model.tar.gz"
IMAGE = (
    "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost@sha256:"
    "3c8ad47a1b6d5e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
)
#: The stack name Service Catalog gives a provisioned product's stack.
PRODUCT_STACK_NAME = f"SC-{DEV_ACCOUNT}-pp-abcdefghijklm"


def key_arn(account: str) -> str:
    """The ARN the target account's KMS key has (its id is CloudFormation's choice)."""
    return f"arn:aws:kms:{REGION}:{account}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@dataclass(frozen=True)
class TargetAccount:
    """What a deployment-target account stores in the SSM parameters the templates resolve."""

    account: str
    execution_role_arn: str
    data_capture_bucket: str
    model_bucket: str
    batch_scheduler_role_arn: str

    @classmethod
    def named(cls, names, account: str) -> TargetAccount:
        """The ``account`` target (dev, test or prod) as the platform's ``names`` (``PlatformNames``) name it."""
        return cls(
            account=names.account_id(account),
            execution_role_arn=names.sagemaker_execution_role_arn(account),
            data_capture_bucket=names.data_capture_bucket(account),
            model_bucket=names.model_artifact_bucket(account),
            batch_scheduler_role_arn=names.role_arn(account, names.batch_scheduler_role(account)),
        )

    @property
    def ssm_parameters(self) -> dict[str, str]:
        return {
            "SageMakerExecutionRoleArn": self.execution_role_arn,
            "TargetKmsKeyArn": key_arn(self.account),
            "DataCaptureBucketName": self.data_capture_bucket,
            "ModelBucketName": self.model_bucket,
            "AsyncSuccessTopicArn": f"arn:aws:sns:{REGION}:{self.account}:mlops-target-async-success",
            "AsyncErrorTopicArn": f"arn:aws:sns:{REGION}:{self.account}:mlops-target-async-error",
            "BatchSchedulerRoleArn": self.batch_scheduler_role_arn,
        }


def endpoint_deployments(settings, target: TargetAccount) -> dict[str, dict[str, str]]:
    """The endpoint template's parameters for each strategy (autoscaled) and for a serverless endpoint."""
    given = {
        **parameter_values(settings),
        **target.ssm_parameters,
        EndpointParameters.ENDPOINT_NAME: ENDPOINT_NAME,
        EndpointParameters.DEPLOYMENT_ID: DEPLOYMENT_ID,
        EndpointParameters.MODEL_PACKAGE_ARN: MODEL_PACKAGE_ARN,
        EndpointParameters.MODEL_DATA_KEY: MODEL_DATA_KEY,
        EndpointParameters.IMAGE: IMAGE,
        EndpointParameters.MAX_INSTANCE_COUNT: str(settings.instance_count + 3),
        EndpointParameters.DEPLOYMENT_KIND: "realtime",
    }
    deployments = {
        strategy: {**given, EndpointParameters.DEPLOYMENT_STRATEGY: strategy} for strategy in DEPLOYMENT_STRATEGIES
    }
    deployments["serverless"] = {
        **given,
        EndpointParameters.DEPLOYMENT_KIND: "serverless",
        EndpointParameters.SERVERLESS_MEMORY_MB: "2048",
    }
    deployments["async"] = {**given, EndpointParameters.DEPLOYMENT_KIND: "async"}
    return deployments


#: The challenger's verified copy and pinned image (another version than the champion's).
CHALLENGER_PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:model-package/{PROJECT}-dev/4"
CHALLENGER_DATA_KEY = f"{PROJECT}/dev/v4/fedcba9876543210fedcba9876543210/model.tar.gz"


def champion_challenger_deployments(settings, target: TargetAccount) -> dict[str, dict[str, str]]:
    """The champion/challenger template's parameters in each evaluation mode (autoscaled champion), rolling
    the challenger out (its alarms in the blue/green auto-rollback too)."""
    given = endpoint_deployments(settings, target)["ALL_AT_ONCE"]
    challenger = {
        ChallengerParameters.MODEL_PACKAGE_ARN: CHALLENGER_PACKAGE_ARN,
        ChallengerParameters.MODEL_DATA_KEY: CHALLENGER_DATA_KEY,
        ChallengerParameters.IMAGE: IMAGE,
        ChallengerParameters.CHAMPION_WEIGHT: "90",
        ChallengerParameters.CHALLENGER_WEIGHT: "10",
        ChallengerParameters.ROLLOUT: "true",
    }
    return {mode: {**given, **challenger, ChallengerParameters.EVALUATION_MODE: mode} for mode in EVALUATION_MODES}


def batch_deployment(settings, target: TargetAccount) -> dict[str, str]:
    """The batch template's parameters with the data-quality baseline given, so its monitor exists."""
    baselines = f"s3://mlops-artifacts-{DEV_ACCOUNT}-{REGION}/projects/{PROJECT}/baselines"
    return {
        **batch_parameter_values(settings),
        **target.ssm_parameters,
        BatchParameters.ENDPOINT_NAME: ENDPOINT_NAME,
        BatchParameters.DEPLOYMENT_ID: DEPLOYMENT_ID,
        BatchParameters.MODEL_PACKAGE_ARN: MODEL_PACKAGE_ARN,
        BatchParameters.MODEL_DATA_KEY: MODEL_DATA_KEY,
        BatchParameters.IMAGE: IMAGE,
        BatchParameters.DATA_QUALITY_STATISTICS_URI: f"{baselines}/data/statistics.json",
        BatchParameters.DATA_QUALITY_CONSTRAINTS_URI: f"{baselines}/data/constraints.json",
    }


def transform_step_request(deployment: Deployment, logical_id: str, **run_parameters: str) -> dict:
    """The ``CreateTransformJob`` request the pipeline's transform step makes at run time: its arguments,
    with the job name SageMaker gives it, the pipeline parameters' defaults (or ``run_parameters``) and
    the output prefix the execution variable resolves to."""
    definition = json.loads(deployment.properties(logical_id)["PipelineDefinition"]["PipelineDefinitionBody"])
    values = {p["Name"]: run_parameters.get(p["Name"], p["DefaultValue"]) for p in definition["Parameters"]}
    (step,) = definition["Steps"]
    arguments = step["Arguments"]
    source = arguments["TransformInput"]["DataSource"]["S3DataSource"]
    source["S3Uri"] = values[source["S3Uri"]["Get"].removeprefix("Parameters.")]
    output = arguments["TransformOutput"]["S3OutputPath"]["Std:Join"]
    assert output["Values"][1] == {"Get": "Execution.PipelineExecutionId"}
    prefix = values[output["Values"][0]["Get"].removeprefix("Parameters.")]
    arguments["TransformOutput"]["S3OutputPath"] = f"{prefix}abcdef123456"
    return {**arguments, "TransformJobName": "pipelines-abcdef123456-Transform-0a1b2c3d4e"}


def monitor_deployment(target: TargetAccount) -> dict[str, str]:
    """The monitor template's parameters with every baseline given, so all four monitors exist."""
    baselines = f"s3://mlops-artifacts-{DEV_ACCOUNT}-{REGION}/projects/{PROJECT}/baselines"
    return {
        **target.ssm_parameters,
        MonitorParameters.ENDPOINT_NAME: ENDPOINT_NAME,
        MonitorParameters.DEPLOYMENT_ID: DEPLOYMENT_ID,
        MonitorParameters.DATA_QUALITY_STATISTICS_URI: f"{baselines}/data/statistics.json",
        MonitorParameters.DATA_QUALITY_CONSTRAINTS_URI: f"{baselines}/data/constraints.json",
        MonitorParameters.MODEL_QUALITY_CONSTRAINTS_URI: f"{baselines}/model/constraints.json",
        MonitorParameters.GROUND_TRUTH_URI: f"s3://{target.data_capture_bucket}/{ENDPOINT_NAME}/ground-truth",
        MonitorParameters.PROBLEM_TYPE: PROBLEM_TYPES[0],
        MonitorParameters.INFERENCE_ATTRIBUTE: "0",
        MonitorParameters.PROBABILITY_ATTRIBUTE: "1",
        MonitorParameters.BIAS_CONFIG_URI: f"{baselines}/bias/analysis_config.json",
        MonitorParameters.BIAS_CONSTRAINTS_URI: f"{baselines}/bias/constraints.json",
        MonitorParameters.EXPLAINABILITY_CONFIG_URI: f"{baselines}/explainability/analysis_config.json",
        MonitorParameters.EXPLAINABILITY_CONSTRAINTS_URI: f"{baselines}/explainability/constraints.json",
    }


def product_deployment() -> dict[str, str]:
    """The two parameters SageMaker passes when a project is created from the product."""
    return {ProjectParameters.PROJECT_NAME: PROJECT, ProjectParameters.PROJECT_ID: "p-abcdefghijkl"}


@dataclass(frozen=True)
class Deployment:
    """One template deployed with concrete parameters: its resources' properties and names, resolved."""

    names: PhysicalNames

    @classmethod
    def of(cls, body: dict[str, Any], stack_name: str, account: str, parameters: dict[str, str]) -> Deployment:
        stack = StackTemplate(stack_name, account, REGION, body, Path("."))
        return cls(PhysicalNames(stack, parameters=parameters))

    @property
    def stack(self) -> StackTemplate:
        return self.names.stack

    def resources(self) -> dict[str, dict[str, Any]]:
        """Every resource of the template by logical id, whatever its condition."""
        return self.stack.body["Resources"]

    def exists(self, logical_id: str) -> bool:
        condition = self.resources()[logical_id].get("Condition")
        return condition is None or self.names.resolver.condition(condition)

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's properties as CloudFormation passes them to its handler."""
        return self.names.resolver.resolve(self.resources()[logical_id].get("Properties", {}))


def role_statements(stack, template: dict, role) -> list[dict]:
    """The role's identity statements, with the stack's named roles and keys given their real ARNs."""
    attributes = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role" and "RoleName" in resource["Properties"]:
            path = resource["Properties"].get("Path", "/")
            attributes[f"{logical_id}.Arn"] = (
                f"arn:aws:iam::{stack.account}:role{path}{resource['Properties']['RoleName']}"
            )
        if resource["Type"] == "AWS::KMS::Key":
            attributes[f"{logical_id}.Arn"] = key_arn(stack.account)
    env = {"partition": "aws", "region": stack.region, "account": stack.account}
    return identity_statements(template, stack.resolve(role.node.default_child.logical_id), env, attributes)


@dataclass(frozen=True)
class ProductRole:
    """A role a project's stack creates, as deployed for :data:`PROJECT`."""

    arn: str
    statements: list[dict]
    trust: list[dict]
    boundary: str | None


def product_roles(body: dict[str, Any], account: str) -> dict[str, ProductRole]:
    """The roles of the product template deployed for :data:`PROJECT`, by role name (``churn-ci``...)."""
    deployment = Deployment.of(body, PRODUCT_STACK_NAME, account, product_deployment())
    roles = {}
    for logical_id, resource in deployment.resources().items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        properties = deployment.properties(logical_id)
        statements = [
            statement
            for policy in properties.get("Policies", [])
            for statement in _as_list(policy["PolicyDocument"]["Statement"])
        ]
        roles[properties["RoleName"]] = ProductRole(
            arn=f"arn:aws:iam::{account}:role{properties.get('Path', '/')}{properties['RoleName']}",
            statements=statements,
            trust=_as_list(properties["AssumeRolePolicyDocument"]["Statement"]),
            boundary=properties.get("PermissionsBoundary"),
        )
    return roles


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
