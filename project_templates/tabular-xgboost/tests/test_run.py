"""The CI entry point's decisions that need no pipeline: other branches, configuration, dataset versions.

Pushes to training branches are in ``test_pipeline``, pushes to prod in ``test_copy_to_prod``.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from pipelines import run
from tests.offline import BUCKET, REGION


def test_other_branches_run_nothing(capsys):
    run.main(["--branch", "main", "--commit", "abc"])
    assert "nothing to run" in capsys.readouterr().out


def test_missing_configuration_is_named(monkeypatch):
    monkeypatch.delenv("PROJECT_NAME", raising=False)
    with pytest.raises(SystemExit, match="PROJECT_NAME"):
        run.main(["--branch", "prod", "--commit", "abc"])


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def test_dataset_version_of_an_object_in_a_versioned_bucket(s3):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=BUCKET, Key="data/churn/dataset.csv", Body=b"a,b\n")["VersionId"]
    assert run.dataset_version(s3, f"s3://{BUCKET}/data/churn/dataset.csv") == version


def test_dataset_version_of_an_unversioned_object_is_its_etag(s3):
    etag = s3.put_object(Bucket=BUCKET, Key="data/churn/dataset.csv", Body=b"a,b\n")["ETag"].strip('"')
    assert run.dataset_version(s3, f"s3://{BUCKET}/data/churn/dataset.csv") == etag


def test_dataset_version_of_a_prefix_changes_with_its_content(s3):
    uri = f"s3://{BUCKET}/data/churn/"
    s3.put_object(Bucket=BUCKET, Key="data/churn/part-1.csv", Body=b"a,b\n1,2\n")
    before = run.dataset_version(s3, uri)
    assert before.startswith("sha256:") and run.dataset_version(s3, uri) == before
    s3.put_object(Bucket=BUCKET, Key="data/churn/part-2.csv", Body=b"a,b\n3,4\n")
    assert run.dataset_version(s3, uri) != before


def test_an_empty_dataset_prefix_is_an_error(s3):
    with pytest.raises(SystemExit, match="No objects"):
        run.dataset_version(s3, f"s3://{BUCKET}/data/churn/")


@pytest.mark.parametrize(
    ("branch", "name"),
    [
        ("feature-better_trees", "feature-better-trees-0123456789ab"),
        ("dev", "dev-0123456789ab"),
        ("feature-" + "x" * 100, "feature-" + "x" * 74),
    ],
)
def test_execution_display_names_fit_the_api(branch, name):
    assert run.display_name(branch, "0123456789abcdef") == name


def test_a_missing_job_network_names_the_parameters():
    from pipelines.pipeline import JobNetwork

    with mock_aws(), pytest.raises(SystemExit, match=r"/mlops/jobs/subnet-ids.*PLATFORM_PREFIX"):
        JobNetwork.from_ssm(boto3.client("ssm", region_name=REGION), "mlops")
