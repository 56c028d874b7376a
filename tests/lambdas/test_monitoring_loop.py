"""The monitoring loop against moto: alarms notified per project, retraining started once per cool-down."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

import contract
from clients import Clients
from monitoring_loop.decisions import (
    AlarmRules,
    Rejection,
    alarm_state_change,
    deployment_of_alarm,
    retraining_settings,
)
from monitoring_loop.handler import MonitoringLoop, MonitoringSettings
from settings import ConfigurationError
from tests.lambdas.conftest import MONITORING_ENVIRONMENT
from tests.lambdas.events import DEV, PROD, REGION, TEST, LambdaContext, sqs_event
from tests.lambdas.events import alarm_state_change as alarm_event

VIOLATION = "churn-prod-endpoint-data-quality-violations"
RULES = AlarmRules({DEV: "dev", TEST: "test", PROD: "prod"}, REGION, ("feature", "dev", "prod"))
ADVANCED_STAGES = contract.STAGES
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Clock:
    """The monitoring loop's clock, moved by the test."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pipeline(platform):
    """The project's dev training pipeline, as its template creates it."""
    name = "churn-dev-training"
    platform.client(DEV, "sagemaker").create_pipeline(
        PipelineName=name,
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=f"arn:aws:iam::{DEV}:role/churn-pipeline",
    )
    return name


def executions(platform, pipeline: str) -> list[dict]:
    return platform.client(DEV, "sagemaker").list_pipeline_executions(PipelineName=pipeline)[
        "PipelineExecutionSummaries"
    ]


def monitor(loop, *events):
    return loop.handle(sqs_event(*events, queue="mlops-monitoring"), LambdaContext("mlops-monitoring-loop"))


def alerts_with_attributes(platform) -> list[tuple[str, dict, dict]]:
    """(subject, message, message attributes) of the alerts since the last call."""
    return [
        (body["Subject"], json.loads(body["Message"]), {k: v["Value"] for k, v in body["MessageAttributes"].items()})
        for body in platform._drain(platform.alert_queue)
    ]


def test_an_endpoint_alarm_notifies_its_project_with_filterable_attributes(platform, clock, pipeline):
    loop = platform.new_monitoring_loop(clock=clock)
    platform.put_settings_item({"enabled": True})

    response = monitor(loop, alarm_event(account=PROD, alarm_name="churn-prod-endpoint-5xx-errors"))

    assert response == {"batchItemFailures": []}
    [(subject, message, attributes)] = alerts_with_attributes(platform)
    assert subject == "[churn/prod] ALARM churn-prod-endpoint-5xx-errors"
    assert attributes == {"project": "churn", "stage": "prod", "account": PROD}
    assert message["retraining"] == "not started: only Model Monitor violation alarms start retraining"
    assert executions(platform, pipeline) == []


def test_a_violation_burst_starts_retraining_once_within_the_cool_down(platform, clock, pipeline):
    platform.put_settings_item({"enabled": True, "pipeline_parameters": {"TrainingInstanceType": "ml.m5.xlarge"}})
    loop = platform.new_monitoring_loop(clock=clock)
    first = alarm_event(account=PROD, alarm_name=VIOLATION)
    burst = [
        first,
        first,
        alarm_event(account=PROD, alarm_name=VIOLATION),
        alarm_event(account=TEST, alarm_name="churn-dev-endpoint-model-quality-violations"),
    ]

    assert monitor(loop, *burst) == {"batchItemFailures": []}
    monitor(platform.new_monitoring_loop(clock=clock), first)  # delivered again, to another Lambda environment

    [execution] = executions(platform, pipeline)
    described = platform.client(DEV, "sagemaker").describe_pipeline_execution(
        PipelineExecutionArn=execution["PipelineExecutionArn"]
    )
    assert VIOLATION in described["PipelineExecutionDescription"]
    item = platform.settings_item()
    assert (item["last_event_id"], item["last_started_at"]) == (first["id"], NOW.isoformat())
    assert item["last_execution_arn"] == execution["PipelineExecutionArn"]
    retraining = [message["retraining"] for _, message, _ in alerts_with_attributes(platform)]
    assert len(retraining) == 3  # one per distinct event: the duplicate is recognised
    assert retraining[0].startswith("started arn:aws:sagemaker")
    assert retraining[1:] == ["not started: a retraining run started within the cool-down"] * 2

    clock.now = NOW + timedelta(hours=24, seconds=1)
    monitor(loop, alarm_event(account=PROD, alarm_name=VIOLATION))
    assert len(executions(platform, pipeline)) == 2


def test_a_projects_own_cool_down_overrides_the_platforms(platform, clock, pipeline):
    platform.put_settings_item({"enabled": True, "cooldown_hours": 2})
    loop = platform.new_monitoring_loop(clock=clock)
    monitor(loop, alarm_event(account=PROD, alarm_name=VIOLATION))
    clock.now = NOW + timedelta(hours=2, seconds=1)
    monitor(loop, alarm_event(account=PROD, alarm_name=VIOLATION))
    assert len(executions(platform, pipeline)) == 2


def test_a_throttled_start_comes_back_and_starts_once(platform, clock, pipeline):
    platform.put_settings_item({"enabled": True})
    session = platform.role_session("monitoring")
    throttled = []

    def throttle(**_):
        if not throttled:
            throttled.append(True)
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartPipelineExecution"
            )

    session.events.register("before-call.sagemaker.StartPipelineExecution", throttle)
    loop = platform.new_monitoring_loop(session, clock=clock)
    event = alarm_event(account=PROD, alarm_name=VIOLATION)

    response = monitor(loop, event)

    assert len(response["batchItemFailures"]) == 1  # the message comes back
    assert executions(platform, pipeline) == []
    assert "last_started_at" not in platform.settings_item()  # the cool-down was given back
    assert alerts_with_attributes(platform) == []

    assert monitor(loop, event) == {"batchItemFailures": []}
    assert len(executions(platform, pipeline)) == 1
    [(_, message, _)] = alerts_with_attributes(platform)
    assert message["retraining"].startswith("started ")


def test_a_malformed_retraining_item_is_reported_not_crashed(platform, clock, pipeline):
    platform.put_settings_item({"enabled": "yes"})

    response = monitor(platform.new_monitoring_loop(clock=clock), alarm_event(account=PROD, alarm_name=VIOLATION))

    assert response == {"batchItemFailures": []}
    [(_, message, _)] = alerts_with_attributes(platform)
    assert message["retraining"] == (
        "not started: the project's RETRAINING item is malformed: enabled: Input should be a valid boolean"
    )
    assert executions(platform, pipeline) == []


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"enabled": "yes"}, "enabled: Input should be a valid boolean"),
        ({}, "enabled: Field required"),
        ({"enabled": True, "pipeline_name": "fraud-dev-training"}, "must be one of churn-feature-training"),
        ({"enabled": True, "pipeline_name": "churn-prod-training"}, "must be one of churn-feature-training"),
        ({"enabled": True, "cooldown_hours": 0}, "cooldown_hours: Input should be greater than or equal to 1"),
        ({"enabled": True, "pipeline_parameters": ["a"]}, "pipeline_parameters: Input should be a valid dictionary"),
        (
            {"enabled": True, "pipeline_parameters": {"Epochs": 3}},
            "pipeline_parameters.Epochs: Input should be a valid string",
        ),
    ],
)
def test_malformed_retraining_items_name_the_field(item, reason):
    rejection = retraining_settings("churn", item)
    assert isinstance(rejection, Rejection)
    assert reason in rejection.reason


def test_a_retraining_item_defaults_to_the_dev_training_pipeline_and_the_platforms_cool_down():
    settings = retraining_settings("churn", {"enabled": True, "last_started_at": "2026-03-01T00:00:00+00:00"})
    assert (settings.pipeline, settings.cooldown(24)) == ("churn-dev-training", timedelta(hours=24))
    assert retraining_settings("churn", None) is None


@pytest.mark.parametrize(
    ("settings", "account", "expected"),
    [
        (None, PROD, "retraining is not configured for the project"),
        ({"enabled": False}, PROD, "retraining is disabled for the project"),
        ({"enabled": True}, DEV, "endpoints in the dev account do not start retraining"),
    ],
)
def test_retraining_needs_a_test_or_prod_violation_of_a_project_that_enables_it(
    platform, clock, pipeline, settings, account, expected
):
    if settings is not None:
        platform.put_settings_item(settings)
    stage = {DEV: "feature", PROD: "prod"}[account]
    monitor(
        platform.new_monitoring_loop(clock=clock),
        alarm_event(account=account, alarm_name=f"churn-{stage}-endpoint-data-quality-violations"),
    )
    [(_, message, _)] = alerts_with_attributes(platform)
    assert expected in message["retraining"]
    assert executions(platform, pipeline) == []


def test_an_ok_or_insufficient_data_state_is_noted_only(platform, clock):
    loop = platform.new_monitoring_loop(clock=clock)
    for state in ("OK", "INSUFFICIENT_DATA"):
        assert monitor(loop, alarm_event(account=PROD, alarm_name=VIOLATION, state=state, previous="ALARM")) == {
            "batchItemFailures": []
        }
    assert alerts_with_attributes(platform) == []


def test_an_alarm_of_no_project_is_notified_to_operators_without_project_attributes(platform, clock):
    monitor(
        platform.new_monitoring_loop(clock=clock),
        alarm_event(account=TEST, alarm_name="mlops-test-event-forwarding-dead-letters"),
    )
    [(subject, message, attributes)] = alerts_with_attributes(platform)
    assert subject == "[mlops] ALARM mlops-test-event-forwarding-dead-letters"
    assert attributes == {"account": TEST}
    assert message["retraining"] == "not started: not an alarm of a project's endpoint"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (alarm_event(account="444455556666", alarm_name=VIOLATION), "is not a deployment target"),
        (alarm_event(account=TEST, alarm_name=VIOLATION), "comes from the test account; prod deploys to prod"),
        (alarm_event(account=PROD, alarm_name=VIOLATION) | {"region": "us-east-1"}, "region us-east-1"),
        (
            alarm_event(account=PROD, alarm_name=VIOLATION) | {"detail": {"alarmName": VIOLATION}},
            "state: Field required",
        ),
        (alarm_event(account=PROD, alarm_name=VIOLATION) | {"source": "aws.sagemaker"}, "unexpected event"),
        (
            alarm_event(account=PROD, alarm_name="churn-prod-endpoint-backlog-without-capacity"),
            "scales an asynchronous endpoint out from zero",
        ),
    ],
)
def test_foreign_or_malformed_alarm_events_are_rejected_with_a_reason(event, reason):
    rejection = alarm_state_change(event, RULES)
    assert isinstance(rejection, Rejection)
    assert reason in rejection.reason


def test_rejected_events_are_dropped_without_a_notification(platform, clock):
    response = monitor(
        platform.new_monitoring_loop(clock=clock), alarm_event(account="444455556666", alarm_name=VIOLATION), "not json"
    )
    assert response == {"batchItemFailures": []}
    assert alerts_with_attributes(platform) == []


@pytest.mark.parametrize(
    ("alarm", "deployment"),
    [
        ("churn-dev-endpoint-5xx-errors", ("churn", "dev")),
        ("churn-dev-endpoint-model-latency", ("churn", "dev")),
        ("churn-prod-endpoint-data-quality-violations", ("churn", "prod")),
        ("my-endpoint-svc-feature-endpoint-explainability-violations", ("my-endpoint-svc", "feature")),
        ("churn-qa-endpoint-5xx-errors", None),
        ("mlops-promoter-errors", None),
        ("churn-dev-endpoint", None),
    ],
)
def test_alarm_names_lead_to_their_deployment(alarm, deployment):
    found = deployment_of_alarm(alarm, RULES.stages)
    assert (None if found is None else (found.project, found.stage)) == deployment


@pytest.mark.parametrize(
    ("alarm", "stage"),
    [
        ("churn-champion-endpoint-5xx-errors", "champion"),
        ("churn-champion-endpoint-challenger-5xx-errors", "challenger"),
        ("churn-champion-endpoint-challenger-model-latency", "challenger"),
        ("churn-challenger-endpoint-5xx-errors", "challenger"),  # separate mode: its own endpoint
        ("churn-champion-endpoint-challenger-data-quality-violations", "champion"),  # not a variant alarm
        ("churn-prod-endpoint-challenger-5xx-errors", "prod"),  # only the champion's endpoint has a challenger
    ],
)
def test_the_challenger_variants_alarms_lead_to_the_challenger_stage(alarm, stage):
    found = deployment_of_alarm(alarm, ADVANCED_STAGES)
    assert (found.project, found.stage) == ("churn", stage)


def test_a_challenger_variant_alarm_notifies_the_challenger_stage(platform, clock):
    environment = {**MONITORING_ENVIRONMENT, "STAGES": ",".join(ADVANCED_STAGES)}
    loop = MonitoringLoop(
        MonitoringSettings.from_environment(environment), Clients(platform.role_session("monitoring")), clock=clock
    )
    [errors, _] = contract.challenger_alarm_names(contract.Deployment("churn", contract.CHAMPION_STAGE))

    response = monitor(loop, alarm_event(account=PROD, alarm_name=errors))

    assert response == {"batchItemFailures": []}
    [(subject, _, attributes)] = alerts_with_attributes(platform)
    assert subject == f"[churn/challenger] ALARM {errors}"
    assert attributes == {"project": "churn", "stage": "challenger", "account": PROD}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TARGET_ACCOUNTS", '["111111111111"]', "TARGET_ACCOUNTS="),
        ("TARGET_ACCOUNTS", '{"111111111111": "qa"}', "must map 12-digit account ids to dev, test or prod"),
        ("RETRAINING_COOLDOWN_HOURS", "0", "RETRAINING_COOLDOWN_HOURS='0'"),
        ("PROJECT_SETTINGS_TABLE", "", "PROJECT_SETTINGS_TABLE: missing"),
    ],
)
def test_an_invalid_environment_stops_the_monitoring_loop_with_the_variables_name(name, value, message):
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")):
        MonitoringSettings.from_environment({**MONITORING_ENVIRONMENT, name: value})
