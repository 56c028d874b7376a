"""Copying the approved dev package into the production groups, against moto's model registry."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from pipelines import run
from pipelines.copy_to_prod import copy_request, copy_to_prod
from tests.offline import BUCKET, PROJECT, REGION

ARTIFACT = f"s3://{BUCKET}/projects/{PROJECT}/dev/exec-1/model/train-job/output/model.tar.gz"
INFERENCE = {
    "Containers": [
        {
            "Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5",
            "ImageDigest": "sha256:" + "0123456789abcdef" * 4,
            "ModelDataUrl": ARTIFACT,
            "ModelDataETag": "0123456789abcdef0123456789abcdef",  # the copy is pinned to the same bytes
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
BASELINES = {
    "ModelDataQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/projects/{PROJECT}/statistics.json"},
        "Constraints": {
            "ContentType": "application/json",
            "S3Uri": f"s3://{BUCKET}/projects/{PROJECT}/constraints.json",
        },
    },
    "Bias": {"ConfigFile": {"S3Uri": f"s3://{BUCKET}/projects/{PROJECT}/analysis_config.json"}},
}
METRICS = {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/e.json"}}}
LINEAGE = {
    "GitCommit": "0123456789abcdef",
    "GitBranch": "dev",
    "DatasetS3Uri": f"s3://{BUCKET}/data/{PROJECT}/dataset.csv",
    "DatasetVersion": "3HL4kqtJlcpXroDTDmJ",
    "Hyperparameters": "eta=0.2 max_depth=4",
    "MetricAuc": "0.83",
    "ProblemType": "BinaryClassification",
    "ProbabilityAttribute": "0",
    "ProbabilityThreshold": "0.5",
}


@pytest.fixture
def sagemaker():
    """A registry with the project's groups (as the platform creates them) and no packages."""
    with mock_aws():
        client = boto3.client("sagemaker", region_name=REGION)
        for stage in ("feature", "dev", "prod", "champion", "challenger"):
            client.create_model_package_group(ModelPackageGroupName=f"{PROJECT}-{stage}")
        yield client


def register_dev(sagemaker, status: str, commit: str = "0123456789abcdef") -> str:
    return sagemaker.create_model_package(
        ModelPackageGroupName=f"{PROJECT}-dev",
        InferenceSpecification=INFERENCE,
        ModelApprovalStatus=status,
        ModelMetrics=METRICS,
        DriftCheckBaselines=BASELINES,
        MetadataProperties={"CommitId": commit},
        CustomerMetadataProperties={**LINEAGE, "GitCommit": commit},
    )["ModelPackageArn"]


def packages(sagemaker, stage: str) -> list[dict]:
    summaries = sagemaker.list_model_packages(ModelPackageGroupName=f"{PROJECT}-{stage}")["ModelPackageSummaryList"]
    return [sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"]) for s in summaries]


def test_copies_the_latest_approved_dev_package(sagemaker):
    register_dev(sagemaker, "Approved", commit="old")
    newest_approved = register_dev(sagemaker, "Approved", commit="new")
    register_dev(sagemaker, "PendingManualApproval", commit="newer-but-pending")
    register_dev(sagemaker, "Rejected", commit="rejected")

    copies = copy_to_prod(sagemaker, PROJECT)

    (copy,) = packages(sagemaker, "prod")
    assert copies == {"prod": copy["ModelPackageArn"]}
    assert copy["ModelApprovalStatus"] == "PendingManualApproval"  # the model approver decides on prod
    assert copy["InferenceSpecification"] == INFERENCE  # the same artifact, not a retrained one
    assert copy["DriftCheckBaselines"] == BASELINES
    assert copy["ModelMetrics"] == METRICS
    assert copy["MetadataProperties"] == {"CommitId": "new"}
    assert copy["CustomerMetadataProperties"] == {
        **LINEAGE,
        "GitCommit": "new",
        "SourceModelPackageArn": newest_approved,
    }


def test_copying_the_same_package_twice_creates_one_prod_package(sagemaker):
    register_dev(sagemaker, "Approved")
    first = copy_to_prod(sagemaker, PROJECT)
    second = copy_to_prod(sagemaker, PROJECT)
    assert first == second
    assert len(packages(sagemaker, "prod")) == 1


def test_a_newly_approved_dev_package_is_copied_next_to_the_earlier_copy(sagemaker):
    register_dev(sagemaker, "Approved", commit="first")
    first = copy_to_prod(sagemaker, PROJECT)["prod"]
    second_source = register_dev(sagemaker, "Approved", commit="second")
    second = copy_to_prod(sagemaker, PROJECT)["prod"]
    assert second != first
    sources = {p["CustomerMetadataProperties"]["SourceModelPackageArn"] for p in packages(sagemaker, "prod")}
    assert second_source in sources and len(sources) == 2


def test_advanced_scenario_copies_into_champion_and_challenger(sagemaker):
    source = register_dev(sagemaker, "Approved")
    copies = copy_to_prod(sagemaker, PROJECT, ["champion", "challenger"])
    assert set(copies) == {"champion", "challenger"}
    for stage in ("champion", "challenger"):
        (copy,) = packages(sagemaker, stage)
        assert copy["CustomerMetadataProperties"]["SourceModelPackageArn"] == source
    assert packages(sagemaker, "prod") == []


def test_nothing_approved_is_an_error(sagemaker):
    register_dev(sagemaker, "PendingManualApproval")
    with pytest.raises(LookupError, match=f"{PROJECT}-dev"):
        copy_to_prod(sagemaker, PROJECT)
    assert packages(sagemaker, "prod") == []


@pytest.mark.parametrize("stages", [[], ["dev"], ["prod", "feature"]])
def test_only_production_stages_are_targets(sagemaker, stages):
    register_dev(sagemaker, "Approved")
    with pytest.raises(ValueError, match="Production stages"):
        copy_to_prod(sagemaker, PROJECT, stages)


def test_the_client_token_is_stable_per_source_and_group():
    source = {"ModelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn-dev/3"}
    prod, again, champion = (copy_request(source, group) for group in ("churn-prod", "churn-prod", "churn-champion"))
    assert prod["ClientToken"] == again["ClientToken"] != champion["ClientToken"]
    assert len(prod["ClientToken"]) <= 36


def test_a_push_to_prod_copies_instead_of_training(sagemaker, monkeypatch, capsys):
    source = register_dev(sagemaker, "Approved")
    monkeypatch.setenv("PROJECT_NAME", PROJECT)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("PROD_STAGES", "champion, challenger")
    run.main(["--branch", "prod", "--commit", "abc"])
    assert "champion: arn:aws:sagemaker" in capsys.readouterr().out
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []
    for stage in ("champion", "challenger"):
        (copy,) = packages(sagemaker, stage)
        assert copy["CustomerMetadataProperties"]["SourceModelPackageArn"] == source
