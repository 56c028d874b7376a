"""The three accounts in moto, the dev account's promotion resources, and the handlers wired to them.

Moto keeps one backend per account: credentials from ``AssumeRole`` act in the role's account. The
handlers run with the dev promoter role's credentials and assume the deploy roles created here in
each target account, as they do in AWS.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends
from moto.s3.responses import S3Response
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sns.models import Subscription

import contract
from endpoint_cleanup.handler import CleanupSettings, EndpointCleanup
from integration_tester.handler import IntegrationTester, TesterSettings
from monitoring_loop.handler import MonitoringLoop, MonitoringSettings
from platform_config import load_config
from promoter.handler import Promoter, PromoterSettings
from stacks.batch import parameter_values as batch_parameter_values
from stacks.endpoint import parameter_values
from tests import botocore_sharing, handler_calls
from tests.conftest import default_context, freeze_long_lived
from tests.handler_permissions import denials
from tests.lambdas import moto_seed
from tests.lambdas.events import ACCOUNT_OF_STAGE, DEV, PROD, REGION, TEST, LambdaContext, sqs_event
from tests.lambdas.events import endpoint_deployment_state_change as endpoint_event
from tests.lambdas.events import model_package_state_change as package_event
from tests.lambdas.events import stack_status_change as stack_event
from tests.lambdas.moto_stand_ins import (  # also registers the CloudFormation stand-ins
    PROPERTY_NAMED_ENDPOINTS,
    queue_endpoint_answers,
    s3_like_copy_object,
    sagemaker_like_update_model_package,
    shared_signing_key,
)
from tracker.handler import Tracker, TrackerSettings

PREFIX = "mlops"
PROJECT = "churn"
STAGES = ("feature", "dev", "prod")
ACCOUNT_NAMES = {DEV: "dev", TEST: "test", PROD: "prod"}
TEMPLATE_BUCKET = f"{PREFIX}-assets-{DEV}-{REGION}"
LEDGER_TABLE = f"{PREFIX}-promotion-ledger"
ARTIFACT_BUCKET = f"{PREFIX}-artifacts-{DEV}-{REGION}"
ARTIFACTS = f"s3://{ARTIFACT_BUCKET}/projects/{PROJECT}"
#: Where the project pipeline put the model every test registers (``Platform.register``).
MODEL_KEY = f"projects/{PROJECT}/training/9f1c2ab/model.tar.gz"
MODEL_IMAGE = f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:1.7-1"
DEFAULT_CONFIG = load_config(default_context())


#: Fake credentials and the region every moto test runs with.
MOTO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}

#: botocore's loaders, service models, endpoint rules and client classes, built once per test run.
botocore_sharing.install()
#: botocore's built-in event handlers, registered once per test run: each new session starts from a copy
#: (what registering them per session builds, in a tenth of the time; handlers added later stay its own).
_BUILTIN_HANDLERS = botocore.session.Session()._original_handler


def role_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def model_bucket(account: str) -> str:
    """The deployment target's bucket of verified model copies."""
    return f"{PREFIX}-models-{account}-{REGION}"


def deploy_role(account: str) -> str:
    return role_arn(account, f"{PREFIX}-{ACCOUNT_NAMES[account]}-deployer")


def cloudformation_role(account: str) -> str:
    return role_arn(account, f"{PREFIX}-{ACCOUNT_NAMES[account]}-cfn-execution")


def stage_settings(stage: str) -> dict[str, str]:
    """A stage's endpoint settings as the infrastructure passes them: the default installation's."""
    return parameter_values(DEFAULT_CONFIG.endpoint_for(stage))


def endpoint_tester_role(account: str) -> str:
    return role_arn(account, f"{PREFIX}-{ACCOUNT_NAMES[account]}-endpoint-tester")


ALERT_TOPIC_ARN = f"arn:aws:sns:{REGION}:{DEV}:{PREFIX}-promotion-alerts"
PROMOTION_QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{DEV}/{PREFIX}-promotion"
PROJECT_SETTINGS_TABLE = f"{PREFIX}-project-settings"
#: What the infrastructure gives every handler.
COMMON_ENVIRONMENT = {
    "AWS_REGION": REGION,
    "LEDGER_TABLE": LEDGER_TABLE,
    "ALERT_TOPIC_ARN": ALERT_TOPIC_ARN,
    "DEV_ACCOUNT_ID": DEV,
    "STAGES": ",".join(STAGES),
}
#: The environment the infrastructure gives the promoter (see ``stacks/promotion.py``).
PROMOTER_ENVIRONMENT = {
    **COMMON_ENVIRONMENT,
    "STAGE_TARGETS": json.dumps(
        {
            stage: {
                "account_id": ACCOUNT_OF_STAGE[stage],
                "region": REGION,
                "deploy_role_arn": deploy_role(ACCOUNT_OF_STAGE[stage]),
                "cloudformation_role_arn": cloudformation_role(ACCOUNT_OF_STAGE[stage]),
                "model_bucket": model_bucket(ACCOUNT_OF_STAGE[stage]),
            }
            for stage in STAGES
        }
    ),
    "ENDPOINT_SETTINGS": json.dumps({stage: stage_settings(stage) for stage in STAGES}),
    "ENDPOINT_TEMPLATE_BUCKET": TEMPLATE_BUCKET,
    "ENDPOINT_TEMPLATE_KEY": "endpoint.template.json",
    "MONITOR_TEMPLATE_BUCKET": TEMPLATE_BUCKET,
    "MONITOR_TEMPLATE_KEY": "monitor.template.json",
    "ROLLBACK_MONITORING_MINUTES": "10",
    "DEPLOYMENT_KINDS": json.dumps({stage: DEFAULT_CONFIG.endpoint_for(stage).kind for stage in STAGES}),
    "BATCH_SETTINGS": json.dumps(
        {stage: batch_parameter_values(DEFAULT_CONFIG.endpoint_for(stage)) for stage in STAGES}
    ),
    "BATCH_TEMPLATE_BUCKET": TEMPLATE_BUCKET,
    "BATCH_TEMPLATE_KEY": "batch.template.json",
    "PROJECT_SETTINGS_TABLE": PROJECT_SETTINGS_TABLE,
    "CHAMPION_CHALLENGER_TEMPLATE_BUCKET": TEMPLATE_BUCKET,
    "CHAMPION_CHALLENGER_TEMPLATE_KEY": "champion-challenger.template.json",
    "DEFAULT_EVALUATION_MODE": DEFAULT_CONFIG.champion_challenger.evaluation_mode,
    "EVALUATION_MODES": json.dumps(dict(DEFAULT_CONFIG.champion_challenger.project_modes)),
}
#: The environment the infrastructure gives the tracker.
TRACKER_ENVIRONMENT = {
    **COMMON_ENVIRONMENT,
    "PROMOTION_QUEUE_URL": PROMOTION_QUEUE_URL,
    "TARGET_ACCOUNTS": json.dumps([DEV, TEST, PROD]),
}
#: The environment the infrastructure gives the integration tester.
TESTER_ENVIRONMENT = {
    **COMMON_ENVIRONMENT,
    "PROJECT_SETTINGS_TABLE": PROJECT_SETTINGS_TABLE,
    "TESTER_ROLES": json.dumps({stage: endpoint_tester_role(ACCOUNT_OF_STAGE[stage]) for stage in STAGES}),
}


#: A test case of the churn model: one customer's features, one probability back.
TYPICAL_CASE = {
    "payload": "35,12,80.5,2,1,1",
    "content_type": "text/csv",
    "accept": "text/csv",
    "latency_budget_ms": 2000,
    "output": {"format": "csv", "count": 1, "minimum": 0, "maximum": 1},
}

PROJECT_SETTINGS_TABLE = f"{PREFIX}-project-settings"
#: The environment the infrastructure gives the monitoring loop (see ``stacks/operations.py``).
MONITORING_ENVIRONMENT = {
    "AWS_REGION": REGION,
    "LEDGER_TABLE": LEDGER_TABLE,
    "ALERT_TOPIC_ARN": ALERT_TOPIC_ARN,
    "DEV_ACCOUNT_ID": DEV,
    "STAGES": ",".join(STAGES),
    "PROJECT_SETTINGS_TABLE": PROJECT_SETTINGS_TABLE,
    "TARGET_ACCOUNTS": json.dumps(ACCOUNT_NAMES),
    "RETRAINING_COOLDOWN_HOURS": "24",
}
CLEANUP_ROLE = role_arn(DEV, f"{PREFIX}-endpoint-cleanup")
#: The environment the infrastructure gives the endpoint clean-up.
CLEANUP_ENVIRONMENT = {
    "AWS_REGION": REGION,
    "LEDGER_TABLE": LEDGER_TABLE,
    "ALERT_TOPIC_ARN": ALERT_TOPIC_ARN,
    "DEV_ACCOUNT_ID": DEV,
    "STAGES": ",".join(STAGES),
    "DEPLOY_ROLE_ARN": deploy_role(DEV),
    "CLOUDFORMATION_ROLE_ARN": cloudformation_role(DEV),
    "FEATURE_ENDPOINT_TTL_HOURS": "24",
}


def full_baselines() -> dict[str, Any]:
    """Drift-check baselines as a project pipeline registers them."""

    def source(name: str, content_type: str = "application/json") -> dict[str, str]:
        return {"ContentType": content_type, "S3Uri": f"{ARTIFACTS}/baselines/{name}"}

    return {
        "ModelDataQuality": {"Statistics": source("statistics.json"), "Constraints": source("constraints.json")},
        "ModelQuality": {"Constraints": source("model-quality-constraints.json")},
        "Bias": {
            "ConfigFile": source("bias-analysis-config.json"),
            "PreTrainingConstraints": source("pre-training-bias.json"),
            "PostTrainingConstraints": source("post-training-bias.json"),
        },
        "Explainability": {
            "ConfigFile": source("explainability-config.json"),
            "Constraints": source("explainability-constraints.json"),
        },
    }


def _trust(principal: dict[str, str]) -> dict[str, Any]:
    """A role's trust policy letting ``principal`` assume it."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }


class _AdminSessions(dict):
    """Each account's administrator session by account id, assumed on first use (most tests use one or none)."""

    def __init__(self, role_session_of) -> None:
        super().__init__()
        self._role_session_of = role_session_of

    def __missing__(self, account: str) -> boto3.Session:
        if account not in ACCOUNT_NAMES:
            raise KeyError(account)
        self[account] = self._role_session_of(role_arn(account, "OrganizationAccountAccessRole"))
        return self[account]


class Platform:
    """The accounts, the dev account's resources, and helpers to drive the handlers and inspect results."""

    def __init__(self, templates: DeployableTemplates) -> None:
        self.endpoint_template, self.monitor_template = templates.endpoint, templates.monitor
        self.batch_template = templates.batch
        self.champion_challenger_template = templates.champion_challenger
        #: Each account's administrator (``OrganizationAccountAccessRole``), a session made on first use.
        self.admin = _AdminSessions(self._role_session_of)
        self._admin_clients: dict[tuple[str, str], Any] = {}
        #: Requests of calls moto does not echo back (rollback triggers, tags, life cycles), as sent.
        self.requests: list[tuple[str, dict[str, Any]]] = []

        promoter = json.dumps(_trust({"AWS": role_arn(DEV, f"{PREFIX}-promoter")}))
        tester = json.dumps(_trust({"AWS": role_arn(DEV, f"{PREFIX}-integration-tester")}))
        cloudformation = json.dumps(_trust({"Service": "cloudformation.amazonaws.com"}))
        for account in ACCOUNT_NAMES:
            moto_seed.role(account, deploy_role(account).split("/")[-1], promoter)
            moto_seed.role(account, cloudformation_role(account).split("/")[-1], cloudformation)
            moto_seed.role(account, endpoint_tester_role(account).split("/")[-1], tester)
            self._publish_target_parameters(account)
            moto_seed.bucket(account, REGION, model_bucket(account))

        for table in (LEDGER_TABLE, PROJECT_SETTINGS_TABLE):
            moto_seed.table(DEV, REGION, table, "pk", "sk")
        self.promotion_queue = moto_seed.queue(DEV, REGION, f"{PREFIX}-promotion")
        assert self.promotion_queue == PROMOTION_QUEUE_URL
        self.alert_queue = moto_seed.queue(DEV, REGION, "alerts-inbox")
        self.topic = moto_seed.topic_to_queue(DEV, REGION, f"{PREFIX}-promotion-alerts", "alerts-inbox")
        assert self.topic == ALERT_TOPIC_ARN
        moto_seed.bucket(DEV, REGION, TEMPLATE_BUCKET)
        for key, body in (
            ("endpoint.template.json", templates.endpoint),
            ("monitor.template.json", templates.monitor),
            ("batch.template.json", templates.batch),
            ("champion-challenger.template.json", templates.champion_challenger),
        ):
            moto_seed.put_object(DEV, TEMPLATE_BUCKET, key, body.encode())
        moto_seed.bucket(DEV, REGION, ARTIFACT_BUCKET)
        #: The ETag of the model the project pipeline trained, which it registers (``ModelDataETag``).
        self.model_etag = moto_seed.put_object(DEV, ARTIFACT_BUCKET, MODEL_KEY, b"xgboost churn model, commit 9f1c2ab")
        for stage in STAGES:
            moto_seed.model_package_group(DEV, REGION, f"{PROJECT}-{stage}")

        self.promoter_environment = dict(PROMOTER_ENVIRONMENT)
        self.tracker_environment = dict(TRACKER_ENVIRONMENT)

    @cached_property
    def session(self) -> boto3.Session:
        """The promoter's own credentials (the session the handlers' clients come from)."""
        session = self.role_session("promoter")
        for operation in ("cloudformation.CreateChangeSet", "sagemaker.UpdateModelPackage"):
            session.events.register(f"provide-client-params.{operation}", self._record)
        return session

    @cached_property
    def _dynamodb(self):
        return self.admin[DEV].resource("dynamodb")

    @cached_property
    def _ledger(self):
        return self._dynamodb.Table(LEDGER_TABLE)

    # The handlers and the tester's session are made on first use (a test drives one or two of them); each
    # is configured as the infrastructure configures it, whatever a test changed in the environments since.

    @cached_property
    def promoter(self) -> Promoter:
        return Promoter(PromoterSettings.from_environment(PROMOTER_ENVIRONMENT), self._clients())

    @cached_property
    def tracker(self) -> Tracker:
        return Tracker(TrackerSettings.from_environment(TRACKER_ENVIRONMENT), self._clients())

    @cached_property
    def tester(self) -> IntegrationTester:
        settings = TesterSettings.from_environment(TESTER_ENVIRONMENT)
        return IntegrationTester(settings, self._clients(self.tester_session))

    @cached_property
    def tester_session(self) -> boto3.Session:
        """The integration tester's own credentials."""
        return self.role_session("integration-tester")

    def _publish_target_parameters(self, account: str) -> None:
        """What the deployment-target stack publishes in its account for the templates to resolve."""
        name = ACCOUNT_NAMES[account]
        for parameter, value in (
            (contract.SSM_EXECUTION_ROLE_ARN, role_arn(account, f"{PREFIX}-{name}-sagemaker-execution")),
            (contract.SSM_KMS_KEY_ARN, f"arn:aws:kms:{REGION}:{account}:key/0c9a7e1e-6f1e-4b8e-9d0e-3f0a1b2c3d4e"),
            (contract.SSM_DATA_CAPTURE_BUCKET, f"{PREFIX}-data-capture-{account}-{REGION}"),
            (contract.SSM_MODEL_BUCKET, model_bucket(account)),
            (contract.SSM_ASYNC_SUCCESS_TOPIC, f"arn:aws:sns:{REGION}:{account}:{PREFIX}-{name}-async-success"),
            (contract.SSM_ASYNC_ERROR_TOPIC, f"arn:aws:sns:{REGION}:{account}:{PREFIX}-{name}-async-error"),
            (contract.SSM_BATCH_SCHEDULER_ROLE_ARN, role_arn(account, f"{PREFIX}-{name}-batch-scheduler")),
        ):
            moto_seed.string_parameter(account, REGION, contract.target_parameter(PREFIX, parameter), value)

    @classmethod
    def _role_session_of(cls, arn: str) -> boto3.Session:
        """A session with the credentials of ``arn``, assumed from the dev account."""
        return cls._new_session(**moto_seed.credentials(DEV, REGION, arn, "platform-tests"))

    @staticmethod
    def _new_session(**credentials: str) -> boto3.Session:
        core = botocore.session.Session(event_hooks=copy.copy(_BUILTIN_HANDLERS), include_builtin_handlers=False)
        return boto3.Session(botocore_session=core, region_name=REGION, **credentials)

    def client(self, account: str, service: str):
        """An administrator's client in ``account``, reused (by this platform only: a cache shared by the class
        would keep every test's platform, its sessions and clients alive until the end of the run)."""
        if (account, service) not in self._admin_clients:
            self._admin_clients[account, service] = self.admin[account].client(service)
        return self._admin_clients[account, service]

    def _record(self, params: dict[str, Any], model, **_) -> None:
        self.requests.append((model.name, dict(params)))

    def _clients(self, session: boto3.Session | None = None):
        from clients import Clients

        return Clients(session or self.session)

    def new_promoter(self, **options) -> Promoter:
        """A promoter of a fresh Lambda environment (``options``: e.g. a stubbed ``cloudformation_for``)."""
        return Promoter(PromoterSettings.from_environment(self.promoter_environment), self._clients(), **options)

    # Registry

    def register(
        self,
        stage: str,
        *,
        approved: bool = True,
        metadata: dict[str, str] | None = None,
        baselines: dict[str, Any] | None = None,
        container: dict[str, str] | None = None,
    ) -> str:
        """Register a version in ``churn-<stage>`` as a project pipeline does (pinning the model it trained by
        its ETag); ``container`` overrides container fields. Returns its ARN."""
        sagemaker = self.client(DEV, "sagemaker")
        return sagemaker.create_model_package(
            ModelPackageGroupName=f"{PROJECT}-{stage}",
            ModelPackageDescription="XGBoost churn model",
            ModelApprovalStatus="Approved" if approved else "PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": MODEL_IMAGE,
                        "ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/{MODEL_KEY}",
                        "ModelDataETag": self.model_etag,
                        **(container or {}),
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={
                contract.META_COMMIT: "9f1c2ab",
                contract.META_GROUND_TRUTH: f"{ARTIFACTS}/ground-truth/",
                contract.META_PROBLEM_TYPE: "BinaryClassification",
                contract.META_PROBABILITY_ATTRIBUTE: "0",  # XGBoost binary:logistic returns a probability
                contract.META_PROBABILITY_THRESHOLD: "0.5",
                **(metadata or {}),
            },
            DriftCheckBaselines=full_baselines() if baselines is None else baselines,
        )["ModelPackageArn"]

    def put_model(self, body: bytes, key: str = MODEL_KEY) -> str:
        """Write a model artifact into the dev artifact store (the pipeline, or someone swapping it); its ETag."""
        return self.client(DEV, "s3").put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=body)["ETag"]

    def verified_copies(self, account: str) -> dict[str, bytes]:
        """The verified model copies in ``account``'s model bucket, by key."""
        s3 = self.client(account, "s3")
        listing = s3.list_objects_v2(Bucket=model_bucket(account)).get("Contents", [])
        return {
            item["Key"]: s3.get_object(Bucket=model_bucket(account), Key=item["Key"])["Body"].read() for item in listing
        }

    def set_approval(self, package_arn: str, status: str) -> None:
        """The approver changes a version's approval status."""
        self.client(DEV, "sagemaker").update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus=status)

    def package(self, package_arn: str) -> dict[str, Any]:
        return self.client(DEV, "sagemaker").describe_model_package(ModelPackageName=package_arn)

    def package_event(self, package_arn: str, **overrides) -> dict[str, Any]:
        """The state change SageMaker emits for the version as it is now."""
        return package_event(self.package(package_arn), **overrides)

    # Handlers

    def promote(self, *bodies: dict | str, promoter: Promoter | None = None) -> dict[str, Any]:
        return (promoter or self.promoter).handle(sqs_event(*bodies), LambdaContext("mlops-promoter"))

    def role_session(self, name: str) -> boto3.Session:
        """A session acting as the dev role ``<prefix>-<name>`` (a Lambda's own credentials)."""
        return self._role_session_of(role_arn(DEV, f"{PREFIX}-{name}"))

    def new_monitoring_loop(self, session: boto3.Session | None = None, **options) -> MonitoringLoop:
        """The monitoring loop of a fresh Lambda environment (``options``: e.g. its ``clock``)."""
        from clients import Clients

        settings = MonitoringSettings.from_environment(MONITORING_ENVIRONMENT)
        return MonitoringLoop(settings, Clients(session or self.role_session("monitoring")), **options)

    def new_cleanup(self, session: boto3.Session | None = None, **options) -> EndpointCleanup:
        """The endpoint clean-up of a fresh Lambda environment, with the clean-up role's credentials."""
        from clients import Clients

        settings = CleanupSettings.from_environment(CLEANUP_ENVIRONMENT)
        return EndpointCleanup(settings, Clients(session or self.role_session("endpoint-cleanup")), **options)

    def settings_item(self, project: str = PROJECT) -> dict[str, Any]:
        """A project's RETRAINING item in the project-settings table."""
        return self._project_settings().get_item(Key=self._retraining_key(project)).get("Item", {})

    def put_settings_item(self, item: dict[str, Any], project: str = PROJECT) -> None:
        """The project team writes its RETRAINING item (as the README shows)."""
        self._project_settings().put_item(Item={**self._retraining_key(project), **item})

    def put_deployment_item(self, item: dict[str, Any], project: str = PROJECT) -> None:
        """The project team chooses its deployment kinds (its DEPLOYMENT item)."""
        key = {"pk": contract.project_settings_partition(project), "sk": contract.DEPLOYMENT_SORT_KEY}
        self._project_settings().put_item(Item={**key, **item})

    def _project_settings(self):
        return self._dynamodb.Table(PROJECT_SETTINGS_TABLE)

    @staticmethod
    def _retraining_key(project: str) -> dict[str, str]:
        return {"pk": contract.project_settings_partition(project), "sk": contract.RETRAINING_SORT_KEY}

    def track(self, *bodies: dict | str) -> dict[str, Any]:
        return self.tracker.handle(sqs_event(*bodies, queue=f"{PREFIX}-tracking"), LambdaContext("mlops-tracker"))

    def test_endpoint(self, *bodies: dict | str) -> dict[str, Any]:
        """Run the integration tester on forwarded endpoint events."""
        return self.tester.handle(
            sqs_event(*bodies, queue=f"{PREFIX}-integration-tester"), LambdaContext("mlops-integration-tester")
        )

    # Integration tests

    def in_service(self, stage: str, deployment_id: str | None = None, **fields) -> dict[str, Any]:
        """The event SageMaker emits when the stage's endpoint (by default on its current deployment) is in service."""
        endpoint = f"{PROJECT}-{stage}-endpoint"
        return endpoint_event(
            account=ACCOUNT_OF_STAGE[stage],
            endpoint_name=endpoint,
            status="IN_SERVICE",
            config_name=f"{endpoint}-{deployment_id or self.state(stage)['deployment_id']}",
            detail_type="SageMaker Endpoint State Change",
            **fields,
        )

    def add_test_case(self, name: str, **fields: Any) -> None:
        """A test case of the project in the project-settings table, as ``scripts/integration_tests.py`` writes it."""
        item = {"pk": contract.project_settings_partition(PROJECT), "sk": contract.test_case_sort_key(name), **fields}
        self._project_settings().put_item(Item=item)

    def endpoint_answers(self, stage: str, *bodies: str, content_type: str = "text/csv") -> None:
        """Queue what the stage's endpoint answers to the next distinct requests (moto's SageMaker results API)."""
        queue_endpoint_answers(ACCOUNT_OF_STAGE[stage], REGION, bodies, content_type)

    def run_integration_tests(self, stage: str, *answers: str) -> dict[str, Any]:
        """The stage's endpoint, on its current deployment, answers ``answers`` to the project's test cases
        (by default the one typical case, answered 0.42) and the tester runs them."""
        if not answers:
            self.add_test_case("typical", **TYPICAL_CASE)
            answers = ("0.42",)
        self.serve(stage)
        self.endpoint_answers(stage, *answers)
        return self.test_endpoint(self.in_service(stage))

    def serve(self, stage: str, status: str = "InService") -> None:
        """Make ``DescribeEndpoint`` report the stage's endpoint with ``status`` on its current deployment's
        configuration, as SageMaker does after a blue/green update (moto's stack updates leave the first one)."""
        endpoint = sagemaker_backends[ACCOUNT_OF_STAGE[stage]][REGION].endpoints[f"{PROJECT}-{stage}-endpoint"]
        endpoint.endpoint_config_name = f"{endpoint.endpoint_name}-{self.state(stage)['deployment_id']}"
        endpoint.endpoint_status = status

    # Target accounts

    def cloudformation(self, stage: str):
        return self.client(ACCOUNT_OF_STAGE[stage], "cloudformation")

    def stack(self, stage: str, kind: str = "endpoint") -> dict[str, Any] | None:
        stacks = [
            s
            for s in self.cloudformation(stage).describe_stacks()["Stacks"]
            if s["StackName"] == self._stack_name(stage, kind)
        ]
        return stacks[0] if stacks else None

    def roll_back(self, stage: str, parameters: dict[str, str]) -> None:
        """Leave the stage's endpoint stack as CloudFormation does after rolling an update back (moto
        never does): ``UPDATE_ROLLBACK_COMPLETE`` with the ``parameters`` of the deployment before."""
        backend = cloudformation_backends[ACCOUNT_OF_STAGE[stage]][REGION]
        [stack] = [s for s in backend.stacks.values() if s.name == self._stack_name(stage, "endpoint")]
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
        stack.resource_map.resolved_parameters.update(parameters)

    def parameters(self, stage: str, kind: str = "endpoint") -> dict[str, str]:
        stack = self.stack(stage, kind)
        return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} if stack else {}

    def completion(self, stage: str, status: str = "UPDATE_COMPLETE", kind: str = "endpoint", **fields) -> dict:
        """The stack status event CloudFormation emits when the promoter's current operation ends."""
        state = self.state(stage)
        token = state["monitor_change_set"] if kind == "monitor" else state["deployment_id"]
        return stack_event(
            account=ACCOUNT_OF_STAGE[stage],
            stack_name=self._stack_name(stage, kind),
            status=status,
            token=fields.pop("token", token),
            **fields,
        )

    @staticmethod
    def _stack_name(stage: str, kind: str) -> str:
        return f"{PROJECT}-{stage}-{kind}"

    def change_set_requests(self) -> list[dict[str, Any]]:
        """``CreateChangeSet`` requests as the promoter sent them."""
        return [params for operation, params in self.requests if operation == "CreateChangeSet"]

    # Dev account

    def _table(self):
        return self._ledger

    def state(self, stage: str) -> dict[str, Any]:
        return self._table().get_item(Key={"pk": f"DEPLOYMENT#{PROJECT}#{stage}", "sk": "STATE"}).get("Item", {})

    def attempts(self, stage: str) -> list[dict[str, Any]]:
        response = self._table().query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": f"DEPLOYMENT#{PROJECT}#{stage}", ":prefix": "ATTEMPT#"},
        )
        return response["Items"]

    def test_record(self, package_arn: str) -> dict[str, Any]:
        return self._table().get_item(Key={"pk": f"PACKAGE#{package_arn}", "sk": "TEST"}).get("Item", {})

    def alerts(self) -> list[tuple[str, dict[str, Any]]]:
        """The notifications sent since the last call: (subject, message)."""
        return [(body["Subject"], json.loads(body["Message"])) for body in self._drain(self.alert_queue)]

    def reconcile_requests(self) -> list[dict[str, Any]]:
        """Messages the tracker put on the promotion queue since the last call."""
        return self._drain(self.promotion_queue)

    def _drain(self, queue_url: str) -> list[dict[str, Any]]:
        sqs = self.client(DEV, "sqs")
        bodies = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@dataclass(frozen=True)
class DeployableTemplates:
    """The endpoint, monitor and batch templates as the app synthesizes them (what the promoter deploys)."""

    endpoint: str
    monitor: str
    batch: str
    champion_challenger: str


@pytest.fixture(scope="session")
def deployable_templates(synthesized) -> DeployableTemplates:
    cdk_platform, assembly = synthesized
    nested = assembly.get_nested_assembly(cdk_platform.endpoint_template.node.scope.artifact_id)
    body = {
        stack: Path(nested.get_stack_artifact(stack.artifact_id).template_full_path).read_text()
        for stack in (
            cdk_platform.endpoint_template,
            cdk_platform.monitor_template,
            cdk_platform.batch_template,
            cdk_platform.champion_challenger_template,
        )
    }
    return DeployableTemplates(
        body[cdk_platform.endpoint_template],
        body[cdk_platform.monitor_template],
        body[cdk_platform.batch_template],
        body[cdk_platform.champion_challenger_template],
    )


@pytest.fixture
def platform(monkeypatch, deployable_templates) -> Iterator[Platform]:
    """A fresh three-account platform in moto (eu-west-1), with the promoter and tracker ready to run."""
    for name, value in {**MOTO_ENVIRONMENT, "POWERTOOLS_SERVICE_NAME": "platform-tests"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    monkeypatch.setattr(
        SageMakerModelBackend,
        "update_model_package",
        sagemaker_like_update_model_package(SageMakerModelBackend.update_model_package),
    )
    monkeypatch.setattr(S3Response, "copy_object", s3_like_copy_object(S3Response.copy_object))
    monkeypatch.setattr(Subscription, "private_key", shared_signing_key)
    for model, attribute, value in PROPERTY_NAMED_ENDPOINTS:
        monkeypatch.setattr(model, attribute, value)
    if next(_PLATFORMS_BUILT) == 1:
        freeze_long_lived()  # what the first moto test loaded: moto's and botocore's models
    with mock_aws():
        yield Platform(deployable_templates)


_PLATFORMS_BUILT = itertools.count()


handler_calls.install()


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "other_configuration(reason): the test runs a handler configured unlike the default synthesized app, "
        "so its calls are not checked against the synthesized roles",
    )


@pytest.fixture(autouse=True)
def handler_calls_are_allowed(request, synthesized_roles):
    """Every AWS call a handler makes during the test is allowed by the synthesized role it runs as
    (``tests/handler_permissions.py``): a new call without its permission fails the test that makes it."""
    with handler_calls.recorded() as made:
        yield
    if made and request.node.get_closest_marker("other_configuration") is None:
        problems, checked = denials(made, synthesized_roles, _template_stand_ins(synthesized_roles))
        assert not problems, "calls the synthesized policies do not allow:\n" + "\n".join(problems)
        _CHECKED["calls"] += len(made)
        _CHECKED_PAIRS.update(checked)


#: What this process checked: calls, and (role, action) pairs.
_CHECKED = {"calls": 0}
_CHECKED_PAIRS: set[tuple[str, str]] = set()


def pytest_terminal_summary(terminalreporter) -> None:
    if _CHECKED["calls"]:
        terminalreporter.write_line(
            f"handler calls checked against the synthesized roles: {_CHECKED['calls']} calls, "
            f"{len(_CHECKED_PAIRS)} (role, action) pairs"
        )


def _template_stand_ins(roles) -> dict[str, str]:
    """The tests' copies of the templates the functions read stand for the synthesized asset objects."""
    promoter, projects = roles.environment("promoter"), roles.environment("project_template")
    stand_ins = {
        f"arn:aws:s3:::{TEMPLATE_BUCKET}/{PROMOTER_ENVIRONMENT[f'{kind}_TEMPLATE_KEY']}": (
            f"arn:aws:s3:::{promoter[f'{kind}_TEMPLATE_BUCKET']}/{promoter[f'{kind}_TEMPLATE_KEY']}"
        )
        for kind in ("ENDPOINT", "MONITOR", "BATCH", "CHAMPION_CHALLENGER")
    }
    project_template = f"arn:aws:s3:::{projects['TEMPLATE_BUCKET']}/{projects['TEMPLATE_KEY']}"
    asset = "?" * 64 + ".zip"  # the tests' copy of the template archive, under an asset hash of their own
    return {**stand_ins, f"arn:aws:s3:::{projects['TEMPLATE_BUCKET']}/{asset}": project_template}
