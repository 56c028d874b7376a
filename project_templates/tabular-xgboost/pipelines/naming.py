"""Names this project shares with the MLOps platform: branches, model package groups, metadata keys.

Pure Python with no SDK import. The platform creates the groups ``<project>-<stage>`` and deploys
from them; its promoter and monitor read the metadata keys below from the registered packages (the
platform's test suite checks that they match its contract).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Branch prefix of the data scientists' work branches; all of them register into one feature group.
FEATURE_PREFIX = "feature-"
#: The stages a production copy can target: ``prod`` (baseline scenario) or champion and challenger.
PROD_STAGES = ("prod", "champion", "challenger")

#: CustomerMetadataProperties keys the platform reads.
META_COMMIT = "GitCommit"
META_SOURCE_PACKAGE = "SourceModelPackageArn"
META_GROUND_TRUTH = "GroundTruthS3Uri"
META_PROBLEM_TYPE = "ProblemType"
META_INFERENCE_ATTRIBUTE = "InferenceAttribute"
META_PROBABILITY_ATTRIBUTE = "ProbabilityAttribute"
META_PROBABILITY_THRESHOLD = "ProbabilityThreshold"
#: CustomerMetadataProperties keys of this template's lineage (informational for the platform).
META_BRANCH = "GitBranch"
META_DATASET_URI = "DatasetS3Uri"
META_DATASET_VERSION = "DatasetVersion"
META_HYPERPARAMETERS = "Hyperparameters"
META_METRIC_PREFIX = "Metric"  # MetricAuc, MetricF1, ... from the evaluation report

_PROJECT_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,23}$")
#: What SageMaker accepts as a CustomerMetadataProperties value: 1-256 letters, digits, spaces and _.:/=+-@
#: (so no JSON).
_METADATA_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")


def stage_for_branch(branch: str) -> str | None:
    """``feature-*`` -> ``feature``, ``dev`` -> ``dev``, ``prod`` -> ``prod``; None for any other branch."""
    if branch.startswith(FEATURE_PREFIX) and len(branch) > len(FEATURE_PREFIX):
        return "feature"
    if branch in ("dev", "prod"):
        return branch
    return None


def check_project(project: str) -> str:
    """The project name, if the platform would accept it (it names groups, pipelines and endpoints)."""
    if not _PROJECT_NAME.match(project):
        raise ValueError(f"Invalid project name {project!r}: 2-24 lower-case letters, digits and single hyphens")
    return project


def group_name(project: str, stage: str) -> str:
    """The model package group of a stage, created by the platform with the project."""
    return f"{check_project(project)}-{stage}"


def pipeline_name(project: str, stage: str) -> str:
    """One training pipeline per stage that trains (``feature`` and ``dev``)."""
    if stage not in ("feature", "dev"):
        raise ValueError(f"Stage {stage!r} does not train: prod copies the approved dev package")
    return f"{check_project(project)}-{stage}-training"


def approval_status(stage: str, auto_approve_feature: bool) -> str:
    """Registration status: pending for the model approver, except feature packages when the team
    auto-approves them (the platform lets data scientists approve only feature packages)."""
    if stage == "feature" and auto_approve_feature:
        return "Approved"
    return "PendingManualApproval"


def metadata_value(value: str) -> str:
    """``value``, if the registry accepts it as a metadata value; a bad one would fail the registration
    at the end of a run, so it is refused before the run starts."""
    if not _METADATA_VALUE.match(value):
        raise ValueError(f"Not a valid model package metadata value (1-256 of letters, digits, ' _.:/=+-@'): {value!r}")
    return value


def hyperparameters_value(hyperparameters: Mapping[str, object]) -> str:
    """The hyperparameters as one metadata value: sorted ``name=value`` pairs separated by spaces."""
    return metadata_value(" ".join(f"{name}={value}" for name, value in sorted(hyperparameters.items())))


def artifact_prefix(project: str) -> str:
    """Where everything of the project lives in the artifact bucket; the deployment targets can read it."""
    return f"projects/{check_project(project)}"


def job_network_parameters(platform_prefix: str) -> tuple[str, str]:
    """The platform's SSM parameters naming the subnets (a StringList) and the security group every job runs with."""
    return f"/{platform_prefix}/jobs/subnet-ids", f"/{platform_prefix}/jobs/security-group-id"
