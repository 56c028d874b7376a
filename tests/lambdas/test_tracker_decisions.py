"""The tracker's decisions, exhaustively: what an event is about, what outcome it reports, what a package shows."""

from __future__ import annotations

import re

import botocore.session
import pytest

import contract
from ledger import OUTCOME_ORDER, StageState, Status, replaceable_by
from tests.lambdas.events import (
    DEV,
    PROD,
    REGION,
    TEST,
    alarm_state_change,
    endpoint_deployment_state_change,
    stack_status_change,
)
from tracker.decisions import (
    EndpointStateChange,
    Rejection,
    StackKind,
    StackStatusChange,
    TrackingRules,
    annotated_deployment,
    deployment_id_of_config,
    endpoint_outcome,
    outcome_summary,
    package_annotation,
    package_withdrawal,
    stack_event_deployment_id,
    stack_outcome,
    tracked_event,
    unrelated_to_stage,
    upper_snake,
)

RULES = TrackingRules(frozenset({DEV, TEST, PROD}), REGION, ("feature", "dev", "prod"))
CHURN_DEV = contract.Deployment("churn", "dev")
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
ALL_STACK_STATUSES = botocore.session.get_session().get_service_model("cloudformation").shape_for("StackStatus").enum


# --- What an event is about -------------------------------------------------------------------------------


def test_a_stack_status_change_names_its_stack_deployment_and_operation():
    event = stack_status_change(
        account=TEST, stack_name="churn-dev-endpoint", status="UPDATE_COMPLETE", token="v8-0a1b2c3d"
    )
    change = tracked_event(event, RULES)
    assert change == StackStatusChange(
        event["id"], TEST, CHURN_DEV, StackKind.ENDPOINT, "churn-dev-endpoint", "UPDATE_COMPLETE", "", "v8-0a1b2c3d"
    )


def test_a_monitor_stack_is_told_apart_from_an_endpoint_stack():
    event = stack_status_change(account=TEST, stack_name="churn-dev-monitor", status="CREATE_COMPLETE")
    assert tracked_event(event, RULES).kind is StackKind.MONITOR


def test_an_endpoint_deployment_state_change_carries_the_configurations():
    event = endpoint_deployment_state_change(
        account=TEST,
        endpoint_name="churn-dev-endpoint",
        status="ROLLING_BACK",
        config_name="churn-dev-endpoint-v7-00000000",
        pending_config_name="churn-dev-endpoint-v8-0a1b2c3d",
        failure_reason="Alarm churn-dev-endpoint-5xx-errors is in ALARM",
    )
    assert tracked_event(event, RULES) == EndpointStateChange(
        event["id"],
        TEST,
        CHURN_DEV,
        "churn-dev-endpoint",
        "ROLLING_BACK",
        "churn-dev-endpoint-v7-00000000",
        "churn-dev-endpoint-v8-0a1b2c3d",
        "Alarm churn-dev-endpoint-5xx-errors is in ALARM",
    )


def test_an_endpoint_state_change_is_read_the_same_way():
    event = endpoint_deployment_state_change(
        account=TEST,
        endpoint_name="churn-dev-endpoint",
        status="IN_SERVICE",
        config_name="churn-dev-endpoint-v8-0a1b2c3d",
        detail_type="SageMaker Endpoint State Change",
    )
    change = tracked_event(event, RULES)
    assert (change.status, change.pending_config_name, change.failure_reason) == ("IN_SERVICE", "", "")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            stack_status_change(account="444455556666", stack_name="churn-dev-endpoint", status="UPDATE_COMPLETE"),
            "not a deployment target",
        ),
        (
            stack_status_change(account=TEST, stack_name="churn-dev-endpoint", status="UPDATE_COMPLETE")
            | {"region": "us-east-1"},
            "region",
        ),
        (
            stack_status_change(account=TEST, stack_name="network", status="UPDATE_COMPLETE"),
            "not an endpoint or monitor stack",
        ),
        (
            stack_status_change(account=TEST, stack_name="churn-qa-endpoint", status="UPDATE_COMPLETE"),
            "not an endpoint or monitor",
        ),
        (
            stack_status_change(account=TEST, stack_name="churn-dev-endpoint", status="UPDATE_COMPLETE")
            | {"account": PROD},
            "is not a stack of account",
        ),
        (
            endpoint_deployment_state_change(
                account=TEST, endpoint_name="fraud-endpoint", status="UPDATING", config_name="c"
            ),
            "not an endpoint of the platform",
        ),
        (
            endpoint_deployment_state_change(
                account=TEST, endpoint_name="churn-dev-monitor", status="UPDATING", config_name="c"
            ),
            "not an endpoint of the platform",
        ),
        (
            alarm_state_change(account=PROD, alarm_name="churn-prod-endpoint-5xx-errors"),
            "unexpected event: source 'aws.cloudwatch'",  # alarms are the monitoring loop's
        ),
        (
            stack_status_change(account=TEST, stack_name="churn-dev-endpoint", status="UPDATE_COMPLETE")
            | {"source": "aws.sagemaker"},
            "unexpected event",
        ),
        (
            stack_status_change(account=TEST, stack_name="churn-dev-endpoint", status="X")
            | {"detail": {"stack-id": "x"}},
            "malformed CloudFormation Stack Status Change",
        ),
        ({"id": "1", "source": "aws.cloudformation"}, "not an EventBridge event"),
    ],
)
def test_foreign_or_malformed_events_are_rejected(event, reason):
    result = tracked_event(event, RULES)
    assert isinstance(result, Rejection)
    assert reason in result.reason


def test_events_concern_a_stage_only_from_the_account_it_was_deployed_to():
    deployed = StageState(CHURN_DEV, account=TEST, deployment_id="v8-0a1b2c3d")
    assert unrelated_to_stage(TEST, deployed) is None
    assert "deploys to 222222222222" in unrelated_to_stage(PROD, deployed)
    assert "deployed nothing" in unrelated_to_stage(TEST, None)
    assert "deployed nothing" in unrelated_to_stage(TEST, StageState(CHURN_DEV, account=TEST))


# --- Outcomes -----------------------------------------------------------------------------------------------

EXPECTED_OUTCOMES = {
    "CREATE_COMPLETE": Status.DEPLOYED,
    "UPDATE_COMPLETE": Status.DEPLOYED,
    "UPDATE_ROLLBACK_COMPLETE": Status.ROLLED_BACK,
    "ROLLBACK_COMPLETE": Status.FAILED,
    "CREATE_FAILED": Status.FAILED,
    "ROLLBACK_FAILED": Status.FAILED,
    "DELETE_FAILED": Status.FAILED,
    "UPDATE_FAILED": Status.FAILED,
    "UPDATE_ROLLBACK_FAILED": Status.FAILED,
    "IMPORT_ROLLBACK_FAILED": Status.FAILED,
}


@pytest.mark.parametrize("status", ALL_STACK_STATUSES)
def test_every_stack_status_reports_its_outcome_or_none(status):
    outcome = stack_outcome(status, "Resource handler returned message: alarm churn-dev-endpoint-5xx-errors")
    assert (outcome.status if outcome else None) is EXPECTED_OUTCOMES.get(status)
    if outcome and outcome.status is not Status.DEPLOYED:
        assert "alarm churn-dev-endpoint-5xx-errors" in outcome.reason


@pytest.mark.parametrize(
    ("token", "current", "expected"),
    [
        ("v8-0a1b2c3d", "v9-ffffffff", "v8-0a1b2c3d"),
        ("", "v9-ffffffff", "v9-ffffffff"),
        ("", "", None),
        ("Console-UpdateStack-7f59c3cf-00d2-40c7-b2ff-e75db0987002", "v9-ffffffff", None),
        ("v8-0a1b2c3d-monitor-1a2b3c4d", "v9-ffffffff", None),
    ],
)
def test_a_stack_event_belongs_to_the_attempt_its_token_names(token, current, expected):
    assert stack_event_deployment_id(token, current) == expected


@pytest.mark.parametrize(
    ("api", "event"),
    [
        ("RollingBack", "ROLLING_BACK"),
        ("UpdateRollbackFailed", "UPDATE_ROLLBACK_FAILED"),
        ("InService", "IN_SERVICE"),
        ("ROLLING_BACK", "ROLLING_BACK"),
    ],
)
def test_endpoint_statuses_are_read_in_either_spelling(api, event):
    assert upper_snake(api) == event


def test_every_endpoint_status_of_the_api_has_an_event_spelling():
    statuses = {upper_snake(status) for status in SAGEMAKER.shape_for("EndpointStatus").enum}
    assert {"ROLLING_BACK", "UPDATE_ROLLBACK_FAILED", "FAILED", "IN_SERVICE", "SYSTEM_UPDATING"} <= statuses


def endpoint_change(status: str, config: str, pending: str = "", failure: str = "") -> EndpointStateChange:
    return EndpointStateChange("e", TEST, CHURN_DEV, "churn-dev-endpoint", status, config, pending, failure)


OLD = "churn-dev-endpoint-v7-00000000"
NEW = "churn-dev-endpoint-v8-0a1b2c3d"


@pytest.mark.parametrize(
    ("change", "current", "expected"),
    [
        (endpoint_change("ROLLING_BACK", OLD, NEW, "alarm"), "v8-0a1b2c3d", ("v8-0a1b2c3d", Status.ROLLED_BACK)),
        (endpoint_change("ROLLING_BACK", OLD, NEW), "v9-ffffffff", ("v8-0a1b2c3d", Status.ROLLED_BACK)),
        (endpoint_change("ROLLING_BACK", OLD), "v8-0a1b2c3d", ("v8-0a1b2c3d", Status.ROLLED_BACK)),
        (endpoint_change("UPDATE_ROLLBACK_FAILED", OLD, NEW), "v8-0a1b2c3d", ("v8-0a1b2c3d", Status.FAILED)),
        (endpoint_change("FAILED", NEW, "", "capacity"), "v8-0a1b2c3d", ("v8-0a1b2c3d", Status.FAILED)),
        (
            endpoint_change("IN_SERVICE", OLD, "", "rolled back: alarm"),
            "v8-0a1b2c3d",
            ("v8-0a1b2c3d", Status.ROLLED_BACK),
        ),
        (endpoint_change("IN_SERVICE", NEW, "", "an earlier failure"), "v8-0a1b2c3d", None),
        (endpoint_change("IN_SERVICE", NEW), "v8-0a1b2c3d", None),
        (endpoint_change("IN_SERVICE", OLD), "v8-0a1b2c3d", None),
        (endpoint_change("UPDATING", OLD, NEW), "v8-0a1b2c3d", None),
        (endpoint_change("CREATING", NEW), "v8-0a1b2c3d", None),
        (endpoint_change("ROLLING_BACK", OLD), "", None),
    ],
)
def test_endpoint_outcomes(change, current, expected):
    result = endpoint_outcome(change, current)
    assert (None if result is None else (result[0], result[1].status)) == expected


def test_configuration_names_carry_the_deployment_id():
    assert deployment_id_of_config("churn-dev-endpoint", NEW) == "v8-0a1b2c3d"
    assert deployment_id_of_config("churn-dev-endpoint", "churn-dev-endpoint-config-1") is None
    assert deployment_id_of_config("churn-dev-endpoint", "") is None


def test_outcomes_only_move_forward():
    assert OUTCOME_ORDER == (Status.IN_PROGRESS, Status.DEPLOYED, Status.ROLLED_BACK, Status.FAILED)
    assert replaceable_by(Status.DEPLOYED) == (Status.IN_PROGRESS,)
    assert Status.DEPLOYED in replaceable_by(Status.ROLLED_BACK)
    assert Status.ROLLED_BACK not in replaceable_by(Status.DEPLOYED)


# --- Model packages -----------------------------------------------------------------------------------------


#: SageMaker's pattern for metadata values, ``([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)``, in Python's terms.
METADATA_VALUE = re.compile(r"[\w .:/=+\-@]{1,256}")
ENTITY_NAME = re.compile(SAGEMAKER.shape_for("EntityName").metadata["pattern"])


def test_a_deployed_package_says_where_it_runs_within_sagemakers_limits():
    annotation = package_annotation(CHURN_DEV, TEST, "v8-0a1b2c3d", "2026-03-01T09:30:00+00:00")
    [(key, value)] = annotation["CustomerMetadataProperties"].items()
    assert key == "deployed-dev"
    assert value == "churn-dev-endpoint in 222222222222 as v8-0a1b2c3d since 2026-03-01T09:30:00+00:00"
    assert METADATA_VALUE.fullmatch(value)
    life_cycle = annotation["ModelLifeCycle"]
    assert (life_cycle["Stage"], life_cycle["StageStatus"]) == ("test", "Deployed")
    assert all(ENTITY_NAME.fullmatch(name) for name in ("test", "prod", "dev", "Deployed", "RolledBack", "Superseded"))
    assert annotated_deployment({"CustomerMetadataProperties": {key: value}}, "dev") == "v8-0a1b2c3d"
    assert annotated_deployment({"CustomerMetadataProperties": {key: value}}, "prod") is None
    assert annotated_deployment({}, "dev") is None


def test_a_withdrawn_package_loses_its_annotation():
    withdrawal = package_withdrawal(CHURN_DEV, "RolledBack", "alarm")
    assert withdrawal["CustomerMetadataPropertiesToRemove"] == ["deployed-dev"]
    assert withdrawal["ModelLifeCycle"] == {"Stage": "test", "StageStatus": "RolledBack", "StageDescription": "alarm"}


@pytest.mark.parametrize(
    ("status", "words"),
    [(Status.DEPLOYED, "v8 deployed"), (Status.ROLLED_BACK, "v8 rolled back"), (Status.FAILED, "v8 failed")],
)
def test_outcome_summaries(status, words):
    assert outcome_summary(status, 8, "v8-0a1b2c3d") == f"{words} (v8-0a1b2c3d)"
