"""CloudFormation in a target account, through the deploy role: read stacks, create and execute change sets.

Thin on purpose: every decision about what to do with these calls is in :mod:`promoter.decisions`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from contract import CHANGE_SET_EXECUTION_WINDOW_SECONDS, CHANGE_SET_WAIT_SECONDS
from promoter.decisions import StackView, is_empty_change_set
from queue_handler import RetryLater

#: Change set statuses that mean CloudFormation is still working on it.
CHANGE_SET_PENDING = frozenset({"CREATE_PENDING", "CREATE_IN_PROGRESS"})


class ChangeSetState(StrEnum):
    """How the creation of a change set ended."""

    READY = "READY"
    EMPTY = "EMPTY"
    FAILED = "FAILED"


@dataclass(frozen=True)
class ChangeSetResult:
    """A created change set (or why there is none to execute)."""

    state: ChangeSetState
    reason: str = ""
    change_set_id: str = ""


def change_set_in_flight(summary: Mapping[str, Any], now: datetime) -> bool:
    """A change set being created or executed, or created moments ago and waiting for the promoter that
    created it to execute it (an older one was abandoned: its promoter's time has run out)."""
    if summary["Status"] in CHANGE_SET_PENDING or summary["ExecutionStatus"] == "EXECUTE_IN_PROGRESS":
        return True
    age = now - summary["CreationTime"]
    return summary["ExecutionStatus"] == "AVAILABLE" and age < timedelta(seconds=CHANGE_SET_EXECUTION_WINDOW_SECONDS)


def _is_missing_stack(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(error)


class TargetStacks:
    """The platform's stacks in one target account.

    Waits only for a change set to be created (bounded by ``change_set_timeout``), never for a stack.
    """

    def __init__(
        self,
        cloudformation,
        *,
        change_set_timeout: float = CHANGE_SET_WAIT_SECONDS,
        poll_interval: float = 2.0,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._cloudformation = cloudformation
        self._timeout = change_set_timeout
        self._poll_interval = poll_interval
        self._sleep = sleep
        self._clock = clock
        self._now = now

    def view(self, stack_name: str) -> StackView | None:
        """The stack's status and parameters, and whether a change set of it is being created or
        executed; None if there is no such stack."""
        try:
            stack = self._cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        except ClientError as error:
            if _is_missing_stack(error):
                return None
            raise
        status = stack["StackStatus"]
        parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        could_take_change_set = status == "REVIEW_IN_PROGRESS" or not status.endswith("_IN_PROGRESS")
        return StackView(stack_name, status, parameters, could_take_change_set and self._change_set_busy(stack_name))

    def _change_set_busy(self, stack_name: str) -> bool:
        for page in self._cloudformation.get_paginator("list_change_sets").paginate(StackName=stack_name):
            for summary in page["Summaries"]:
                if summary.get("StackName", stack_name) != stack_name:
                    continue
                if change_set_in_flight(summary, self._now()):
                    return True
        return False

    def create_change_set(self, request: dict[str, Any]) -> ChangeSetResult:
        """Create a change set and wait until CloudFormation has computed it."""
        try:
            change_set_id = self._cloudformation.create_change_set(**request)["Id"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ValidationError" and is_empty_change_set(str(error)):
                return ChangeSetResult(ChangeSetState.EMPTY, error.response["Error"]["Message"])
            raise
        deadline = self._clock() + self._timeout
        while True:
            change_set = self._cloudformation.describe_change_set(
                ChangeSetName=change_set_id, StackName=request["StackName"]
            )
            status, reason = change_set["Status"], change_set.get("StatusReason", "")
            if status == "CREATE_COMPLETE":
                return ChangeSetResult(ChangeSetState.READY, change_set_id=change_set_id)
            if status not in CHANGE_SET_PENDING:
                if is_empty_change_set(reason):
                    self._cloudformation.delete_change_set(ChangeSetName=change_set_id, StackName=request["StackName"])
                    return ChangeSetResult(ChangeSetState.EMPTY, reason, change_set_id)
                return ChangeSetResult(ChangeSetState.FAILED, f"change set {status}: {reason}", change_set_id)
            if self._clock() >= deadline:
                raise RetryLater(f"change set {request['ChangeSetName']} still {status} after {self._timeout:.0f} s")
            self._sleep(self._poll_interval)

    def execute(self, stack_name: str, change_set_id: str, token: str) -> None:
        """Start executing a change set; ``token`` comes back as the ``client-request-token`` of the
        stack's status events, which is how the tracker knows which attempt they belong to."""
        self._cloudformation.execute_change_set(
            ChangeSetName=change_set_id, StackName=stack_name, ClientRequestToken=token
        )

    def discard_change_set(self, stack_name: str, change_set_id: str) -> None:
        """Delete a change set that must not be executed (gone already, or being executed by another
        promoter's request, is fine: CloudFormation deletes the other change sets when one executes)."""
        try:
            self._cloudformation.delete_change_set(ChangeSetName=change_set_id, StackName=stack_name)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ChangeSetNotFound", "InvalidChangeSetStatus"):
                raise

    def delete(self, stack_name: str) -> None:
        """Start deleting a stack (a failed first creation, which serves nothing)."""
        self._cloudformation.delete_stack(StackName=stack_name)
