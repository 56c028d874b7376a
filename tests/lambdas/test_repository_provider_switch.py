"""Choosing where repositories live: CodeCommit refusing new repositories, and the switch to GitHub end to end.

CodeCommit has at times been closed to accounts without a repository: ``CreateRepository`` then fails
with ``OperationNotAllowedException``. The project's failure must say how to switch, and the switch
(the provider key and the organization) must give a function that creates projects on GitHub as
synthesized, not only as configured by hand in a test.
"""

# ruff: noqa: F811 (pytest fixtures imported from the function's main test module are test arguments here)
from __future__ import annotations

from botocore.exceptions import ClientError

from project_template.handler import CODECOMMIT_CLOSED_HINT, Settings
from settings import Environment

# The project-template function's harness and fixtures (moto, the answer catcher, the fake GitHub) are shared.
from tests.lambdas.test_project_template import (  # noqa: F401
    BUCKET,
    KEY,
    ORG,
    SECRET,
    Harness,
    aws,
    catcher,
    github,
    template_archive,
    tracked_files,
)

#: What CodeCommit answers an account that never had a repository while it is closed to new customers.
CLOSED_MESSAGE = (
    "CreateRepository request is not allowed because there is no existing repository in this AWS account "
    "or AWS Organization"
)


def test_codecommit_refusing_new_repositories_fails_the_project_with_the_switch_to_make(aws, catcher, monkeypatch):
    harness = Harness(aws, catcher)

    def closed(**kwargs):
        raise ClientError(
            {"Error": {"Code": "OperationNotAllowedException", "Message": CLOSED_MESSAGE}}, "CreateRepository"
        )

    monkeypatch.setattr(harness.codecommit, "create_repository", closed)
    answer = harness.send("Create")
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("AWS CreateRepository failed: OperationNotAllowedException: CreateRepository")
    assert answer["Reason"].endswith(CODECOMMIT_CLOSED_HINT)
    assert "projects.repository_provider=github" in answer["Reason"]


def test_an_other_codecommit_error_gets_no_switch_hint(aws, catcher, monkeypatch):
    harness = Harness(aws, catcher)

    def denied(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "CreateRepository")

    monkeypatch.setattr(harness.codecommit, "create_repository", denied)
    answer = harness.send("Create")
    assert answer["Status"] == "FAILED" and CODECOMMIT_CLOSED_HINT not in answer["Reason"]


def test_the_synthesized_github_switch_creates_projects_on_github(github_projects, aws, catcher, github, tracked_files):
    """Settings read from the function's synthesized environment create the repository on GitHub."""
    (function,) = github_projects.find_resources("AWS::Lambda::Function").values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["REPOSITORY_PROVIDER"] == "github"
    assert variables["GITHUB_TOKEN_SECRET"] == SECRET  # the default name, <prefix>/github-token
    environment = {name: value for name, value in variables.items() if isinstance(value, str)}
    # The template asset's location is an intrinsic, and the fake GitHub listens on localhost.
    environment.update(TEMPLATE_BUCKET=BUCKET, TEMPLATE_KEY=KEY, GITHUB_API_URL=github.api_url)
    harness = Harness(aws, catcher)
    harness.settings = Settings.from_environment(Environment(environment))
    assert harness.settings.github_organization == ORG

    answer = harness.send("Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["Data"]["RepositoryUrl"] == f"https://github.com/{ORG}/churn.git"
    assert set(github.repos["churn"]["branches"]) == {"prod", "dev"}
    assert github.files("churn", "prod") == tracked_files
