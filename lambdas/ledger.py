"""The promotion ledger: what the handlers record of stages, deployment attempts and test results.

The ledger is one DynamoDB table (keys ``pk``/``sk``) with four kinds of items, built only here:

- the state of a stage, ``DEPLOYMENT#<project>#<stage>`` / ``STATE``: the current deployment, its
  status, the promoter's last decision and the current deployment's integration tests (for a
  feature stage deleted by the clean-up: status ``CLEANED_UP`` with ``cleaned_up_package_arn`` and
  ``cleaned_up_at``; ``released_package_arn`` once the team rejected a rolled-back current deployment);
- its attempts, ``DEPLOYMENT#<project>#<stage>`` / ``ATTEMPT#<iso time>#<deployment id>``, each with
  its integration tests (``tests_*`` attributes) once the tester ran them;
- the test-stage result of a package, ``PACKAGE#<package arn>`` / ``TEST``: the prod gate, written
  (pass or fail) only by the integration tester and revoked by the tracker on rollback;
- a notification sent once, ``NOTIFIED#<what it was about>`` / ``NOTIFICATION`` (the notifier's claim,
  e.g. on a version pending approval, so duplicate or later events about it notify no one again);
- the champion/challenger comparisons of a tested dev package served as challenger,
  ``PACKAGE#<dev package arn>`` / ``COMPARISON#<iso time>``: the evidence the promoter requires
  before that model becomes the champion, written only by the comparison.

Powertools idempotency records share the table under ``IDEMPOTENCY#<function>`` partition keys and
expire through the ``expiration`` attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

import contract


def utc_now() -> str:
    """The current time as an ISO 8601 string with seconds, in UTC: every timestamp of the ledger."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Status(StrEnum):
    """The status of a deployment attempt in the ledger."""

    IN_PROGRESS = "IN_PROGRESS"
    DEPLOYED = "DEPLOYED"
    ROLLED_BACK = "ROLLED_BACK"
    FAILED = "FAILED"
    REFUSED = "REFUSED"
    CLEANED_UP = "CLEANED_UP"  # a feature stage's stacks deleted after their time to live
    RETIRED = "RETIRED"  # a challenger whose model became the champion: its variant removed


#: Outcomes only move forward in this order, so the events of one attempt end in the same status
#: whatever order they arrive in: once rolled back, an attempt is never recorded as deployed.
OUTCOME_ORDER = (Status.IN_PROGRESS, Status.DEPLOYED, Status.ROLLED_BACK, Status.FAILED)


def replaceable_by(outcome: Status) -> tuple[Status, ...]:
    """The statuses an outcome may overwrite: those before it in :data:`OUTCOME_ORDER`."""
    return OUTCOME_ORDER[: OUTCOME_ORDER.index(outcome)]


STATE_SORT_KEY = "STATE"
ATTEMPT_PREFIX = "ATTEMPT#"
TEST_SORT_KEY = "TEST"
NOTIFICATION_SORT_KEY = "NOTIFICATION"
COMPARISON_PREFIX = "COMPARISON#"


def deployment_partition(deployment: contract.Deployment) -> str:
    """Partition key of a stage's state and attempts."""
    return f"DEPLOYMENT#{deployment.project}#{deployment.stage}"


def attempt_sort_key(created_at: str, deployment_id: str) -> str:
    """Sort key of an attempt: attempts of a stage sort by time."""
    return f"{ATTEMPT_PREFIX}{created_at}#{deployment_id}"


def package_partition(package_arn: str) -> str:
    """Partition key of a package's test-stage result."""
    return f"PACKAGE#{package_arn}"


@dataclass(frozen=True)
class Attempt:
    """One attempt to deploy a package to a stage: what the promoter started and what became of it."""

    deployment: contract.Deployment
    account: str
    package_arn: str
    package_version: int
    deployment_id: str
    event_id: str
    created_at: str
    change_set: str = ""
    status: Status = Status.IN_PROGRESS
    reason: str = ""
    notified: str = ""

    @property
    def key(self) -> dict[str, str]:
        return {
            "pk": deployment_partition(self.deployment),
            "sk": attempt_sort_key(self.created_at, self.deployment_id),
        }

    def item(self) -> dict[str, Any]:
        """The attempt as a ledger item."""
        return {
            **self.key,
            "project": self.deployment.project,
            "stage": self.deployment.stage,
            "account": self.account,
            "package_arn": self.package_arn,
            "package_version": self.package_version,
            "deployment_id": self.deployment_id,
            "event_id": self.event_id,
            "change_set": self.change_set,
            "status": str(self.status),
            "reason": self.reason,
            "notified": self.notified,
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Attempt:
        return cls(
            deployment=contract.Deployment(item["project"], item["stage"]),
            account=item["account"],
            package_arn=item["package_arn"],
            package_version=int(item["package_version"]),
            deployment_id=item["deployment_id"],
            event_id=item["event_id"],
            created_at=item["created_at"],
            change_set=item.get("change_set", ""),
            status=Status(item["status"]),
            reason=item.get("reason", ""),
            notified=item.get("notified", ""),
        )


@dataclass(frozen=True)
class StageState:
    """What the handlers read back of a stage's state: its current deployment and monitor deployment."""

    deployment: contract.Deployment
    account: str = ""
    package_arn: str = ""
    deployment_id: str = ""
    attempt_sk: str = ""
    previous_package_arn: str = ""
    status: str = ""
    monitor_change_set: str = ""
    cleaned_up_package_arn: str = ""
    cleaned_up_at: str = ""
    released_package_arn: str = ""  # rolled back, then rejected by the team: approving it again retries it

    @property
    def started_at(self) -> datetime | None:
        """When the current attempt started (the time in its sort key), if there is one."""
        if not self.attempt_sk.startswith(ATTEMPT_PREFIX):
            return None
        return datetime.fromisoformat(self.attempt_sk.removeprefix(ATTEMPT_PREFIX).split("#")[0])

    @classmethod
    def from_item(cls, deployment: contract.Deployment, item: Mapping[str, Any]) -> StageState:
        names = (name for name in cls.__dataclass_fields__ if name != "deployment")
        return cls(deployment=deployment, **{name: item[name] for name in names if name in item})


#: Attributes of an attempt (and of its stage's state) holding the attempt's integration tests.
TEST_RESULT = "tests_result"
TEST_SUMMARY = "tests_summary"
TEST_CASES = "tests_cases"
TEST_EVENT_ID = "tests_event_id"
TESTED_AT = "tested_at"


#: What the stage's state says about the integration tests of a deployment that just started.
PENDING_TESTS = {TEST_RESULT: "PENDING", TEST_SUMMARY: "", TEST_CASES: [], TEST_EVENT_ID: "", TESTED_AT: ""}


@dataclass(frozen=True)
class TestRun:
    """The integration tests of one deployment attempt: the result, a one-line summary, each case's result.

    ``cases`` are ``{"name", "passed", "problems", "status", "latency_ms"}`` maps (integers, no floats:
    DynamoDB stores them as they are).
    """

    __test__ = False  # not a pytest test class

    passed: bool
    summary: str
    cases: tuple[dict[str, Any], ...]
    event_id: str
    tested_at: str

    def attributes(self) -> dict[str, Any]:
        return {
            TEST_RESULT: "PASSED" if self.passed else "FAILED",
            TEST_SUMMARY: self.summary,
            TEST_CASES: list(self.cases),
            TEST_EVENT_ID: self.event_id,
            TESTED_AT: self.tested_at,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> TestRun:
        return cls(
            passed=item[TEST_RESULT] == "PASSED",
            summary=item.get(TEST_SUMMARY, ""),
            cases=tuple(item.get(TEST_CASES) or ()),
            event_id=item.get(TEST_EVENT_ID, ""),
            tested_at=item.get(TESTED_AT, ""),
        )


@dataclass(frozen=True)
class Transition:
    """What recording an outcome did: the attempt's status before and after, and whether it changed."""

    before: Status
    after: Status

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass
class _Expression:
    """An UpdateExpression being built: ``SET`` clauses with their names and values."""

    clauses: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def set(self, **attributes: Any) -> _Expression:
        for name, value in attributes.items():
            self.clauses.append(f"#{name} = :{name}")
            self.names[f"#{name}"] = name
            self.values[f":{name}"] = value
        return self

    def update(self, table: str, key: Mapping[str, str], condition: str = "", **condition_values: Any) -> dict:
        """``UpdateItem`` arguments (also the body of a ``TransactWriteItems`` Update), optionally conditional.

        Attribute names in ``condition`` are written ``#name``; its values ``:name`` come from ``condition_values``.
        """
        request = {
            "TableName": table,
            "Key": _serialize(key),
            "UpdateExpression": "SET " + ", ".join(self.clauses),
            "ExpressionAttributeNames": {
                **self.names,
                **{f"#{name}": name for name in re.findall(r"#(\w+)", condition)},
            },
            "ExpressionAttributeValues": _serialize(
                {**self.values, **{f":{name}": value for name, value in condition_values.items()}}
            ),
        }
        if condition:
            request["ConditionExpression"] = condition
        return request


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _serialize(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def _decimal_numbers(value: Any) -> Any:
    """Floats as DynamoDB takes them (``Decimal``, six decimals), inside maps and lists too."""
    if isinstance(value, float):
        return Decimal(str(round(value, 6)))
    if isinstance(value, Mapping):
        return {name: _decimal_numbers(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimal_numbers(item) for item in value]
    return value


def _is_condition_failure(error: ClientError) -> bool:
    return error.response["Error"]["Code"] in ("ConditionalCheckFailedException", "TransactionCanceledException")


def _applied(write: Callable[[], Any]) -> bool:
    """Run a conditional write: True when it was applied, False when its condition (or a transaction
    item's) did not hold; any other error propagates."""
    try:
        write()
    except ClientError as error:
        if not _is_condition_failure(error):
            raise
        return False
    return True


def items_with_prefix(dynamodb, table: str, partition: str, prefix: str) -> list[dict[str, Any]]:
    """Every item of ``partition`` whose sort key starts with ``prefix``, deserialized, in sort-key order."""
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues=_serialize({":pk": partition, ":prefix": prefix}),
    )
    return [_deserialize(item) for page in pages for item in page["Items"]]


def item_by_key(dynamodb, table: str, key: Mapping[str, str]) -> dict[str, Any] | None:
    """One item by its string keys (consistent read), deserialized, or None."""
    item = dynamodb.get_item(TableName=table, Key=_serialize(key), ConsistentRead=True).get("Item")
    return _deserialize(item) if item else None


class Ledger:
    """The promotion ledger: reads and writes of stage states, attempts and test-stage results."""

    def __init__(self, dynamodb, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    # Reads

    def state(self, deployment: contract.Deployment) -> StageState | None:
        """The stage's state, or None if the promoter never acted on it."""
        item = self._get({"pk": deployment_partition(deployment), "sk": STATE_SORT_KEY})
        return StageState.from_item(deployment, item) if item else None

    def passed_tests(self, package_arns: Iterable[str]) -> set[str]:
        """Those of ``package_arns`` whose test-stage record says passed."""
        passed = set()
        for arn in {arn for arn in package_arns if arn}:
            item = self._get({"pk": package_partition(arn), "sk": TEST_SORT_KEY})
            if item and item.get("passed") is True:
                passed.add(arn)
        return passed

    def attempt(self, deployment: contract.Deployment, deployment_id: str, state: StageState | None) -> Attempt | None:
        """The attempt with ``deployment_id``: the current one directly, older ones by a query."""
        if state and state.deployment_id == deployment_id and state.attempt_sk:
            item = self._get({"pk": deployment_partition(deployment), "sk": state.attempt_sk})
            return Attempt.from_item(item) if item else None
        paginator = self._dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            FilterExpression="deployment_id = :deployment_id",
            ExpressionAttributeValues=_serialize(
                {":pk": deployment_partition(deployment), ":prefix": ATTEMPT_PREFIX, ":deployment_id": deployment_id}
            ),
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        for page in pages:
            for item in page["Items"]:
                return Attempt.from_item(_deserialize(item))
        return None

    def latest_comparison(self, source_package_arn: str) -> dict[str, Any] | None:
        """The newest champion/challenger comparison recorded for a dev package, if any."""
        response = self._dynamodb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=_serialize(
                {":pk": package_partition(source_package_arn), ":prefix": COMPARISON_PREFIX}
            ),
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        return _deserialize(response["Items"][0]) if response["Items"] else None

    def served_before(self, deployment: contract.Deployment, package_arn: str) -> bool:
        """Whether an attempt of the stage deployed ``package_arn`` successfully (a former live version)."""
        for item in items_with_prefix(self._dynamodb, self._table, deployment_partition(deployment), ATTEMPT_PREFIX):
            if item.get("package_arn") == package_arn and item.get("status") == str(Status.DEPLOYED):
                return True
        return False

    # Comparison writes

    def record_comparison(self, source_package_arn: str, record: Mapping[str, Any]) -> None:
        """Add a comparison of the challenger serving ``source_package_arn`` (its ``evaluated_at`` orders them)."""
        item = {
            "pk": package_partition(source_package_arn),
            "sk": f"{COMPARISON_PREFIX}{record['evaluated_at']}",
            **{name: _decimal_numbers(value) for name, value in record.items()},
        }
        self._dynamodb.put_item(TableName=self._table, Item=_serialize(item))

    # Promoter writes

    def record_decision(
        self, deployment: contract.Deployment, *, account: str, decision: str, reason: str, event_id: str
    ) -> None:
        """Note the promoter's decision on the stage (without touching its current deployment)."""
        now = utc_now()
        expression = self._stage_identity(deployment, account).set(
            decision=decision, decision_reason=reason, decision_event_id=event_id, decided_at=now
        )
        self._dynamodb.update_item(**expression.update(self._table, self._state_key(deployment)))

    def start_attempt(
        self, attempt: Attempt, *, stack: str, previous_package_arn: str, replacing_deployment_id: str
    ) -> bool:
        """Record a new attempt as the stage's current deployment, before its change set is executed,
        if the stage's current deployment is still ``replacing_deployment_id`` (empty: none yet).

        The condition lets only one of two promoters that read the same state start an attempt: the
        other gets False, writes nothing, and must not execute its change set.
        """
        state = self._stage_identity(attempt.deployment, attempt.account).set(
            stack=stack,
            package_arn=attempt.package_arn,
            package_version=attempt.package_version,
            deployment_id=attempt.deployment_id,
            change_set=attempt.change_set,
            attempt_sk=attempt.key["sk"],
            previous_package_arn=previous_package_arn,
            released_package_arn="",
            status=str(attempt.status),
            reason=attempt.reason,
            event_id=attempt.event_id,
            updated_at=attempt.created_at,
            decision="DEPLOY",
            decision_reason=attempt.reason,
            decision_event_id=attempt.event_id,
            decided_at=attempt.created_at,
            **PENDING_TESTS,
        )
        if replacing_deployment_id:
            condition = {"condition": "#deployment_id = :current", "current": replacing_deployment_id}
        else:
            condition = {"condition": "attribute_not_exists(#deployment_id)"}
        return _applied(
            lambda: self._dynamodb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": _serialize(attempt.item())}},
                    {"Update": state.update(self._table, self._state_key(attempt.deployment), **condition)},
                ]
            )
        )

    def release_hold(self, state: StageState, *, event_id: str) -> bool:
        """Note that the team rejected the package of the stage's current, rolled-back deployment:
        approving it again retries it. False (nothing written) if another attempt became current."""
        expression = _Expression().set(
            released_package_arn=state.package_arn, released_event_id=event_id, released_at=utc_now()
        )
        request = expression.update(
            self._table, self._state_key(state.deployment), "#deployment_id = :current", current=state.deployment_id
        )
        return _applied(lambda: self._dynamodb.update_item(**request))

    def record_refusal(self, attempt: Attempt) -> None:
        """Record a refused attempt (status REFUSED) and the decision, leaving the current deployment as is."""
        decision = self._stage_identity(attempt.deployment, attempt.account).set(
            decision=str(Status.REFUSED),
            decision_reason=attempt.reason,
            decision_event_id=attempt.event_id,
            decided_at=attempt.created_at,
        )
        self._dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": self._table, "Item": _serialize(attempt.item())}},
                {"Update": decision.update(self._table, self._state_key(attempt.deployment))},
            ]
        )

    def record_monitor_decision(self, deployment: contract.Deployment, *, decision: str, reason: str) -> None:
        """Note the promoter's decision about the stage's monitor stack."""
        expression = _Expression().set(monitor_decision=decision, monitor_reason=reason, monitor_updated_at=utc_now())
        self._dynamodb.update_item(**expression.update(self._table, self._state_key(deployment)))

    def start_monitor(
        self, deployment: contract.Deployment, *, deployment_id: str, change_set: str, reason: str
    ) -> None:
        """Record that the monitor stack is being deployed for ``deployment_id`` with ``change_set``."""
        expression = _Expression().set(
            monitor_decision="DEPLOY",
            monitor_deployment_id=deployment_id,
            monitor_change_set=change_set,
            monitor_status=str(Status.IN_PROGRESS),
            monitor_reason=reason,
            monitor_updated_at=utc_now(),
        )
        self._dynamodb.update_item(**expression.update(self._table, self._state_key(deployment)))

    # Clean-up writes

    def record_cleanup(self, deployment: contract.Deployment, *, account: str, package_arn: str, at: str) -> None:
        """Mark the stage CLEANED_UP: its stacks were deleted after their time to live while serving
        ``package_arn``; the promoter does not redeploy that package on events older than ``at``."""
        expression = self._stage_identity(deployment, account).set(
            status=str(Status.CLEANED_UP),
            cleaned_up_package_arn=package_arn,
            cleaned_up_at=at,
            decision=str(Status.CLEANED_UP),
            decision_reason=f"stacks deleted after their time to live, serving {package_arn}",
            decided_at=at,
        )
        self._dynamodb.update_item(**expression.update(self._table, self._state_key(deployment)))

    def record_retirement(
        self, deployment: contract.Deployment, *, account: str, package_arn: str, reason: str
    ) -> None:
        """Mark a challenger stage RETIRED: its model won and is the champion now; its variant is being removed."""
        now = utc_now()
        expression = self._stage_identity(deployment, account).set(
            status=str(Status.RETIRED),
            retired_package_arn=package_arn,
            decision=str(Status.RETIRED),
            decision_reason=reason,
            decided_at=now,
        )
        self._dynamodb.update_item(**expression.update(self._table, self._state_key(deployment)))

    # Tracker writes

    def record_outcome(self, attempt: Attempt, outcome: Status, *, reason: str, event_id: str) -> Transition:
        """Move the attempt (and the stage, if it is still current) to ``outcome`` unless a later status holds."""
        replaceable = replaceable_by(outcome)
        if attempt.status not in replaceable:
            return Transition(attempt.status, attempt.status)
        now = utc_now()
        allowed = {f"replaceable{index}": str(status) for index, status in enumerate(replaceable)}
        attempt_update = (
            _Expression()
            .set(status=str(outcome), reason=reason, outcome_event_id=event_id, updated_at=now)
            .update(self._table, attempt.key, f"#status IN ({', '.join(':' + name for name in allowed)})", **allowed)
        )
        state_update = self._current_stage_update(
            attempt, status=str(outcome), reason=reason, event_id=event_id, updated_at=now
        )
        if not _applied(
            lambda: self._dynamodb.transact_write_items(
                TransactItems=[{"Update": attempt_update}, {"Update": state_update}]
            )
        ):
            current = self.attempt(attempt.deployment, attempt.deployment_id, None)
            if current is None or current.status not in replaceable:
                return Transition(attempt.status, current.status if current else attempt.status)
            # The attempt may still move, but the stage has a newer deployment: leave the stage alone.
            self._dynamodb.update_item(**attempt_update)
        return Transition(attempt.status, outcome)

    def revoke_test_pass(self, package_arn: str, deployment_id: str) -> None:
        """Mark the package's test-stage record as not passed if ``deployment_id`` is what passed it."""
        expression = _Expression().set(passed=False, updated_at=utc_now())
        request = expression.update(
            self._table,
            {"pk": package_partition(package_arn), "sk": TEST_SORT_KEY},
            "#deployment_id = :deployment_id",
            deployment_id=deployment_id,
        )
        _applied(lambda: self._dynamodb.update_item(**request))

    # Tester writes

    def test_run(self, attempt: Attempt) -> TestRun | None:
        """The integration tests recorded on the attempt, if it was tested."""
        item = self._get(attempt.key) or {}
        return TestRun.from_item(item) if TEST_RESULT in item else None

    def record_test_run(self, attempt: Attempt, run: TestRun, *, gates_prod: bool) -> bool:
        """Record the attempt's integration tests, once, while the attempt is not rolled back or failed.

        With ``gates_prod`` (test-stage deployments) the same transaction writes the package's
        test-stage record, the one the promoter's prod gate reads: a pass is never written for an
        attempt already rolled back, and the tracker revokes it if the attempt rolls back later.
        Returns False (nothing written) if the attempt was tested already or no longer serves.
        """
        serving = {"in_progress": str(Status.IN_PROGRESS), "deployed": str(Status.DEPLOYED)}
        attempt_update = (
            _Expression()
            .set(**run.attributes())
            .update(
                self._table,
                attempt.key,
                f"#status IN (:in_progress, :deployed) AND attribute_not_exists(#{TEST_RESULT})",
                **serving,
            )
        )
        writes = [{"Update": attempt_update}]
        if gates_prod:
            record = {
                "pk": package_partition(attempt.package_arn),
                "sk": TEST_SORT_KEY,
                "passed": run.passed,
                "deployment_id": attempt.deployment_id,
                "details": run.summary,
                "failed_cases": [case["name"] for case in run.cases if not case["passed"]],
                "updated_at": run.tested_at,
            }
            writes.append({"Put": {"TableName": self._table, "Item": _serialize(record)}})
        if not _applied(lambda: self._dynamodb.transact_write_items(TransactItems=writes)):
            return False
        # Not applied when a newer deployment is current: the stage shows its own tests.
        _applied(lambda: self._dynamodb.update_item(**self._current_stage_update(attempt, **run.attributes())))
        return True

    def mark_notified(self, attempt: Attempt, status: Status) -> None:
        """Remember that the team was told about ``status``, so a redelivered event does not tell them twice."""
        self._dynamodb.update_item(**_Expression().set(notified=str(status)).update(self._table, attempt.key))

    def record_monitor_outcome(
        self, deployment: contract.Deployment, *, change_set: str, status: Status, reason: str
    ) -> bool:
        """Record the monitor stack's outcome if ``change_set`` is the monitor deployment the stage expects."""
        request = (
            _Expression()
            .set(monitor_status=str(status), monitor_reason=reason, monitor_updated_at=utc_now())
            .update(self._table, self._state_key(deployment), "#monitor_change_set = :expected", expected=change_set)
        )
        return _applied(lambda: self._dynamodb.update_item(**request))

    # Notifier writes

    def claim_notification(self, subject: str, *, kind: str, event_id: str) -> bool:
        """Claim the one notification about ``subject``: False when an earlier event already claimed it."""
        item = {"pk": f"NOTIFIED#{subject}", "sk": NOTIFICATION_SORT_KEY, "kind": kind, "event_id": event_id}
        request = {
            "TableName": self._table,
            "Item": _serialize({**item, "claimed_at": utc_now()}),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        return _applied(lambda: self._dynamodb.put_item(**request))

    def release_notification(self, subject: str, *, event_id: str) -> None:
        """Give a claim back (the notification could not be sent), if ``event_id`` still holds it."""
        request = {
            "TableName": self._table,
            "Key": _serialize({"pk": f"NOTIFIED#{subject}", "sk": NOTIFICATION_SORT_KEY}),
            "ConditionExpression": "#event_id = :event_id",
            "ExpressionAttributeNames": {"#event_id": "event_id"},
            "ExpressionAttributeValues": _serialize({":event_id": event_id}),
        }
        _applied(lambda: self._dynamodb.delete_item(**request))

    # Helpers

    def _get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=_serialize(key), ConsistentRead=True).get("Item")
        return _deserialize(item) if item else None

    def _current_stage_update(self, attempt: Attempt, **attributes: Any) -> dict[str, Any]:
        """An update of the stage's state that applies only while ``attempt`` is its current deployment."""
        return (
            _Expression()
            .set(**attributes)
            .update(
                self._table,
                self._state_key(attempt.deployment),
                "#deployment_id = :deployment_id",
                deployment_id=attempt.deployment_id,
            )
        )

    @staticmethod
    def _state_key(deployment: contract.Deployment) -> dict[str, str]:
        return {"pk": deployment_partition(deployment), "sk": STATE_SORT_KEY}

    @staticmethod
    def _stage_identity(deployment: contract.Deployment, account: str) -> _Expression:
        return _Expression().set(project=deployment.project, stage=deployment.stage, account=account)
