"""Branches, stages and names shared with the platform."""

from __future__ import annotations

import pytest

from pipelines import naming


@pytest.mark.parametrize(
    ("branch", "stage"),
    [
        ("feature-better-trees", "feature"),
        ("feature-1", "feature"),
        ("dev", "dev"),
        ("prod", "prod"),
        ("feature-", None),
        ("feature", None),
        ("main", None),
        ("development", None),
        ("hotfix-prod", None),
    ],
)
def test_stage_for_branch(branch, stage):
    assert naming.stage_for_branch(branch) == stage


def test_groups_and_pipelines_are_named_after_project_and_stage():
    assert naming.group_name("churn", "feature") == "churn-feature"
    assert naming.pipeline_name("churn", "dev") == "churn-dev-training"
    assert naming.artifact_prefix("churn") == "projects/churn"


@pytest.mark.parametrize("stage", ["prod", "champion", "challenger"])
def test_production_stages_have_no_training_pipeline(stage):
    with pytest.raises(ValueError, match="does not train"):
        naming.pipeline_name("churn", stage)


@pytest.mark.parametrize("project", ["Churn", "c", "churn_model", "-churn", "churn--model", "a" * 25])
def test_invalid_project_names_are_refused(project):
    with pytest.raises(ValueError, match="Invalid project name"):
        naming.group_name(project, "dev")


@pytest.mark.parametrize(
    ("stage", "auto_approve", "status"),
    [
        ("feature", True, "Approved"),
        ("feature", False, "PendingManualApproval"),
        ("dev", True, "PendingManualApproval"),
        ("dev", False, "PendingManualApproval"),
    ],
)
def test_only_feature_packages_may_be_auto_approved(stage, auto_approve, status):
    assert naming.approval_status(stage, auto_approve) == status


@pytest.mark.parametrize(
    "value",
    ["0123abc", "feature-x", "s3://bucket/data/churn/dataset.csv", "sha256:ab12", "a=1 b=binary:logistic", "x@y+z"],
)
def test_metadata_values_the_registry_accepts(value):
    assert naming.metadata_value(value) == value


@pytest.mark.parametrize("value", ["", '{"a":"1"}', "a,b", "x" * 257, "line\nbreak"])
def test_metadata_values_the_registry_refuses(value):
    with pytest.raises(ValueError, match="metadata value"):
        naming.metadata_value(value)


def test_hyperparameters_become_one_metadata_value():
    value = naming.hyperparameters_value({"objective": "binary:logistic", "eta": "0.2", "num_round": 100})
    assert value == "eta=0.2 num_round=100 objective=binary:logistic"
