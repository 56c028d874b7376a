"""Champion/challenger comparison Lambda: compares each project's challenger with its champion in prod.

Trigger: a schedule (EventBridge, every ``champion_challenger.comparison_interval_hours``; Lambda target
with retries and a dead-letter queue).

Effect: for every project with a ``-challenger`` group whose champion and challenger both serve
(ledger), it reads, through the prod account's evaluator role, the two variants' CloudWatch metrics
(requests, 5xx errors, model latency) and their data capture since both started, and the project's
ground truth (the champion package's ``GroundTruthS3Uri``) in the dev account; it compares them
(``decisions.compare``), judges them against the project's rule (its ``COMPARISON`` item over the
platform's defaults), records the comparison in the ledger under the challenger's tested dev package
(the evidence the promoter requires), puts the numbers on the prod account's dashboard metrics and
notifies the approvers with the verdict and the numbers. A project that cannot be compared is logged
and reported; one project's failure does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

import contract
from alerts import alert_subject
from challenger_comparison.decisions import (
    ComparisonRule,
    EvaluationModes,
    VariantLocation,
    VariantTraffic,
    captured_inference,
    compare,
    comparison_record,
    comparison_rule,
    comparison_window,
    day_prefixes,
    ground_truth_label,
    in_window,
    judge,
    variant_locations,
)
from entry_point import EntryPoint
from envelope import Rejection, role_session_name
from ledger import Status, item_by_key
from scheduled import ScheduledHandler
from settings import CommonSettings, ConfigurationError, Environment

logger = Logger()

#: Sort key of a project's comparison rule in the project-settings table.
COMPARISON_SORT_KEY = "COMPARISON"
#: The dashboard's metrics (prod account), one value per comparison, dimension ``Project``.
METRICS_NAMESPACE_SUFFIX = "/ChampionChallenger"


@dataclass(frozen=True)
class ComparisonSettings:
    """The comparison's environment, read and validated once per Lambda environment."""

    common: CommonSettings
    prod_account_id: str
    evaluator_role_arn: str
    data_capture_bucket: str
    project_settings_table: str
    metrics_namespace: str
    modes: EvaluationModes
    default_rule: ComparisonRule

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ComparisonSettings:
        """Read every variable the infrastructure sets; raise ``ConfigurationError`` naming the first bad one."""
        env = Environment(environ)
        rule = comparison_rule(env.json("DEFAULT_COMPARISON_RULE"), ComparisonRule())
        if isinstance(rule, Rejection):
            raise ConfigurationError(f"DEFAULT_COMPARISON_RULE: {rule.reason}")
        return cls(
            common=CommonSettings.from_environment(env),
            prod_account_id=env.account_id("PROD_ACCOUNT_ID"),
            evaluator_role_arn=env.text("EVALUATOR_ROLE_ARN"),
            data_capture_bucket=env.text("DATA_CAPTURE_BUCKET"),
            project_settings_table=env.text("PROJECT_SETTINGS_TABLE"),
            metrics_namespace=env.text("METRICS_NAMESPACE"),
            modes=EvaluationModes.from_environment(env),
            default_rule=rule,
        )


class ProdReader:
    """The prod account as the evaluator role sees it: metrics and data capture (read), dashboard metrics (write)."""

    def __init__(self, cloudwatch, s3, bucket: str) -> None:
        self._cloudwatch, self._s3, self._bucket = cloudwatch, s3, bucket

    def traffic(self, location: VariantLocation, start: datetime, end: datetime) -> VariantTraffic:
        """Requests, 5xx errors and average model latency (ms) of a variant over the window."""
        dimensions = [
            {"Name": "EndpointName", "Value": location.endpoint_name},
            {"Name": "VariantName", "Value": location.variant_name},
        ]
        period = max(60, int((end - start).total_seconds()) // 60 * 60)
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric, "Dimensions": dimensions},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for query_id, metric, stat in (
                ("requests", "Invocations", "Sum"),
                ("errors", "Invocation5XXErrors", "Sum"),
                ("latency", "ModelLatency", "Average"),
            )
        ]
        values: dict[str, list[float]] = {}
        pages = self._cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end
        )
        for page in pages:
            for result in page["MetricDataResults"]:
                values.setdefault(result["Id"], []).extend(result["Values"])
        requests = int(sum(values.get("requests", [])))
        latency = values.get("latency", [])
        # ModelLatency is in microseconds; one average per period, so the window's is their mean.
        latency_ms = sum(latency) / len(latency) / 1000 if latency and requests else None
        return VariantTraffic(requests, int(sum(values.get("errors", []))), latency_ms)

    def captures(self, location: VariantLocation, start: datetime, end: datetime) -> tuple[list, int]:
        """The variant's captured inferences in the window, and how many lines could not be used."""
        return _read_jsonl(self._s3, self._bucket, location.capture_prefix, start, end, captured_inference)

    def put_metrics(self, namespace: str, project: str, values: Mapping[str, float]) -> None:
        dimensions = [{"Name": "Project", "Value": project}]
        self._cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": "None"}
                for name, value in values.items()
            ],
        )


def _read_jsonl(s3, bucket: str, prefix: str, start: datetime, end: datetime, parse: Callable) -> tuple[list, int]:
    """Parse every line of the ``.jsonl`` objects of the window's hours under ``prefix``; count the rejected."""
    parsed, rejected = [], 0
    paginator = s3.get_paginator("list_objects_v2")
    for day in day_prefixes(start, end):
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}{day}"):
            for item in page.get("Contents", []):
                if not in_window(item["Key"], start, end):
                    continue
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8")
                for line in filter(None, (text.strip() for text in body.splitlines())):
                    value = parse(line)
                    if isinstance(value, Rejection):
                        rejected += 1
                    else:
                        parsed.append(value)
    return parsed, rejected


class ChallengerComparison(ScheduledHandler):
    """Compares champions and challengers. One instance per Lambda environment (clients are reused)."""

    def run(self, run_id: str) -> dict[str, Any]:
        """Compare every project's challenger with its champion; return the verdicts and what was skipped."""
        now = self._clock()
        prod = ProdReader(
            self._in_prod("cloudwatch", run_id), self._in_prod("s3", run_id), self.settings.data_capture_bucket
        )
        verdicts, skipped, failed = {}, {}, {}
        for project in self._projects():
            try:
                outcome = self.compare_project(project, prod, now)
            except ClientError as error:
                logger.exception("Comparison failed", extra={"project": project})
                failed[project] = str(error)
                continue
            (verdicts if outcome.get("verdict") else skipped)[project] = outcome.get("verdict") or outcome["skipped"]
        result = {"verdicts": verdicts, "skipped": skipped, "failed": failed}
        logger.info("Champion/challenger comparison finished", extra=result)
        if failed:
            raise RuntimeError(f"comparison of {len(failed)} project(s) failed: {failed}")
        return result

    def compare_project(self, project: str, prod: ProdReader, now: datetime) -> dict[str, str]:
        """Compare one project's variants, record and tell the verdict; or say why it was skipped."""
        champion = self.ledger.state(contract.Deployment(project, contract.CHAMPION_STAGE))
        challenger_deployment = contract.Deployment(project, contract.CHALLENGER_STAGE)
        challenger = self.ledger.state(challenger_deployment)
        serving = [state for state in (champion, challenger) if state and state.status == Status.DEPLOYED]
        if len(serving) < 2:
            return {"skipped": "champion and challenger are not both deployed"}
        window = comparison_window(champion.started_at, challenger.started_at, now)
        rule = comparison_rule(self._rule_item(project), self.settings.default_rule)
        if isinstance(rule, Rejection):
            self._notify(challenger_deployment, "comparison rule invalid", reason=rule.reason)
            return {"skipped": rule.reason}
        mode = self.settings.modes.of(project)
        locations = variant_locations(project, mode)
        start, end = window
        traffic = tuple(prod.traffic(location, start, end) for location in locations)
        (champion_captures, unusable_champion), (challenger_captures, unusable_challenger) = (
            prod.captures(location, start, end) for location in locations
        )
        champion_package = self.clients.sagemaker.describe_model_package(ModelPackageName=champion.package_arn)
        labels, unusable_labels = self._labels(champion_package, start, end)
        comparison = compare(
            window=window,
            traffic=traffic,
            captures=(champion_captures, challenger_captures),
            labels=labels,
            rule=rule,
        )
        judgement = judge(comparison, rule)
        challenger_package = self.clients.sagemaker.describe_model_package(ModelPackageName=challenger.package_arn)
        source = (challenger_package.get("CustomerMetadataProperties") or {}).get(contract.META_SOURCE_PACKAGE, "")
        record = comparison_record(
            project=project,
            mode=mode,
            champion_arn=champion.package_arn,
            challenger_arn=challenger.package_arn,
            source_arn=source,
            comparison=comparison,
            judgement=judgement,
            evaluated_at=now.isoformat(timespec="seconds"),
        )
        unusable = {"champion": unusable_champion, "challenger": unusable_challenger, "labels": unusable_labels}
        if source:
            self.ledger.record_comparison(source, {**record, "unusable_lines": unusable})
        prod.put_metrics(self.settings.metrics_namespace, project, _dashboard_values(comparison, judgement))
        self._notify(
            challenger_deployment,
            f"comparison: {judgement.verdict}",
            reason=judgement.summary,
            verdict=str(judgement.verdict),
            comparison=record,
            unusable_lines=unusable,
            recorded=bool(source),
        )
        logger.info("Compared", extra={"project": project, "verdict": judgement.verdict, "reasons": judgement.reasons})
        return {"verdict": str(judgement.verdict)}

    def _projects(self) -> list[str]:
        """Projects of the advanced scenario: those with a ``<project>-challenger`` group."""
        pages = self.clients.sagemaker.get_paginator("list_model_package_groups").paginate(
            NameContains=f"-{contract.CHALLENGER_STAGE}"
        )
        projects = []
        for page in pages:
            for group in page["ModelPackageGroupSummaryList"]:
                deployment = contract.Deployment.from_group(group["ModelPackageGroupName"], self.settings.common.stages)
                if deployment and deployment.stage == contract.CHALLENGER_STAGE:
                    projects.append(deployment.project)
        return sorted(projects)

    def _rule_item(self, project: str) -> dict[str, Any] | None:
        key = {"pk": contract.project_settings_partition(project), "sk": COMPARISON_SORT_KEY}
        return item_by_key(self.clients.dynamodb, self.settings.project_settings_table, key)

    def _labels(self, package: Mapping[str, Any], start: datetime, end: datetime) -> tuple[dict[str, float], int]:
        """The project's ground truth in the window (dev account), by event id; none without a location."""
        uri = (package.get("CustomerMetadataProperties") or {}).get(contract.META_GROUND_TRUTH, "")
        if not uri.startswith("s3://"):
            return {}, 0
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        prefix = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"
        labels, rejected = _read_jsonl(self.clients.s3, bucket, prefix, start, end, ground_truth_label)
        return dict(labels), rejected

    def _in_prod(self, service: str, run_id: str):
        return self.clients.in_account(
            service,
            role_arn=self.settings.evaluator_role_arn,
            session_name=role_session_name("comparison", run_id),
            region=self.settings.common.region,
        )

    def _notify(self, deployment: contract.Deployment, summary: str, **details: Any) -> None:
        self.alerts.send(
            alert_subject(deployment, summary),
            project=deployment.project,
            stage=deployment.stage,
            account=self.settings.prod_account_id,
            summary=summary,
            **details,
        )


def _dashboard_values(comparison, judgement) -> dict[str, float]:
    """The numbers the ``<prefix>-prod-models`` dashboard plots per project (absent ones left out)."""
    values = {
        "ChallengerPromotable": 1.0 if judgement.promotable else 0.0,
        "ChampionRequests": comparison.champion.requests,
        "ChallengerRequests": comparison.challenger.requests,
        "Agreement": comparison.agreement,
        "ChampionMetric": comparison.champion.metric,
        "ChallengerMetric": comparison.challenger.metric,
        "ChampionErrorRate": comparison.champion.error_rate,
        "ChallengerErrorRate": comparison.challenger.error_rate,
        "ChampionLatencyMs": comparison.champion.latency_ms,
        "ChallengerLatencyMs": comparison.challenger.latency_ms,
    }
    return {name: value for name, value in values.items() if value is not None}


#: Lambda entry point (``challenger_comparison.handler.handler``): one ChallengerComparison per Lambda environment.
handler = EntryPoint(ChallengerComparison, ComparisonSettings)
