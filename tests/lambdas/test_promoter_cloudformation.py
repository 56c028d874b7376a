"""The promoter's CloudFormation calls where moto cannot help: change sets that take time, or fail.

Moto computes a change set at once; CloudFormation takes seconds and may fail. A botocore Stubber
plays CloudFormation's answers in order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from contract import CHANGE_SET_EXECUTION_WINDOW_SECONDS
from promoter.cloudformation import ChangeSetResult, ChangeSetState, TargetStacks, change_set_in_flight
from queue_handler import RetryLater
from tests.lambdas.events import REGION, TEST

STACK = "churn-dev-endpoint"
CHANGE_SET_ID = f"arn:aws:cloudformation:{REGION}:{TEST}:changeSet/v8-0a1b2c3d/1a2b"
REQUEST = {"StackName": STACK, "ChangeSetName": "v8-0a1b2c3d", "ChangeSetType": "UPDATE", "TemplateBody": "{}"}


class Clock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def stacks_answering(*statuses: tuple[str, str]) -> tuple[TargetStacks, Stubber, Clock]:
    client = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(client)
    stubber.add_response("create_change_set", {"Id": CHANGE_SET_ID, "StackId": "stack-id"}, REQUEST)
    for status, reason in statuses:
        described = {"Status": status, "StatusReason": reason, "ChangeSetName": "v8-0a1b2c3d", "StackName": STACK}
        stubber.add_response("describe_change_set", described, {"ChangeSetName": CHANGE_SET_ID, "StackName": STACK})
    stubber.activate()
    clock = Clock()
    stacks = TargetStacks(client, change_set_timeout=10, poll_interval=2, sleep=clock.sleep, clock=lambda: clock.now)
    return stacks, stubber, clock


def test_the_promoter_waits_until_the_change_set_is_computed():
    stacks, stubber, clock = stacks_answering(
        ("CREATE_PENDING", ""), ("CREATE_IN_PROGRESS", ""), ("CREATE_COMPLETE", "")
    )
    assert stacks.create_change_set(REQUEST) == ChangeSetResult(ChangeSetState.READY, change_set_id=CHANGE_SET_ID)
    assert clock.sleeps == [2, 2]
    stubber.assert_no_pending_responses()


def test_waiting_is_bounded_and_the_message_comes_back():
    stacks, _, clock = stacks_answering(*[("CREATE_IN_PROGRESS", "")] * 6)
    with pytest.raises(RetryLater, match="still CREATE_IN_PROGRESS after 10 s"):
        stacks.create_change_set(REQUEST)
    assert clock.now == 10


def test_an_empty_change_set_is_deleted_and_means_nothing_to_do():
    reason = "The submitted information didn't contain changes. Submit different information to create a change set."
    stacks, stubber, _ = stacks_answering(("FAILED", reason))
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ID, "StackName": STACK})
    assert stacks.create_change_set(REQUEST).state is ChangeSetState.EMPTY
    stubber.assert_no_pending_responses()


def test_a_failed_change_set_says_why():
    stacks, _, _ = stacks_answering(("FAILED", "Parameters: [ModelPackageArn] must have values"))
    result = stacks.create_change_set(REQUEST)
    assert result.state is ChangeSetState.FAILED
    assert "ModelPackageArn" in result.reason


NOW = datetime(2026, 12, 1, 10, tzinfo=UTC)
WINDOW = timedelta(seconds=CHANGE_SET_EXECUTION_WINDOW_SECONDS)


@pytest.mark.parametrize(
    ("status", "execution", "age", "in_flight"),
    [
        ("CREATE_PENDING", "UNAVAILABLE", WINDOW * 2, True),
        ("CREATE_IN_PROGRESS", "UNAVAILABLE", timedelta(0), True),
        ("CREATE_COMPLETE", "EXECUTE_IN_PROGRESS", WINDOW * 2, True),
        ("CREATE_COMPLETE", "AVAILABLE", timedelta(seconds=5), True),  # its promoter is about to execute it
        ("CREATE_COMPLETE", "AVAILABLE", WINDOW, False),  # abandoned: its promoter ran out of time
        ("CREATE_COMPLETE", "EXECUTE_COMPLETE", timedelta(0), False),
        ("CREATE_COMPLETE", "EXECUTE_FAILED", timedelta(0), False),
        ("FAILED", "UNAVAILABLE", timedelta(0), False),
    ],
)
def test_a_change_set_being_created_executed_or_about_to_be_executed_is_in_flight(status, execution, age, in_flight):
    summary = {"Status": status, "ExecutionStatus": execution, "CreationTime": NOW - age}
    assert change_set_in_flight(summary, NOW) is in_flight


@pytest.mark.parametrize("code", ["ChangeSetNotFound", "InvalidChangeSetStatus"])
def test_discarding_a_change_set_another_execution_removed_is_fine(code):
    client = boto3.client("cloudformation", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_client_error(
        "delete_change_set", code, expected_params={"ChangeSetName": CHANGE_SET_ID, "StackName": STACK}
    )
    stubber.add_client_error("delete_change_set", "AccessDenied")
    with stubber:
        stacks = TargetStacks(client)
        stacks.discard_change_set(STACK, CHANGE_SET_ID)
        with pytest.raises(ClientError):
            stacks.discard_change_set(STACK, CHANGE_SET_ID)
