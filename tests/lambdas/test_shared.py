"""What the modules directly under ``lambdas/`` give every handler: environment parsing, names derived
from events, alerts, the Lambda entry point."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from aws_lambda_powertools import Logger
from pydantic import ValidationError

import contract
from alerts import alert_subject
from entry_point import EntryPoint
from envelope import Envelope, event_of, role_session_name
from settings import ConfigurationError, Environment, is_prod_stage, is_test_stage
from tests.lambdas.events import LambdaContext


def test_environment_values_are_validated_with_the_variables_name():
    env = Environment({"A": " value ", "J": '{"k": 1}', "N": "7", "S": "dev, prod", "L": '["111111111111"]'})
    assert env.text("A") == "value"
    assert env.json("J") == {"k": 1}
    assert env.whole_number("N", 0, 10) == 7
    assert env.stages("S") == ("dev", "prod")
    assert env.account_ids("L") == frozenset({"111111111111"})
    for call, message in [
        (lambda: env.text("MISSING"), "MISSING: missing"),
        (lambda: env.json("A"), "A: not valid JSON"),
        (lambda: env.whole_number("N", 8, 10), "N='7': must be a whole number from 8 to 10"),
        (lambda: Environment({"S": "dev,qa"}).stages("S"), "S='dev,qa': stages must be among"),
        (lambda: env.account_id("N"), "N='7': must be a 12-digit AWS account id"),
    ]:
        with pytest.raises(ConfigurationError, match=re.escape(message)):
            call()


def test_test_and_prod_stages_follow_the_contracts_accounts():
    assert [stage for stage in contract.STAGES if is_test_stage(stage)] == ["dev"]
    assert [stage for stage in contract.STAGES if is_prod_stage(stage)] == ["prod", "champion", "challenger"]


def test_alert_subjects_are_one_short_line():
    deployment = contract.Deployment("churn", "prod")
    assert alert_subject(deployment, "v3 refused") == "[churn/prod] v3 refused"
    assert alert_subject(None, "ALARM x\nwith a newline") == "[mlops] ALARM x with a newline"
    long = alert_subject(deployment, "x" * 300)
    assert len(long) == 100 and long.endswith("…")


def test_role_session_names_carry_the_event_id_within_stss_limits():
    name = role_session_name("promoter", "6a7e8feb-b491-4cf7-a9f1-bf3703467718")
    assert name == "promoter-6a7e8feb-b491-4cf7-a9f1-bf3703467718"
    odd = role_session_name("promoter", "id with spaces/and:colons" * 5)
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", odd)


@pytest.mark.parametrize(("body", "event"), [('{"id": "1"}', {"id": "1"}), ("[1]", None), ("{", None), ("", None)])
def test_message_bodies_are_events_only_when_they_are_json_objects(body, event):
    assert event_of(body) == event


ENVELOPE = {"id": "e-1", "source": "aws.sagemaker", "detail-type": "x", "account": "1", "region": "r", "detail": {}}


@pytest.mark.parametrize(
    ("time", "parsed"),
    [
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T11:00:00.250+01:00", datetime(2026, 12, 1, 10, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-12-01t10:00:00z", datetime(2026, 12, 1, 10, tzinfo=UTC)),
    ],
)
def test_an_event_time_is_rfc_3339_with_a_time_zone(time, parsed):
    envelope = Envelope.model_validate(ENVELOPE | {"time": time})
    assert envelope.time == parsed
    assert envelope.time.utcoffset() is not None


@pytest.mark.parametrize(
    "time",
    [
        "2026-12-01T10:00:00",  # no time zone: comparing it with an aware time raises TypeError
        "2026-12-01T10:00:00+0100",  # ISO 8601 basic offset, not RFC 3339
        "2026-12-01",
        "yesterday",
        1764583200,  # epoch seconds: EventBridge never sends a number
        None,
    ],
)
def test_an_event_time_without_a_zone_or_unparseable_is_refused(time):
    with pytest.raises(ValidationError, match="time"):
        Envelope.model_validate(ENVELOPE | {"time": time})
    with pytest.raises(ValidationError, match="time"):
        Envelope.model_validate(ENVELOPE)  # missing: every EventBridge event has one


def test_event_times_in_other_zones_compare_with_utc_times():
    envelope = Envelope.model_validate(ENVELOPE | {"time": "2026-12-01T12:00:00+02:00"})
    assert envelope.time == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert envelope.time < datetime(2026, 12, 1, 10, 1, tzinfo=timezone(timedelta(hours=0)))


def test_an_entry_point_builds_one_handler_from_the_environment_of_its_first_invocation(monkeypatch):
    built = []

    class Settings:
        @classmethod
        def from_environment(cls, environ):
            return environ["STAGES"]

    class Handler:
        def __init__(self, settings, clients):
            built.append(settings)

        def handle(self, event, context):
            return {"event": event["id"], "function": Logger().get_current_keys().get("function_name")}

    monkeypatch.setenv("STAGES", "at import")
    entry_point = EntryPoint(Handler, Settings)
    monkeypatch.setenv("STAGES", "dev")

    assert entry_point({"id": "e1"}, LambdaContext("mlops-promoter")) == {"event": "e1", "function": "mlops-promoter"}
    monkeypatch.setenv("STAGES", "dev,prod")
    assert entry_point({"id": "e2"}, LambdaContext("mlops-promoter"))["event"] == "e2"
    assert built == ["dev"]
