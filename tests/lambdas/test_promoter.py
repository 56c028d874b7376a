"""The promoter against moto: dev registry and ledger, CloudFormation in the test and prod accounts."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

import contract
from contract import EndpointParameters, MonitorParameters, stages_sharing_values
from promoter import handler as promoter_module
from promoter.handler import PromoterSettings
from settings import ConfigurationError
from tests import handler_calls
from tests.lambdas.conftest import (
    MODEL_IMAGE,
    PROMOTER_ENVIRONMENT,
    cloudformation_role,
    deploy_role,
    model_bucket,
    stage_settings,
)
from tests.lambdas.events import (
    DEV,
    PROD,
    REGION,
    TEST,
    LambdaContext,
    endpoint_deployment_state_change,
    sqs_event,
)


@pytest.fixture
def logs(monkeypatch):
    """The promoter's structured log lines, as parsed JSON."""
    stream = io.StringIO()
    monkeypatch.setattr(promoter_module.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def register_versions(platform, stage: str, count: int, approved: set[int]) -> dict[int, str]:
    """Versions 1..count of ``churn-<stage>``; those in ``approved`` approved, the others pending."""
    return {version: platform.register(stage, approved=version in approved) for version in range(1, count + 1)}


def test_an_approval_creates_a_change_set_in_the_stages_account_with_its_parameters(platform):
    package = platform.register("dev")

    response = platform.promote(platform.package_event(package))

    assert response == {"batchItemFailures": []}
    stack = platform.stack("dev")
    assert stack["StackId"].split(":")[4] == TEST
    assert platform.stack("feature") is None and platform.stack("prod") is None
    deployment_id = platform.state("dev")["deployment_id"]
    etag = platform.model_etag.strip('"')
    assert platform.parameters("dev") == {
        **stage_settings("dev"),
        EndpointParameters.MODEL_PACKAGE_ARN: package,
        EndpointParameters.MODEL_DATA_KEY: f"churn/dev/v1/{etag}/model.tar.gz",
        EndpointParameters.IMAGE: MODEL_IMAGE,
        EndpointParameters.ENDPOINT_NAME: "churn-dev-endpoint",
        EndpointParameters.DEPLOYMENT_ID: deployment_id,
        EndpointParameters.DEPLOYMENT_KIND: "realtime",  # the platform's kind of the stage (no project choice)
        # resolved by CloudFormation from the SSM parameters the test account's target stack publishes
        "SageMakerExecutionRoleArn": f"arn:aws:iam::{TEST}:role/mlops-test-sagemaker-execution",
        "TargetKmsKeyArn": f"arn:aws:kms:{REGION}:{TEST}:key/0c9a7e1e-6f1e-4b8e-9d0e-3f0a1b2c3d4e",
        "DataCaptureBucketName": f"mlops-data-capture-{TEST}-{REGION}",
        "ModelBucketName": model_bucket(TEST),
        "AsyncSuccessTopicArn": f"arn:aws:sns:{REGION}:{TEST}:mlops-test-async-success",
        "AsyncErrorTopicArn": f"arn:aws:sns:{REGION}:{TEST}:mlops-test-async-error",
    }
    [request] = platform.change_set_requests()
    assert request["ChangeSetType"] == "CREATE"
    assert request["ChangeSetName"] == deployment_id
    assert request["RoleARN"] == cloudformation_role(TEST)
    assert request["TemplateBody"] == platform.endpoint_template
    assert "RollbackConfiguration" not in request
    assert {"Key": contract.TAG_MODEL_PACKAGE, "Value": package} in request["Tags"]
    assert {"Key": contract.TAG_COMMIT, "Value": "9f1c2ab"} in request["Tags"]
    [attempt] = platform.attempts("dev")
    assert attempt["status"] == "IN_PROGRESS"
    assert (attempt["account"], attempt["package_arn"], attempt["package_version"]) == (TEST, package, 1)
    assert attempt["change_set"].startswith(f"arn:aws:cloudformation:{REGION}:{TEST}:changeSet/{deployment_id}/")


def test_an_update_is_guarded_by_the_endpoints_alarms(platform):
    versions = register_versions(platform, "dev", 2, approved={1})
    platform.promote(platform.package_event(versions[1]))
    platform.set_approval(versions[2], "Approved")

    platform.promote(platform.package_event(versions[2]))

    _, second = platform.change_set_requests()
    assert second["ChangeSetType"] == "UPDATE"
    assert second["RollbackConfiguration"] == {
        "RollbackTriggers": [
            {
                "Arn": f"arn:aws:cloudwatch:{REGION}:{TEST}:alarm:churn-dev-endpoint-{name}",
                "Type": "AWS::CloudWatch::Alarm",
            }
            for name in ("5xx-errors", "model-latency")
        ],
        "MonitoringTimeInMinutes": 10,
    }
    assert platform.parameters("dev")[EndpointParameters.MODEL_PACKAGE_ARN] == versions[2]


def test_every_parameter_sent_is_one_of_the_templates_and_every_required_one_is_sent(platform):
    platform.promote(platform.package_event(platform.register("dev")))
    [request] = platform.change_set_requests()
    declared = json.loads(platform.endpoint_template)["Parameters"]
    sent = {parameter["ParameterKey"] for parameter in request["Parameters"]}
    assert sent <= declared.keys()
    assert {name for name, spec in declared.items() if "Default" not in spec} <= sent


def test_the_same_event_twice_deploys_once(platform):
    event = platform.package_event(platform.register("dev"))

    platform.promote(event)
    platform.promote(event)
    platform.promote(event, promoter=platform.new_promoter())  # another Lambda environment

    assert len(platform.change_set_requests()) == 1
    assert len(platform.attempts("dev")) == 1


def test_a_late_event_of_an_older_version_leaves_the_newer_one(platform):
    versions = register_versions(platform, "dev", 8, approved={7, 8})
    platform.promote(platform.package_event(versions[8]))

    response = platform.promote(platform.package_event(versions[7]))

    assert response == {"batchItemFailures": []}
    assert len(platform.change_set_requests()) == 1
    assert platform.parameters("dev")[EndpointParameters.MODEL_PACKAGE_ARN] == versions[8]
    assert platform.state("dev")["decision"] == "UNCHANGED"


def test_rejecting_the_live_version_redeploys_the_previous_approved_one(platform):
    versions = register_versions(platform, "dev", 8, approved={7, 8})
    platform.promote(platform.package_event(versions[8]))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))

    platform.set_approval(versions[8], "Rejected")
    platform.promote(platform.package_event(versions[8]))

    assert platform.parameters("dev")[EndpointParameters.MODEL_PACKAGE_ARN] == versions[7]
    assert platform.change_set_requests()[-1]["ChangeSetType"] == "UPDATE"
    assert platform.state("dev")["previous_package_arn"] == versions[8]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda event: event | {"account": "444455556666"}, "is not the dev account"),
        (lambda event: event | {"region": "us-east-1"}, "is not the registry's region"),
        (lambda event: _detail(event, ModelPackageGroupName="churn-staging"), "not a managed <project>-<stage> group"),
        (lambda event: _detail(event, ModelPackageGroupName="fraud"), "not a managed"),
        (lambda event: _detail(event, ModelPackageVersion="1"), "ModelPackageVersion"),
        (lambda event: _detail(event, CreationTime="soon"), "CreationTime"),
        (lambda event: event | {"time": "2026-12-01T10:00:00"}, "time zone"),
        (lambda event: _detail(event, ModelPackageArn=None), "ModelPackageArn"),
        (lambda event: event | {"detail-type": "SageMaker Model Package Group State Change"}, "unexpected event"),
    ],
)
def test_events_from_elsewhere_or_malformed_are_dropped_with_a_reason(platform, logs, tamper, reason):
    package = platform.register("dev")
    event = tamper(platform.package_event(package))

    response = platform.promote(event)

    assert response == {"batchItemFailures": []}  # acknowledged, not retried
    assert platform.change_set_requests() == []
    assert platform.stack("dev") is None
    assert platform.state("dev") == {}
    [dropped] = [line for line in logs() if line["message"] == "Dropped event"]
    assert reason in dropped["reason"]
    assert dropped["event_id"] == event["id"]


def _detail(event: dict, **changes) -> dict:
    for name, value in changes.items():
        if value is None:
            del event["detail"][name]
        else:
            event["detail"][name] = value
    return event


@pytest.mark.parametrize("body", ["not json", "[]", json.dumps({"detail": {}})])
def test_messages_that_are_no_events_are_dropped(platform, logs, body):
    assert platform.promote(body) == {"batchItemFailures": []}
    assert platform.change_set_requests() == []
    assert any(line["message"].startswith("Dropped a message") for line in logs())


def test_a_prod_approval_without_a_test_pass_is_refused_and_recorded(platform):
    dev_package = platform.register("dev")
    prod_package = platform.register("prod", metadata={contract.META_SOURCE_PACKAGE: dev_package})

    response = platform.promote(platform.package_event(prod_package))

    assert response == {"batchItemFailures": []}
    assert platform.change_set_requests() == []
    assert platform.stack("prod") is None
    [attempt] = platform.attempts("prod")
    assert attempt["status"] == "REFUSED"
    assert dev_package in attempt["reason"] and prod_package in attempt["reason"]
    assert platform.state("prod")["decision"] == "REFUSED"
    [(subject, message)] = platform.alerts()
    assert subject == "[churn/prod] v1 refused: no test-stage pass"
    assert message["reason"] == attempt["reason"]
    assert message["account"] == PROD


def test_a_prod_approval_of_a_copy_of_a_package_that_passed_test_is_deployed(platform):
    dev_package = platform.register("dev")
    platform.promote(platform.package_event(dev_package))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    platform.run_integration_tests("dev")
    prod_package = platform.register("prod", metadata={contract.META_SOURCE_PACKAGE: dev_package})

    platform.promote(platform.package_event(prod_package))

    stack = platform.stack("prod")
    assert stack["StackId"].split(":")[4] == PROD
    assert platform.parameters("prod")[EndpointParameters.MODEL_PACKAGE_ARN] == prod_package
    assert platform.parameters("prod")[EndpointParameters.INSTANCE_COUNT] == "2"
    assert platform.change_set_requests()[-1]["RoleARN"] == cloudformation_role(PROD)
    assert platform.attempts("prod")[0]["status"] == "IN_PROGRESS"


def test_a_prod_package_naming_no_tested_dev_source_is_refused_even_with_a_test_pass_of_its_own(platform):
    package = platform.register("prod")
    platform._table().put_item(
        Item={"pk": f"PACKAGE#{package}", "sk": "TEST", "passed": True, "deployment_id": "v1-00000000"}
    )
    platform.promote(platform.package_event(package))
    assert platform.stack("prod") is None
    assert "names no source package" in platform.attempts("prod")[0]["reason"]


def stubbed_cloudformation(*responses: tuple[str, dict, dict]):
    """A CloudFormation client answering only ``responses`` (operation, response, expected parameters)."""
    client = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(client)
    for operation, response, expected in responses:
        stubber.add_response(operation, response, expected)
    stubber.activate()
    return client, stubber


def described(status: str, package_arn: str) -> tuple[str, dict, dict]:
    stack = {
        "StackName": "churn-dev-endpoint",
        "StackId": f"arn:aws:cloudformation:{REGION}:{TEST}:stack/churn-dev-endpoint/1a2b",
        "StackStatus": status,
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "Parameters": [
            {"ParameterKey": EndpointParameters.MODEL_PACKAGE_ARN, "ParameterValue": package_arn},
            {"ParameterKey": EndpointParameters.DEPLOYMENT_ID, "ParameterValue": "v1-0a1b2c3d"},
        ],
    }
    return "describe_stacks", {"Stacks": [stack]}, {"StackName": "churn-dev-endpoint"}


NO_CHANGE_SETS = ("list_change_sets", {"Summaries": []}, {"StackName": "churn-dev-endpoint"})


def test_an_unexpected_error_is_logged_with_its_cause_and_the_message_comes_back(platform, logs):
    package = platform.register("dev")

    def unreachable(target, session_name):
        raise ConnectionResetError("connection reset by peer")

    event = platform.package_event(package)
    batch = sqs_event(event)
    response = platform.new_promoter(cloudformation_for=unreachable).handle(batch, LambdaContext("mlops-promoter"))

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    [failure] = [line for line in logs() if line["level"] == "ERROR"]
    assert failure["message"] == "Event processing failed; the message will come back"
    assert failure["event_id"] == event["id"]
    assert "ConnectionResetError: connection reset by peer" in failure["exception"]
    # Redelivered to a promoter that reaches CloudFormation, the same event deploys.
    platform.promote(event)
    assert platform.parameters("dev")[EndpointParameters.MODEL_PACKAGE_ARN] == package


def test_a_busy_stack_makes_the_message_come_back(platform):
    versions = register_versions(platform, "dev", 2, approved={1, 2})
    client, stubber = stubbed_cloudformation(described("UPDATE_IN_PROGRESS", versions[1]))
    busy = platform.new_promoter(cloudformation_for=lambda target, session_name: client)
    event = platform.package_event(versions[2])
    batch = sqs_event(event)

    response = busy.handle(batch, LambdaContext("mlops-promoter"))

    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    stubber.assert_no_pending_responses()
    assert platform.state("dev")["decision"] == "RETRY"
    assert "UPDATE_IN_PROGRESS" in platform.state("dev")["decision_reason"]
    # Nothing was lost: redelivered once the stack has settled, the same event deploys.
    platform.promote(event)
    assert platform.parameters("dev")[EndpointParameters.MODEL_PACKAGE_ARN] == versions[2]


def test_a_failed_first_creation_is_deleted_and_retried(platform):
    package = platform.register("dev")
    client, stubber = stubbed_cloudformation(
        described("ROLLBACK_COMPLETE", package),
        NO_CHANGE_SETS,
        ("delete_stack", {}, {"StackName": "churn-dev-endpoint"}),
    )
    promoter = platform.new_promoter(cloudformation_for=lambda target, session_name: client)

    response = promoter.handle(sqs_event(platform.package_event(package)), LambdaContext("mlops-promoter"))

    assert len(response["batchItemFailures"]) == 1
    stubber.assert_no_pending_responses()
    assert platform.state("dev")["decision"] == "DELETE_FAILED_CREATION"


def test_a_stack_that_needs_an_operator_is_alerted_and_not_retried(platform):
    package = platform.register("dev")
    client, _ = stubbed_cloudformation(described("UPDATE_ROLLBACK_FAILED", package), NO_CHANGE_SETS)
    promoter = platform.new_promoter(cloudformation_for=lambda target, session_name: client)

    response = promoter.handle(sqs_event(platform.package_event(package)), LambdaContext("mlops-promoter"))

    assert response == {"batchItemFailures": []}
    assert platform.state("dev")["decision"] == "FAILED"
    [(subject, message)] = platform.alerts()
    assert subject == "[churn/dev] stack needs an operator"
    assert "UPDATE_ROLLBACK_FAILED" in message["reason"]


def test_with_no_approved_version_left_the_endpoint_is_kept_and_the_team_alerted(platform):
    package = platform.register("dev")
    platform.promote(platform.package_event(package))
    platform.set_approval(package, "Rejected")

    platform.promote(platform.package_event(package))

    assert platform.stack("dev")["StackStatus"] == "CREATE_COMPLETE"
    assert platform.parameters("dev")[EndpointParameters.MODEL_PACKAGE_ARN] == package
    assert len(platform.change_set_requests()) == 1
    assert platform.state("dev")["decision"] == "NO_APPROVED_VERSION"
    [(subject, message)] = platform.alerts()
    assert subject == "[churn/dev] no approved version left; endpoint kept"
    assert "keeps serving" in message["reason"]


def test_the_monitor_stack_follows_a_confirmed_deployment_with_its_baselines(platform):
    package = platform.register("dev")
    platform.promote(platform.package_event(package))
    platform.promote(platform.package_event(package, id="another-delivery"))
    assert platform.stack("dev", "monitor") is None  # the tracker has not confirmed the deployment yet

    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    [nudge] = platform.reconcile_requests()
    platform.promote(nudge)

    deployment_id = platform.state("dev")["deployment_id"]
    monitor = platform.parameters("dev", "monitor")
    assert platform.stack("dev", "monitor")["StackId"].split(":")[4] == TEST
    assert monitor[MonitorParameters.DEPLOYMENT_ID] == deployment_id
    assert monitor[MonitorParameters.ENDPOINT_NAME] == "churn-dev-endpoint"
    assert monitor[MonitorParameters.DATA_QUALITY_STATISTICS_URI].endswith("/baselines/statistics.json")
    assert monitor[MonitorParameters.BIAS_CONSTRAINTS_URI].endswith("/baselines/post-training-bias.json")
    assert monitor[MonitorParameters.GROUND_TRUTH_URI].endswith("/ground-truth/")
    request = platform.change_set_requests()[-1]
    assert request["TemplateBody"] == platform.monitor_template
    assert "RollbackConfiguration" not in request
    state = platform.state("dev")
    assert (state["monitor_status"], state["monitor_change_set"]) == ("IN_PROGRESS", request["ChangeSetName"])

    platform.track(platform.completion("dev", "CREATE_COMPLETE", kind="monitor"))
    assert platform.state("dev")["monitor_status"] == "DEPLOYED"
    platform.promote(platform.package_event(package, id="late-delivery"))
    assert platform.state("dev")["monitor_decision"] == "UNCHANGED"


def test_no_monitor_for_a_package_without_baselines(platform):
    package = platform.register("dev", baselines={})
    platform.promote(platform.package_event(package))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))

    platform.promote(*platform.reconcile_requests())

    assert platform.stack("dev", "monitor") is None
    assert platform.state("dev")["monitor_decision"] == "SKIPPED"


def test_a_version_rolled_back_is_not_redeployed_by_a_later_event(platform):
    versions = register_versions(platform, "dev", 2, approved={1, 2})
    platform.promote(platform.package_event(versions[1]))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    platform.promote(platform.package_event(versions[2]))
    platform.track(platform.completion("dev", "UPDATE_ROLLBACK_COMPLETE"))
    requests = len(platform.change_set_requests())

    platform.promote(platform.package_event(versions[2], id="duplicate-of-the-approval"))

    assert len(platform.change_set_requests()) == requests
    assert platform.state("dev")["decision"] == "HOLD"


def v2_deploying_over_v1(platform) -> tuple[str, dict[str, str]]:
    """churn-dev v1 deployed, then v2 approved and its deployment started: v2's ARN and v1's parameters."""
    v1, v2 = platform.register("dev"), platform.register("dev", approved=False)
    platform.promote(platform.package_event(v1))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    serving_v1 = platform.parameters("dev")
    platform.set_approval(v2, "Approved")
    platform.promote(platform.package_event(v2))
    return v2, serving_v1


@pytest.mark.parametrize("rolled_back_by", ["CloudFormation", "SageMaker"])
def test_a_rolled_back_version_is_retried_by_rejecting_it_and_approving_it_again(platform, rolled_back_by):
    """The runbook's retry, after either kind of rollback: CloudFormation's leaves the stack
    UPDATE_ROLLBACK_COMPLETE on v1's parameters; SageMaker's leaves it UPDATE_COMPLETE on v2's while v1 serves."""
    v2, serving_v1 = v2_deploying_over_v1(platform)
    rolled_back = platform.state("dev")["deployment_id"]
    if rolled_back_by == "CloudFormation":
        platform.roll_back("dev", serving_v1)
        platform.track(platform.completion("dev", "UPDATE_ROLLBACK_COMPLETE"))
    else:
        platform.track(endpoint_event(platform, "ROLLING_BACK", serving_v1, rolled_back))
    assert platform.state("dev")["status"] == "ROLLED_BACK"
    platform.promote(platform.package_event(v2, id="approval-delivered-again"))
    assert platform.state("dev")["decision"] == "HOLD"
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")

    platform.set_approval(v2, "Rejected")
    platform.promote(platform.package_event(v2, time=later))
    platform.set_approval(v2, "Approved")
    platform.promote(platform.package_event(v2, time=later))

    state = platform.state("dev")
    assert (state["package_arn"], state["status"], state["decision"]) == (v2, "IN_PROGRESS", "DEPLOY")
    assert state["deployment_id"] not in (rolled_back, serving_v1[EndpointParameters.DEPLOYMENT_ID])
    assert platform.parameters("dev")[EndpointParameters.DEPLOYMENT_ID] == state["deployment_id"]
    assert state["released_package_arn"] == ""  # a rollback of the retry holds it again


def endpoint_event(platform, status: str, serving: dict[str, str], pending_deployment_id: str) -> dict:
    """SageMaker's blue/green rollout of ``pending_deployment_id`` while ``serving`` serves."""
    return endpoint_deployment_state_change(
        account=TEST,
        endpoint_name="churn-dev-endpoint",
        status=status,
        config_name=f"churn-dev-endpoint-{serving[EndpointParameters.DEPLOYMENT_ID]}",
        pending_config_name=f"churn-dev-endpoint-{pending_deployment_id}",
        failure_reason="Alarm churn-dev-endpoint-5xx-errors went into ALARM during the baking period",
    )


def test_a_rollback_the_tracker_has_not_recorded_yet_is_not_redeployed(platform):
    v2, serving_v1 = v2_deploying_over_v1(platform)
    platform.roll_back("dev", serving_v1)  # its UPDATE_ROLLBACK_COMPLETE event is still on its way
    requests = len(platform.change_set_requests())

    platform.promote(platform.package_event(v2, id="any-event-of-the-group"))

    assert len(platform.change_set_requests()) == requests
    assert platform.state("dev")["decision"] == "HOLD"
    assert platform.parameters("dev") == serving_v1


def test_a_rejection_from_before_the_rolled_back_attempt_does_not_release_it(platform):
    v2, serving_v1 = v2_deploying_over_v1(platform)
    platform.roll_back("dev", serving_v1)
    platform.track(platform.completion("dev", "UPDATE_ROLLBACK_COMPLETE"))
    earlier = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    platform.promote(
        platform.package_event(v2, time=earlier)
        | {"detail": {**platform.package_event(v2)["detail"], "ModelApprovalStatus": "Rejected"}}
    )

    assert platform.state("dev")["decision"] == "HOLD"
    assert platform.state("dev").get("released_package_arn", "") == ""


def test_the_entry_point_delegates_to_the_environments_promoter(platform, monkeypatch):
    monkeypatch.setattr(promoter_module.handler, "instance", lambda: platform.promoter)
    package = platform.register("feature")

    response = promoter_module.handler(sqs_event(platform.package_event(package)), LambdaContext("mlops-promoter"))

    assert response == {"batchItemFailures": []}
    assert platform.stack("feature")["StackId"].split(":")[4] == DEV


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LEDGER_TABLE", "", "LEDGER_TABLE: missing"),
        ("DEV_ACCOUNT_ID", "1111", "DEV_ACCOUNT_ID='1111': must be a 12-digit AWS account id"),
        ("STAGES", "dev,staging", "stages must be among"),
        ("STAGE_TARGETS", "{", "STAGE_TARGETS: not valid JSON"),
        ("STAGE_TARGETS", "{}", "STAGE_TARGETS['feature']: must give account_id"),
        ("ROLLBACK_MONITORING_MINUTES", "ten", "ROLLBACK_MONITORING_MINUTES='ten': must be a whole number from 0"),
        ("ROLLBACK_MONITORING_MINUTES", "181", "must be a whole number from 0 to 180"),
        ("ENDPOINT_SETTINGS", "[]", "ENDPOINT_SETTINGS: must be a JSON object"),
        ("ENDPOINT_SETTINGS", '{"feature,dev": {}, "dev": {}}', "ENDPOINT_SETTINGS: stage 'dev' is given twice"),
        ("ENDPOINT_TEMPLATE_KEY", " ", "ENDPOINT_TEMPLATE_KEY: missing"),
    ],
)
def test_an_invalid_environment_stops_the_promoter_with_the_variables_name(name, value, message):
    environment = PROMOTER_ENVIRONMENT | {name: value}
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("(", r"\(")):
        PromoterSettings.from_environment(environment)


def test_stages_sharing_a_value_share_one_key_and_the_promoter_reads_them_stage_by_stage():
    per_stage = ("STAGE_TARGETS", "ENDPOINT_SETTINGS", "DEPLOYMENT_KINDS", "BATCH_SETTINGS")
    shared = {name: stages_sharing_values(json.loads(PROMOTER_ENVIRONMENT[name])) for name in per_stage}

    assert list(json.loads(shared["DEPLOYMENT_KINDS"])) == ["feature,dev,prod"]
    assert len(shared["ENDPOINT_SETTINGS"]) < len(PROMOTER_ENVIRONMENT["ENDPOINT_SETTINGS"])
    assert PromoterSettings.from_environment(PROMOTER_ENVIRONMENT | shared) == PromoterSettings.from_environment(
        PROMOTER_ENVIRONMENT
    )


def _with_target(stage: str, **changes) -> dict:
    targets = json.loads(PROMOTER_ENVIRONMENT["STAGE_TARGETS"])
    targets[stage].update(changes)
    return PROMOTER_ENVIRONMENT | {"STAGE_TARGETS": json.dumps(targets)}


@pytest.mark.parametrize(
    ("stage", "changes", "message"),
    [
        ("prod", {"region": "us-east-1"}, "must be 'eu-west-1'; model packages deploy in their region"),
        ("prod", {"deploy_role_arn": f"arn:aws:iam::{TEST}:role/mlops-test-deployer"}, f"a role of account {PROD}"),
        (
            "feature",
            {
                "account_id": TEST,
                "deploy_role_arn": deploy_role(TEST),
                "cloudformation_role_arn": cloudformation_role(TEST),
            },
            "stage feature deploys to the dev account",
        ),
        ("dev", {"account_id": "2222"}, "must be a 12-digit AWS account id"),
    ],
)
def test_stage_targets_are_checked(stage, changes, message):
    with pytest.raises(ConfigurationError, match=message):
        PromoterSettings.from_environment(_with_target(stage, **changes))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda settings: settings.pop(EndpointParameters.INSTANCE_TYPE), "missing \\['InstanceType'\\]"),
        (lambda settings: settings.update(ModelPackageArn="x"), "unknown \\['ModelPackageArn'\\]"),
        (lambda settings: settings.update(InstanceCount=2), "must be an object of parameter name -> string"),
    ],
)
def test_endpoint_settings_must_be_exactly_the_stage_parameters(change, message):
    settings = json.loads(PROMOTER_ENVIRONMENT["ENDPOINT_SETTINGS"])
    change(settings["prod"])
    environment = PROMOTER_ENVIRONMENT | {"ENDPOINT_SETTINGS": json.dumps(settings)}
    with pytest.raises(ConfigurationError, match=message):
        PromoterSettings.from_environment(environment)


def test_a_template_too_large_for_a_change_set_stops_the_promoter(platform):
    platform.client(DEV, "s3").put_object(
        Bucket=platform.promoter_environment["ENDPOINT_TEMPLATE_BUCKET"],
        Key=platform.promoter_environment["ENDPOINT_TEMPLATE_KEY"],
        Body=b" " * 51_201,
    )
    promoter = platform.new_promoter()
    with pytest.raises(ConfigurationError, match="51201 bytes"):
        _ = promoter.endpoint_template


# --- Two promoters at once ----------------------------------------------------------------------------------


class CloudFormationLikeAws:
    """A target account's CloudFormation (moto) that, like AWS and unlike moto, deletes a stack's other
    change sets when one executes. ``on_execute``, if set, is called once with the execution to perform,
    so a test decides what happens around it."""

    def __init__(self, client, executed: list[str]) -> None:
        self._client = client
        self.executed = executed
        self.on_execute = None

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def execute_change_set(self, **request):
        hook, self.on_execute = self.on_execute, None
        return hook(lambda: self._execute(request)) if hook else self._execute(request)

    def _execute(self, request: dict) -> dict:
        stack = request["StackName"]
        available = [
            summary["ChangeSetId"]
            for summary in self._client.list_change_sets(StackName=stack)["Summaries"]
            if summary["StackName"] == stack and summary["ExecutionStatus"] == "AVAILABLE"
        ]
        if request["ChangeSetName"] not in available:
            error = {"Code": "ChangeSetNotFound", "Message": f"ChangeSet [{request['ChangeSetName']}] does not exist"}
            raise ClientError({"Error": error}, "ExecuteChangeSet")
        for other in available:
            if other != request["ChangeSetName"]:
                self._client.delete_change_set(ChangeSetName=other, StackName=stack)
        self.executed.append(request["ChangeSetName"])
        return self._client.execute_change_set(**request)


def two_promoters(platform):
    """Promoters of two Lambda environments, each with its own client of the test account's
    CloudFormation behaving like AWS's, and the change sets executed; v1 of churn-dev is deployed and
    v2 is approved."""
    v1, v2 = platform.register("dev"), platform.register("dev", approved=False)
    platform.promote(platform.package_event(v1))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    platform.set_approval(v2, "Approved")
    executed: list[str] = []
    pairs = []
    for _ in range(2):
        target = platform.promoter.settings.targets["dev"]
        client = platform._clients().in_account(
            "cloudformation", role_arn=target.deploy_role_arn, session_name="promoter", region=target.region
        )
        handler_calls.acting_as(client, target.deploy_role_arn)
        cloudformation = CloudFormationLikeAws(client, executed)
        promoter = platform.new_promoter(cloudformation_for=lambda _target, _name, c=cloudformation: c)
        pairs.append((promoter, cloudformation))
    return v2, pairs, executed


def assert_the_ledger_follows_the_stack(platform, executed: list[str]) -> None:
    """One change set ran, the stage's current attempt is the one the stack runs, and its completion
    makes the stage DEPLOYED (so the monitor follows and the tester accepts its in-service event)."""
    assert len(executed) == 1
    running = platform.parameters("dev")[EndpointParameters.DEPLOYMENT_ID]
    state = platform.state("dev")
    assert (state["deployment_id"], state["status"]) == (running, "IN_PROGRESS")
    platform.track(platform.completion("dev", "UPDATE_COMPLETE", token=running))
    assert platform.state("dev")["status"] == "DEPLOYED"


def test_a_promoter_that_decided_before_another_deployed_does_not_execute(platform, monkeypatch):
    v2, ((first, _), (second, _)), executed = two_promoters(platform)
    decide = promoter_module.decide_endpoint

    def decide_then_let_the_other_promoter_run(*arguments):
        """The first promoter has read the stage and the stack and decided; the second one runs fully."""
        monkeypatch.setattr(promoter_module, "decide_endpoint", decide)
        decision = decide(*arguments)
        assert platform.promote(platform.package_event(v2, id="second"), promoter=second) == {"batchItemFailures": []}
        return decision

    monkeypatch.setattr(promoter_module, "decide_endpoint", decide_then_let_the_other_promoter_run)

    response = platform.promote(platform.package_event(v2, id="first"), promoter=first)

    assert_the_ledger_follows_the_stack(platform, executed)
    assert len(response["batchItemFailures"]) == 1  # comes back later, and then finds v2 deployed
    cloudformation = platform.cloudformation("dev")
    leftovers = cloudformation.list_change_sets(StackName="churn-dev-endpoint")["Summaries"]
    assert [s["ExecutionStatus"] for s in leftovers if s["StackName"] == "churn-dev-endpoint"].count("AVAILABLE") == 0


def test_a_promoter_does_not_deploy_while_another_ones_change_set_waits_to_be_executed(platform):
    v2, ((first, first_cloudformation), (second, second_cloudformation)), executed = two_promoters(platform)
    outcome = {}

    def let_the_other_promoter_interleave(execute_first):
        """The second promoter runs until it executes; the first one's execution lands just before."""
        second_cloudformation.on_execute = lambda execute_second: (execute_first(), execute_second())[1]
        outcome["second"] = platform.promote(platform.package_event(v2, id="second"), promoter=second)
        if second_cloudformation.on_execute is not None:  # the second promoter did not get that far
            second_cloudformation.on_execute = None
            return execute_first()
        return {}

    first_cloudformation.on_execute = let_the_other_promoter_interleave

    response = platform.promote(platform.package_event(v2, id="first"), promoter=first)

    assert response == {"batchItemFailures": []}
    assert len(outcome["second"]["batchItemFailures"]) == 1  # it waits for the first deployment
    assert_the_ledger_follows_the_stack(platform, executed)
