"""The two CI definitions do the same thing: install the pins, test, then run what the branch asks for."""

from __future__ import annotations

import re

import pytest
import yaml

from pipelines import run
from tests.offline import ROOT

INSTALL = "pip install -r requirements-test.txt -c constraints.txt"


@pytest.fixture(scope="module")
def github() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "pipeline.yml").read_text())


@pytest.fixture(scope="module")
def codebuild() -> dict:
    return yaml.safe_load((ROOT / "buildspec.yml").read_text())


def commands_of_github(workflow: dict) -> list[str]:
    (job,) = workflow["jobs"].values()
    return [step["run"] for step in job["steps"] if "run" in step]


def commands_of_codebuild(buildspec: dict) -> list[str]:
    return buildspec["phases"]["install"]["commands"] + buildspec["phases"]["build"]["commands"]


def test_both_install_the_pins_then_test_then_run(github, codebuild):
    for commands in (commands_of_github(github), commands_of_codebuild(codebuild)):
        install = commands.index(INSTALL)
        tests = commands.index("pytest")
        (pipeline,) = [i for i, command in enumerate(commands) if command.startswith("python -m pipelines.run")]
        assert install < tests < pipeline
        assert re.fullmatch(r'python -m pipelines\.run --branch "[^"]+" --commit "[^"]+" --wait', commands[pipeline])


def test_github_runs_on_the_branches_that_map_to_groups(github):
    # PyYAML reads the key "on" as True.
    assert github[True]["push"]["branches"] == ["feature-*", "dev", "prod"]
    assert "pull_request" in github[True]


def test_github_passes_every_setting_the_entry_point_reads(github):
    (job,) = github["jobs"].values()
    settings = set(re.findall(r"^\| ``([A-Z_]+)`` \|", run.__doc__, re.MULTILINE))
    assert settings and settings <= set(job["env"])


def test_codebuild_documents_every_setting_the_entry_point_reads():
    header = (ROOT / "buildspec.yml").read_text().split("version:")[0]
    settings = set(re.findall(r"^\| ``([A-Z_]+)`` \|", run.__doc__, re.MULTILINE)) - {"GIT_REPOSITORY"}
    assert all(name in header for name in settings)
