"""Integration tester Lambda: runs a project's test cases against a promoted endpoint once it is in service.

Trigger: the tester queue (SQS, partial batch responses), fed by a rule of the dev promotion bus with
the ``SageMaker Endpoint State Change`` events (status ``IN_SERVICE``) that the deployment targets
forward for the platform's ``*-endpoint`` endpoints. Each event is processed once per event id.

Effect: if the event reports the stage's current deployment in service (and ``DescribeEndpoint``,
through the target account's endpoint-tester role, agrees; in the test stage, once the deployment's
stack completed), the tester invokes the endpoint with each
of the project's test cases (project-settings table, ``TEST_CASE#<name>`` items) and records the
results on the deployment's attempt in the ledger, once per deployment. For a test-stage deployment it
also writes the package's test-stage record, pass or fail: the tester is the only writer of the pass
the promoter's prod gate reads. Every result is notified. An endpoint still busy or throttling comes
back later; unknown endpoints and stale events are logged and dropped; a project without test cases
fails (the gate fails closed).

An asynchronous endpoint (its configuration has an ``AsyncInferenceConfig``) is tested the way its
clients use it: each case's request is written to ``<endpoint>/async/input/<deployment id>/<case>``
of the bucket it answers in, sent with ``InvokeEndpointAsync``, and its result or failure object is
awaited for at most ``ASYNC_WAIT_SECONDS``; results still missing then make the message come back
(an endpoint scaled in to zero starts its first instance meanwhile).

A batch stage has no endpoint: its forwarded ``CloudFormation Stack Status Change`` (the deployment
stack completed) triggers one smoke run of its pipeline over the cases (``integration_tester.smoke``),
followed on every delivery until it ends.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

import contract
from alerts import alert_subject
from clients import Clients
from entry_point import EntryPoint
from envelope import role_session_name
from integration_tester.cases import Answer, TestCase, excerpt, parse_case
from integration_tester.decisions import (
    AsyncRequests,
    Later,
    Rejection,
    TesterRules,
    TesterTarget,
    async_requests,
    case_result,
    deployment_to_test,
    endpoint_in_service,
    readiness,
    run_result,
    s3_location,
)
from integration_tester.smoke import (
    CSV,
    INPUT_FILE,
    OUTPUT_SUFFIX,
    batch_deployment_to_test,
    execution_id,
    execution_token,
    is_stack_event,
    run_status,
    smoke_answers,
    smoke_bucket,
    smoke_failed,
    smoke_input,
    stack_completed,
)
from ledger import Attempt, TestRun, items_with_prefix, utc_now
from queue_handler import QueuedEventHandler, RetryLater
from settings import CommonSettings, ConfigurationError, Environment, is_test_stage

logger = Logger()

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):role/[\w+=,.@/-]+$")
#: Error codes of a throttled invocation (as are all HTTP 429 answers, e.g. ``ModelNotReadyException``).
THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
#: Invocations retry throttling and transient errors (botocore's standard mode, three attempts) and
#: wait a little longer than SageMaker's 60-second invocation timeout.
RUNTIME_CONFIG = Config(retries={"mode": "standard"}, connect_timeout=5, read_timeout=70)
#: How long a run waits for an asynchronous endpoint's results (well within the tester's five-minute
#: timeout), and how often it looks for them.
ASYNC_WAIT_SECONDS = 180
ASYNC_POLL_SECONDS = 5


@dataclass(frozen=True)
class TesterSettings:
    """The tester's environment, read and validated once per Lambda environment."""

    __test__ = False  # not a pytest test class

    common: CommonSettings
    project_settings_table: str
    targets: Mapping[str, TesterTarget]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TesterSettings:
        """Read every variable the infrastructure sets; raise ``ConfigurationError`` naming the first bad one."""
        env = Environment(environ)
        common = CommonSettings.from_environment(env)
        return cls(
            common=common,
            project_settings_table=env.text("PROJECT_SETTINGS_TABLE"),
            targets=_tester_targets(env.json("TESTER_ROLES"), common),
        )

    @property
    def rules(self) -> TesterRules:
        return TesterRules(self.targets, self.common.region)


def _tester_targets(value: Any, common: CommonSettings) -> dict[str, TesterTarget]:
    """Validate ``TESTER_ROLES``: for every stage, the endpoint-tester role of the account it deploys to."""
    if not isinstance(value, dict):
        raise ConfigurationError("TESTER_ROLES: must be a JSON object of stage -> role ARN")
    targets = {}
    for stage in common.stages:
        arn = value.get(stage)
        match = ROLE_ARN.match(arn) if isinstance(arn, str) else None
        if match is None:
            raise ConfigurationError(f"TESTER_ROLES[{stage!r}]={arn!r}: must be an IAM role ARN")
        if contract.STAGE_ACCOUNTS[stage] == "dev" and match["account"] != common.dev_account_id:
            raise ConfigurationError(f"TESTER_ROLES[{stage!r}]={arn!r}: stage {stage} deploys to the dev account")
        targets[stage] = TesterTarget(match["account"], arn)
    return targets


class IntegrationTester(QueuedEventHandler):
    """Tests deployments whose endpoints came into service. One instance per Lambda environment."""

    name = "integration-tester"

    def __init__(self, settings: TesterSettings, clients: Clients) -> None:
        self.settings = settings
        super().__init__(settings.common, clients)

    def process(self, event: dict[str, Any]) -> dict[str, str]:
        """Test the deployment an ``IN_SERVICE`` event (or, for a batch stage, a completed stack) reports,
        once, and record and notify the result."""
        rules = self.settings.rules
        if is_stack_event(event):  # a batch stage: smoke-test the deployment with the project's cases
            return self._test_once(event, stack_completed(event, rules), batch_deployment_to_test, self._smoke_answers)
        return self._test_once(event, endpoint_in_service(event, rules), deployment_to_test, self._answers_in_service)

    def _test_once(self, event: dict[str, Any], change, deployment_to_test, answers_of) -> dict[str, str]:
        """The deployment ``change`` reports, if ``deployment_to_test`` says it is due: tested with
        ``answers_of(target, session_name, deployment, deployment_id, cases)``."""
        if isinstance(change, Rejection):
            return self.drop(change.reason, event)
        deployment = change.deployment
        logger.append_keys(project=deployment.project, stage=deployment.stage)
        state = self.ledger.state(deployment)
        deployment_id = deployment_to_test(change, state)
        if isinstance(deployment_id, Later):
            raise RetryLater(deployment_id.reason)
        if isinstance(deployment_id, Rejection):
            return self.drop(deployment_id.reason, event)

        def answers(target: TesterTarget, session_name: str, cases: list[TestCase]) -> dict[str, Answer] | Rejection:
            return answers_of(target, session_name, deployment, deployment_id, cases)

        return self._test(event, change.event_id, state, deployment_id, answers)

    def _answers_in_service(
        self, target: TesterTarget, session_name: str, deployment: contract.Deployment, deployment_id: str, cases
    ) -> dict[str, Answer] | Rejection:
        """The endpoint's answers, once it serves the deployment under test."""
        blocker = self._endpoint_blocker(target, session_name, deployment, deployment_id)
        if isinstance(blocker, Later):
            raise RetryLater(blocker.reason)
        if isinstance(blocker, Rejection):
            return blocker
        return self._endpoint_answers(target, session_name, deployment, deployment_id, cases)

    def _test(self, event: dict[str, Any], event_id: str, state, deployment_id: str, answers) -> dict[str, str]:
        """Run the cases through ``answers`` once per deployment; record the run (and the test-stage
        record the prod gate reads) and notify it."""
        deployment = state.deployment
        attempt = self.ledger.attempt(deployment, deployment_id, state)
        if attempt is None:
            return self.drop(f"no attempt {deployment_id} in the ledger", event)
        recorded = self.ledger.test_run(attempt)
        if recorded is not None:
            if recorded.event_id != event_id:
                return self.drop(f"deployment {deployment_id} was tested already: {recorded.summary}", event)
            # This event recorded the run and failed before its notification went out: send it now.
            self._notify(attempt, recorded)
            return _summary(recorded)

        target = self.settings.targets[deployment.stage]
        cases = self._cases(deployment)
        answered = answers(
            target, role_session_name(self.name, event_id), [case for case in cases if isinstance(case, TestCase)]
        )
        if isinstance(answered, Rejection):
            return self.drop(answered.reason, event)
        results = [case_result(case, answered.get(case.name)) for case in cases]
        run = run_result(deployment.stage, results, event_id=event_id, now=utc_now())
        if not self.ledger.record_test_run(attempt, run, gates_prod=is_test_stage(deployment.stage)):
            return self.drop(f"deployment {deployment_id} was rolled back, failed or tested meanwhile", event)
        self._notify(attempt, run)
        logger.info("Integration tests recorded", extra={"deployment_id": deployment_id, "passed": run.passed})
        return _summary(run)

    # AWS calls

    def _endpoint_answers(
        self, target: TesterTarget, session_name: str, deployment: contract.Deployment, deployment_id: str, cases
    ) -> dict[str, Answer]:
        """The endpoint's answers: invoked directly, or through S3 if its configuration is asynchronous."""
        runtime = self._in_target("sagemaker-runtime", target, session_name, config=RUNTIME_CONFIG)
        config = self._in_target("sagemaker", target, session_name).describe_endpoint_config(
            EndpointConfigName=f"{deployment.endpoint_name}-{deployment_id}"
        )
        requests = async_requests(config, deployment, deployment_id)
        if requests is None:
            return {case.name: self._invoke(runtime, deployment.endpoint_name, case) for case in cases}
        s3 = self._in_target("s3", target, session_name)
        return self._invoke_async(runtime, s3, deployment.endpoint_name, requests, cases)

    def _smoke_answers(
        self, target: TesterTarget, session_name: str, deployment: contract.Deployment, deployment_id: str, cases
    ) -> dict[str, Answer] | Rejection:
        """A batch stage's answers: one run of its pipeline over the cases, started once per deployment
        (the execution's idempotency token), checked on every delivery until it ends."""
        sagemaker = self._in_target("sagemaker", target, session_name)
        pipeline = f"{deployment.endpoint_name}{contract.BATCH_RESOURCE_SUFFIX}"
        try:
            described = sagemaker.describe_pipeline(PipelineName=pipeline)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFound":
                raise
            return Rejection(f"no batch pipeline {pipeline}: the stage's endpoint is tested once in service")
        run = smoke_input(cases)
        if not run.rows:
            return dict(run.refused)
        bucket = smoke_bucket(json.loads(described["PipelineDefinition"]))
        prefix = contract.batch_smoke_prefix(deployment.endpoint_name, deployment_id)
        s3 = self._in_target("s3", target, session_name)
        s3.put_object(Bucket=bucket, Key=f"{prefix}input/{INPUT_FILE}", Body=run.body.encode(), ContentType=CSV)
        execution = sagemaker.start_pipeline_execution(
            PipelineName=pipeline,
            PipelineExecutionDisplayName=f"smoke-{deployment_id}",
            ClientRequestToken=execution_token(deployment_id),
            PipelineParameters=[
                {"Name": contract.BATCH_INPUT_URI, "Value": f"s3://{bucket}/{prefix}input/"},
                {"Name": contract.BATCH_OUTPUT_PREFIX, "Value": f"s3://{bucket}/{prefix}output/"},
            ],
        )["PipelineExecutionArn"]
        status = run_status(sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution))
        if isinstance(status, Later):
            raise RetryLater(f"{pipeline}: {status.reason}")
        if status is not None:
            return smoke_failed(run, status)
        key = f"{prefix}output/{execution_id(execution)}/{INPUT_FILE}{OUTPUT_SUFFIX}"
        output = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", errors="replace")
        return smoke_answers(run, output)

    def _cases(self, deployment: contract.Deployment) -> list:
        """The project's test cases that apply to the stage (malformed ones included: they fail)."""
        items = items_with_prefix(
            self.clients.dynamodb,
            self.settings.project_settings_table,
            contract.project_settings_partition(deployment.project),
            contract.TEST_CASE_PREFIX,
        )
        cases = [parse_case(item) for item in items]
        return [case for case in cases if not isinstance(case, TestCase) or case.applies_to(deployment.stage)]

    def _endpoint_blocker(
        self, target: TesterTarget, session_name: str, deployment: contract.Deployment, deployment_id: str
    ) -> Later | Rejection | None:
        """What ``DescribeEndpoint`` in the target account says against testing the deployment now, if anything."""
        sagemaker = self._in_target("sagemaker", target, session_name)
        try:
            described = sagemaker.describe_endpoint(EndpointName=deployment.endpoint_name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ValidationException":
                raise
            return Rejection(f"endpoint {deployment.endpoint_name} not found in {target.account_id}")
        return readiness(described, deployment, deployment_id)

    def _in_target(self, service: str, target: TesterTarget, session_name: str, config: Config | None = None):
        return self.clients.in_account(
            service,
            role_arn=target.role_arn,
            session_name=session_name,
            region=self.settings.common.region,
            config=config,
        )

    @staticmethod
    def _invoke(runtime, endpoint_name: str, case: TestCase) -> Answer:
        """Invoke the endpoint with the case's request; a throttled endpoint makes the message come back."""
        request = {"EndpointName": endpoint_name, "Body": case.payload.encode(), "ContentType": case.content_type}
        if case.accept:
            request["Accept"] = case.accept
        started = time.perf_counter()
        try:
            response = runtime.invoke_endpoint(**request)
            body = response["Body"].read().decode("utf-8", errors="replace")
            return Answer(200, body, _elapsed_ms(started))
        except ClientError as error:
            return _refused(endpoint_name, error, _elapsed_ms(started))
        except BotoCoreError as error:  # timeouts, connection errors
            return Answer(0, "", _elapsed_ms(started), error=excerpt(str(error)))

    @classmethod
    def _invoke_async(
        cls, runtime, s3, endpoint_name: str, requests: AsyncRequests, cases: list[TestCase]
    ) -> dict[str, Answer]:
        """Send each case's request through S3 and ``InvokeEndpointAsync``, then wait (bounded) for the
        result or failure object SageMaker writes for each; what is still missing then comes back later."""
        deadline = time.monotonic() + ASYNC_WAIT_SECONDS
        answers: dict[str, Answer] = {}
        pending: dict[str, tuple[str, str, float]] = {}
        for case in cases:
            s3.put_object(
                Bucket=requests.bucket,
                Key=requests.key(case.name),
                Body=case.payload.encode(),
                ContentType=case.content_type,
            )
            request = {
                "EndpointName": endpoint_name,
                "InputLocation": requests.location(case.name),
                "ContentType": case.content_type,
            }
            if case.accept:
                request["Accept"] = case.accept
            started = time.perf_counter()
            try:
                response = runtime.invoke_endpoint_async(**request)
            except ClientError as error:
                answers[case.name] = _refused(endpoint_name, error, _elapsed_ms(started))
                continue
            pending[case.name] = (response["OutputLocation"], response.get("FailureLocation", ""), started)
        while pending:
            for name, (output, failure, started) in list(pending.items()):
                answer = cls._async_answer(s3, output, failure, started)
                if answer is not None:
                    answers[name] = answer
                    del pending[name]
            if pending and time.monotonic() >= deadline:
                missing = ", ".join(sorted(pending))
                raise RetryLater(f"{endpoint_name}: no result for {missing} within {ASYNC_WAIT_SECONDS} s")
            if pending:
                time.sleep(ASYNC_POLL_SECONDS)
        return answers

    @staticmethod
    def _async_answer(s3, output: str, failure: str, started: float) -> Answer | None:
        """The answer SageMaker wrote for one request (its result, or its failure), if it wrote one yet.
        Objects are found with ``ListObjectsV2`` (a ``HeadObject`` of a missing key is a 403 without
        an unconditional ``s3:ListBucket``)."""
        for location, failed in ((output, False), (failure, True)):
            if not location:
                continue
            bucket, key = s3_location(location)
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
            if not listed or listed[0]["Key"] != key:
                continue
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", errors="replace")
            if failed:
                return Answer(0, "", _elapsed_ms(started), error=f"the endpoint failed: {excerpt(body)}", queued=True)
            return Answer(200, body, _elapsed_ms(started), queued=True)
        return None

    def _notify(self, attempt: Attempt, run: TestRun) -> None:
        deployment = attempt.deployment
        result = "passed" if run.passed else "FAILED"
        self.alerts.send(
            alert_subject(
                deployment, f"integration tests {result}: v{attempt.package_version} ({attempt.deployment_id})"
            ),
            project=deployment.project,
            stage=deployment.stage,
            account=attempt.account,
            endpoint=deployment.endpoint_name,
            deployment_id=attempt.deployment_id,
            package_arn=attempt.package_arn,
            result="PASSED" if run.passed else "FAILED",
            gates_prod=is_test_stage(deployment.stage),
            summary=run.summary,
            failed_cases=[{"name": c["name"], "problems": c["problems"]} for c in run.cases if not c["passed"]],
            event_id=run.event_id,
        )


def _refused(endpoint_name: str, error: ClientError, elapsed: int) -> Answer:
    """The answer of an invocation SageMaker refused; a throttled endpoint makes the message come back."""
    code = error.response["Error"].get("Code", "")
    if code in THROTTLING_CODES or error.response["ResponseMetadata"].get("HTTPStatusCode") == 429:
        raise RetryLater(f"{endpoint_name} throttled the tests ({code}) after retries") from error
    if code == "ModelError":  # the model answered with an error status of its own
        return Answer(
            int(error.response.get("OriginalStatusCode", 0)), error.response.get("OriginalMessage", ""), elapsed
        )
    return Answer(0, "", elapsed, error=f"{code}: {excerpt(error.response['Error'].get('Message', ''))}")


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _summary(run: TestRun) -> dict[str, str]:
    return {"result": "PASSED" if run.passed else "FAILED", "summary": run.summary}


#: Lambda entry point (``integration_tester.handler.handler``): one IntegrationTester per Lambda environment.
handler = EntryPoint(IntegrationTester, TesterSettings)
