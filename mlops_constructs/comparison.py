"""The champion/challenger comparison: a scheduled Lambda in dev, and the role it assumes in prod.

The comparison reads, in prod, both variants' CloudWatch metrics and data capture through
:class:`ChallengerEvaluatorRole` (trusted only by the comparison's role), and in dev the projects'
ground truth, the registry and the ledger; it writes its verdicts to the ledger (the promoter's
evidence), its numbers to the prod dashboard's namespace, and tells the approvers on the alert topic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.contract import CHALLENGER_STAGE, CHAMPION_STAGE, ENDPOINT_SUFFIX
from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.dashboards import search
from mlops_constructs.messaging import AlertTopic
from mlops_constructs.naming import PlatformNames
from mlops_constructs.scheduled_job import ScheduledJob
from platform_config import PlatformConfig

#: The comparison reads a day or more of capture files per project.
COMPARISON_TIMEOUT = Duration.minutes(10)
#: Capture prefixes of the two stages' endpoints (``<project>-<stage>-endpoint/<variant>/...``).
CAPTURE_PREFIXES = tuple(f"*-{stage}{ENDPOINT_SUFFIX}/*" for stage in (CHAMPION_STAGE, CHALLENGER_STAGE))
#: Where the projects' pipelines keep ground truth in the artifact bucket.
GROUND_TRUTH_PREFIX = "projects/*/ground-truth/*"


class ChallengerEvaluatorRole(Construct):
    """The role the dev comparison assumes in prod: read the champion and challenger endpoints' data
    capture and metrics, and publish the comparison's numbers in one namespace; nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        comparison_role_arn: str,
        data_capture: s3.IBucket,
        key: kms.IKey,
        namespace: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ArnPrincipal(comparison_role_arn),
            description="Assumed by the dev champion/challenger comparison only, to read both variants' data",
        )
        for statement in (
            iam.PolicyStatement(
                sid="ReadChampionChallengerCapture",
                actions=["s3:GetObject"],
                resources=[data_capture.arn_for_objects(prefix) for prefix in CAPTURE_PREFIXES],
            ),
            iam.PolicyStatement(
                sid="ListChampionChallengerCapture",
                actions=["s3:ListBucket"],
                resources=[data_capture.bucket_arn],
                conditions={"StringLike": {"s3:prefix": list(CAPTURE_PREFIXES)}},
            ),
            iam.PolicyStatement(
                sid="DecryptCaptureThroughS3",
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
            iam.PolicyStatement(sid="ReadVariantMetrics", actions=["cloudwatch:GetMetricData"], resources=["*"]),
            iam.PolicyStatement(
                sid="PublishComparisonMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            ),
        ):
            self.role.add_to_policy(statement)
        acknowledge_wildcards(
            self,
            {
                "Resource::<DataCapture*.Arn>/*-champion-endpoint/*": "Data capture of the champion "
                "endpoints (both variants in shadow and split modes).",
                "Resource::<DataCapture*.Arn>/*-challenger-endpoint/*": "Data capture of the challenger "
                "endpoints (separate mode).",
                "Resource::*": "cloudwatch:GetMetricData and PutMetricData have no resource-level permissions; "
                "PutMetricData is limited to the comparison's namespace by condition.",
            },
        )


class ChallengerComparisonJob(ScheduledJob):
    """The scheduled comparison Lambda (every ``champion_challenger.comparison_interval_hours``, enabled in the
    advanced scenario), with retries, a dead-letter queue and alarm, and the least permissions it needs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        key: kms.IKey,
        alerts: AlertTopic,
        ledger: dynamodb.ITableV2,
        project_settings: dynamodb.ITableV2,
        handler_environment: Mapping[str, str],
    ) -> None:
        names = PlatformNames(config)
        settings = config.champion_challenger
        evaluator_role = names.role_arn("prod", names.challenger_evaluator_role("prod"))
        rule = {
            "minimum_requests": settings.minimum_requests,
            "minimum_duration_hours": settings.minimum_duration_hours,
            "metric": settings.metric,
            "metric_tolerance": settings.metric_tolerance,
            "require_labels": settings.require_labels,
        }
        super().__init__(
            scope,
            construct_id,
            name=f"{config.prefix}-challenger-comparison",
            handler="challenger_comparison.handler.handler",
            description="Compares each project's challenger with its champion in prod and records the verdict",
            role_name=names.challenger_comparison_role,
            timeout=COMPARISON_TIMEOUT,
            environment={
                **handler_environment,
                "PROD_ACCOUNT_ID": names.account_id("prod"),
                "EVALUATOR_ROLE_ARN": evaluator_role,
                "DATA_CAPTURE_BUCKET": names.data_capture_bucket("prod"),
                "PROJECT_SETTINGS_TABLE": project_settings.table_name,
                "METRICS_NAMESPACE": names.champion_challenger_namespace,
                "DEFAULT_EVALUATION_MODE": settings.evaluation_mode,
                "EVALUATION_MODES": json.dumps(dict(settings.project_modes), sort_keys=True),
                "DEFAULT_COMPARISON_RULE": json.dumps(rule, sort_keys=True),
            },
            rate=Duration.hours(settings.comparison_interval_hours),
            schedule_description="Runs the champion/challenger comparison",
            enabled=config.scenario == "advanced",
            key=key,
            alerts=alerts,
            powertools_version=config.powertools_layer_version,
        )
        stack = Stack.of(self)
        role = self.function.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeTheEvaluatorRoleOnly", actions=["sts:AssumeRole"], resources=[evaluator_role]
            )
        )
        ledger.grant(role, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
        project_settings.grant(role, "dynamodb:GetItem")
        role.add_to_policy(
            iam.PolicyStatement(
                sid="FindChallengerGroups", actions=["sagemaker:ListModelPackageGroups"], resources=["*"]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadChampionAndChallengerPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[
                    stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"*-{stage}/*")
                    for stage in (CHAMPION_STAGE, CHALLENGER_STAGE)
                ],
            )
        )
        artifacts = f"arn:{stack.partition}:s3:::{names.artifact_bucket}"
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadGroundTruth", actions=["s3:GetObject"], resources=[f"{artifacts}/{GROUND_TRUTH_PREFIX}"]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListGroundTruth",
                actions=["s3:ListBucket"],
                resources=[artifacts],
                conditions={"StringLike": {"s3:prefix": [GROUND_TRUTH_PREFIX]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DecryptGroundTruthThroughS3",
                actions=["kms:Decrypt"],
                resources=[stack.format_arn(service="kms", resource="key", resource_name="*")],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"},
                    "ForAnyValue:StringEquals": {"kms:ResourceAliases": [names.artifact_key_alias]},
                },
            )
        )
        key.grant_encrypt_decrypt(role)
        alerts.topic.grant_publish(role)
        acknowledge_wildcards(
            self,
            {
                "Resource::*": "sagemaker:ListModelPackageGroups has no resource-level permissions.",
                "Resource::arn:*:sagemaker:*:model-package/*-champion/*": "Versions of the champion groups.",
                "Resource::arn:*:sagemaker:*:model-package/*-challenger/*": "Versions of the challenger groups.",
                f"Resource::{artifacts}/{GROUND_TRUTH_PREFIX}": "The projects' ground truth in the artifact bucket.",
                "Resource::arn:*:kms:*:key/*": "The artifact key only, by its alias (kms:ResourceAliases), through S3.",
                "Action::kms:GenerateDataKey*": "Data keys of the promotion key only (ledger, topic).",
                "Action::kms:ReEncrypt*": "Re-encryption with the promotion key only (DynamoDB grant).",
            },
        )


#: The comparison's numbers per project on the prod dashboard: (title, metrics).
COMPARISON_GRAPHS = (
    ("Champion vs challenger: project metric", ("ChampionMetric", "ChallengerMetric")),
    ("Challenger: agreement with the champion, meets the rule (1)", ("Agreement", "ChallengerPromotable")),
    ("Champion vs challenger: 5xx error rate", ("ChampionErrorRate", "ChallengerErrorRate")),
    ("Champion vs challenger: model latency (ms)", ("ChampionLatencyMs", "ChallengerLatencyMs")),
)


def comparison_widgets(namespace: str) -> list[cloudwatch.GraphWidget]:
    """Graphs of the comparison's latest numbers, one line per project and metric (SEARCH: projects come and go)."""
    return [
        cloudwatch.GraphWidget(
            title=title,
            left=[search(f'{{{namespace},Project}} MetricName="{metric}"', "Maximum", "") for metric in metrics],
            width=12,
        )
        for title, metrics in COMPARISON_GRAPHS
    ]
