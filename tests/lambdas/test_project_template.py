"""The project-template function end to end: moto (CodeCommit, SageMaker, S3, Secrets Manager), a fake
GitHub REST API, and CloudFormation's answer URL on localhost.

The template's files come from the asset the app synthesizes, so these tests also prove that a new
project's repository holds exactly what git tracks under ``project_templates/<template>``.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.codecommit.models import codecommit_backends

import project_template.handler as handler_module
from clients import Clients
from project_template.handler import ProjectTemplate, Settings, serve
from project_template.repositories import CodeCommit, GitHub
from tests.conftest import ROOT
from tests.lambdas.conftest import MOTO_ENVIRONMENT, Platform
from tests.lambdas.events import DEV, PROD, REGION, TEST
from tests.lambdas.project_fakes import (
    FakeGitHub,
    LambdaContext,
    ResponseCatcher,
    custom_resource_event,
    git_state,
    install_moto_stand_ins,
    put_sagemaker_project,
    sagemaker_projects,
)

BASELINE = ("feature", "dev", "prod")
ADVANCED = (*BASELINE, "champion", "challenger")
BUCKET = f"cdk-hnb659fds-assets-{DEV}-{REGION}"
KEY = "2abac16bdc24be09bdf2c7ab2214c93bb67e398e24aaf8789fd2e9f580bef43d.zip"
READERS = (
    f"arn:aws:iam::{TEST}:role/mlops-test-sagemaker-execution",
    f"arn:aws:iam::{TEST}:role/mlops-test-cfn-execution",
    f"arn:aws:iam::{PROD}:role/mlops-prod-sagemaker-execution",
    f"arn:aws:iam::{PROD}:role/mlops-prod-cfn-execution",
)
ORG, TOKEN, SECRET = "acme-ml", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "mlops/github-token"
PROJECT_ID = "p-8xk2mzq0abcd"
#: The state SageMaker keeps a project in while Service Catalog runs each request's stack operation.
SAGEMAKER_STATE = {"Create": "CreateInProgress", "Update": "UpdateInProgress", "Delete": "DeleteInProgress"}


@pytest.fixture(scope="module")
def template_archive(synthesized) -> bytes:
    """The template's files zipped as the CDK ships the synthesized asset to S3."""
    cdk_platform, assembly = synthesized
    staged = Path(assembly.directory, cdk_platform.projects.template_files.asset_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(p for p in staged.rglob("*") if p.is_file()):
            archive.write(path, str(path.relative_to(staged)))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tracked_files(synthesized) -> dict[str, bytes]:
    """What git tracks under the configured template: the files every new project must get."""
    template = f"project_templates/{synthesized[0].config.projects.template}"
    listed = subprocess.run(["git", "ls-files", template], cwd=ROOT, capture_output=True, text=True, check=True)
    return {path.removeprefix(f"{template}/"): (ROOT / path).read_bytes() for path in listed.stdout.split()}


@pytest.fixture(scope="module")
def catcher():
    server = ResponseCatcher()
    yield server
    server.close()


@pytest.fixture
def github(request):
    request.node.add_marker(pytest.mark.other_configuration("GitHub repositories; the synthesized app uses CodeCommit"))
    server = FakeGitHub(ORG, TOKEN, page_size=1)
    yield server
    server.close()


class Harness:
    """The function as deployed: its settings, AWS in moto, and the answers CloudFormation receives."""

    def __init__(self, session: boto3.Session, catcher: ResponseCatcher, **overrides) -> None:
        self.session, self.catcher = session, catcher
        self.settings = Settings(
            **{
                "template_name": "tabular-xgboost",
                "template_bucket": BUCKET,
                "template_key": KEY,
                "stages": BASELINE,
                "reader_role_arns": READERS,
                "repository_provider": "codecommit",
                "on_delete": "retain",
                **overrides,
            }
        )
        self.clients = Clients(session)
        self.sagemaker = self.clients.sagemaker
        self.codecommit = self.clients.codecommit

    def function(self, provider=None) -> ProjectTemplate:
        return ProjectTemplate(self.settings, self.clients, provider)

    def send(self, request_type: str, *, provider=None, context=None, sagemaker_sent_it=True, **fields) -> dict:
        """One request; returns CloudFormation's one answer to it. SageMaker's project ``churn`` is in the
        state the request puts it in, unless ``sagemaker_sent_it`` is False (the test arranges SageMaker)."""
        if sagemaker_sent_it:
            put_sagemaker_project("churn", PROJECT_ID, SAGEMAKER_STATE[request_type])
        before = len(self.catcher.responses)
        event = custom_resource_event(request_type, response_url=self.catcher.url, project_id=PROJECT_ID, **fields)
        serve(event, context or LambdaContext(), lambda: self.function(provider))
        answers = self.catcher.responses[before:]
        assert len(answers) == 1, answers
        answer = answers[0]
        assert (answer["RequestId"], answer["StackId"]) == (event["RequestId"], event["StackId"])
        assert answer["LogicalResourceId"] == "ProjectTemplate"
        return answer

    def groups(self) -> dict[str, dict]:
        found = {}
        for summary in self.sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]:
            name = summary["ModelPackageGroupName"]
            arn = summary["ModelPackageGroupArn"]
            found[name] = {
                "tags": {t["Key"]: t["Value"] for t in self.sagemaker.list_tags(ResourceArn=arn)["Tags"]},
                "policy": json.loads(
                    self.sagemaker.get_model_package_group_policy(ModelPackageGroupName=name)["ResourcePolicy"]
                ),
            }
        return found


@pytest.fixture
def aws(monkeypatch, template_archive):
    for name, value in {**MOTO_ENVIRONMENT, "MOTO_ACCOUNT_ID": DEV}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        install_moto_stand_ins(monkeypatch)
        session = Platform._new_session()  # shares the parsed service models across tests
        s3 = session.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=template_archive)
        session.client("secretsmanager").create_secret(Name=SECRET, SecretString=json.dumps({"token": TOKEN}))
        yield session


@pytest.fixture
def codecommit(aws, catcher) -> Harness:
    return Harness(aws, catcher)


def github_harness(aws, catcher, github, **overrides) -> Harness:
    settings = dict(
        repository_provider="github",
        github_organization=ORG,
        github_token_secret=SECRET,
        github_api_url=github.api_url,
    )
    return Harness(aws, catcher, **{**settings, **overrides})


# --- CodeCommit -------------------------------------------------------------------------------------


def test_create_seeds_prod_and_dev_with_exactly_the_tracked_template_files(codecommit, tracked_files):
    answer = codecommit.send("Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == "churn"
    assert answer["Data"]["RepositoryUrl"] == f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/churn"
    git = git_state()["churn"]
    assert git.branches["dev"] == git.branches["prod"]
    assert git.files("prod") == tracked_files  # same paths, same bytes: no drift, no .venv or caches
    assert len(git.commits) == 1  # the whole template fits one commit (limits: 100 files, 6 MB)
    metadata = codecommit.codecommit.get_repository(repositoryName="churn")["repositoryMetadata"]
    assert PROJECT_ID in metadata["repositoryDescription"]


def test_create_makes_the_baseline_groups_tagged_and_readable_by_the_target_roles(codecommit):
    assert codecommit.send("Create")["Data"]["ModelPackageGroups"] == "churn-feature,churn-dev,churn-prod"
    groups = codecommit.groups()
    assert set(groups) == {"churn-feature", "churn-dev", "churn-prod"}
    for name, group in groups.items():
        assert group["tags"] == {"sagemaker:project-name": "churn", "sagemaker:project-id": PROJECT_ID}
        statements = group["policy"]["Statement"]
        assert {p for s in statements for p in s["Principal"]["AWS"]} == set(READERS)
        assert statements[1]["Resource"].endswith(f":model-package/{name}/*")


@pytest.mark.other_configuration("the advanced scenario; the synthesized app is the baseline one")
def test_advanced_scenario_adds_champion_and_challenger(aws, catcher):
    harness = Harness(aws, catcher, stages=ADVANCED)
    assert harness.send("Create")["Status"] == "SUCCESS"
    assert set(harness.groups()) == {f"churn-{stage}" for stage in ADVANCED}


def test_update_and_a_repeated_create_of_the_same_project_change_nothing(codecommit):
    codecommit.send("Create")
    git = git_state()["churn"]
    head, groups = git.branches["prod"], codecommit.groups()
    for request in ("Update", "Create"):  # a redelivered Create of the same project id is a retry
        answer = codecommit.send(request)
        assert answer["Status"] == "SUCCESS", answer["Reason"]
        assert answer["PhysicalResourceId"] == "churn"
    assert git.branches == {"prod": head, "dev": head} and len(git.commits) == 1
    assert codecommit.groups() == groups


def test_a_template_larger_than_one_commit_is_committed_in_a_chain(codecommit):
    files = {f"data/part-{index:03}.csv": f"id,value\n{index},1\n".encode() for index in range(150)}
    CodeCommit(codecommit.codecommit).create("big", files, description="x", template="big")
    git = git_state()["big"]
    assert git.files("prod") == files and git.branches["dev"] == git.branches["prod"]
    tip = git.commits[git.branches["prod"]]
    assert len(git.commits) == 2 and tip["parent"] in git.commits  # 100 files, then 50 on top


def test_an_interrupted_create_is_completed(codecommit):
    codecommit.codecommit.create_repository(repositoryName="churn", repositoryDescription=f"x ({PROJECT_ID})")
    answer = codecommit.send("Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert set(git_state()["churn"].branches) == {"prod", "dev"}


def test_an_existing_repository_of_another_project_fails_the_create_and_its_rollback_touches_nothing(aws, catcher):
    harness = Harness(aws, catcher, on_delete="archive")
    harness.codecommit.create_repository(repositoryName="churn", repositoryDescription="the churn team's own repo")
    answer = harness.send("Create")
    assert answer["Status"] == "FAILED"
    assert "already exists" in answer["Reason"] and "choose another project name" in answer["Reason"]
    assert answer["PhysicalResourceId"] != "churn"
    assert harness.groups() == {}
    rollback = harness.send("Delete", PhysicalResourceId=answer["PhysicalResourceId"])
    assert rollback["Status"] == "SUCCESS"
    metadata = harness.codecommit.get_repository(repositoryName="churn")["repositoryMetadata"]
    assert metadata["repositoryDescription"] == "the churn team's own repo"  # not archived


@pytest.mark.parametrize("name", ["Churn_Model", "c", "churn--v2", "a-very-long-project-name-x"])
def test_an_invalid_name_fails_with_the_rule_and_creates_nothing(codecommit, name):
    answer = codecommit.send("Create", ResourceProperties={"ProjectName": name, "ProjectId": PROJECT_ID})
    assert answer["Status"] == "FAILED" and repr(name) in answer["Reason"]
    assert codecommit_backends[DEV][REGION].repositories == {}
    assert codecommit.groups() == {}


def test_the_rollback_of_a_create_with_an_invalid_name_succeeds(codecommit):
    properties = {"ProjectName": "Churn_Model", "ProjectId": PROJECT_ID}
    failed = codecommit.send("Create", ResourceProperties=properties)
    answer = codecommit.send("Delete", ResourceProperties=properties, PhysicalResourceId=failed["PhysicalResourceId"])
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == failed["PhysicalResourceId"]


def test_delete_keeps_repository_and_groups_by_default(codecommit):
    codecommit.send("Create")
    answer = codecommit.send("Delete")
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "churn"
    assert "kept" in answer["Data"]["Result"]
    assert codecommit.codecommit.get_repository(repositoryName="churn")
    assert set(codecommit.groups()) == {"churn-feature", "churn-dev", "churn-prod"}


def test_delete_archives_the_repository_when_configured(aws, catcher):
    harness = Harness(aws, catcher, on_delete="archive")
    harness.send("Create")
    assert harness.send("Delete")["Status"] == "SUCCESS"
    metadata = harness.codecommit.get_repository(repositoryName="churn")["repositoryMetadata"]
    assert metadata["repositoryDescription"].startswith("[archived]")
    assert git_state()["churn"].tags == {"mlops:archived": "true"}
    assert len(harness.groups()) == 3  # model groups are never deleted or archived
    assert harness.send("Delete")["Status"] == "SUCCESS"  # a second Delete is harmless


# --- Only requests SageMaker sent for the project it names ----------------------------------------


def test_a_create_for_a_project_sagemaker_does_not_know_is_refused_and_creates_nothing(codecommit):
    answer = codecommit.send("Create", sagemaker_sent_it=False)
    assert answer["Status"] == "FAILED"
    assert "SageMaker has no project named 'churn'" in answer["Reason"]
    assert codecommit_backends[DEV][REGION].repositories == {} and codecommit.groups() == {}


def test_a_create_naming_another_projects_id_is_refused(codecommit):
    put_sagemaker_project("churn", "p-0therpr0ject", "CreateInProgress")
    answer = codecommit.send("Create", sagemaker_sent_it=False)
    assert answer["Status"] == "FAILED"
    assert "has id 'p-0therpr0ject', not 'p-8xk2mzq0abcd'" in answer["Reason"]
    assert codecommit_backends[DEV][REGION].repositories == {} and codecommit.groups() == {}


def test_an_update_of_a_project_sagemaker_is_not_updating_is_refused(codecommit):
    codecommit.send("Create")
    put_sagemaker_project("churn", PROJECT_ID, "CreateCompleted")
    answer = codecommit.send("Update", sagemaker_sent_it=False)
    assert answer["Status"] == "FAILED" and answer["PhysicalResourceId"] == "churn"  # no replacement
    assert "is CreateCompleted, not UpdateInProgress or UpdateFailed" in answer["Reason"]


@pytest.mark.parametrize(
    ("sagemaker_project", "reason"),
    [
        ((PROJECT_ID, "CreateCompleted"), "is CreateCompleted, not DeleteInProgress"),
        (("p-0therpr0ject", "DeleteInProgress"), "has id 'p-0therpr0ject'"),
        (None, "SageMaker has no project named 'churn'"),
    ],
)
def test_a_made_up_delete_keeps_the_projects_repository_and_says_why(aws, catcher, sagemaker_project, reason):
    harness = Harness(aws, catcher, on_delete="archive")
    harness.send("Create")
    sagemaker_projects().clear()
    if sagemaker_project:
        put_sagemaker_project("churn", *sagemaker_project)
    answer = harness.send("Delete", sagemaker_sent_it=False)
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "churn"
    assert "kept, not archived" in answer["Data"]["Result"] and reason in answer["Data"]["Result"]
    metadata = harness.codecommit.get_repository(repositoryName="churn")["repositoryMetadata"]
    assert not metadata["repositoryDescription"].startswith("[archived]")
    assert git_state()["churn"].tags == {}


# --- GitHub -----------------------------------------------------------------------------------------


def test_github_create_seeds_prod_protects_it_and_branches_dev(aws, catcher, github, tracked_files):
    harness = github_harness(aws, catcher, github)
    answer = harness.send("Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["Data"]["RepositoryUrl"] == f"https://github.com/{ORG}/churn.git"
    repo = github.repos["churn"]
    assert set(repo["branches"]) == {"prod", "dev"}  # the auto_init branch is gone
    assert repo["default_branch"] == "prod" and PROJECT_ID in repo["description"]
    assert repo["branches"]["dev"] == repo["branches"]["prod"]
    assert github.files("churn", "prod") == tracked_files
    assert repo["protection"]["prod"]["required_pull_request_reviews"] == {"required_approving_review_count": 1}
    assert set(harness.groups()) == {"churn-feature", "churn-dev", "churn-prod"}


CI_VARIABLES = {
    "PROJECT_NAME": "churn",
    "AWS_REGION": REGION,
    "ARTIFACT_BUCKET": f"mlops-artifacts-{DEV}-{REGION}",
    "CI_ROLE_ARN": f"arn:aws:iam::{DEV}:role/mlops-projects/churn-ci",
    "SAGEMAKER_PIPELINE_ROLE_ARN": f"arn:aws:iam::{DEV}:role/mlops-projects/churn-pipeline",
}


def test_github_create_sets_the_actions_variables_the_workflow_reads(aws, catcher, github):
    answer = github_harness(aws, catcher, github).send("Create", variables=CI_VARIABLES)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert github.repos["churn"]["variables"] == CI_VARIABLES
    posted = [path for method, path in github.calls if method == "POST" and path.endswith("/actions/variables")]
    assert posted == [f"/repos/{ORG}/churn/actions/variables"] * len(CI_VARIABLES)


def test_github_update_changes_existing_variables_in_place_without_waiting(aws, catcher, github, monkeypatch):
    harness = github_harness(aws, catcher, github)
    harness.send("Create", variables=CI_VARIABLES)
    moved = {**CI_VARIABLES, "CI_ROLE_ARN": f"arn:aws:iam::{DEV}:role/mlops-projects/churn-ci-2"}
    waits = []
    monkeypatch.setattr(time, "sleep", waits.append)
    answer = harness.send("Update", variables=moved)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert github.repos["churn"]["variables"] == moved
    assert ("PATCH", f"/repos/{ORG}/churn/actions/variables/CI_ROLE_ARN") in github.calls
    assert waits == []  # a 409 "Already exists" is an answer, not a repository settling: no back-off


@pytest.mark.parametrize(
    "variables, problem",
    [({"github_token": "x"}, "upper-case"), ({"GITHUB_TOKEN": "x"}, "not GITHUB_"), ({"CI_ROLE_ARN": ""}, "non-empty")],
)
def test_bad_repository_variables_fail_the_request_and_set_nothing(aws, catcher, github, variables, problem):
    answer = github_harness(aws, catcher, github).send("Create", variables=variables)
    assert answer["Status"] == "FAILED" and problem in answer["Reason"]
    assert "churn" not in github.repos


def test_github_waits_for_a_new_repository_to_settle(aws, catcher, github, monkeypatch):
    monkeypatch.setattr(GitHub, "settle_seconds", 0.01)
    github.settling = 2  # GitHub answers 409 "Git Repository is empty" right after creating it
    answer = github_harness(aws, catcher, github).send("Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert set(github.repos["churn"]["branches"]) == {"prod", "dev"}


def test_github_update_follows_pagination_and_changes_nothing(aws, catcher, github):
    harness = github_harness(aws, catcher, github)
    harness.send("Create")
    heads = dict(github.repos["churn"]["branches"])
    blobs_before = sum(1 for call in github.calls if call == ("POST", f"/repos/{ORG}/churn/git/blobs"))
    answer = harness.send("Update")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert github.repos["churn"]["branches"] == heads
    assert sum(1 for call in github.calls if call == ("POST", f"/repos/{ORG}/churn/git/blobs")) == blobs_before
    # one branch per page: prod is only found on the page the Link header points to
    assert github.calls.count(("GET", f"/repos/{ORG}/churn/branches")) >= 2


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_github_pagination_never_takes_the_token_to_another_origin(aws, catcher, github, caplog, host):
    elsewhere = FakeGitHub(ORG, TOKEN, page_size=1)  # would accept the token: a leak would show as a call
    try:
        harness = github_harness(aws, catcher, github)
        harness.send("Create")
        github.link_origin = elsewhere.url.replace("127.0.0.1", host)  # another port, or host and port
        harness.send("Update")
        assert elsewhere.calls == []
        assert any("not on the GitHub API's origin" in record.getMessage() for record in caplog.records)
    finally:
        elsewhere.close()


def test_github_existing_repository_fails_the_create(aws, catcher, github):
    github.add_repository("churn", "someone else's", {"main": "0" * 40})
    answer = github_harness(aws, catcher, github).send("Create")
    assert answer["Status"] == "FAILED" and "already exists" in answer["Reason"]
    assert github.repos["churn"]["description"] == "someone else's"


def test_github_name_taken_between_check_and_create_is_reported(aws, catcher, github):
    answer_normally = github.answer

    def someone_creates_it_first(method, path, headers, body):
        if (method, path) == ("POST", f"/orgs/{ORG}/repos") and "churn" not in github.repos:
            github.add_repository("churn", "created a moment ago", {"main": "0" * 40})
        return answer_normally(method, path, headers, body)

    github.answer = someone_creates_it_first
    answer = github_harness(aws, catcher, github).send("Create")
    assert answer["Status"] == "FAILED" and "name already exists on this account" in answer["Reason"]


def test_github_bad_token_fails_with_401(aws, catcher, github):
    aws.client("secretsmanager").put_secret_value(SecretId=SECRET, SecretString="ghp_revoked")
    answer = github_harness(aws, catcher, github).send("Create")
    assert answer["Status"] == "FAILED" and "401" in answer["Reason"] and "token" in answer["Reason"]


def test_github_missing_secret_fails_clearly(aws, catcher, github):
    answer = github_harness(aws, catcher, github, github_token_secret="mlops/nope").send("Create")
    assert answer["Status"] == "FAILED" and "mlops/nope" in answer["Reason"]


@pytest.mark.parametrize(("mode", "expected"), [("primary", "resets at epoch second"), ("secondary", "retry in 60 s")])
def test_github_rate_limit_fails_with_when_to_retry(aws, catcher, github, mode, expected):
    github.rate_limit = mode
    answer = github_harness(aws, catcher, github).send("Create")
    assert answer["Status"] == "FAILED" and "rate limit" in answer["Reason"] and expected in answer["Reason"]
    assert "churn" not in github.repos


def test_github_delete_that_cannot_archive_still_succeeds_and_keeps_the_repository(aws, catcher, github):
    harness = github_harness(aws, catcher, github, on_delete="archive")
    harness.send("Create")
    github.rate_limit = "secondary"
    answer = harness.send("Delete")
    assert answer["Status"] == "SUCCESS" and "not archived" in answer["Data"]["Result"]
    assert github.repos["churn"]["archived"] is False


def test_github_delete_archives_when_configured(aws, catcher, github):
    harness = github_harness(aws, catcher, github, on_delete="archive")
    harness.send("Create")
    assert harness.send("Delete")["Status"] == "SUCCESS"
    assert github.repos["churn"]["archived"] is True
    assert harness.send("Delete")["Status"] == "SUCCESS"  # already archived: nothing to do


# --- CloudFormation always gets an answer -----------------------------------------------------------


class _Exploding:
    def exists(self, name):
        raise KeyError("boom")


class _Slow:
    def __init__(self) -> None:
        self.release = threading.Event()

    def exists(self, name):
        self.release.wait(5)
        return None


def test_an_unexpected_error_is_answered_as_failed(codecommit):
    answer = codecommit.send("Create", provider=_Exploding())
    assert answer["Status"] == "FAILED" and "unexpected error (KeyError" in answer["Reason"]


@pytest.mark.other_configuration("a template key the synthesized function's role may not read")
def test_an_aws_error_is_answered_with_its_code(aws, catcher):
    harness = Harness(aws, catcher, template_key="missing.zip")
    answer = harness.send("Create")
    assert answer["Status"] == "FAILED" and "AWS GetObject failed: NoSuchKey" in answer["Reason"]


def test_the_answer_goes_out_before_the_function_would_time_out(codecommit):
    slow = _Slow()
    put_sagemaker_project("churn", PROJECT_ID, SAGEMAKER_STATE["Create"])
    event = custom_resource_event("Create", response_url=codecommit.catcher.url, project_id=PROJECT_ID)
    before = len(codecommit.catcher.responses)
    worker = threading.Thread(
        target=serve, args=(event, LambdaContext(remaining_ms=10_600), lambda: codecommit.function(slow))
    )
    worker.start()
    for _ in range(60):  # the watchdog answers after 0.6 s: 10.6 s left minus the 10 s margin
        if len(codecommit.catcher.responses) > before:
            break
        time.sleep(0.05)
    answers = codecommit.catcher.responses[before:]
    assert [a["Status"] for a in answers] == ["FAILED"] and "timed out" in answers[0]["Reason"]
    slow.release.set()
    worker.join(5)
    assert len(codecommit.catcher.responses) == before + 1  # the late result is not sent twice


def test_a_misconfigured_function_still_answers(aws, catcher, monkeypatch):
    monkeypatch.setattr(handler_module, "_function", None)
    event = custom_resource_event("Create", response_url=catcher.url, project_id=PROJECT_ID)
    before = len(catcher.responses)
    handler_module.handler(event, LambdaContext())
    (answer,) = catcher.responses[before:]
    assert answer["Status"] == "FAILED" and "REPOSITORY_PROVIDER: missing" in answer["Reason"]


@pytest.mark.other_configuration("GitHub repositories; the synthesized app uses CodeCommit")
def test_a_rotated_github_token_is_read_again_within_minutes(aws):
    """A warm Lambda environment must not keep using a token the organisation has revoked."""
    from project_template.repositories import TOKEN_REUSE_SECONDS, github_token

    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name="mlops/rotated", SecretString="old-token")
    now = [1000.0]
    token = github_token(secrets, "mlops/rotated", clock=lambda: now[0])
    assert token() == "old-token"
    secrets.put_secret_value(SecretId="mlops/rotated", SecretString='{"token": "new-token"}')
    now[0] += TOKEN_REUSE_SECONDS - 1
    assert token() == "old-token"  # one project's requests share one read
    now[0] += 2
    assert token() == "new-token"
