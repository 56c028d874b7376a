"""Whether each recorded handler call (``tests/handler_calls.py``) is allowed by the synthesized policies.

A call becomes the IAM requests AWS authorizes for it (:func:`iam_requests`: mostly
``service:Operation`` on the resource its parameters name, with the known exceptions, such as S3's
``HeadObject`` needing ``s3:GetObject`` or a ``TransactWriteItems`` needing each item's action). Each
request is evaluated (``tests/iam_evaluation.py``) against the identity policies of the role the
call acted as (:class:`SynthesizedRoles`): the function's own role (found by its handler in the
templates) or the role it assumed, limited by the session policy it passed.

Resources CloudFormation names at deployment (no explicit name in the template) resolve to ``*``:
for them the check is the action, service, account and region, not the name.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from demo.synthesized import PhysicalNames, Resolver, StackTemplate
from tests.handler_calls import Call
from tests.iam_evaluation import Request, is_allowed
from tests.iam_lint import IAM


def _stack_arn(call: Call, params: Mapping[str, Any], account: str) -> str:
    name = params["StackName"]
    return name if name.startswith("arn:") else f"arn:aws:cloudformation:{call.region}:{account}:stack/{name}/id"


def _table_arn(call: Call, table: str, account: str) -> str:
    return table if table.startswith("arn:") else f"arn:aws:dynamodb:{call.region}:{account}:table/{table}"


def _sagemaker_arn(kind: str) -> Callable[[Call, Mapping[str, Any], str], str]:
    parameter = {
        "endpoint": "EndpointName",
        "endpoint-config": "EndpointConfigName",
        "model-package-group": "ModelPackageGroupName",
        "pipeline": "PipelineName",
        "model-package": "ModelPackageName",
        "project": "ProjectName",
    }[kind]

    def arn(call: Call, params: Mapping[str, Any], account: str) -> str:
        value = params.get(parameter) or params["ModelPackageArn"]
        if value.startswith("arn:"):
            return value
        return f"arn:aws:sagemaker:{call.region}:{account}:{kind}/{value.lower()}"

    return arn


def _queue_arn(call: Call, params: Mapping[str, Any], account: str) -> str:
    _, queue_account, name = urlparse(params["QueueUrl"]).path.split("/")
    return f"arn:aws:sqs:{call.region}:{queue_account}:{name}"


def _repository_arn(call: Call, params: Mapping[str, Any], account: str) -> str:
    return params.get("resourceArn") or f"arn:aws:codecommit:{call.region}:{account}:{params['repositoryName']}"


def _secret_arn(call: Call, params: Mapping[str, Any], account: str) -> str:
    secret = params["SecretId"]
    return (
        secret
        if secret.startswith("arn:")
        else f"arn:aws:secretsmanager:{call.region}:{account}:secret:{secret}-Ab1Cd2"
    )


def _object_arn(call: Call, params: Mapping[str, Any], account: str) -> str:
    return f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"


#: The resource each operation's request names, when its action has resource-level permissions.
RESOURCES: dict[tuple[str, str], Callable[[Call, Mapping[str, Any], str], str]] = {
    **{
        ("cloudformation", operation): _stack_arn
        for operation in (
            "CreateChangeSet",
            "DescribeChangeSet",
            "ExecuteChangeSet",
            "DeleteChangeSet",
            "ListChangeSets",
            "DescribeStacks",
            "DeleteStack",
        )
    },
    ("sagemaker", "DescribeEndpoint"): _sagemaker_arn("endpoint"),
    ("sagemaker", "InvokeEndpoint"): _sagemaker_arn("endpoint"),
    ("sagemaker", "InvokeEndpointAsync"): _sagemaker_arn("endpoint"),
    ("sagemaker", "DescribeEndpointConfig"): _sagemaker_arn("endpoint-config"),
    ("sagemaker", "DescribeModelPackage"): _sagemaker_arn("model-package"),
    ("sagemaker", "UpdateModelPackage"): _sagemaker_arn("model-package"),
    ("sagemaker", "ListModelPackages"): lambda call, params, account: (
        f"arn:aws:sagemaker:{call.region}:{account}:model-package/{params['ModelPackageGroupName'].lower()}/*"
    ),
    ("sagemaker", "CreateModelPackageGroup"): _sagemaker_arn("model-package-group"),
    ("sagemaker", "DescribeModelPackageGroup"): _sagemaker_arn("model-package-group"),
    ("sagemaker", "PutModelPackageGroupPolicy"): _sagemaker_arn("model-package-group"),
    ("sagemaker", "StartPipelineExecution"): _sagemaker_arn("pipeline"),
    ("sagemaker", "DescribePipeline"): _sagemaker_arn("pipeline"),
    ("sagemaker", "DescribePipelineExecution"): lambda call, params, account: params["PipelineExecutionArn"],
    ("sagemaker", "DescribeProject"): _sagemaker_arn("project"),
    ("sagemaker", "DeleteApp"): lambda call, params, account: (
        f"arn:aws:sagemaker:{call.region}:{account}:app/{params['DomainId']}/"
        f"{(params.get('SpaceName') or params['UserProfileName']).lower()}/{params['AppType'].lower()}/"
        f"{params['AppName'].lower()}"
    ),
    ("sagemaker", "DeleteSpace"): lambda call, params, account: (
        f"arn:aws:sagemaker:{call.region}:{account}:space/{params['DomainId']}/{params['SpaceName'].lower()}"
    ),
    ("sns", "Publish"): lambda call, params, account: params["TopicArn"],
    ("sqs", "SendMessage"): _queue_arn,
    ("sts", "AssumeRole"): lambda call, params, account: params["RoleArn"],
    ("secretsmanager", "GetSecretValue"): _secret_arn,
    ("s3", "GetObject"): _object_arn,
    ("s3", "PutObject"): _object_arn,
    **{
        ("codecommit", operation): _repository_arn
        for operation in (
            "CreateRepository",
            "GetRepository",
            "GetBranch",
            "CreateBranch",
            "CreateCommit",
            "TagResource",
            "UpdateRepositoryDescription",
        )
    },
}

#: IAM's service prefix where it differs from the client's signing name.
IAM_PREFIXES = {"monitoring": "cloudwatch"}

#: DynamoDB operations on one table, and the action of each item kind of a transaction.
_TABLE_OPERATIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"}
_TRANSACTION_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


#: Condition keys a request carries, from its parameters: service -> parameter -> key.
_CONTEXT_KEYS = {
    "cloudformation": {"RoleARN": "cloudformation:RoleArn", "ChangeSetName": "cloudformation:ChangeSetName"},
    "sagemaker": {"ModelApprovalStatus": "sagemaker:ModelApprovalStatus"},
    "s3": {"Prefix": "s3:prefix"},
    "cloudwatch": {"Namespace": "cloudwatch:namespace"},
}


class UnmappedCall(LookupError):
    """A call whose IAM resource this module cannot name yet: add it to :data:`RESOURCES`."""


def iam_requests(call: Call, account: str) -> list[Request]:
    """The IAM requests AWS authorizes for ``call``, made in ``account``."""
    service, operation, params = IAM_PREFIXES.get(call.service, call.service), call.operation, call.params
    if service == "dynamodb" and operation in _TABLE_OPERATIONS:
        table = _table_arn(call, params["TableName"], account)
        index = params.get("IndexName")
        return [Request(f"dynamodb:{operation}", f"{table}/index/{index}" if index else table)]
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        return [
            Request(f"dynamodb:{_TRANSACTION_ITEMS[kind]}", _table_arn(call, body["TableName"], account))
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if (service, operation) == ("s3", "CopyObject"):  # reads the source object, writes the destination
        source_bucket, _, source_key = params["CopySource"].split("?")[0].partition("/")
        return [
            Request("s3:GetObject", f"arn:aws:s3:::{source_bucket}/{source_key}"),
            Request("s3:PutObject", _object_arn(call, params, account)),
        ]
    if (service, operation) == ("s3", "HeadObject"):  # authorized as GetObject
        return [Request("s3:GetObject", _object_arn(call, params, account))]
    if (service, operation) == ("s3", "ListObjectsV2"):  # authorized as ListBucket, with the prefix asked for
        return [Request("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", {"s3:prefix": params.get("Prefix", "")})]
    action = f"{service}:{operation}"
    context = {"aws:RequestedRegion": call.region}
    context.update({key: params[name] for name, key in _CONTEXT_KEYS.get(service, {}).items() if name in params})
    if not any(IAM[service]["privileges"].get(operation, {}).get("resource_types", {}).keys() - {""}):
        if operation not in IAM[service]["privileges"]:
            raise UnmappedCall(f"{action}: not an action of IAM's data; map it in tests/handler_permissions.py")
        return [Request(action, "*", context)]
    if (service, operation) not in RESOURCES:
        raise UnmappedCall(f"{action}: name its resource in RESOURCES of tests/handler_permissions.py")
    resource = RESOURCES[(service, operation)](call, params, account)
    requests = [Request(action, resource, context)]
    if service == "cloudformation" and params.get("RoleARN"):
        context = {"iam:PassedToService": "cloudformation.amazonaws.com"}
        requests.append(Request("iam:PassRole", params["RoleARN"], context))
    if service == "sagemaker" and operation.startswith("Create") and params.get("Tags"):
        requests.append(Request("sagemaker:AddTags", resource))  # SageMaker authorizes tags on create separately
    if service == "codecommit" and operation == "CreateRepository" and params.get("tags"):
        requests.append(Request("codecommit:TagResource", resource))
    return requests


@dataclass(frozen=True)
class Identity:
    """Who made a call, as IAM sees it: a role (ARN, or ``stack/logical id`` for a function's role), its
    statements and those of the session policy, and its account."""

    role: str
    account: str
    statements: tuple[dict, ...]
    session_statements: tuple[dict, ...] | None


class SynthesizedRoles:
    """The roles of the synthesized stacks with their identity policies resolved to physical names."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], environments: Mapping[str, Mapping[str, str]]):
        stacks = {
            name: StackTemplate(name, environments[name]["account"], environments[name]["region"], template, Path("."))
            for name, template in templates.items()
        }
        deployed: dict[str, Resolver] = {}
        self._resolvers = {}
        for name, stack in stacks.items():
            names = _DeploymentTimeNames(stack, kms_key_ids=defaultdict(lambda: "*"), deployed=deployed)
            deployed[name] = self._resolvers[name] = Resolver(names)
        self._stacks = stacks

    def function(self, package: str) -> Identity:
        """The role of the function whose handler is ``<package>.handler.handler``."""
        handler = f"{package}.handler.handler"
        for name, stack in self._stacks.items():
            for resource in stack.resources("AWS::Lambda::Function").values():
                if resource["Properties"].get("Handler") == handler:
                    role_id = resource["Properties"]["Role"]["Fn::GetAtt"][0]
                    return Identity(f"{name}/{role_id}", stack.account, self._statements(name, role_id), None)
        raise LookupError(f"no synthesized function has the handler {handler}")

    def environment(self, package: str) -> dict[str, str]:
        """The environment variables of the function whose handler is ``<package>.handler.handler``."""
        for name, stack in self._stacks.items():
            for resource in stack.resources("AWS::Lambda::Function").values():
                if resource["Properties"].get("Handler") == f"{package}.handler.handler":
                    variables = resource["Properties"].get("Environment", {}).get("Variables", {})
                    return self._resolvers[name].resolve(variables)
        raise LookupError(f"no synthesized function has the handler {package}.handler.handler")

    def role(self, role_arn: str, session_policy: str = "") -> Identity:
        """A role of the templates by ARN, limited by a session policy (JSON) when one was passed."""
        for name, stack in self._stacks.items():
            for logical_id in stack.resources("AWS::IAM::Role"):
                if self._resolvers[name].names.attribute(logical_id, "Arn") == role_arn:
                    session = tuple(_statements(json.loads(session_policy))) if session_policy else None
                    return Identity(role_arn, stack.account, self._statements(name, logical_id), session)
        raise LookupError(f"no synthesized role is {role_arn}")

    def _statements(self, stack: str, role_id: str) -> tuple[dict, ...]:
        body, resolve = self._stacks[stack].body, self._resolvers[stack].resolve
        statements = [
            statement
            for inline in body["Resources"][role_id]["Properties"].get("Policies", [])
            for statement in _statements(inline["PolicyDocument"])
        ]
        for resource in body["Resources"].values():
            attached = resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {
                "Ref": role_id
            } in resource["Properties"].get("Roles", [])
            if attached:
                statements += _statements(resource["Properties"]["PolicyDocument"])
        return tuple(resolve(statement) for statement in statements)


class _DeploymentTimeNames(PhysicalNames):
    """Physical names as the stand-in deployment gives them, with ``*`` for names CloudFormation generates."""

    def name(self, logical_id: str) -> str:
        generated = f"{self.stack.name}-{logical_id}"
        name = super().name(logical_id)
        return "*" if name.lower() == generated[:60].lower() else name


def _statements(document: Mapping[str, Any]) -> list[dict]:
    statement = document["Statement"]
    return statement if isinstance(statement, list) else [statement]


def identity_of(call: Call, roles: SynthesizedRoles) -> Identity:
    """The identity a call acted as: the assumed role (with its session policy), or the function's role."""
    return roles.role(call.role_arn, call.session_policy) if call.role_arn else roles.function(call.function)


def denials(
    calls: list[Call], roles: SynthesizedRoles, stand_ins: Mapping[str, str] | None = None
) -> tuple[list[str], set[tuple[str, str]]]:
    """The calls some IAM request of which the synthesized policies deny, as messages, and the
    ``(role, action)`` pairs checked. ``stand_ins`` maps resources a test names differently from the
    synthesized app (globs, such as its copies of the templates) to the synthesized ones."""
    problems, checked = [], set()
    for call in calls:
        identity = identity_of(call, roles)
        for named in iam_requests(call, identity.account):
            stand_in = next((arn for glob, arn in (stand_ins or {}).items() if fnmatchcase(named.resource, glob)), None)
            request = replace(named, resource=stand_in or named.resource)
            checked.add((identity.role, request.action))
            allowed = is_allowed(identity.statements, request) and (
                identity.session_statements is None or is_allowed(identity.session_statements, request)
            )
            if not allowed:
                problems.append(
                    f"{call.function}: {call.service}.{call.operation} needs {request.action} on {request.resource}"
                    f"{' ' + str(dict(request.context)) if request.context else ''}, which {identity.role}"
                    f"{' (with its session policy)' if identity.session_statements is not None else ''} lacks"
                )
    return sorted(set(problems)), checked
