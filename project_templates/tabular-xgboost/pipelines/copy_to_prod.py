"""Copy the latest approved dev package into the production group(s), instead of retraining on ``prod``.

Run by CI on a push to ``prod``. The copy is a new package in ``<project>-prod`` (or, in the
platform's advanced scenario, ``<project>-champion`` and ``<project>-challenger``) with the same
model artifact, inference specification (image, image digest, artifact URL and its pinned ETag, exactly:
the platform's prod gate compares them with the tested source), metrics and drift-check baselines, pending the model
approver's decision. Its CustomerMetadataProperties are the source's (lineage and monitoring keys)
plus ``SourceModelPackageArn``, the dev package, by which the platform's promoter checks that the
model passed the test stage. Copying the same dev package again changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines import naming

#: DescribeModelPackage fields a copy keeps as they are.
COPIED_FIELDS = (
    "InferenceSpecification",
    "ModelMetrics",
    "DriftCheckBaselines",
    "MetadataProperties",
    "Domain",
    "Task",
    "SamplePayloadUrl",
)


def latest_approved(sagemaker, group: str) -> str | None:
    """ARN of the highest approved version of ``group``, or None when nothing is approved."""
    best: tuple[int, str] | None = None
    for page in sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved"
    ):
        for summary in page["ModelPackageSummaryList"]:
            version = (summary.get("ModelPackageVersion") or 0, summary["ModelPackageArn"])
            if summary.get("ModelApprovalStatus") == "Approved" and (best is None or version > best):
                best = version
    return best[1] if best else None


def existing_copy(sagemaker, group: str, source_arn: str) -> str | None:
    """ARN of a package in ``group`` copied from ``source_arn``, if there is one (newest first)."""
    for page in sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
    ):
        for summary in page["ModelPackageSummaryList"]:
            package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if (package.get("CustomerMetadataProperties") or {}).get(naming.META_SOURCE_PACKAGE) == source_arn:
                return summary["ModelPackageArn"]
    return None


def copy_request(source: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The CreateModelPackage request that copies the described ``source`` package into ``group``.

    The client token makes SageMaker itself refuse a second copy of the same source into the same
    group when two runs race past the ``existing_copy`` look-up.
    """
    source_arn = source["ModelPackageArn"]
    metadata = source.get("CustomerMetadataProperties") or {}
    request = {field: source[field] for field in COPIED_FIELDS if source.get(field)}
    request.update(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"Copy of {source_arn}"[:1024],
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={**metadata, naming.META_SOURCE_PACKAGE: source_arn},
        ClientToken=hashlib.sha256(f"{source_arn}|{group}".encode()).hexdigest()[:36],
    )
    return request


def copy_to_prod(sagemaker, project: str, stages: Iterable[str] = ("prod",)) -> dict[str, str]:
    """Copy the latest approved ``<project>-dev`` package into each stage's group.

    Returns the package ARN per stage, whether created now or by an earlier run. Raises when no dev
    package is approved: merging into ``prod`` before the model approver approved a dev model is a
    mistake to surface, not to skip.
    """
    stages = list(stages)
    unknown = [stage for stage in stages if stage not in naming.PROD_STAGES]
    if not stages or unknown:
        raise ValueError(f"Production stages must be among {naming.PROD_STAGES}, got {stages}")
    source_arn = latest_approved(sagemaker, naming.group_name(project, "dev"))
    if source_arn is None:
        raise LookupError(f"No approved package in {naming.group_name(project, 'dev')}: nothing to copy")
    source = sagemaker.describe_model_package(ModelPackageName=source_arn)

    copies = {}
    for stage in stages:
        group = naming.group_name(project, stage)
        copies[stage] = (
            existing_copy(sagemaker, group, source_arn)
            or sagemaker.create_model_package(**copy_request(source, group))["ModelPackageArn"]
        )
    return copies
