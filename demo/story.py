"""The demo's story, step by step, with a printed timeline (see ``demo/__main__.py``)."""

from __future__ import annotations

import io
import json
import logging
import tempfile
from collections.abc import Callable
from contextlib import ExitStack, redirect_stdout
from pathlib import Path
from typing import Any, TextIO
from unittest.mock import patch

import boto3
import pytest
from moto import mock_aws
from moto.s3.responses import S3Response
from moto.sagemaker.models import SageMakerModelBackend
from pipelines import copy_to_prod

import contract
from clients import Clients
from demo.runtime import EventBridge, LambdaPollers, matches
from demo.synthesized import CloudAssembly, PhysicalNames, StackTemplate, StandInDeployment
from integration_tester.handler import IntegrationTester, TesterSettings
from monitoring_loop.handler import MonitoringLoop, MonitoringSettings
from notifier.handler import Notifier, NotifierSettings
from project_template.handler import ProjectTemplate, serve
from project_template.handler import Settings as ProjectSettings
from promoter.handler import Promoter, PromoterSettings
from scripts import deployment_kind, integration_tests
from settings import Environment
from tests.lambdas.events import (
    alarm_state_change,
    codecommit_reference_change,
    endpoint_deployment_state_change,
    model_package_state_change,
    stack_status_change,
)
from tests.lambdas.moto_stand_ins import (
    PROPERTY_NAMED_ENDPOINTS,
    BatchPipelineRuns,
    queue_endpoint_answers,
    s3_like_copy_object,
    sagemaker_like_update_model_package,
)
from tests.lambdas.project_fakes import LambdaContext as ProjectTemplateContext
from tests.lambdas.project_fakes import ResponseCatcher, custom_resource_event, install_moto_stand_ins
from tracker.handler import Tracker, TrackerSettings

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "churn"
#: The stacks the demo stands up, in deployment order (see docs/deploying.md, "The order of `cdk deploy --all`").
DEPLOYED_STACKS = (
    "mlops-dev-promotion",
    "mlops-dev-operations",
    "mlops-dev-target",
    "mlops-test-target",
    "mlops-prod-target",
    "mlops-dev-artifacts",
    "mlops-dev-projects",
)
PROJECT_TEMPLATE_HANDLER = "project_template.handler.handler"
#: How each queue-fed handler is built from its synthesized environment and its role's clients.
HANDLERS: dict[str, Callable[[dict[str, str], Clients], Any]] = {
    "promoter.handler.handler": lambda env, clients: Promoter(PromoterSettings.from_environment(env), clients),
    "tracker.handler.handler": lambda env, clients: Tracker(TrackerSettings.from_environment(env), clients),
    "integration_tester.handler.handler": lambda env, clients: IntegrationTester(
        TesterSettings.from_environment(env), clients
    ),
    "monitoring_loop.handler.handler": lambda env, clients: MonitoringLoop(
        MonitoringSettings.from_environment(env), clients
    ),
    "notifier.handler.handler": lambda env, clients: Notifier(NotifierSettings.from_environment(env), clients),
}
#: The project's integration test cases: the template's example, in name order, and what the good
#: model answers to each (the endpoint's answers are moto's, configured through its results API).
TEST_CASES = ROOT / "project_templates" / "tabular-xgboost" / "integration-tests.json"
GOOD_ANSWERS = ("0.12\n0.85\n0.33", "0.97", "0.42")
#: The template's choice of deployment kind (``config/deployment.json``), which a project edits.
DEPLOYMENT_FILE = ROOT / "project_templates" / "tabular-xgboost" / "config" / "deployment.json"
#: The second project, which scores a table on a schedule: it deploys as batch.
BATCH_PROJECT = "scoring"
STAND_IN = "(stand-in)"


class Story:
    """Runs the demo in a fresh moto world and prints what happens."""

    def __init__(self, cdk_out: Path, out: TextIO) -> None:
        self.assembly = CloudAssembly(cdk_out)
        self.out = out
        #: The project the story is about at this point, and its model package group stages.
        self.project = PROJECT
        self.stages: tuple[str, ...] = ("feature", "dev", "prod")
        self.step = 0
        self.warnings: list[str] = []
        self.accounts: dict[str, str] = {}  # account id -> dev, test, prod
        self.account_of: dict[str, str] = {}
        #: Stack operations whose end CloudFormation has reported: (stage, stack kind, token).
        self.reported_operations: set[tuple[str, str, str]] = set()
        #: The last ledger line printed per stage, to print changes only.
        self.printed_states: dict[str, str] = {}

    def run(self) -> None:
        original_update = SageMakerModelBackend.update_model_package
        SageMakerModelBackend.update_model_package = sagemaker_like_update_model_package(original_update)
        collector = _WarningCollector(self.warnings)
        logging.getLogger("platform").addHandler(collector)
        try:
            with ExitStack() as patches, mock_aws():
                for model, attribute, value in PROPERTY_NAMED_ENDPOINTS:
                    patches.enter_context(patch.object(model, attribute, value))
                patches.enter_context(
                    patch.object(S3Response, "copy_object", s3_like_copy_object(S3Response.copy_object))
                )
                stand_ins = patches.enter_context(pytest.MonkeyPatch.context())
                install_moto_stand_ins(stand_ins)
                # The good model's batch output: the cases' rows in name order, as the endpoint answers them.
                BatchPipelineRuns(output="\n".join(GOOD_ANSWERS) + "\n", on_run=self._pipeline_run).install(stand_ins)
                self._run()
        finally:
            SageMakerModelBackend.update_model_package = original_update
            logging.getLogger("platform").removeHandler(collector)

    # The story

    def _run(self) -> None:
        self._install()
        self._heading("1. A data scientist's model reaches the test account")
        self._push("dev", commit="9f1c2ab")
        v1 = self._register("dev", commit="9f1c2ab", auc="0.912")
        self._approve(v1)
        self._endpoint_in_service("dev", answers=GOOD_ANSWERS)

        self._heading("2. CI copies the approved model to the prod group; the approver releases it")
        self._show("dev", "CI (push to prod)", "copies the approved churn-dev package (copy_to_prod)")
        (v1_prod,) = copy_to_prod.copy_to_prod(self.sagemaker, self.project, ["prod"]).values()
        self._package_line("prod", v1_prod)
        self._approve(v1_prod)

        self._heading("3. A bad model: its alarm fires during the rollout and CloudFormation rolls back")
        v2 = self._register("dev", commit="5be07d1", auc="0.874")
        self._approve(v2, settle_stacks=False)
        self._alarm("dev")
        self._rollback("dev")

        self._heading("4. The bad model cannot reach prod: it never passed the test stage's integration tests")
        self._show("dev", "CI (push to prod)", "copies the latest approved churn-dev package")
        (v2_prod,) = copy_to_prod.copy_to_prod(self.sagemaker, self.project, ["prod"]).values()
        self._package_line("prod", v2_prod)
        self._approve(v2_prod)

        self._heading("5. Someone overwrites an approved model's artifact: the promoter refuses the swap")
        v3 = self._register("dev", commit="c0ffee1", auc="0.915")
        self._swap_artifact(v3)
        self._approve(v3)

        self._heading("6. A second project scores its customers every night: it deploys as batch")
        self._batch_project()

        self._heading("Ledger (dev account, promotion ledger)")
        self._print_ledger()

    def _batch_project(self) -> None:
        """A second project chooses the batch kind; its version is smoke-run in test, then reaches prod."""
        self.project = BATCH_PROJECT
        self._create_project()
        self._choose_deployment_kind("batch")
        self._load_test_cases()
        self._push("dev", commit="7a11b0c")
        version = self._register("dev", commit="7a11b0c", auc="0.887")
        self._approve(version)
        self._show("dev", "CI (push to prod)", f"copies the approved {self.project}-dev package (copy_to_prod)")
        (prod_version,) = copy_to_prod.copy_to_prod(self.sagemaker, self.project, ["prod"]).values()
        self._package_line("prod", prod_version)
        self._approve(prod_version)
        prod = contract.Deployment(self.project, "prod").endpoint_name
        pipeline = f"{prod}{contract.BATCH_RESOURCE_SUFFIX}"
        self._show("prod", f"SageMaker {STAND_IN}", f"a scheduled run of {pipeline} fails; the stack's rule matches it")
        self._alarm("prod", f"{prod}{contract.BATCH_FAILURES_ALARM_SUFFIX}")

    # Setting up

    def _install(self) -> None:
        self._heading("0. The platform, stood up from cdk.out")
        stacks = self.assembly.stacks()
        self.accounts = {stacks[name].account: name.split("-")[1] for name in DEPLOYED_STACKS}
        self.account_of = {name: account for account, name in self.accounts.items()}
        self.sts = sts = boto3.client("sts")
        self.admin = {
            account: _assumed(sts, f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole")
            for account in self.accounts
        }
        dev = self.account_of["dev"]
        self.events = EventBridge(self.admin)
        self.deployments = deployments = {}
        for name in DEPLOYED_STACKS:
            stack = stacks[name]
            deployment = StandInDeployment(stack, self.admin[stack.account], deployments)
            created = deployment.deploy()
            self.events.add_rules(deployment)
            deployments[name] = deployment
            self._show(
                stack.account,
                f"CloudFormation {STAND_IN}",
                f"deploys {name}: {len(created)} resources the handlers use",
            )
        promotion = deployments["mlops-dev-promotion"]
        self._upload_deployable_templates(promotion)
        self.pollers = LambdaPollers(self.admin[dev])
        for stack in (promotion, deployments["mlops-dev-operations"]):
            for handler, (queue_arn, batch_size) in stack.event_sources().items():
                clients = Clients(_assumed(sts, stack.function_role_arn(handler)))
                function = HANDLERS[handler](stack.function_environment(handler), clients)
                name = handler.split(".")[0].replace("_", " ")
                self.pollers.add(name, queue_arn, batch_size, function.handle)
        environment = promotion.function_environment("tracker.handler.handler")
        self.ledger = self.admin[dev].resource("dynamodb").Table(environment["LEDGER_TABLE"])
        self.inbox = self._subscribe_inbox(environment["ALERT_TOPIC_ARN"])
        notifier = deployments["mlops-dev-operations"].function_environment("notifier.handler.handler")
        self.approver_inbox = self._subscribe_inbox(notifier["APPROVAL_TOPIC_ARN"], "demo-approver-inbox")
        self.sagemaker = self.admin[dev].client("sagemaker")
        self.dev_sqs = self.admin[dev].client("sqs")
        tester_environment = promotion.function_environment("integration_tester.handler.handler")
        self.project_settings = self.admin[dev].resource("dynamodb").Table(tester_environment["PROJECT_SETTINGS_TABLE"])
        self._create_project()
        self._load_test_cases()

    def _load_test_cases(self) -> None:
        """The MLOps engineer loads the template's integration test cases for ``self.project``."""
        loaded = integration_tests.load(
            self.project_settings, self.project, integration_tests.read_cases(TEST_CASES), replace=True
        )
        self._show("dev", "MLOps engineer", f"loads the integration test cases {', '.join(loaded['written'])}")

    def _choose_deployment_kind(self, kind: str) -> None:
        """The project's ``config/deployment.json`` chooses ``kind``; the MLOps engineer loads it as the
        project's ``DEPLOYMENT`` item with ``scripts/deployment_kind.py`` (validated with the promoter's rules)."""
        document = json.loads(DEPLOYMENT_FILE.read_text()) | {contract.DeploymentFields.KIND: kind}
        self._show("dev", "Data scientist", f"sets config/deployment.json of {self.project} to {json.dumps(document)}")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / DEPLOYMENT_FILE.name
            path.write_text(json.dumps(document))
            arguments = ["load", "--project", self.project, "--table", self.project_settings.name, str(path)]
            with redirect_stdout(io.StringIO()):  # it prints the item it wrote
                failed = deployment_kind.main(
                    arguments, dynamodb=self.admin[self.account_of["dev"]].resource("dynamodb")
                )
        if failed:
            raise RuntimeError(f"scripts/deployment_kind.py refused {json.dumps(document)}")
        self._show(
            "dev", "MLOps engineer", f"loads it with scripts/deployment_kind.py: {self.project} deploys as {kind}"
        )

    def _upload_deployable_templates(self, promotion: StandInDeployment) -> None:
        """The CDK CLI's asset publishing: every template the promoter deploys (its ``*_TEMPLATE_KEY``
        settings: endpoint, monitor, batch, champion/challenger endpoint)."""
        environment = promotion.function_environment("promoter.handler.handler")
        s3 = self.admin[promotion.stack.account].client("s3")
        kinds = [name.removesuffix("_TEMPLATE_KEY") for name in environment if name.endswith("_TEMPLATE_KEY")]
        for bucket in {environment[f"{kind}_TEMPLATE_BUCKET"] for kind in kinds}:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": promotion.stack.region})
        for kind in kinds:
            key = environment[f"{kind}_TEMPLATE_KEY"]
            s3.put_object(Bucket=environment[f"{kind}_TEMPLATE_BUCKET"], Key=key, Body=self.assembly.asset_object(key))

    def _create_project(self) -> None:
        """A data scientist creates the project ``self.project`` in Studio: Service Catalog launches the
        product, whose custom resource runs the real project-template function (repository, branches, groups)."""
        projects, sts = self.deployments["mlops-dev-projects"], self.sts
        environment = projects.function_environment(PROJECT_TEMPLATE_HANDLER)
        key = environment["TEMPLATE_KEY"]
        s3 = self.admin[projects.stack.account].client("s3")
        s3.put_object(Bucket=environment["TEMPLATE_BUCKET"], Key=key, Body=self.assembly.asset_object(key))
        clients = Clients(_assumed(sts, projects.function_role_arn(PROJECT_TEMPLATE_HANDLER)))
        function = ProjectTemplate(ProjectSettings.from_environment(Environment(environment)), clients)
        self._show("dev", "Data scientist (Studio)", f"creates the project {self.project!r} from the catalog product")
        catcher = ResponseCatcher()
        project_id = self.sagemaker.create_project(
            ProjectName=self.project, ServiceCatalogProvisioningDetails={"ProductId": "prod-mlopsproject1"}
        )["ProjectId"]
        event = custom_resource_event("Create", response_url=catcher.url, name=self.project, project_id=project_id)
        serve(event, ProjectTemplateContext(), lambda: function)
        catcher.close()
        (answer,) = catcher.responses
        self._show(
            "dev", f"Service Catalog {STAND_IN}", f"launches the product; the function answers {answer['Status']}"
        )
        codecommit = clients.codecommit
        branches = {
            branch: codecommit.get_branch(repositoryName=self.project, branchName=branch)["branch"]["commitId"][:7]
            for branch in (contract.PROD_BRANCH, contract.DEV_BRANCH)
        }
        seeded = ", ".join(f"{branch} at {commit}" for branch, commit in branches.items())
        self._show("dev", "Project template (Lambda)", f"CodeCommit repository {self.project}: {seeded}")
        summaries = self.sagemaker.list_model_package_groups(NameContains=f"{self.project}-")[
            "ModelPackageGroupSummaryList"
        ]
        groups = sorted(summary["ModelPackageGroupName"] for summary in summaries)
        policy = json.loads(
            self.sagemaker.get_model_package_group_policy(ModelPackageGroupName=groups[0])["ResourcePolicy"]
        )
        readers = sorted({arn.split(":")[4] for arn in policy["Statement"][0]["Principal"]["AWS"]})
        self._show(
            "dev", "", f"  groups {', '.join(groups)}; their policies let roles of {', '.join(readers)} read them"
        )

    def _subscribe_inbox(self, topic_arn: str, name: str = "demo-team-inbox") -> str:
        """A mailbox: an SQS queue subscribed to a topic (the team's to the alert topic)."""
        dev = self.admin[self.account_of["dev"]]
        queue_url = dev.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        queue_arn = dev.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        dev.client("sns").subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "false"},
        )
        return queue_url

    # People

    def _push(self, branch: str, *, commit: str) -> None:
        """A push to the project's CodeCommit repository, matched against the CI triggers of the project's
        stack as synthesized: the push rule starts the project's build, whose pipeline run (the SageMaker
        SDK is not installed here) is stood in for by the registration that follows."""
        dev = self.account_of["dev"]
        event = codecommit_reference_change(self.project, branch, account=dev)
        event["detail"]["commitId"] = commit.ljust(40, "0")
        (product,) = self.assembly.product_templates()
        stack = StackTemplate(f"SC-{dev}-pp-{self.project}", dev, event["region"], product, self.assembly.directory)
        resolver = PhysicalNames(stack, parameters={contract.ProjectParameters.PROJECT_NAME: self.project}).resolver
        rules = [resolver.resolve(rule["Properties"]) for rule in stack.resources("AWS::Events::Rule").values()]
        started = [rule["Name"] for rule in rules if matches(rule["EventPattern"], event)]
        self._show("dev", "Data scientist", f"pushes {commit} to {branch} of the CodeCommit repository {self.project}")
        self._show("dev", f"EventBridge {STAND_IN}", f"{', '.join(started) or 'no CI trigger'} matches the push")
        if started:
            self._show(
                "dev",
                f"CodeBuild {self.project}{contract.CI_PROJECT_SUFFIX} {STAND_IN}",
                f"BRANCH={branch}: pytest, then pipelines.run --branch {branch} as {self.project}-ci "
                f"(the pipeline run below stands in, as {self.project}-pipeline)",
            )

    def _register(self, stage: str, *, commit: str, auc: str, metadata: dict[str, str] | None = None) -> str:
        """The project's pipeline trains a model and registers it, pinned to its ETag, with its lineage
        (and ``metadata``), pending approval."""
        bucket = f"mlops-artifacts-{self.account_of['dev']}-eu-west-1"
        artifacts = f"s3://{bucket}/projects/{self.project}"
        baselines = f"{artifacts}/baselines/{commit}"
        model_key = f"projects/{self.project}/training/{commit}/model.tar.gz"
        etag = (
            self.admin[self.account_of["dev"]]
            .client("s3")
            .put_object(Bucket=bucket, Key=model_key, Body=f"xgboost model {commit}".encode())["ETag"]
        )
        arn = self.sagemaker.create_model_package(
            ModelPackageGroupName=f"{self.project}-{stage}",
            ModelPackageDescription=f"XGBoost {self.project} model",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                        "ModelDataUrl": f"s3://{bucket}/{model_key}",
                        "ModelDataETag": etag,
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={
                contract.META_COMMIT: commit,
                "GitBranch": stage,
                "DatasetS3Uri": f"{artifacts}/data/{self.project}.csv",
                "MetricAuc": auc,
                contract.META_PROBLEM_TYPE: "BinaryClassification",
                contract.META_PROBABILITY_ATTRIBUTE: "0",
                contract.META_PROBABILITY_THRESHOLD: "0.5",
                **(metadata or {}),
            },
            DriftCheckBaselines={
                "ModelDataQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": f"{baselines}/statistics.json"},
                    "Constraints": {"ContentType": "application/json", "S3Uri": f"{baselines}/constraints.json"},
                }
            },
        )["ModelPackageArn"]
        self._show("dev", "Data scientist (pipeline)", f"registers {_version(arn)}: commit {commit}, AUC {auc}")
        package = self.sagemaker.describe_model_package(ModelPackageName=arn)
        self._emit(model_package_state_change(package), account=self.account_of["dev"], emitter="SageMaker")
        self._settle()
        return arn

    def _swap_artifact(self, package_arn: str) -> None:
        """After registration, other bytes are written under the registered model's URL (people cannot write
        ``projects/``; code that a pipeline step runs as the pipeline role can)."""
        (container,) = self.sagemaker.describe_model_package(ModelPackageName=package_arn)["InferenceSpecification"][
            "Containers"
        ]
        bucket, key = container["ModelDataUrl"].removeprefix("s3://").split("/", 1)
        self.admin[self.account_of["dev"]].client("s3").put_object(Bucket=bucket, Key=key, Body=b"another model")
        who = "Job code (pipeline role)"  # the only writer of projects/ left: code a pipeline step runs
        self._show("dev", who, f"overwrites the artifact of {_version(package_arn)} (s3://{bucket}/{key})")

    def _approve(self, package_arn: str, *, settle_stacks: bool = True, status: str = "Approved") -> None:
        """The model approver approves (or sets another ``status``); SageMaker emits the state change; the
        handlers take it from there."""
        self.sagemaker.update_model_package(ModelPackageArn=package_arn, ModelApprovalStatus=status)
        action = "approves" if status == "Approved" else f"sets {status}:"
        self._show("dev", "Model approver", f"{action} {_version(package_arn)}")
        package = self.sagemaker.describe_model_package(ModelPackageName=package_arn)
        self._emit(model_package_state_change(package), account=self.account_of["dev"], emitter="SageMaker")
        self._settle(complete_stacks=settle_stacks)

    # What AWS does, played by stand-ins

    def _emit(self, event: dict[str, Any], *, account: str, emitter: str) -> None:
        queues = self.events.put(event, account=account)
        where = ", ".join(queues) or "no rule matched"
        self._show(account, f"{emitter} {STAND_IN}", f"emits {event['detail-type']!r} -> {where}")

    def _settle(self, *, complete_stacks: bool = True) -> None:
        """Run the handlers until the queues are empty; CloudFormation reports each operation the
        promoter started (moto applies a change set at once: the stand-in emits its final status)."""
        for _ in range(12):
            if not self.pollers.poll(self._report):
                return
            if complete_stacks:
                self._complete_operations()

    def _complete_operations(self) -> None:
        """Report the end of each stack operation the promoter started and nobody reported yet."""
        for stage in self.stages:
            state = self._state(stage)
            operations = (
                ("endpoint", state.get("deployment_id"), state.get("status")),
                ("monitor", state.get("monitor_change_set"), state.get("monitor_status")),
            )
            for kind, token, status in operations:
                operation = (stage, kind, token)
                if token and status == "IN_PROGRESS" and operation not in self.reported_operations:
                    self.reported_operations.add(operation)
                    owner = self._stack_owner(stage, kind, state)
                    self._stack_event(owner, kind, self._stack_status(owner, kind), token)

    def _stack_owner(self, stage: str, kind: str, state: dict[str, Any]) -> str:
        """The stage whose ``kind`` stack runs ``stage``'s operations: its own."""
        return stage

    def _stack_status(self, stage: str, kind: str) -> str:
        """The status moto gave the stack when it applied the promoter's change set."""
        return self._describe_stack(stage, kind)["StackStatus"]

    def _describe_stack(self, stage: str, kind: str) -> dict[str, Any]:
        cloudformation = self.admin[self.account_of[contract.STAGE_ACCOUNTS[stage]]].client("cloudformation")
        (stack,) = cloudformation.describe_stacks(StackName=f"{self.project}-{stage}-{kind}")["Stacks"]
        return stack

    def _stack_event(self, stage: str, kind: str, status: str, token: str, reason: str = "") -> None:
        account = self.account_of[contract.STAGE_ACCOUNTS[stage]]
        event = stack_status_change(
            account=account, stack_name=f"{self.project}-{stage}-{kind}", status=status, token=token, reason=reason
        )
        self._show(
            account,
            f"CloudFormation {STAND_IN}",
            f"{self.project}-{stage}-{kind} {status}{self._serving(stage, kind, status)}",
        )
        self.events.put(event, account=account)

    def _serving(self, stage: str, kind: str, status: str) -> str:
        """What the stage's stack (endpoint or batch template) serves, from the parameters the promoter set."""
        if kind != "endpoint" or "ROLLBACK" in status:
            return ""  # moto does not roll back; CloudFormation restores the previous parameters
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in self._describe_stack(stage, kind)["Parameters"]}
        names = contract.EndpointParameters
        package = _version(parameters[names.MODEL_PACKAGE_ARN])
        instances = f"{parameters[names.INSTANCE_COUNT]} x {parameters[names.INSTANCE_TYPE]}"
        if contract.BatchParameters.SCHEDULE_EXPRESSION not in parameters:
            return f" (serves {package} on {instances}, {parameters[names.DEPLOYMENT_STRATEGY]})"
        batch = f"s3://{parameters['DataCaptureBucketName']}/{contract.batch_prefix(parameters[names.ENDPOINT_NAME])}"
        schedule = parameters[contract.BatchParameters.SCHEDULE_EXPRESSION]
        return f" (scores with {package} on {instances} at {schedule}: {batch}input/ -> {batch}output/)"

    def _pipeline_run(self, execution_arn: str, parameters: dict[str, str]) -> None:
        """A run of a stage's batch pipeline started (the integration tester's smoke run)."""
        account, resource = execution_arn.split(":")[4], execution_arn.split(":", 5)[5]
        _, pipeline, _, execution = resource.split("/")
        rows = len(BatchPipelineRuns.run_input(execution_arn, parameters).splitlines())
        self._show(
            account,
            f"SageMaker {STAND_IN}",
            f"runs the pipeline {pipeline} on its smoke input ({rows} rows of the cases, "
            f"{parameters[contract.BATCH_INPUT_URI]}): its transform writes "
            f"{parameters[contract.BATCH_OUTPUT_PREFIX]}{execution}/",
        )

    def _endpoint_in_service(self, stage: str, answers: tuple[str, ...]) -> None:
        """SageMaker reports the stage's endpoint in service; it will answer the test cases ``answers``."""
        account = self.account_of[contract.STAGE_ACCOUNTS[stage]]
        queue_endpoint_answers(account, "eu-west-1", answers)
        deployment = contract.Deployment(self.project, stage)
        event = endpoint_deployment_state_change(
            account=account,
            endpoint_name=deployment.endpoint_name,
            status="IN_SERVICE",
            config_name=f"{deployment.endpoint_name}-{self._state(stage)['deployment_id']}",
            detail_type="SageMaker Endpoint State Change",
        )
        self._emit(event, account=account, emitter="SageMaker")
        self._settle()

    def _alarm(self, stage: str, alarm_name: str = "") -> None:
        """CloudWatch reports an alarm of the stage (by default its endpoint's 5xx-errors alarm) in ALARM."""
        account = self.account_of[contract.STAGE_ACCOUNTS[stage]]
        alarm_name = alarm_name or contract.alarm_names(contract.Deployment(self.project, stage))[0]
        self._emit(alarm_state_change(account=account, alarm_name=alarm_name), account=account, emitter="CloudWatch")
        self._settle(complete_stacks=False)

    def _rollback(self, stage: str) -> None:
        """CloudFormation's rollback trigger: the alarm fired within the monitoring time."""
        state = self._state(stage)
        reason = "Rollback triggered by alarm: " + contract.alarm_names(contract.Deployment(self.project, stage))[0]
        self._stack_event(stage, "endpoint", "UPDATE_ROLLBACK_COMPLETE", state["deployment_id"], reason)
        self.reported_operations.add((stage, "endpoint", state["deployment_id"]))
        self._settle()

    # Printing

    def _heading(self, text: str) -> None:
        print(f"\n== {text}", file=self.out)

    def _show(self, where: str, actor: str, text: str) -> None:
        """One timeline line; ``where`` is an account's name (dev, test, prod) or id."""
        account = self.account_of.get(where, where)
        name = self.accounts.get(account, where)
        self.step += 1
        print(f"{self.step:>3}  {name:<5} {account}  {actor:<32} {text}", file=self.out)

    def _package_line(self, stage: str, package_arn: str) -> None:
        package = self.sagemaker.describe_model_package(ModelPackageName=package_arn)
        source = package.get("CustomerMetadataProperties", {}).get(contract.META_SOURCE_PACKAGE, "")
        self._show(
            "dev", "SageMaker registry", f"{_version(package_arn)} pending approval, copied from {_version(source)}"
        )

    def _report(self, function: str, events: list[dict[str, Any]]) -> None:
        """What one handler invocation did: the events it handled, then its warnings, ledger changes, alerts."""
        for event in events:
            self._show("dev", f"{function.replace('_', ' ').capitalize()} (Lambda)", f"handles {_summary(event)}")
        for warning in self.warnings:
            self._show("dev", "", f"  log: {warning}")
        self.warnings.clear()
        for stage in self.stages:
            line = self._state_line(stage)
            if line and line != self.printed_states.get(stage):
                self.printed_states[stage] = line
                self._show("dev", "", f"  ledger: {line}")
        for subject_line in self._drain_inbox(self.inbox):
            self._show("dev", "", f"  alert: {subject_line}")
        for subject_line in self._drain_inbox(self.approver_inbox):
            self._show("dev", "", f"  approvers notified: {subject_line}")

    def _state(self, stage: str) -> dict[str, Any]:
        key = {"pk": f"DEPLOYMENT#{self.project}#{stage}", "sk": "STATE"}
        return self.ledger.get_item(Key=key).get("Item", {})

    def _state_line(self, stage: str) -> str:
        state = self._state(stage)
        if not state.get("package_arn"):  # nothing deployed yet (a decision about a pending version)
            return ""
        version = _version(state.get("package_arn", ""))
        line = f"stage {stage}: {version} {state.get('status', '')} ({state.get('deployment_id', '')})"
        if state.get("reason"):
            line += f": {state['reason']}"
        if state.get("tests_result"):
            line += f"; integration tests {state['tests_result']}"
        if state.get("monitor_decision"):
            line += f"; monitor stack: {state['monitor_decision']} {state.get('monitor_status', '')}".rstrip()
        return line

    def _drain_inbox(self, queue_url: str) -> list[str]:
        sqs = self.dev_sqs
        subjects = []
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                subjects.append(json.loads(message["Body"])["Subject"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return subjects

    def _print_ledger(self) -> None:
        items = self.ledger.scan()["Items"]
        attempts = sorted((i for i in items if i["sk"].startswith("ATTEMPT#")), key=lambda i: i["created_at"])
        for item in attempts:
            print(
                f"  {item['stage']:<8} {_version(item['package_arn']):<15} {item['deployment_id']:<14} "
                f"{item['status']:<12} {item.get('reason', '')}",
                file=self.out,
            )
        for item in (i for i in items if i["sk"] == "TEST"):
            verdict = "passed" if item.get("passed") else "not passed"
            print(f"  test stage: {_version(item['pk'].removeprefix('PACKAGE#'))} {verdict}", file=self.out)


class _WarningCollector(logging.Handler):
    """Collects the handlers' warnings (dropped events, refused deployments) for the timeline."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        reason = getattr(record, "reason", "")
        self.sink.append(f"{record.getMessage()}: {reason}" if reason else record.getMessage())


def _assumed(sts, role_arn: str) -> boto3.Session:
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="demo")["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="eu-west-1",
    )


def _summary(event: dict[str, Any]) -> str:
    """What an event is about, in a few words."""
    detail = event.get("detail", {})
    if "ModelPackageArn" in detail:
        subject = _version(detail["ModelPackageArn"])
    elif "stack-id" in detail:
        subject = detail["stack-id"].split("/")[1]
    else:
        subject = detail.get("EndpointName") or detail.get("alarmName") or ""
    return f"{event.get('detail-type', 'a message')!r} {subject}".rstrip()


def _version(package_arn: str) -> str:
    """``churn-dev/3`` for a model package ARN."""
    return package_arn.rsplit("model-package/", 1)[-1] if package_arn else "-"
