"""The notifier against moto: the approvers hear of a pending version once, teams of failed runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clients import Clients
from notifier.handler import Notifier, NotifierSettings
from settings import ConfigurationError
from tests.lambdas.conftest import COMMON_ENVIRONMENT, PREFIX
from tests.lambdas.events import (
    DEV,
    REGION,
    LambdaContext,
    build_state_change,
    pipeline_execution_status_change,
    sqs_event,
)

APPROVAL_TOPIC_ARN = f"arn:aws:sns:{REGION}:{DEV}:{PREFIX}-model-approvals"
#: The environment the infrastructure gives the notifier (see ``stacks/operations.py``).
NOTIFIER_ENVIRONMENT = {**COMMON_ENVIRONMENT, "APPROVAL_TOPIC_ARN": APPROVAL_TOPIC_ARN}


class Inbox:
    """An SQS queue subscribed to a topic: what its subscribers receive."""

    def __init__(self, platform, topic_arn: str, name: str) -> None:
        self.platform, self.topic_arn = platform, topic_arn
        sqs = platform.client(DEV, "sqs")
        self.url = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.subscribe()

    def subscribe(self) -> None:
        sns = self.platform.client(DEV, "sns")
        sns.create_topic(Name=self.topic_arn.rsplit(":", 1)[1])
        sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=self.arn)

    def messages(self) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """(subject, message, message attributes) received since the last call."""
        return [
            (
                body["Subject"],
                json.loads(body["Message"]),
                {k: v["Value"] for k, v in body["MessageAttributes"].items()},
            )
            for body in self.platform._drain(self.url)
        ]


@pytest.fixture
def approvers(platform) -> Inbox:
    return Inbox(platform, APPROVAL_TOPIC_ARN, "approvers-inbox")


@pytest.fixture
def team(platform) -> Inbox:
    return Inbox(platform, platform.topic, "team-inbox")


def new_notifier(platform) -> Notifier:
    """The notifier of a fresh Lambda environment, with its own role's credentials."""
    return Notifier(NotifierSettings.from_environment(NOTIFIER_ENVIRONMENT), Clients(platform.role_session("notifier")))


def notify(notifier: Notifier, *events: dict | str) -> dict[str, Any]:
    return notifier.handle(sqs_event(*events, queue=f"{PREFIX}-notifications"), LambdaContext("mlops-notifier"))


def test_a_pending_version_notifies_the_approvers_once_whatever_the_duplicates(platform, approvers, team):
    arn = platform.register("dev", approved=False, metadata={"MetricAuc": "0.912", "GitBranch": "dev"})
    first = platform.package_event(arn)
    notifier = new_notifier(platform)

    assert notify(notifier, first, first) == {"batchItemFailures": []}
    notify(new_notifier(platform), first)  # delivered again, to another Lambda environment
    platform.client(DEV, "sagemaker").update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"Reviewer": "ana"}
    )
    notify(notifier, platform.package_event(arn))  # a later change of the still-pending version

    [(subject, message, attributes)] = approvers.messages()
    assert subject == "[churn/dev] v1 of churn-dev awaits your approval"
    assert attributes == {"project": "churn", "stage": "dev", "kind": "approval-pending"}
    assert (message["package_arn"], message["version"], message["commit"]) == (arn, 1, "9f1c2ab")
    assert message["metrics"] == {"Auc": "0.912"}
    assert message["event_id"] == first["id"]
    assert team.messages() == []


def test_a_publish_that_fails_gives_the_claim_back_and_the_message_comes_back(platform, approvers):
    arn = platform.register("prod", approved=False)
    event = platform.package_event(arn)
    platform.client(DEV, "sns").delete_topic(TopicArn=APPROVAL_TOPIC_ARN)

    response = notify(new_notifier(platform), event)

    assert len(response["batchItemFailures"]) == 1
    approvers.subscribe()
    assert notify(new_notifier(platform), event) == {"batchItemFailures": []}  # SQS delivers it again
    [(subject, _, attributes)] = approvers.messages()
    assert subject == "[churn/prod] v1 of churn-prod awaits your approval"
    assert attributes["stage"] == "prod"


def test_feature_versions_and_approved_versions_notify_no_one(platform, approvers, team):
    feature = platform.register("feature", approved=False)
    approved = platform.register("dev")

    response = notify(new_notifier(platform), platform.package_event(feature), platform.package_event(approved))

    assert response == {"batchItemFailures": []}
    assert approvers.messages() == [] and team.messages() == []


def test_failed_pipelines_and_builds_notify_the_projects_team_on_the_alert_topic(platform, approvers, team):
    pipeline = pipeline_execution_status_change(pipeline_name="churn-dev-training")
    build = build_state_change(project_name="churn-ci")

    assert notify(new_notifier(platform), pipeline, build, build) == {"batchItemFailures": []}

    (pipeline_subject, pipeline_message, pipeline_attributes), (build_subject, build_message, build_attributes) = (
        team.messages()
    )
    assert pipeline_subject == "[churn/dev] training pipeline churn-dev-training failed"
    assert pipeline_attributes == {"project": "churn", "stage": "dev", "kind": "pipeline-failed"}
    assert pipeline_message["execution_arn"] == pipeline["detail"]["pipelineExecutionArn"]
    assert build_subject == "[mlops] CI build churn-ci failed"
    assert build_attributes == {"project": "churn", "kind": "build-failed"}
    assert build_message["logs"].startswith(f"https://console.aws.amazon.com/cloudwatch/home?region={REGION}")
    assert approvers.messages() == []


def test_a_missing_approval_topic_stops_the_notifier_naming_the_variable():
    environment = {**NOTIFIER_ENVIRONMENT, "APPROVAL_TOPIC_ARN": " "}

    with pytest.raises(ConfigurationError, match="APPROVAL_TOPIC_ARN: missing"):
        NotifierSettings.from_environment(environment)


def test_the_tests_give_the_notifier_the_environment_the_infrastructure_gives_it(synthesized_roles):
    synthesized = synthesized_roles.environment("notifier")

    assert set(synthesized) - {"POWERTOOLS_SERVICE_NAME"} == set(NOTIFIER_ENVIRONMENT) - {"AWS_REGION"}
    assert synthesized["APPROVAL_TOPIC_ARN"] == APPROVAL_TOPIC_ARN
