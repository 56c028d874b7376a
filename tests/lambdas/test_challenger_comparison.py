"""The champion/challenger comparison in moto: capture files and metrics in prod, ground truth and ledger in dev."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

import contract
from challenger_comparison.handler import ChallengerComparison, ComparisonSettings
from clients import Clients
from contract import ComparisonFields
from ledger import Ledger
from tests.lambdas.conftest import (
    ARTIFACT_BUCKET,
    COMMON_ENVIRONMENT,
    LEDGER_TABLE,
    PREFIX,
    PROJECT,
    PROJECT_SETTINGS_TABLE,
    role_arn,
)
from tests.lambdas.events import DEV, PROD, REGION, LambdaContext, data_capture_line

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CHAMPION_STARTED = NOW - timedelta(days=2)
CHALLENGER_STARTED = NOW - timedelta(days=1)
CAPTURE_BUCKET = f"{PREFIX}-data-capture-{PROD}-{REGION}"
EVALUATOR_ROLE = role_arn(PROD, f"{PREFIX}-prod-challenger-evaluator")
ENVIRONMENT = {
    **COMMON_ENVIRONMENT,
    "STAGES": "feature,dev,prod,champion,challenger",
    "PROD_ACCOUNT_ID": PROD,
    "EVALUATOR_ROLE_ARN": EVALUATOR_ROLE,
    "DATA_CAPTURE_BUCKET": CAPTURE_BUCKET,
    "PROJECT_SETTINGS_TABLE": PROJECT_SETTINGS_TABLE,
    "METRICS_NAMESPACE": f"{PREFIX}/ChampionChallenger",
    "DEFAULT_EVALUATION_MODE": "shadow",
    "EVALUATION_MODES": "{}",
    "DEFAULT_COMPARISON_RULE": json.dumps({"minimum_requests": 1000, "minimum_duration_hours": 24}),
}
#: The project's rule: small enough for a test's traffic.
RULE = {"minimum_requests": 4, "minimum_duration_hours": 12, "minimum_labelled": 4, "metric": "accuracy"}
HOUR = NOW - timedelta(hours=3)


def capture_file(answers: list[tuple[str, str, str]]) -> str:
    """A data-capture JSONL file: (event id, request CSV, answer CSV) per line, a second apart."""
    lines = [
        data_capture_line(event_id, request, answer, at=HOUR + timedelta(seconds=index))
        for index, (event_id, request, answer) in enumerate(answers)
    ]
    return "\n".join(lines) + "\n"


def capture_key(endpoint: str, variant: str, at: datetime = HOUR) -> str:
    return f"{endpoint}/{variant}/{at:%Y/%m/%d/%H}/{at:%M-%S}-123-{uuid.uuid4()}.jsonl"


class Prod:
    """The champion and challenger of ``churn`` serving in prod (ledger, registry) and what they left behind."""

    def __init__(self, platform) -> None:
        self.platform = platform
        sagemaker = platform.client(DEV, "sagemaker")
        for stage in (contract.CHAMPION_STAGE, contract.CHALLENGER_STAGE):
            sagemaker.create_model_package_group(ModelPackageGroupName=f"{PROJECT}-{stage}")
        self.source = platform.register("dev")
        self.champion = platform.register("champion", metadata={contract.META_SOURCE_PACKAGE: self.source})
        self.challenger = platform.register("challenger", metadata={contract.META_SOURCE_PACKAGE: self.source})
        for stage, package, started in (
            ("champion", self.champion, CHAMPION_STARTED),
            ("challenger", self.challenger, CHALLENGER_STARTED),
        ):
            platform._table().put_item(
                Item={
                    "pk": f"DEPLOYMENT#{PROJECT}#{stage}",
                    "sk": "STATE",
                    "package_arn": package,
                    "status": "DEPLOYED",
                    "deployment_id": "v1-0a1b2c3d",
                    "attempt_sk": f"ATTEMPT#{started.isoformat(timespec='seconds')}#v1-0a1b2c3d",
                }
            )
        platform.client(PROD, "s3").create_bucket(
            Bucket=CAPTURE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        platform.admin[DEV].resource("dynamodb").Table(PROJECT_SETTINGS_TABLE).put_item(
            Item={"pk": f"PROJECT#{PROJECT}", "sk": "COMPARISON", **RULE}
        )

    def captured(self, variant: str, answers: list[tuple[str, str, str]]) -> None:
        self.platform.client(PROD, "s3").put_object(
            Bucket=CAPTURE_BUCKET, Key=capture_key("churn-champion-endpoint", variant), Body=capture_file(answers)
        )

    def served(self, variant: str, requests: int, errors: int, latency_us: float) -> None:
        """What SageMaker publishes for a variant: invocations, 5xx errors, model latency (microseconds)."""
        dimensions = [
            {"Name": "EndpointName", "Value": "churn-champion-endpoint"},
            {"Name": "VariantName", "Value": variant},
        ]
        self.platform.client(PROD, "cloudwatch").put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {"MetricName": name, "Dimensions": dimensions, "Value": value, "Timestamp": HOUR}
                for name, value in (
                    ("Invocations", requests),
                    ("Invocation5XXErrors", errors),
                    ("ModelLatency", latency_us),
                )
            ],
        )

    def labelled(self, labels: dict[str, str]) -> None:
        """Ground truth the project writes where its champion package says (Model Monitor's format)."""
        body = "\n".join(
            json.dumps({"groundTruthData": {"data": label, "encoding": "CSV"}, "eventMetadata": {"eventId": event}})
            for event, label in labels.items()
        )
        self.platform.client(DEV, "s3").put_object(
            Bucket=ARTIFACT_BUCKET, Key=f"projects/{PROJECT}/ground-truth/{HOUR:%Y/%m/%d/%H}/labels.jsonl", Body=body
        )

    def compare(self) -> dict:
        comparison = ChallengerComparison(
            ComparisonSettings.from_environment(ENVIRONMENT),
            Clients(self.platform.role_session("challenger-comparison")),
            clock=lambda: NOW,
        )
        return comparison.handle({"id": "run-1"}, LambdaContext("mlops-challenger-comparison"))

    def recorded(self) -> dict | None:
        return Ledger(self.platform.client(DEV, "dynamodb"), LEDGER_TABLE).latest_comparison(self.source)


@pytest.fixture
def prod(platform):
    return Prod(platform)


REQUESTS = [("e-1", "35,12,80.5", "0.91"), ("e-2", "41,3,20.0", "0.12"), ("e-3", "29,7,55.1", "0.77")]
REQUESTS += [("e-4", "52,1,10.0", "0.08"), ("e-5", "33,9,60.2", "0.64")]
LABELS = {"e-1": "1", "e-2": "0", "e-3": "1", "e-4": "0", "e-5": "0"}


def test_a_shadow_challenger_as_good_as_the_champion_is_recorded_as_evidence_and_announced(prod):
    prod.captured("AllTraffic", [*REQUESTS, ("e-6", "1,1", "not-a-number")])
    prod.captured("Challenger", [(f"s-{i}", request, answer) for i, (_, request, answer) in enumerate(REQUESTS)])
    prod.served("AllTraffic", 5, 0, 12_000)
    prod.served("Challenger", 5, 0, 11_000)
    prod.labelled(LABELS)

    result = prod.compare()

    assert result == {"verdicts": {PROJECT: "BETTER_OR_EQUAL"}, "skipped": {}, "failed": {}}
    record = prod.recorded()
    assert record[ComparisonFields.VERDICT] == "BETTER_OR_EQUAL"
    assert record[ComparisonFields.CHAMPION_PACKAGE_ARN] == prod.champion
    assert record[ComparisonFields.CHALLENGER_PACKAGE_ARN] == prod.challenger
    assert record[ComparisonFields.WINDOW_START] == CHALLENGER_STARTED.isoformat(timespec="seconds")
    numbers = record[ComparisonFields.NUMBERS]
    assert numbers["paired"] == 5 and numbers["agreement"] == 1
    assert numbers["champion"]["metric"] == numbers["challenger"]["metric"] == Decimal("0.8")
    assert numbers["champion"]["latency_ms"] == 12 and numbers["challenger"]["labelled"] == 5
    assert record["unusable_lines"] == {"champion": 1, "challenger": 0, "labels": 0}
    [(subject, message)] = prod.platform.alerts()
    assert subject == "[churn/challenger] comparison: BETTER_OR_EQUAL"
    assert (message["project"], message["account"], message["verdict"]) == (PROJECT, PROD, "BETTER_OR_EQUAL")
    assert "accuracy 0.8000 vs 0.8000" in message["reason"]
    metrics = prod.platform.client(PROD, "cloudwatch").list_metrics(Namespace=f"{PREFIX}/ChampionChallenger")
    assert {"ChallengerPromotable", "Agreement", "ChallengerMetric"} <= {m["MetricName"] for m in metrics["Metrics"]}


def test_a_challenger_worse_on_the_metric_and_slower_is_recorded_worse_with_both_reasons(prod):
    prod.captured("AllTraffic", REQUESTS)
    wrong = [(f"s-{i}", request, "0.5") for i, (_, request, _) in enumerate(REQUESTS)]  # always negative
    prod.captured("Challenger", wrong)
    prod.served("AllTraffic", 5, 0, 10_000)
    prod.served("Challenger", 5, 0, 30_000)
    prod.labelled(LABELS)

    assert prod.compare()["verdicts"] == {PROJECT: "WORSE"}

    reasons = prod.recorded()[ComparisonFields.REASONS]
    assert any(reason.startswith("latency 30.0 ms vs 10.0 ms") for reason in reasons)
    assert any(reason.startswith("accuracy 0.6000 vs 0.8000") for reason in reasons)


def test_no_traffic_is_insufficient_evidence(prod):
    assert prod.compare()["verdicts"] == {PROJECT: "INSUFFICIENT_EVIDENCE"}
    assert "champion served 0 requests" in prod.recorded()[ComparisonFields.REASONS][0]


def test_a_project_whose_challenger_is_not_deployed_is_skipped(prod):
    prod.platform._table().update_item(
        Key={"pk": f"DEPLOYMENT#{PROJECT}#challenger", "sk": "STATE"},
        UpdateExpression="SET #status = :status",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": "ROLLED_BACK"},
    )

    assert prod.compare()["skipped"] == {PROJECT: "champion and challenger are not both deployed"}
    assert prod.recorded() is None and prod.platform.alerts() == []
