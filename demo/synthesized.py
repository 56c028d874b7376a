"""The synthesized platform (``cdk.out``) stood up in moto: what the handlers need to run for real.

The demo does not hand-configure the handlers. It reads the templates ``make synth`` wrote, creates
their stateful resources in moto in the right account (roles, tables, queues, topics, buckets, keys,
SSM parameters), uploads the assets the promoter deploys, and resolves each Lambda function's
environment variables from its template. A change in the app's wiring changes the demo with it;
an intrinsic function the resolver does not know stops the demo with its name.

This is the demo's *deployment stand-in*: CloudFormation is not run (moto cannot deploy the
platform's own stacks: Lambda layers, event buses, global tables...). Resources of other types are
not created because nothing in the demo calls them.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

PSEUDO_PARAMETERS = ("AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName")
#: What ``Ref: AWS::NoValue`` resolves to: the property (or list item) it stands for is left out.
NO_VALUE = object()
#: The property that names a resource of each type whose name the templates set (CloudFormation
#: generates the others' names).
NAME_PROPERTIES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::GlobalTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CodeBuild::Project": "Name",
    "AWS::SageMaker::Model": "ModelName",
    "AWS::SageMaker::EndpointConfig": "EndpointConfigName",
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::SageMaker::MonitoringSchedule": "MonitoringScheduleName",
    "AWS::SageMaker::DataQualityJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::ModelQualityJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::ModelBiasJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::ModelExplainabilityJobDefinition": "JobDefinitionName",
    "AWS::SageMaker::Pipeline": "PipelineName",
    "AWS::Scheduler::Schedule": "Name",
}
#: SageMaker resource types by their ARN's resource type; ``Ref`` returns their ARN.
#: The id SageMaker gives a Studio domain at creation, as one deterministic stand-in.
STUDIO_DOMAIN_ID = "d-3k4mzq0abcde"
SAGEMAKER_ARN_TYPES = {
    "AWS::SageMaker::Model": "model",
    "AWS::SageMaker::EndpointConfig": "endpoint-config",
    "AWS::SageMaker::Endpoint": "endpoint",
    "AWS::SageMaker::MonitoringSchedule": "monitoring-schedule",
    "AWS::SageMaker::DataQualityJobDefinition": "data-quality-job-definition",
    "AWS::SageMaker::ModelQualityJobDefinition": "model-quality-job-definition",
    "AWS::SageMaker::ModelBiasJobDefinition": "model-bias-job-definition",
    "AWS::SageMaker::ModelExplainabilityJobDefinition": "model-explainability-job-definition",
    "AWS::SageMaker::Pipeline": "pipeline",
}


class UnsupportedTemplate(RuntimeError):
    """The template uses something the demo's stand-in deployment does not resolve."""


@dataclass(frozen=True)
class StackTemplate:
    """One synthesized stack: its name, target account and region, and template body."""

    name: str
    account: str
    region: str
    body: dict[str, Any]
    directory: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.body["Resources"].items()
            if resource["Type"] == resource_type
        }


class CloudAssembly:
    """The stacks and deployable templates of ``cdk.out``, as ``make synth`` wrote them."""

    def __init__(self, directory: Path) -> None:
        manifest_file = directory / "manifest.json"
        if not manifest_file.exists():
            raise FileNotFoundError(f"{manifest_file} not found: run `make synth` first")
        self.directory = directory
        self.manifest = json.loads(manifest_file.read_text())

    def stacks(self) -> dict[str, StackTemplate]:
        """Every stack of the app (``mlops-dev-promotion``...), by stack name."""
        stacks = {}
        for artifact in self.manifest["artifacts"].values():
            if artifact["type"] != "aws:cloudformation:stack":
                continue
            account, region = artifact["environment"].removeprefix("aws://").split("/")
            properties = artifact["properties"]
            body = json.loads((self.directory / properties["templateFile"]).read_text())
            name = properties.get("stackName") or artifact["displayName"]
            stacks[name] = StackTemplate(name, account, region, body, self.directory)
        return stacks

    def product_templates(self) -> list[dict[str, Any]]:
        """The Service Catalog product templates the projects stack ships (``*.product.template.json``)."""
        return [json.loads(path.read_text()) for path in sorted(self.directory.glob("*.product.template.json"))]

    def asset_file(self, object_key: str) -> Path:
        """The local file of an S3 asset, from its object key (``<hash>.json`` -> ``asset.<hash>.json``)."""
        path = self.directory / f"asset.{object_key}"
        if not path.exists():
            raise FileNotFoundError(f"asset {object_key} is not in {self.directory}")
        return path

    def asset_object(self, object_key: str) -> bytes:
        """An asset's S3 object as the CDK CLI publishes it: a file as it is, a directory zipped."""
        directory = self.directory / f"asset.{object_key.removesuffix('.zip')}"
        if not (object_key.endswith(".zip") and directory.is_dir()):
            return self.asset_file(object_key).read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in directory.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(directory).as_posix())
        return buffer.getvalue()


@dataclass
class PhysicalNames:
    """Names, ARNs and URLs the resources of one stack get when the stand-in creates them."""

    stack: StackTemplate
    kms_key_ids: dict[str, str] = field(default_factory=dict)
    #: The stacks stood up before this one, by name: their outputs resolve ``Fn::GetStackOutput``.
    deployed: dict[str, Resolver] = field(default_factory=dict)
    #: The template parameters given to this deployment (the others take their defaults).
    parameters: dict[str, str] = field(default_factory=dict)

    def name(self, logical_id: str) -> str:
        resource = self.stack.body["Resources"][logical_id]
        explicit = NAME_PROPERTIES.get(resource["Type"])
        given = resource.get("Properties", {}).get(explicit) if explicit else None
        if given is not None:
            return self.resolver.resolve(given)
        # CloudFormation's generated names: <stack>-<logical id>-<suffix>, lower case for buckets.
        generated = f"{self.stack.name}-{logical_id}"[:60]
        return generated.lower() if resource["Type"] == "AWS::S3::Bucket" else generated

    @property
    def resolver(self) -> Resolver:
        """Resolves the intrinsics of this stack's properties (with the parameters it was given)."""
        return Resolver(self)

    def arn(self, logical_id: str) -> str:
        """The ARN of a SageMaker resource (lower case, as SageMaker writes names in ARNs)."""
        resource_type = self.stack.body["Resources"][logical_id]["Type"]
        kind = SAGEMAKER_ARN_TYPES[resource_type]
        return f"arn:aws:sagemaker:{self.stack.region}:{self.stack.account}:{kind}/{self.name(logical_id).lower()}"

    def ref(self, logical_id: str) -> str:
        resource_type = self.stack.body["Resources"][logical_id]["Type"]
        if resource_type in SAGEMAKER_ARN_TYPES:
            return self.arn(logical_id)
        if resource_type == "AWS::SQS::Queue":
            return self.attribute(logical_id, "QueueUrl")
        if resource_type == "AWS::SNS::Topic":
            return self.attribute(logical_id, "Arn")
        if resource_type == "AWS::KMS::Key":
            return self.kms_key_ids[logical_id]
        return self.name(logical_id)

    def attribute(self, logical_id: str, attribute: str) -> str:
        resource_type = self.stack.body["Resources"][logical_id]["Type"]
        account, region = self.stack.account, self.stack.region
        name = None if resource_type == "AWS::KMS::Key" else self.name(logical_id)
        path = self.resolver.resolve(self.stack.body["Resources"][logical_id].get("Properties", {}).get("Path", "/"))
        values = {
            ("AWS::IAM::Role", "Arn"): f"arn:aws:iam::{account}:role{path}{name}",
            ("AWS::CodeBuild::Project", "Arn"): f"arn:aws:codebuild:{region}:{account}:project/{name}",
            ("AWS::SQS::Queue", "Arn"): f"arn:aws:sqs:{region}:{account}:{name}",
            ("AWS::SQS::Queue", "QueueUrl"): f"https://sqs.{region}.amazonaws.com/{account}/{name}",
            ("AWS::SQS::Queue", "QueueName"): name,
            ("AWS::SNS::Topic", "Arn"): f"arn:aws:sns:{region}:{account}:{name}",
            ("AWS::SNS::Topic", "TopicName"): name,
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{name}",
            ("AWS::DynamoDB::GlobalTable", "Arn"): f"arn:aws:dynamodb:{region}:{account}:table/{name}",
            ("AWS::Events::EventBus", "Arn"): f"arn:aws:events:{region}:{account}:event-bus/{name}",
            ("AWS::Logs::LogGroup", "Arn"): f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
            ("AWS::Events::Rule", "Arn"): f"arn:aws:events:{region}:{account}:rule/{name}",
            ("AWS::SageMaker::Model", "ModelName"): name,
            ("AWS::SageMaker::EndpointConfig", "EndpointConfigName"): name,
            ("AWS::SageMaker::Endpoint", "EndpointName"): name,
            ("AWS::SageMaker::Domain", "DomainId"): STUDIO_DOMAIN_ID,
        }
        if resource_type in SAGEMAKER_ARN_TYPES and attribute.endswith("Arn"):
            return self.arn(logical_id)
        if resource_type == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:aws:kms:{region}:{account}:key/{self.kms_key_ids[logical_id]}"
        if (resource_type, attribute) not in values:
            raise UnsupportedTemplate(f"{self.stack.name}: Fn::GetAtt {logical_id}.{attribute} ({resource_type})")
        return values[(resource_type, attribute)]


@dataclass
class Resolver:
    """Resolves the intrinsic functions the platform's templates use, for the stand-in resources."""

    names: PhysicalNames

    def resolve(self, value: Any) -> Any:
        """``value`` with its intrinsics resolved; properties and items that are ``AWS::NoValue`` left out."""
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        (function, argument), stack = next(iter(value.items())), self.names.stack
        if function == "Ref":
            return self._reference(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.names.attribute(logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(part)) for part in parts)
        if function == "Fn::If":
            condition, if_true, if_false = argument
            return self.resolve(if_true if self.condition(condition) else if_false)
        if function == "Fn::FindInMap":
            mapping, first, second = (self.resolve(part) for part in argument)
            return stack.body["Mappings"][mapping][first][second]
        if function == "Fn::GetStackOutput" and argument.get("StackName") in self.names.deployed:
            # A weak cross-stack reference: the output's value, resolved in the stack that declares it.
            other = self.names.deployed[argument["StackName"]]
            return other.resolve(other.names.stack.body["Outputs"][argument["OutputName"]]["Value"])
        if function == "Fn::Sub" and isinstance(argument, str):
            return re.sub(r"\$\{([^}]+)\}", lambda match: self._substitute(match.group(1)), argument)
        raise UnsupportedTemplate(f"{stack.name}: {function} is not resolved by the demo's stand-in deployment")

    def condition(self, name: str) -> bool:
        """Whether the template's condition ``name`` holds for the deployment's parameters."""
        return self._holds(self.names.stack.body["Conditions"][name])

    def _holds(self, expression: dict) -> bool:
        ((function, argument),) = expression.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            first, second = (str(self.resolve(part)) for part in argument)
            return first == second
        if function == "Fn::Not":
            return not self._holds(argument[0])
        if function == "Fn::And":
            return all(self._holds(part) for part in argument)
        if function == "Fn::Or":
            return any(self._holds(part) for part in argument)
        raise UnsupportedTemplate(f"{self.names.stack.name}: condition function {function} is not evaluated")

    def _reference(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO_PARAMETERS:
            return self._pseudo(name)
        declared = self.names.stack.body.get("Parameters", {}).get(name)
        if declared is None:
            return self.names.ref(name)
        if name in self.names.parameters:
            return self.names.parameters[name]
        if "Default" not in declared:
            raise UnsupportedTemplate(f"{self.names.stack.name}: parameter {name} has no value and no default")
        return declared["Default"]

    def _substitute(self, reference: str) -> str:
        if reference in PSEUDO_PARAMETERS:
            return self._pseudo(reference)
        logical_id, _, attribute = reference.partition(".")
        return self.names.attribute(logical_id, attribute) if attribute else self._reference(logical_id)

    def _pseudo(self, name: str) -> str:
        stack = self.names.stack
        return {
            "AWS::AccountId": stack.account,
            "AWS::Region": stack.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack.name,
        }[name]


class StandInDeployment:
    """Creates a stack's stateful resources in moto, in the stack's account, and resolves its functions."""

    def __init__(
        self, stack: StackTemplate, session: boto3.Session, deployed: dict[str, StandInDeployment] | None = None
    ) -> None:
        self.stack = stack
        self.session = session
        self._clients: dict[str, Any] = {}
        self.names = PhysicalNames(stack, deployed={name: d.resolver for name, d in (deployed or {}).items()})
        self.resolver = Resolver(self.names)

    def deploy(self) -> list[str]:
        """Create what the handlers use; returns one line per resource for the timeline."""
        created = []
        for logical_id in self.stack.resources("AWS::KMS::Key"):
            key = self._client("kms").create_key(Description=f"{self.stack.name} {logical_id}")
            self.names.kms_key_ids[logical_id] = key["KeyMetadata"]["KeyId"]
            created.append(f"KMS key {logical_id}")
        creators = {
            "AWS::IAM::Role": self._role,
            "AWS::S3::Bucket": self._bucket,
            "AWS::DynamoDB::GlobalTable": self._table,
            "AWS::SQS::Queue": self._queue,
            "AWS::SNS::Topic": self._topic,
            "AWS::SSM::Parameter": self._parameter,
        }
        for resource_type, create in creators.items():
            for logical_id, resource in self.stack.resources(resource_type).items():
                properties = self.resolver.resolve(resource.get("Properties", {}))
                name = self.names.name(logical_id)
                create(name, properties)
                created.append(f"{resource_type.split('::', 1)[1]} {name}")
        return created

    def function_environment(self, handler: str) -> dict[str, str]:
        """The environment variables of the function with ``handler``, resolved as Lambda would see them."""
        functions = [
            resource["Properties"]
            for resource in self.stack.resources("AWS::Lambda::Function").values()
            if resource["Properties"].get("Handler") == handler
        ]
        if len(functions) != 1:
            raise UnsupportedTemplate(f"{self.stack.name}: expected one function with handler {handler}")
        variables = self.resolver.resolve(functions[0].get("Environment", {}).get("Variables", {}))
        return {**variables, "AWS_REGION": self.stack.region}

    def event_sources(self) -> dict[str, tuple[str, int]]:
        """Handler -> (ARN of the queue its SQS event source mapping consumes, the mapping's batch size)."""
        functions = self.stack.resources("AWS::Lambda::Function")
        sources = {}
        for mapping in self.stack.resources("AWS::Lambda::EventSourceMapping").values():
            properties = mapping["Properties"]
            function = functions[properties["FunctionName"]["Ref"]]
            queue_arn = self.resolver.resolve(properties["EventSourceArn"])
            sources[function["Properties"]["Handler"]] = (queue_arn, properties.get("BatchSize", 10))
        return sources

    def function_role_arn(self, handler: str) -> str:
        for resource in self.stack.resources("AWS::Lambda::Function").values():
            if resource["Properties"].get("Handler") == handler:
                return self.resolver.resolve(resource["Properties"]["Role"])
        raise UnsupportedTemplate(f"{self.stack.name}: no function with handler {handler}")

    def _client(self, service: str):
        """The stack account's client of ``service``, one per service."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service)
        return self._clients[service]

    # Creators: only the properties the handlers depend on.

    def _role(self, name: str, properties: dict[str, Any]) -> None:
        self._client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(properties["AssumeRolePolicyDocument"])
        )

    def _bucket(self, name: str, properties: dict[str, Any]) -> None:
        self._client("s3").create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.stack.region}
        )

    def _table(self, name: str, properties: dict[str, Any]) -> None:
        self._client("dynamodb").create_table(
            TableName=name,
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )

    def _queue(self, name: str, properties: dict[str, Any]) -> None:
        self._client("sqs").create_queue(QueueName=name)

    def _topic(self, name: str, properties: dict[str, Any]) -> None:
        self._client("sns").create_topic(Name=name)

    def _parameter(self, name: str, properties: dict[str, Any]) -> None:
        self._client("ssm").put_parameter(Name=name, Value=properties["Value"], Type=properties["Type"])
