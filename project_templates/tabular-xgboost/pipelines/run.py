"""What a push does, by branch: ``python -m pipelines.run --branch <branch> [--commit <sha>] [--wait]``.

- ``feature-*``: update and start the feature pipeline, which registers into ``<project>-feature``;
- ``dev``: the same with the dev pipeline and ``<project>-dev``;
- ``prod``: no training; copy the latest approved dev package into the production group(s);
- any other branch: nothing.

Configuration comes from the environment (CI variables), so the same command works in GitHub
Actions, CodeBuild and a Studio terminal:

| variable | required | meaning |
|---|---|---|
| ``PROJECT_NAME`` | yes | the SageMaker project, the first part of every group and pipeline name |
| ``AWS_REGION`` | yes | the platform's region |
| ``SAGEMAKER_PIPELINE_ROLE_ARN`` | training branches | the role the pipeline and its jobs run as |
| ``ARTIFACT_BUCKET`` | training branches | the platform's artifact bucket, ``mlops-artifacts-<account>-<region>`` |
| ``DATASET_S3_URI`` | no | the training data (default ``s3://<bucket>/data/<project>/dataset.csv``) |
| ``AUTO_APPROVE_FEATURE`` | no | ``true`` registers feature packages as Approved (they deploy to dev at once) |
| ``PROD_STAGES`` | no | groups a prod push copies into: ``prod`` (default) or ``champion,challenger`` |
| ``GROUND_TRUTH_S3_URI`` | no | where labels for model-quality monitoring arrive; recorded on the package |
| ``GIT_REPOSITORY`` | no | the repository's URL, recorded on the package |
| ``PLATFORM_PREFIX`` | no | the platform's prefix (default ``mlops``): its ``/<prefix>/jobs/*`` SSM parameters |
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
from urllib.parse import urlparse

import boto3

from pipelines import naming
from pipelines.copy_to_prod import copy_to_prod


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name) or default
    if value is None:
        raise SystemExit(f"Set the environment variable {name} (see pipelines/run.py)")
    return value


def current_commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def dataset_version(s3, uri: str) -> str:
    """What identifies the dataset's content: the object's S3 version id (the artifact bucket is
    versioned) or ETag; for a prefix, a digest of its objects' keys and ETags."""
    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not key.endswith("/"):
        head = s3.head_object(Bucket=bucket, Key=key)
        version = head.get("VersionId")
        return version if version and version != "null" else head["ETag"].strip('"')
    objects = sorted(
        (item["Key"], item["ETag"])
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        for item in page.get("Contents", [])
    )
    if not objects:
        raise SystemExit(f"No objects under {uri}")
    return "sha256:" + hashlib.sha256(json.dumps(objects).encode()).hexdigest()


def display_name(branch: str, commit: str) -> str:
    """``<branch>-<short commit>`` in the characters an execution's display name allows."""
    return re.sub(r"[^a-zA-Z0-9]+", "-", f"{branch}-{commit[:12]}").strip("-")[:82].rstrip("-")


def train(stage: str, branch: str, commit: str, wait: bool) -> None:
    """Upsert the stage's pipeline and start it with this push's lineage."""
    from pipelines.pipeline import JobNetwork, PipelineSettings, get_pipeline, pipeline_session  # the SDK loads slowly

    boto_session = boto3.Session(region_name=env("AWS_REGION"))
    settings = PipelineSettings(
        project=naming.check_project(env("PROJECT_NAME")),
        stage=stage,
        role_arn=env("SAGEMAKER_PIPELINE_ROLE_ARN"),
        bucket=env("ARTIFACT_BUCKET"),
        job_network=JobNetwork.from_ssm(boto_session.client("ssm"), env("PLATFORM_PREFIX", "mlops")),
        auto_approve_feature=env("AUTO_APPROVE_FEATURE", "false").lower() == "true",
        repository=os.environ.get("GIT_REPOSITORY") or None,
        ground_truth_s3_uri=os.environ.get("GROUND_TRUTH_S3_URI") or None,
        default_dataset_uri=os.environ.get("DATASET_S3_URI") or None,
    )
    pipeline = get_pipeline(settings, pipeline_session(settings.bucket, settings.project, boto_session))
    pipeline.upsert(role_arn=settings.role_arn, description=f"Training pipeline of {settings.project} ({stage})")
    lineage = {
        "InputDataUrl": settings.dataset_uri,
        "DatasetVersion": dataset_version(boto_session.client("s3"), settings.dataset_uri),
        "GitCommit": commit,
        "GitBranch": branch,
    }
    execution = pipeline.start(
        parameters={name: naming.metadata_value(value) for name, value in lineage.items()},  # they become metadata
        execution_display_name=display_name(branch, commit),
    )
    print(f"Started {execution.arn}")
    if wait:
        execution.wait(delay=60, max_attempts=240)
        print(f"{execution.arn}: {execution.describe()['PipelineExecutionStatus']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branch", required=True, help="the pushed branch")
    parser.add_argument("--commit", help="the pushed commit (default: git rev-parse HEAD)")
    parser.add_argument("--wait", action="store_true", help="wait for the pipeline execution to end")
    args = parser.parse_args(argv)

    stage = naming.stage_for_branch(args.branch)
    if stage is None:
        print(f"{args.branch}: not a feature-*, dev or prod branch; nothing to run")
    elif stage == "prod":
        project = naming.check_project(env("PROJECT_NAME"))
        stages = [name.strip() for name in env("PROD_STAGES", "prod").split(",") if name.strip()]
        sagemaker = boto3.client("sagemaker", region_name=env("AWS_REGION"))
        for target, arn in copy_to_prod(sagemaker, project, stages).items():
            print(f"{target}: {arn}")
    else:
        train(stage, args.branch, args.commit or current_commit(), args.wait)


if __name__ == "__main__":
    main()
