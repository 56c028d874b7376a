"""``python -m demo --advanced``: a challenger evaluated in shadow beside the champion, then promoted on evidence.

The advanced scenario's story, on an app synthesized with ``platform.scenario=advanced`` (``make
demo-advanced``): the project ``pricing`` gets ``-champion`` and ``-challenger`` groups; a tested model
becomes the champion; a second one is approved as the challenger and served as the champion endpoint's
shadow variant; promoting it before any comparison is refused; a day of shadow traffic later the
scheduled comparison records its verdict and tells the approvers; the approver then promotes the
challenger, which retires its variant and the old champion. The same stand-ins as ``make demo``, plus
these, labelled ``(stand-in)``: CloudFormation applying a change set that adds or removes the challenger's
variant (moto cannot: it would replace the endpoint twice; the stack takes the change set's template and
parameters), SageMaker moving an updated endpoint to its new configuration (moto's CloudFormation leaves
it on the former one), the traffic itself (capture files, CloudWatch metrics and ground truth, a day's
worth) and the schedule's clock (the comparison runs a day after the challenger started).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

from moto.cloudformation.models import CloudFormationBackend
from moto.sagemaker.models import sagemaker_backends
from pipelines import copy_to_prod

import contract
from challenger_comparison.decisions import CHALLENGER_VARIANT, CHAMPION_VARIANT
from challenger_comparison.handler import ChallengerComparison, ComparisonSettings
from clients import Clients
from contract import ChallengerParameters, ComparisonFields
from demo.runtime import LambdaContext
from demo.story import GOOD_ANSWERS, STAND_IN, Story, _assumed, _version
from ledger import Ledger
from tests.lambdas.events import data_capture_line

PROJECT = "pricing"
COMPARISON_HANDLER = "challenger_comparison.handler.handler"
PROMOTER_HANDLER = "promoter.handler.handler"
#: The shadow traffic of the day the comparison looks at: requests each variant served (CloudWatch), and
#: how many of them data capture sampled and the project labelled (the rule asks 100 labelled at least).
SERVED_REQUESTS = 1200
CAPTURED_REQUESTS = 150
#: The chance that each model's prediction is right on a captured request.
CHAMPION_ACCURACY, CHALLENGER_ACCURACY = 0.88, 0.92


class AdvancedStory(Story):
    """Champion and challenger: shadow deployment, comparison, promotion on evidence, retirement."""

    def __init__(self, *arguments: Any, **options: Any) -> None:
        super().__init__(*arguments, **options)
        self.project = PROJECT
        self.stages = ("feature", "dev", "prod", contract.CHAMPION_STAGE, contract.CHALLENGER_STAGE)
        #: Stacks whose change set the stand-in applied (moto could not), to label their completion.
        self.stood_in: set[str] = set()

    def run(self) -> None:
        original = CloudFormationBackend.execute_change_set
        with patch.object(CloudFormationBackend, "execute_change_set", self._variant_changes(original)):
            super().run()

    def _run(self) -> None:
        self._install()
        self._require_advanced_scenario()
        self._heading(f"1. The first champion: a tested dev model, copied to {self.project}-champion and approved")
        self._tested_dev_model(commit="9f1c2ab", auc="0.912")
        champion = self._copied_to(contract.CHAMPION_STAGE)
        self._approve(champion)

        self._heading(f"2. A better model, copied to {self.project}-challenger: served in shadow beside the champion")
        self._tested_dev_model(commit="d41e7a0", auc="0.934")
        self._approve(self._copied_to(contract.CHALLENGER_STAGE))

        self._heading("3. Promoting the challenger's model before any comparison is refused")
        candidate = self._copied_to(contract.CHAMPION_STAGE)
        self._approve(candidate)

        self._heading("4. A day of shadow traffic; the scheduled comparison records its verdict")
        self._shadow_traffic()
        self._compare()

        self._heading(
            "5. The approver approves it again: promoted on the evidence; the old champion and the variant retire"
        )
        self._approve(candidate, status="Rejected")  # then again, as the runbook's retry says
        self._approve(candidate)
        self._retired(champion)

        self._heading("Ledger (dev account, promotion ledger)")
        self._print_ledger()

    def _retired(self, former_champion: str) -> None:
        """What the champion's endpoint stack serves now: the promoted model alone."""
        stack = self._describe_stack(contract.CHAMPION_STAGE, "endpoint")
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        serving = parameters[contract.EndpointParameters.MODEL_PACKAGE_ARN]
        if serving != former_champion and ChallengerParameters.MODEL_PACKAGE_ARN not in parameters:
            self._show(
                "prod",
                "",
                f"  {stack['StackName']}: {_version(serving)} serves, {_version(former_champion)} no longer serves; "
                f"the {CHALLENGER_VARIANT} variant is removed",
            )

    def _require_advanced_scenario(self) -> None:
        stages = self.deployments["mlops-dev-promotion"].function_environment(PROMOTER_HANDLER)["STAGES"]
        if contract.CHALLENGER_STAGE not in stages.split(","):
            raise SystemExit(
                f"{self.assembly.directory} is not the advanced scenario (stages {stages}): synthesize it with "
                "`cdk synth -c platform.scenario=advanced --output cdk.out/advanced` (make demo-advanced)"
            )

    # People and CI

    def _tested_dev_model(self, *, commit: str, auc: str) -> str:
        """Pushed, trained, registered and approved in ``-dev``; its test-stage endpoint passes the tests."""
        self._push("dev", commit=commit)
        ground_truth = {contract.META_GROUND_TRUTH: self._ground_truth_location()}
        package = self._register("dev", commit=commit, auc=auc, metadata=ground_truth)
        self._approve(package)
        self._endpoint_on_its_configuration("dev")
        self._endpoint_in_service("dev", answers=GOOD_ANSWERS)
        return package

    def _copied_to(self, stage: str) -> str:
        """CI's copy of the latest approved dev package into ``<project>-<stage>`` (``copy_to_prod``)."""
        self._show("dev", "CI (push to prod)", f"copies the latest approved {self.project}-dev package to -{stage}")
        (copy,) = copy_to_prod.copy_to_prod(self.sagemaker, self.project, [stage]).values()
        self._package_line(stage, copy)
        return copy

    # The comparison

    def _shadow_traffic(self) -> None:
        """A day of traffic on the champion's endpoint, the challenger answering a copy of each request:
        what SageMaker writes (data capture, metrics) and the labels the project collects (stand-in)."""
        prod, dev = self.admin[self.account_of["prod"]], self.admin[self.account_of["dev"]]
        comparison = self._comparison_environment()
        started = self._started(contract.CHALLENGER_STAGE)
        endpoint = contract.Deployment(self.project, contract.CHAMPION_STAGE).endpoint_name
        randomness = random.Random(7)
        requests = [
            (f"req-{index:04d}", f"{randomness.randint(18, 80)},{randomness.randint(0, 12)}", randomness.random() < 0.4)
            for index in range(CAPTURED_REQUESTS)
        ]
        hour = started + timedelta(hours=2)
        for variant, accuracy in ((CHAMPION_VARIANT, CHAMPION_ACCURACY), (CHALLENGER_VARIANT, CHALLENGER_ACCURACY)):
            lines = [
                data_capture_line(
                    f"{variant}-{event}",
                    request,
                    "0.81" if positive == (randomness.random() < accuracy) else "0.17",
                    at=hour + timedelta(seconds=index),
                    inference_id=event,
                )
                for index, (event, request, positive) in enumerate(requests)
            ]
            key = f"{endpoint}/{variant}/{hour:%Y/%m/%d/%H}/{hour:%M-%S}-001-demo.jsonl"
            prod.client("s3").put_object(
                Bucket=comparison["DATA_CAPTURE_BUCKET"], Key=key, Body="\n".join(lines).encode()
            )
            latency_us = 11_000 if variant == CHAMPION_VARIANT else 12_500
            prod.client("cloudwatch").put_metric_data(
                Namespace="AWS/SageMaker",
                MetricData=[
                    {
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": endpoint},
                            {"Name": "VariantName", "Value": variant},
                        ],
                        "Timestamp": hour,
                        "Value": value,
                    }
                    for name, value in (
                        ("Invocations", SERVED_REQUESTS),
                        ("Invocation5XXErrors", 0),
                        ("ModelLatency", latency_us),
                    )
                ],
            )
        ground_truth = self._ground_truth_location()
        bucket, prefix = ground_truth.removeprefix("s3://").split("/", 1)
        labels = "\n".join(
            json.dumps(
                {
                    "groundTruthData": {"data": "1" if positive else "0", "encoding": "CSV"},
                    "eventMetadata": {"eventId": e},
                }
            )
            for e, _, positive in requests
        )
        dev.client("s3").put_object(
            Bucket=bucket, Key=f"{prefix.rstrip('/')}/{hour:%Y/%m/%d/%H}/labels.jsonl", Body=labels.encode()
        )
        who = f"Clients and SageMaker {STAND_IN}"
        self._show(
            "prod", who, f"a day on {endpoint}: {SERVED_REQUESTS} requests per variant, the challenger in shadow"
        )
        self._show(
            "prod", who, f"data capture samples {CAPTURED_REQUESTS} requests of each variant (same inference ids)"
        )
        self._show("dev", f"The project's labelling {STAND_IN}", f"writes ground truth for them under {ground_truth}")

    def _compare(self) -> None:
        """The comparison's schedule fires a day after the challenger started (the clock is a stand-in)."""
        operations = self.deployments["mlops-dev-operations"]
        clients = Clients(_assumed(self.sts, operations.function_role_arn(COMPARISON_HANDLER)))
        now = self._started(contract.CHALLENGER_STAGE) + timedelta(hours=25)
        function = ChallengerComparison(
            ComparisonSettings.from_environment(self._comparison_environment()), clients, clock=lambda: now
        )
        rule_arn, rate = self._comparison_schedule()
        event = {
            "version": "0",
            "id": "3f0b9c1e-5d2a-4e8b-9a61-0c2d7e4f1a53",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_of["dev"],
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "eu-west-1",
            "resources": [rule_arn],
            "detail": {},
        }
        self._show(
            "dev",
            f"EventBridge {STAND_IN}",
            f"{rule_arn.rsplit('/', 1)[-1]} ({rate}) fires at {event['time']}, a day later",
        )
        result = function.handle(event, LambdaContext("mlops-challenger-comparison"))
        self._show("dev", "Challenger comparison (Lambda)", f"compares: {result['verdicts'] or result['skipped']}")
        source = self._source(self._state(contract.CHALLENGER_STAGE)["package_arn"])
        record = self._ledger().latest_comparison(source)
        numbers = record[ComparisonFields.NUMBERS]
        self._show(
            "dev",
            "",
            f"  ledger: comparison of {_version(source)}: {record[ComparisonFields.VERDICT]} "
            f"({_version(record[ComparisonFields.CHALLENGER_PACKAGE_ARN])} vs "
            f"{_version(record[ComparisonFields.CHAMPION_PACKAGE_ARN])}, {numbers['paired']} paired requests)",
        )
        for reason in record[ComparisonFields.REASONS]:
            self._show("dev", "", f"    {reason}")
        self._report("challenger comparison", [])

    def _comparison_schedule(self) -> tuple[str, str]:
        """The ARN and rate of the enabled schedule rule that invokes the comparison, as synthesized."""
        operations = self.deployments["mlops-dev-operations"]
        functions = operations.stack.resources("AWS::Lambda::Function")
        (function,) = (name for name, f in functions.items() if f["Properties"]["Handler"] == COMPARISON_HANDLER)
        (rule,) = (
            name
            for name, rule in operations.stack.resources("AWS::Events::Rule").items()
            if rule["Properties"].get("State") == "ENABLED"
            and {"Fn::GetAtt": [function, "Arn"]} in [target["Arn"] for target in rule["Properties"]["Targets"]]
        )
        rate = operations.stack.body["Resources"][rule]["Properties"]["ScheduleExpression"]
        return operations.names.attribute(rule, "Arn"), operations.resolver.resolve(rate)

    def _comparison_environment(self) -> dict[str, str]:
        return self.deployments["mlops-dev-operations"].function_environment(COMPARISON_HANDLER)

    def _ground_truth_location(self) -> str:
        return f"s3://mlops-artifacts-{self.account_of['dev']}-eu-west-1/projects/{self.project}/ground-truth/"

    def _started(self, stage: str) -> datetime:
        """When the stage's current deployment started."""
        return self._ledger().state(contract.Deployment(self.project, stage)).started_at

    def _ledger(self) -> Ledger:
        """The ledger as the handlers read it (the story reads the raw table items otherwise)."""
        return Ledger(self.admin[self.account_of["dev"]].client("dynamodb"), self.ledger.name)

    def _source(self, package_arn: str) -> str:
        package = self.sagemaker.describe_model_package(ModelPackageName=package_arn)
        return package["CustomerMetadataProperties"][contract.META_SOURCE_PACKAGE]

    # What AWS does, played by stand-ins

    def _stack_owner(self, stage: str, kind: str, state: dict[str, Any]) -> str:
        """The challenger's endpoint operations run on the champion's stack (the ledger's ``stack``)."""
        if kind != "endpoint" or not state.get("stack"):
            return stage
        return state["stack"].removeprefix(f"{self.project}-").removesuffix(f"-{kind}")

    def _serving(self, stage: str, kind: str, status: str) -> str:
        """What the stack serves, the challenger's variant included, and whether a stand-in applied it."""
        served = super()._serving(stage, kind, status)
        if not served:
            return served
        stack = f"{self.project}-{stage}-{kind}"
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in self._describe_stack(stage, kind)["Parameters"]}
        challenger = parameters.get(ChallengerParameters.MODEL_PACKAGE_ARN)
        if challenger:
            mode = parameters[ChallengerParameters.EVALUATION_MODE]
            served = served.removesuffix(")") + f"; challenger {_version(challenger)} as a {mode} variant)"
        else:
            served = served.removesuffix(")") + "; no challenger)"
        if stack in self.stood_in:
            self.stood_in.discard(stack)
            served += f" {STAND_IN}: the change set's template and parameters, resources unchanged"
        return served

    def _endpoint_on_its_configuration(self, stage: str) -> None:
        """The stage's endpoint runs the configuration its stack's update created: moto's CloudFormation
        replaces the configuration but leaves the endpoint on the former one (its properties look unchanged)."""
        account = self.account_of[contract.STAGE_ACCOUNTS[stage]]
        backend = sagemaker_backends[account]["eu-west-1"]
        name = contract.Deployment(self.project, stage).endpoint_name
        endpoint, wanted = backend.endpoints[name], f"{name}-{self._state(stage)['deployment_id']}"
        if endpoint.endpoint_config_name == wanted:
            return
        configuration = backend.endpoint_configs[wanted]
        endpoint.endpoint_config_name = wanted
        endpoint.production_variants = endpoint._process_production_variants(configuration.production_variants)
        self._show(account, f"SageMaker {STAND_IN}", f"{name} updates to its new configuration {wanted}")

    def _variant_changes(self, original: Callable) -> Callable:
        """moto's ExecuteChangeSet, except that an update changing the stack's template (adding or removing
        the challenger's variant) gives the stack the change set's template and parameters only."""

        def execute_change_set(backend: CloudFormationBackend, change_set_name: str, stack_name: str | None = None):
            change_set = backend.change_sets.get(change_set_name) or next(
                (c for c in backend.change_sets.values() if c.change_set_name == change_set_name), None
            )
            stack = backend.stacks[change_set.stack_id] if change_set else None
            if change_set is None or change_set.change_set_type != "UPDATE" or stack.template == change_set.template:
                return original(backend, change_set_name, stack_name)
            stack.resource_map.resolved_parameters.clear()
            stack.resource_map.resolved_parameters.update(change_set.parameters)
            stack.template = change_set.template
            stack._add_stack_event("UPDATE_IN_PROGRESS")
            stack._add_stack_event("UPDATE_COMPLETE")
            stack.status = "UPDATE_COMPLETE"
            change_set.execution_status = "EXECUTE_COMPLETE"
            self.stood_in.add(stack.name)

        return execute_change_set
