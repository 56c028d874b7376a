"""The tracker against moto: outcomes forwarded from the target accounts, applied to the dev ledger and registry."""

from __future__ import annotations

import io
import json

import pytest

import contract
from settings import ConfigurationError
from tests.lambdas.conftest import TRACKER_ENVIRONMENT
from tests.lambdas.events import (
    PROD,
    TEST,
    LambdaContext,
    endpoint_deployment_state_change,
    sqs_event,
    stack_status_change,
)
from tracker import handler as tracker_module
from tracker.handler import TrackerSettings


@pytest.fixture
def logs(monkeypatch):
    """The tracker's structured log lines, as parsed JSON."""
    stream = io.StringIO()
    monkeypatch.setattr(tracker_module.logger.registered_handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


def deployed(platform, stage: str = "dev", versions: int = 1) -> list[str]:
    """Versions 1..n approved; each deployed in turn and confirmed by its stack's completion."""
    packages = []
    for version in range(1, versions + 1):
        packages.append(platform.register(stage))
        platform.promote(platform.package_event(packages[-1]))
        platform.track(platform.completion(stage, "CREATE_COMPLETE" if version == 1 else "UPDATE_COMPLETE"))
    platform.alerts()
    platform.reconcile_requests()
    return packages


def in_flight(platform, stage: str = "dev") -> tuple[str, str]:
    """v1 deployed and confirmed, v2 being deployed: (v2's ARN, its deployment id)."""
    deployed(platform, stage)
    package = platform.register(stage)
    platform.promote(platform.package_event(package))
    return package, platform.state(stage)["deployment_id"]


def deployment_rollback(platform, deployment_id: str, **fields) -> dict:
    """SageMaker rolling a blue/green deployment back because an alarm fired."""
    return endpoint_deployment_state_change(
        account=TEST,
        endpoint_name="churn-dev-endpoint",
        status="ROLLING_BACK",
        config_name=f"churn-dev-endpoint-{platform.attempts('dev')[0]['deployment_id']}",
        pending_config_name=f"churn-dev-endpoint-{deployment_id}",
        failure_reason="Alarm churn-dev-endpoint-5xx-errors went into ALARM during the baking period",
        **fields,
    )


def test_a_completed_endpoint_stack_is_a_deployment_the_integration_tests_have_yet_to_pass(platform):
    package = platform.register("dev")
    platform.promote(platform.package_event(package))
    deployment_id = platform.state("dev")["deployment_id"]

    assert platform.track(platform.completion("dev", "CREATE_COMPLETE")) == {"batchItemFailures": []}

    [attempt] = platform.attempts("dev")
    assert attempt["status"] == platform.state("dev")["status"] == "DEPLOYED"
    assert platform.test_record(package) == {}  # only the integration tester records a pass
    metadata = platform.package(package)["CustomerMetadataProperties"]
    assert metadata["deployed-dev"].startswith(f"churn-dev-endpoint in {TEST} as {deployment_id} since ")
    assert metadata["GitCommit"] == "9f1c2ab"
    assert platform.package(package)["ModelApprovalStatus"] == "Approved"
    [annotation] = [params for operation, params in platform.requests if operation == "UpdateModelPackage"]
    assert annotation["ModelLifeCycle"]["StageStatus"] == "Deployed"
    assert "ModelApprovalStatus" not in annotation  # the tracker's role may never change approvals
    [nudge] = platform.reconcile_requests()
    assert (nudge["source"], nudge["detail-type"]) == ("mlops.platform", "Reconcile Deployment")
    assert nudge["detail"]["project"] == "churn" and nudge["detail"]["stage"] == "dev"
    [(subject, message)] = platform.alerts()
    assert subject == f"[churn/dev] v1 deployed ({deployment_id})"
    assert (message["status"], message["package_arn"], message["account"]) == ("DEPLOYED", package, TEST)


def test_a_prod_deployment_records_no_test_pass(platform):
    dev_package = platform.register("dev")  # passed the test stage (deployment x); the prod gate needs it
    package = platform.register("prod", metadata={contract.META_SOURCE_PACKAGE: dev_package})
    for tested in (dev_package, package):
        platform._table().put_item(Item={"pk": f"PACKAGE#{tested}", "sk": "TEST", "passed": True, "deployment_id": "x"})
    platform.promote(platform.package_event(package))
    platform.track(platform.completion("prod", "CREATE_COMPLETE"))
    assert platform.state("prod")["status"] == "DEPLOYED"
    assert platform.test_record(package)["deployment_id"] == "x"


def test_a_rollback_status_event_records_the_rollback_and_notifies(platform):
    package, deployment_id = in_flight(platform)

    platform.track(platform.completion("dev", "UPDATE_ROLLBACK_COMPLETE", reason="Alarm churn-dev-endpoint-5xx-errors"))

    state = platform.state("dev")
    assert (state["status"], state["deployment_id"]) == ("ROLLED_BACK", deployment_id)
    assert "churn-dev-endpoint-5xx-errors" in state["reason"]
    assert [a["status"] for a in sorted(platform.attempts("dev"), key=lambda a: a["sk"])] == ["DEPLOYED", "ROLLED_BACK"]
    assert platform.test_record(package) == {}
    assert "deployed-dev" not in platform.package(package)["CustomerMetadataProperties"]
    assert platform.reconcile_requests() == []
    [(subject, message)] = platform.alerts()
    assert subject == f"[churn/dev] v2 rolled back ({deployment_id})"
    assert message["status"] == "ROLLED_BACK"


def test_a_deployment_rollback_then_update_complete_stays_rolled_back(platform):
    package, deployment_id = in_flight(platform)

    platform.track(deployment_rollback(platform, deployment_id))
    platform.track(platform.completion("dev", "UPDATE_COMPLETE"))

    assert platform.state("dev")["status"] == "ROLLED_BACK"
    assert "SageMaker rolled deployment" in platform.state("dev")["reason"]
    assert platform.test_record(package) == {}
    assert "deployed-dev" not in platform.package(package)["CustomerMetadataProperties"]
    assert platform.reconcile_requests() == []
    assert [subject for subject, _ in platform.alerts()] == [f"[churn/dev] v2 rolled back ({deployment_id})"]


def test_update_complete_then_a_deployment_rollback_ends_rolled_back(platform):
    package, deployment_id = in_flight(platform)

    platform.track(platform.completion("dev", "UPDATE_COMPLETE"))
    platform.run_integration_tests("dev")
    assert platform.test_record(package)["passed"] is True
    platform.track(deployment_rollback(platform, deployment_id))

    assert platform.state("dev")["status"] == "ROLLED_BACK"
    assert platform.test_record(package)["passed"] is False  # revoked: it never reaches prod
    assert "deployed-dev" not in platform.package(package)["CustomerMetadataProperties"]
    assert [subject for subject, _ in platform.alerts()] == [
        f"[churn/dev] v2 deployed ({deployment_id})",
        f"[churn/dev] integration tests passed: v2 ({deployment_id})",
        f"[churn/dev] v2 rolled back ({deployment_id})",
    ]


def test_an_endpoint_back_in_service_on_its_old_configuration_was_rolled_back(platform):
    in_flight(platform)
    back = endpoint_deployment_state_change(
        account=TEST,
        endpoint_name="churn-dev-endpoint",
        status="IN_SERVICE",
        config_name=f"churn-dev-endpoint-{platform.attempts('dev')[0]['deployment_id']}",
        failure_reason="Deployment rolled back: alarm churn-dev-endpoint-model-latency",
        detail_type="SageMaker Endpoint State Change",
    )

    platform.track(back, platform.completion("dev", "UPDATE_COMPLETE"))

    assert platform.state("dev")["status"] == "ROLLED_BACK"


def test_a_new_deployment_moves_the_annotation_from_the_package_it_replaced(platform):
    first, second = deployed(platform, versions=2)
    assert "deployed-dev" not in platform.package(first)["CustomerMetadataProperties"]
    assert platform.package(second)["CustomerMetadataProperties"]["deployed-dev"].startswith("churn-dev-endpoint in")
    superseded = [p for o, p in platform.requests if o == "UpdateModelPackage" and p["ModelPackageArn"] == first][-1]
    assert superseded["ModelLifeCycle"]["StageStatus"] == "Superseded"


def test_a_repeated_outcome_is_notified_once(platform):
    platform.promote(platform.package_event(platform.register("dev")))
    completion = platform.completion("dev", "CREATE_COMPLETE")

    platform.track(completion)
    platform.track(completion)  # redelivered by SQS
    platform.track(completion | {"id": "a-second-event-with-the-same-news"})

    assert len(platform.alerts()) == 1
    assert len(platform.reconcile_requests()) == 1


def test_a_failed_first_creation_is_recorded_as_failed(platform):
    platform.promote(platform.package_event(platform.register("dev")))
    platform.track(platform.completion("dev", "ROLLBACK_COMPLETE", reason="Model package not accessible"))
    assert platform.state("dev")["status"] == "FAILED"
    [(subject, message)] = platform.alerts()
    assert "v1 failed" in subject and "Model package not accessible" in message["reason"]


def test_monitor_stack_outcomes_are_recorded_and_failures_alerted(platform):
    platform.promote(platform.package_event(platform.register("dev")))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    platform.promote(*platform.reconcile_requests())
    platform.alerts()
    assert platform.state("dev")["monitor_status"] == "IN_PROGRESS"

    platform.track(platform.completion("dev", "ROLLBACK_COMPLETE", kind="monitor", reason="Invalid baseline"))

    assert platform.state("dev")["monitor_status"] == "FAILED"
    [(subject, message)] = platform.alerts()
    assert subject == "[churn/dev] monitor stack ROLLBACK_COMPLETE"
    assert "Invalid baseline" in message["reason"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            lambda p: stack_status_change(
                account="444455556666", stack_name="churn-dev-endpoint", status="UPDATE_COMPLETE"
            ),
            "is not a deployment target",
        ),
        (
            lambda p: stack_status_change(account=TEST, stack_name="billing-api", status="UPDATE_COMPLETE"),
            "not an endpoint",
        ),
        (lambda p: p.completion("dev", "UPDATE_COMPLETE") | {"account": PROD}, "is not a stack of account"),
        (
            lambda p: stack_status_change(account=PROD, stack_name="churn-dev-endpoint", status="UPDATE_COMPLETE"),
            f"comes from account {PROD}, the stage deploys to {TEST}",
        ),
        (
            lambda p: stack_status_change(account=TEST, stack_name="churn-feature-endpoint", status="UPDATE_COMPLETE"),
            "the promoter has deployed nothing to this stage",
        ),
        (
            lambda p: p.completion("dev", "UPDATE_COMPLETE", token="Console-UpdateStack-7f59c3cf-00d2-40c7-b2ff"),
            "was not started by the promoter",
        ),
        (lambda p: p.completion("dev", "UPDATE_COMPLETE", token="v9-99999999"), "no attempt v9-99999999"),
        (lambda p: p.completion("dev") | {"detail-type": "CloudFormation Resource Status Change"}, "unexpected event"),
    ],
)
def test_foreign_events_are_dropped_with_a_reason(platform, logs, event, reason):
    platform.promote(platform.package_event(platform.register("dev")))
    before = platform.state("dev")

    assert platform.track(event(platform)) == {"batchItemFailures": []}

    assert platform.state("dev") == before
    assert platform.alerts() == [] and platform.reconcile_requests() == []
    [dropped] = [line for line in logs() if line["message"] == "Dropped event"]
    assert reason in dropped["reason"]
    assert dropped["event_id"]


def test_progress_events_change_nothing(platform):
    platform.promote(platform.package_event(platform.register("dev")))
    before = platform.state("dev")
    platform.track(
        platform.completion("dev", "UPDATE_IN_PROGRESS"),
        endpoint_deployment_state_change(
            account=TEST, endpoint_name="churn-dev-endpoint", status="UPDATING", config_name="churn-dev-endpoint-x"
        ),
    )
    assert platform.state("dev") == before


def test_the_entry_point_delegates_to_the_environments_tracker(platform, monkeypatch):
    monkeypatch.setattr(tracker_module.handler, "instance", lambda: platform.tracker)
    platform.promote(platform.package_event(platform.register("dev")))

    response = tracker_module.handler(sqs_event(platform.completion("dev", "CREATE_COMPLETE")), LambdaContext("t"))

    assert response == {"batchItemFailures": []}
    assert platform.state("dev")["status"] == "DEPLOYED"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PROMOTION_QUEUE_URL", "", "PROMOTION_QUEUE_URL: missing"),
        ("TARGET_ACCOUNTS", '["1234"]', "must be a JSON list of 12-digit AWS account ids"),
        ("TARGET_ACCOUNTS", "[]", "must be a JSON list"),
        ("TARGET_ACCOUNTS", TEST, "must be a JSON list"),
        ("AWS_REGION", "", "AWS_REGION: missing"),
    ],
)
def test_an_invalid_environment_stops_the_tracker_with_the_variables_name(name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        TrackerSettings.from_environment(TRACKER_ENVIRONMENT | {name: value})


def test_a_late_outcome_of_a_superseded_attempt_updates_that_attempt_only(platform):
    first = platform.register("dev")
    platform.promote(platform.package_event(first))
    late_completion = platform.completion("dev", "CREATE_COMPLETE")
    second = platform.register("dev")
    platform.promote(platform.package_event(second))
    current = platform.state("dev")

    platform.track(late_completion)

    attempts = {attempt["package_arn"]: attempt["status"] for attempt in platform.attempts("dev")}
    assert attempts == {first: "DEPLOYED", second: "IN_PROGRESS"}
    assert platform.state("dev")["status"] == current["status"] == "IN_PROGRESS"
    assert platform.reconcile_requests() == []  # the stage is still on its way to the newer version
