"""Test-only stand-ins for the CloudFormation resource types moto cannot create.

Moto's CloudFormation skips resource types it does not implement and then rejects the template at
the first ``Fn::GetAtt`` of one of them, so the platform's real endpoint and monitor templates could
not be deployed in the tests. Each stand-in records its properties and answers ``Ref`` and
``Fn::GetAtt`` with the name and ARN AWS would give; it creates nothing else. Importing this module
registers them with moto. The tests and the demo (``make demo``) use it; the product code never does.

The batch template's pipeline is created for real in moto's SageMaker (:class:`StandInSageMakerPipeline`),
so ``DescribePipeline`` answers with the template's definition; :class:`BatchPipelineRuns` stands in for
its runs, which moto reports succeeded at once without running anything.

It also holds :func:`sagemaker_like_update_model_package` and :func:`s3_like_copy_object`, for the
SageMaker and S3 APIs whose moto semantics differ from AWS's in a way the handlers depend on.

Importing it also makes moto's CloudFormation read a JSON template with the JSON parser (see
:func:`_parse_json_first`): moto parses every template body as YAML, in pure Python, which was a fifth
of the handler tests' time; the platform's templates are JSON, which YAML reads to the same values.
And it makes moto's DynamoDB run two of its checks of an update expression once per expression rather
than once per sub-expression (see :func:`_once_per_expression`), where the ledger's long ``SET`` lists
made them quadratic.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.cloudformation import parsing
from moto.cloudformation.models import ChangeSet, Stack
from moto.core.common_models import CloudFormationModel
from moto.dynamodb.parsing.validators import ActionCountValidator, OverlappingPathsValidator
from moto.s3.exceptions import PreconditionFailed
from moto.s3.models import s3_backends
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend, sagemaker_backends
from moto.sns.models import Subscription

from contract import BATCH_INPUT_URI, BATCH_OUTPUT_PREFIX
from integration_tester.smoke import INPUT_FILE, OUTPUT_SUFFIX, execution_id

#: Resource type -> (name property, ARN service, ARN resource type, ARN separator).
_STAND_INS = {
    "AWS::SageMaker::MonitoringSchedule": ("MonitoringScheduleName", "sagemaker", "monitoring-schedule", "/"),
    "AWS::SageMaker::DataQualityJobDefinition": ("JobDefinitionName", "sagemaker", "data-quality-job-definition", "/"),
    "AWS::SageMaker::ModelQualityJobDefinition": (
        "JobDefinitionName",
        "sagemaker",
        "model-quality-job-definition",
        "/",
    ),
    "AWS::SageMaker::ModelBiasJobDefinition": ("JobDefinitionName", "sagemaker", "model-bias-job-definition", "/"),
    "AWS::SageMaker::ModelExplainabilityJobDefinition": (
        "JobDefinitionName",
        "sagemaker",
        "model-explainability-job-definition",
        "/",
    ),
    "AWS::CloudWatch::Alarm": ("AlarmName", "cloudwatch", "alarm", ":"),
    "AWS::ApplicationAutoScaling::ScalableTarget": ("", "application-autoscaling", "scalable-target", "/"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": ("PolicyName", "autoscaling", "scalingPolicy", ":"),
    "AWS::Scheduler::Schedule": ("Name", "scheduler", "schedule", "/default/"),
}


class _StandIn:
    """A resource that exists only as its name, ARN and properties (mixed into a moto model)."""

    resource_type = ""
    name_property = ""
    arn_service = arn_resource = arn_separator = ""

    def __init__(self, name: str, properties: dict[str, Any], account_id: str, region: str) -> None:
        self.name = name
        self.properties = properties
        self.arn = f"arn:aws:{self.arn_service}:{region}:{account_id}:{self.arn_resource}{self.arn_separator}{name}"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.resource_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.arn if attribute_name.endswith("Arn") else self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        properties = cloudformation_json.get("Properties", {})
        return cls(properties.get(cls.name_property) or resource_name, properties, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        """Nothing was created, so nothing is deleted."""


#: Kept referenced: moto finds models through ``__subclasses__``, which holds them weakly.
STAND_IN_MODELS = [
    type(
        f"StandIn{_type.replace('::', '')}",
        # Directly a CloudFormationModel: moto lists models with CloudFormationModel.__subclasses__().
        (_StandIn, CloudFormationModel),
        {
            "resource_type": _type,
            "name_property": _name_property,
            "arn_service": _service,
            "arn_resource": _resource,
            "arn_separator": _separator,
        },
    )
    for _type, (_name_property, _service, _resource, _separator) in _STAND_INS.items()
]


class StandInSageMakerPipeline(_StandIn, CloudFormationModel):
    """``AWS::SageMaker::Pipeline``, which moto's CloudFormation lacks: created, updated and deleted
    through moto's SageMaker backend, so the pipeline exists with the template's definition."""

    resource_type = "AWS::SageMaker::Pipeline"
    name_property = "PipelineName"
    arn_service, arn_resource, arn_separator = "sagemaker", "pipeline", "/"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        pipeline = super().create_from_cloudformation_json(resource_name, cloudformation_json, account_id, region_name)
        properties = pipeline.properties
        sagemaker_backends[account_id][region_name].create_pipeline(
            pipeline_name=pipeline.name,
            pipeline_display_name=properties.get("PipelineDisplayName", pipeline.name),
            pipeline_definition=properties["PipelineDefinition"]["PipelineDefinitionBody"],
            pipeline_definition_s3_location={},
            pipeline_description=properties.get("PipelineDescription", ""),
            role_arn=properties["RoleArn"],
            tags=properties.get("Tags", []),
            parallelism_configuration=properties.get("ParallelismConfiguration", {}),
        )
        return pipeline

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        cls.delete_from_cloudformation_json(original_resource.name, {}, account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        sagemaker_backends[account_id][region_name].delete_pipeline(resource_name)


STAND_IN_MODELS.append(StandInSageMakerPipeline)
# Moto caches its list of models on first use; make it see the stand-ins.
for _cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
    _cache.cache_clear()

_parse_yaml = Stack.parse_template


def _parse_json_first(template: str) -> dict[str, Any]:
    """A template body as moto's parser reads it, but a JSON body (a YAML document too, with the same
    values) read with the JSON parser, a hundred times faster than the YAML one."""
    try:
        return json.loads(template)
    except ValueError:
        return _parse_yaml(template)


def _parse_change_set_template(change_set: ChangeSet) -> None:
    change_set.template_dict = _parse_json_first(change_set.template)


Stack.parse_template = staticmethod(_parse_json_first)
ChangeSet._parse_template = _parse_change_set_template


def _once_per_expression(check: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Moto's check of an update expression, run on the whole expression only.

    Moto's parser nests every clause of ``SET a = :a, b = :b, ...`` in a node of the expression's type, and
    its action-count and overlapping-paths checks run on each of those nodes over all the clauses below it:
    quadratic in the clauses, about 10 ms of every ledger write of some 25 attributes. The whole expression
    (the root) holds every clause, so checking it alone finds whatever a check of a part would.
    """

    @functools.wraps(check)
    def on_the_root(validator, node):
        return check(validator, node) if node.parent is None else node

    return on_the_root


ActionCountValidator.verify_action_counts = _once_per_expression(ActionCountValidator.verify_action_counts)
OverlappingPathsValidator.check_for_overlapping_paths = _once_per_expression(
    OverlappingPathsValidator.check_for_overlapping_paths
)


def sagemaker_like_update_model_package(original):
    """Moto's UpdateModelPackage clears the approval status and replaces the metadata when a request
    omits or extends them; SageMaker keeps an omitted status and merges metadata. Emulate SageMaker."""

    def update(self, **arguments):
        package = self.describe_model_package(arguments["model_package_arn"])
        arguments["model_approval_status"] = arguments["model_approval_status"] or package.model_approval_status
        arguments["approval_description"] = arguments["approval_description"] or package.approval_description
        arguments["customer_metadata_properties"] = {
            **(package.customer_metadata_properties or {}),
            **(arguments["customer_metadata_properties"] or {}),
        }
        return original(self, **arguments)

    return update


def s3_like_copy_object(original):
    """Moto's CopyObject ignores ``CopySourceIfMatch`` and ``IfNoneMatch``; S3 answers both with
    ``412 PreconditionFailed`` (the source's ETag differs; the destination key exists). Emulate S3."""

    def copy_object(self):
        source = urlparse(unquote(self.headers.get("x-amz-copy-source", "")))
        source_bucket, source_key = source.path.lstrip("/").split("/", 1)
        copied = self.backend.get_object(source_bucket, source_key)
        wanted = self.headers.get("x-amz-copy-source-if-match")
        if copied is not None and wanted and wanted.strip('"') != copied.etag.strip('"'):
            raise PreconditionFailed("x-amz-copy-source-If-Match")
        if self.headers.get("If-None-Match") == "*" and self.backend.get_object(
            self.bucket_name, self.parse_key_name()
        ):
            raise PreconditionFailed("If-None-Match")
        return original(self)

    return copy_object


#: Moto's CloudFormation names SageMaker endpoints and endpoint configurations itself; AWS uses their
#: ``EndpointName`` and ``EndpointConfigName`` properties, which name the deployment the integration
#: tester tests. ``(model, attribute, value)`` to set while moto runs the platform's templates.
PROPERTY_NAMED_ENDPOINTS = (
    (FakeEndpoint, "cloudformation_name_type", staticmethod(lambda: "EndpointName")),
    (FakeEndpointConfig, "cloudformation_name_type", staticmethod(lambda: "EndpointConfigName")),
)


def shared_signing_key(subscription: Subscription) -> rsa.RSAPrivateKey:
    """``Subscription.private_key``: the key moto signs SNS deliveries with, made once per run. Moto makes
    a 2048-bit RSA key per subscription (tens of milliseconds, in every test that sends an alert); no
    test checks the signatures."""
    return _signing_key()


@functools.cache
def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def queue_endpoint_answers(account: str, region: str, bodies: tuple[str, ...], content_type: str = "text/csv") -> None:
    """What the account's endpoints answer to the next distinct InvokeEndpoint requests, in order
    (moto's SageMaker results API; without answers moto returns a fixed placeholder)."""
    response = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={
            "account_id": account,
            "region": region,
            "results": [{"Body": body, "ContentType": content_type} for body in bodies],
        },
        timeout=5,
    )
    response.raise_for_status()


class BatchPipelineRuns:
    """Test-only stand-in for the runs of batch pipelines, which moto reports succeeded at once without
    running anything: ``StartPipelineExecution`` honours its idempotency token as SageMaker does, and each
    run ends ``status`` (``failure`` its reason), a succeeded one having written ``output`` where the
    transform writes it (``<OutputPrefix><execution id>/cases.csv.out``), in any account. ``on_run(arn,
    parameters)`` is told of each new run. :meth:`install` it with a ``pytest.MonkeyPatch``."""

    def __init__(
        self,
        *,
        status: str = "Succeeded",
        output: str = "",
        failure: str = "",
        on_run: Callable[[str, dict[str, str]], None] | None = None,
    ) -> None:
        #: Every StartPipelineExecution request, as sent; the execution ARN of each idempotency token.
        self.starts: list[dict[str, Any]] = []
        self.executions: dict[str, str] = {}
        self._status, self._output, self._failure, self._on_run = status, output, failure, on_run

    def install(self, monkeypatch) -> BatchPipelineRuns:
        start, describe = (
            SageMakerModelBackend.start_pipeline_execution,
            SageMakerModelBackend.describe_pipeline_execution,
        )
        runs = self

        def start_pipeline_execution(backend, name, display_name, parameters, description, parallelism, token):
            runs.starts.append(
                {
                    "PipelineName": name,
                    "PipelineExecutionDisplayName": display_name,
                    "PipelineParameters": parameters,
                    "ClientRequestToken": token,
                }
            )
            if token not in runs.executions:
                arn = start(backend, name, display_name, parameters, description, parallelism, token)
                runs.executions[token] = arn["PipelineExecutionArn"]
                values = _values(parameters)
                if runs._status == "Succeeded":
                    runs._write_output(runs.executions[token], values, runs._output)
                if runs._on_run:
                    runs._on_run(runs.executions[token], values)
            return {"PipelineExecutionArn": runs.executions[token]}

        def describe_pipeline_execution(backend, arn):
            described = describe(backend, arn) | {"PipelineExecutionStatus": runs._status}
            described.pop("FailureReason")  # moto's is always empty; SageMaker's names why a run failed
            return described | ({"FailureReason": runs._failure} if runs._failure else {})

        monkeypatch.setattr(SageMakerModelBackend, "start_pipeline_execution", start_pipeline_execution)
        monkeypatch.setattr(SageMakerModelBackend, "describe_pipeline_execution", describe_pipeline_execution)
        return self

    def finish(self, output: str) -> None:
        """The running execution succeeds, writing ``output``."""
        self._status = "Succeeded"
        [arn] = self.executions.values()
        self._write_output(arn, _values(self.starts[0]["PipelineParameters"]), output)

    @staticmethod
    def _write_output(execution_arn: str, parameters: dict[str, str], output: str) -> None:
        bucket, prefix = parameters[BATCH_OUTPUT_PREFIX].removeprefix("s3://").split("/", 1)
        key = f"{prefix}{execution_id(execution_arn)}/{INPUT_FILE}{OUTPUT_SUFFIX}"
        _s3_of(execution_arn).put_object(bucket, key, output.encode())

    def smoke_input(self) -> str:
        """The input file of the last run started."""
        start = self.starts[-1]
        return self.run_input(self.executions[start["ClientRequestToken"]], _values(start["PipelineParameters"]))

    @staticmethod
    def run_input(execution_arn: str, parameters: dict[str, str]) -> str:
        """The input file a run reads (``<InputUri>cases.csv``)."""
        bucket, prefix = parameters[BATCH_INPUT_URI].removeprefix("s3://").split("/", 1)
        return _s3_of(execution_arn).get_object(bucket, f"{prefix}{INPUT_FILE}").value.decode()


def _s3_of(arn: str):
    """Moto's S3 in the account (and partition) of ``arn``."""
    _, partition, _, _, account = arn.split(":")[:5]
    return s3_backends[account][partition]


def _values(parameters: list[dict[str, str]]) -> dict[str, str]:
    """Pipeline parameters as a map of name to value."""
    return {parameter["Name"]: parameter["Value"] for parameter in parameters}
