"""The tabular-xgboost template names what the platform reads exactly as the platform's contract does.

The template is a separate repository once a project is created, so it cannot import the contract;
it keeps its own copy of the names in ``pipelines/naming.py`` (no SDK import), which these tests load
with the platform's environment. The template's behaviour is tested by ``make template-test``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lambdas import contract
from mlops_constructs.naming import PROJECTS_PREFIX

TEMPLATE = Path(__file__).resolve().parents[2] / "project_templates" / "tabular-xgboost"


@pytest.fixture(scope="module")
def naming():
    spec = importlib.util.spec_from_file_location("template_naming", TEMPLATE / "pipelines" / "naming.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_metadata_keys_are_the_contract_keys(naming):
    shared = {name: value for name, value in vars(contract).items() if name.startswith("META_")}
    assert {name: getattr(naming, name) for name in shared} == shared


def test_groups_are_the_ones_the_platform_creates_and_deploys_from(naming):
    for stage in contract.STAGES:
        assert naming.group_name("churn", stage) == contract.Deployment("churn", stage).group_name
        assert contract.Deployment.from_group(naming.group_name("churn", stage)) == contract.Deployment("churn", stage)


def test_branches_map_to_stages_the_platform_knows(naming):
    assert {naming.stage_for_branch(branch) for branch in ("feature-x", "dev", "prod")} <= set(contract.STAGES)
    assert all(contract.STAGE_ACCOUNTS[stage] == "prod" for stage in naming.PROD_STAGES)


def test_project_names_follow_the_contract(naming):
    for name in ("churn", "credit-risk-2", "c", "Churn", "a" * 25, "churn--x"):
        valid = bool(contract.PROJECT_NAME.match(name))
        if valid:
            assert naming.check_project(name) == name
        else:
            with pytest.raises(ValueError):
                naming.check_project(name)


def test_pipelines_write_where_the_deployment_targets_may_read(naming):
    assert naming.artifact_prefix("churn") + "/" == f"{PROJECTS_PREFIX}churn/"


def test_retraining_starts_the_pipelines_the_template_creates(naming):
    """The monitoring loop (and its IAM scope) names the training pipelines as the template does."""
    for stage in contract.TRAINING_STAGES:
        assert naming.pipeline_name("churn", stage) == contract.training_pipeline_name("churn", stage)
    for stage in set(contract.STAGES) - set(contract.TRAINING_STAGES):
        with pytest.raises(ValueError):
            naming.pipeline_name("churn", stage)


def test_pipelines_read_the_job_network_the_platform_publishes(naming, platform):
    from mlops_constructs.naming import PlatformNames

    assert naming.job_network_parameters("mlops") == PlatformNames(platform.config).job_network_parameters
