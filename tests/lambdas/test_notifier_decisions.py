"""The notifier's decisions: which events notify whom, and what the notification says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import contract
from notifier.decisions import NotificationRules, Rejection, metric_reports, notification
from tests.lambdas.events import DEV, PROD, REGION, build_state_change, model_package_state_change
from tests.lambdas.events import pipeline_execution_status_change as pipeline_event

RULES = NotificationRules(DEV, REGION, ("feature", "dev", "prod", "champion", "challenger"))
REGISTERED = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
METADATA = {
    "GitCommit": "9f1c2ab",
    "GitBranch": "dev",
    "DatasetS3Uri": "s3://mlops-artifacts/projects/churn/data/v7/",
    "MetricAuc": "0.912",
    "MetricF1": "0.81",
    "ProblemType": "BinaryClassification",
}


def package(group: str = "churn-dev", version: int = 3, status: str = "PendingManualApproval", **fields) -> dict:
    """A ``DescribeModelPackage`` response as a project pipeline's registration leaves it."""
    return {
        "ModelPackageGroupName": group,
        "ModelPackageVersion": version,
        "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/{group}/{version}",
        "ModelApprovalStatus": status,
        "CreationTime": REGISTERED,
        "ModelPackageDescription": "XGBoost churn model",
        "CustomerMetadataProperties": METADATA,
        **fields,
    }


def test_a_dev_version_pending_approval_tells_the_approver_what_to_review():
    event = model_package_state_change(package())

    decided = notification(event, RULES)

    assert not isinstance(decided, Rejection), decided
    assert decided.for_approvers and decided.kind == contract.NOTIFY_APPROVAL_PENDING
    assert (decided.project, decided.stage) == ("churn", "dev")
    assert decided.once_per == f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-dev/3"
    assert decided.text == "v3 of churn-dev awaits your approval"
    details = decided.details
    assert (details["group"], details["version"]) == ("churn-dev", 3)
    assert details["metrics"] == {"Auc": "0.912", "F1": "0.81"}
    assert (details["commit"], details["branch"]) == ("9f1c2ab", "dev")
    assert details["dataset"] == "s3://mlops-artifacts/projects/churn/data/v7/"
    assert details["registered_at"] == "2026-12-03T09:30:00+00:00"  # from CreationTime in epoch milliseconds
    assert details["console"] == (
        f"https://{REGION}.console.aws.amazon.com/sagemaker/home?region={REGION}#/model-registry/churn-dev/details"
    )
    assert details["approve_with"].endswith("--model-approval-status Approved")
    assert "warning" not in details


@pytest.mark.parametrize("stage", ["prod", "champion", "challenger"])
def test_versions_pending_in_every_governed_stage_notify_the_approver(stage):
    decided = notification(model_package_state_change(package(f"churn-{stage}")), RULES)

    assert not isinstance(decided, Rejection) and decided.stage == stage


def test_a_version_without_metrics_is_notified_with_a_warning():
    bare = package(CustomerMetadataProperties={"GitCommit": "9f1c2ab"})

    decided = notification(model_package_state_change(bare), RULES)

    assert decided.details["metrics"] == {} and decided.details["metric_reports"] == {}
    assert decided.details["warning"].startswith("no metrics were registered")


def test_registered_metric_reports_count_as_metrics():
    report = {"ContentType": "application/json", "S3Uri": "s3://mlops-artifacts/projects/churn/evaluation.json"}
    with_report = package(CustomerMetadataProperties={}, ModelMetrics={"ModelQuality": {"Statistics": report}})

    decided = notification(model_package_state_change(with_report), RULES)

    assert decided.details["metric_reports"] == {"ModelQuality.Statistics": report["S3Uri"]}
    assert "warning" not in decided.details
    assert metric_reports({}) == {}


@pytest.mark.parametrize(
    ("group", "status", "reason"),
    [
        ("churn-feature", "PendingManualApproval", "approved by the project's data scientists"),
        ("churn-sandbox", "PendingManualApproval", "not a managed <project>-<stage> group"),
        ("Churn_dev", "PendingManualApproval", "not a managed <project>-<stage> group"),
        ("churn-dev", "Approved", "is Approved, not pending"),
    ],
)
def test_versions_the_approver_does_not_review_notify_no_one(group, status, reason):
    decided = notification(model_package_state_change(package(group, status=status)), RULES)

    assert isinstance(decided, Rejection) and reason in decided.reason


def test_a_stage_outside_the_installations_scenario_is_not_governed():
    baseline = NotificationRules(DEV, REGION, ("feature", "dev", "prod"))

    decided = notification(model_package_state_change(package("churn-champion")), baseline)

    assert isinstance(decided, Rejection) and "not a managed" in decided.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"account": PROD}, f"account {PROD} is not the dev account"),
        ({"region": "us-east-1"}, "region us-east-1 is not the platform's region"),
        ({"time": "yesterday"}, "not an EventBridge event: time"),
        ({"source": "aws.codecommit"}, "unexpected event: source 'aws.codecommit'"),
        ({"detail": {"ModelPackageGroupName": "churn-dev"}}, "malformed SageMaker Model Package State Change"),
    ],
)
def test_foreign_and_malformed_events_are_rejected_with_a_reason(change, reason):
    decided = notification(model_package_state_change(package()) | change, RULES)

    assert isinstance(decided, Rejection) and reason in decided.reason, decided


def test_a_failed_training_pipeline_notifies_the_projects_team():
    event = pipeline_event(pipeline_name="churn-dev-training")

    decided = notification(event, RULES)

    assert not isinstance(decided, Rejection), decided
    assert not decided.for_approvers and decided.kind == contract.NOTIFY_PIPELINE_FAILED
    assert (decided.project, decided.stage, decided.once_per) == ("churn", "dev", "")
    assert decided.text == "training pipeline churn-dev-training failed"
    execution = event["detail"]["pipelineExecutionArn"]
    assert decided.details["execution_arn"] == execution
    assert decided.details["failed_steps_with"].endswith(f"--pipeline-execution-arn {execution}")


@pytest.mark.parametrize(
    ("pipeline", "status", "reason"),
    [
        ("churn-dev-training", "Succeeded", "'Succeeded' needs no one"),
        ("churn-prod-training", "Failed", "not a project's <project>-<stage>-training pipeline"),
        ("nightly-etl", "Failed", "not a project's <project>-<stage>-training pipeline"),
    ],
)
def test_other_pipeline_executions_notify_no_one(pipeline, status, reason):
    decided = notification(pipeline_event(pipeline_name=pipeline, status=status), RULES)

    assert isinstance(decided, Rejection) and reason in decided.reason


def test_a_failed_ci_build_notifies_the_projects_team_with_the_reason_and_the_logs():
    event = build_state_change(project_name="churn-ci")

    decided = notification(event, RULES)

    assert not isinstance(decided, Rejection), decided
    assert decided.kind == contract.NOTIFY_BUILD_FAILED
    assert (decided.project, decided.stage) == ("churn", None)
    assert decided.text == "CI build churn-ci failed"
    assert decided.details["failed_phase"] == "BUILD"
    assert decided.details["reason"].startswith("BUILD: COMMAND_EXECUTION_ERROR: Error while executing command")
    assert decided.details["logs"] == event["detail"]["additional-information"]["logs"]["deep-link"]
    assert decided.details["source_version"] == "refs/heads/dev"


@pytest.mark.parametrize(
    ("project_name", "status", "reason"),
    [
        ("churn-ci", "SUCCEEDED", "'SUCCEEDED' needs no one"),
        ("churn-docs", "FAILED", "is not a project's <project>-ci build"),
        ("-ci", "FAILED", "is not a project's <project>-ci build"),
    ],
)
def test_other_builds_notify_no_one(project_name, status, reason):
    decided = notification(build_state_change(project_name=project_name, status=status), RULES)

    assert isinstance(decided, Rejection) and reason in decided.reason
