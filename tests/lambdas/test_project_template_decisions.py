"""Project-template decisions: names, requests, groups, policies and commit batches, without AWS."""

from __future__ import annotations

import botocore.session
import pytest

from project_template.decisions import (
    InvalidRequest,
    Project,
    commit_batches,
    group_names,
    group_policy,
    owns_nothing,
    parse_request,
    physical_id,
    project_name_problem,
    sagemaker_project_problem,
)
from project_template.repositories import GitHubResponse, RepositoryExists, github_error, same_origin
from tests.lambdas.project_fakes import custom_resource_event

URL = "https://cloudformation-custom-resource-response-euwest1.s3.amazonaws.com"


@pytest.mark.parametrize("name", ["churn", "ab", "churn-v2", "fraud-detection-eu-2026", "a" * 24])
def test_valid_project_names(name):
    assert project_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "SageMaker"),
        ("-churn", "SageMaker"),
        ("churn_model", "SageMaker"),
        ("churn.model", "SageMaker"),
        ("a" * 33, "SageMaker"),
        ("Churn", "platform"),  # SageMaker allows upper case; the platform's resource names do not
        ("c", "platform"),
        ("2churn", "platform"),
        ("churn--v2", "platform"),
        ("churn-", "SageMaker"),
        ("a" * 25, "platform"),
    ],
)
def test_invalid_project_names_name_the_broken_rule(name, rule):
    problem = project_name_problem(name)
    assert problem is not None and rule in problem and repr(name) in problem


def test_a_create_request():
    request = parse_request(custom_resource_event("Create", response_url=URL))
    assert request.type == "Create"
    assert request.project == Project("churn", "p-8xk2mzq0abcd")
    assert request.physical_id == "churn"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"RequestType": "Replace"}, "RequestType"),
        ({"ResourceProperties": {"ProjectId": "p-8xk2mzq0abcd"}}, "ProjectName is missing"),
        ({"ResourceProperties": {"ProjectName": "churn", "ProjectId": "8xk2"}}, "not a SageMaker project id"),
        ({"ResourceProperties": {"ProjectName": "Churn_1", "ProjectId": "p-8xk2"}}, "SageMaker's rule"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(change, reason):
    with pytest.raises(InvalidRequest, match=reason):
        parse_request({**custom_resource_event("Create", response_url=URL), **change})


def test_a_project_cannot_be_renamed():
    event = custom_resource_event("Update", response_url=URL, name="churn-v2")
    event["OldResourceProperties"]["ProjectName"] = "churn"
    with pytest.raises(InvalidRequest, match="cannot be renamed"):
        parse_request(event)


def _sagemaker_status_enum() -> list[str]:
    return botocore.session.get_session().get_service_model("sagemaker").shape_for("ProjectStatus").enum


@pytest.mark.parametrize("status", _sagemaker_status_enum())
@pytest.mark.parametrize(
    ("request_type", "accepted"),
    [
        ("Create", {"Pending", "CreateInProgress"}),
        ("Update", {"UpdateInProgress", "UpdateFailed"}),
        ("Delete", {"DeleteInProgress"}),
    ],
)
def test_a_request_is_the_projects_only_in_the_state_its_stack_operation_puts_it_in(request_type, accepted, status):
    request = parse_request(custom_resource_event(request_type, response_url=URL))
    problem = sagemaker_project_problem(request, {"ProjectId": "p-8xk2mzq0abcd", "ProjectStatus": status})
    assert (problem is None) == (status in accepted)
    if problem:
        assert f"is {status}, not" in problem


def test_a_request_naming_an_unknown_project_or_another_id_is_not_the_projects():
    request = parse_request(custom_resource_event("Delete", response_url=URL))
    assert "no project named 'churn'" in sagemaker_project_problem(request, None)
    other = {"ProjectId": "p-0ther", "ProjectStatus": "DeleteInProgress"}
    assert "has id 'p-0ther', not 'p-8xk2mzq0abcd'" in sagemaker_project_problem(request, other)


def test_physical_id_is_the_project_name_unless_a_create_failed():
    assert physical_id("Create", "churn", True, "r1") == "churn"
    assert physical_id("Update", "churn", False, "r1") == "churn"
    assert physical_id("Delete", "churn", False, "r1") == "churn"
    failed = physical_id("Create", "churn", False, "r1")
    assert failed != "churn" and owns_nothing(failed) and not owns_nothing("churn")


def test_ownership_is_the_project_id_in_the_description():
    project = Project("churn", "p-8xk2mzq0abcd")
    assert project.owns(project.description)
    assert not project.owns(Project("churn", "p-other").description)
    assert not project.owns("")
    assert project.tags == {"sagemaker:project-name": "churn", "sagemaker:project-id": "p-8xk2mzq0abcd"}


def test_groups_per_scenario():
    assert group_names("churn", ("feature", "dev", "prod")) == ["churn-feature", "churn-dev", "churn-prod"]
    assert group_names("churn", ("feature", "dev", "prod", "champion", "challenger"))[-2:] == [
        "churn-champion",
        "churn-challenger",
    ]


def test_group_policy_lets_the_named_roles_read_the_group_and_its_versions_only():
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/churn-dev"
    readers = ["arn:aws:iam::333333333333:role/r", "arn:aws:iam::222222222222:role/r"]
    policy = group_policy(arn, readers)
    group, versions = policy["Statement"]
    assert group["Resource"] == arn and group["Action"] == ["sagemaker:DescribeModelPackageGroup"]
    assert versions["Resource"] == "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn-dev/*"
    assert versions["Action"] == ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"]
    assert all(s["Principal"] == {"AWS": sorted(readers)} and s["Effect"] == "Allow" for s in policy["Statement"])


def test_commit_batches_respect_file_and_size_limits():
    files = {f"f{i:03}": b"x" * 10 for i in range(250)}
    batches = list(commit_batches(files, max_files=100, max_bytes=10_000))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [path for batch in batches for path, _ in batch] == sorted(files)
    by_size = list(commit_batches({"a": b"x" * 6, "b": b"x" * 6, "c": b"x"}, max_files=100, max_bytes=10))
    assert [[p for p, _ in b] for b in by_size] == [["a"], ["b", "c"]]
    with pytest.raises(InvalidRequest, match="big"):
        list(commit_batches({"big": b"x" * 11}, max_files=100, max_bytes=10))


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        (401, {}, {"message": "Bad credentials"}, "token in the platform's GitHub secret is invalid"),
        (
            403,
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1767225600"},
            {"message": "API rate limit"},
            "1767225600",
        ),
        (429, {"Retry-After": "60"}, {"message": "secondary rate limit"}, "retry in 60 s"),
        (403, {"X-RateLimit-Remaining": "4000"}, {"message": "Resource not accessible"}, "lacks a permission"),
        (404, {}, {"message": "Not Found"}, "does not exist or the token cannot see it"),
        (500, {}, {"message": "Server Error"}, "500 Server Error"),
    ],
)
def test_github_errors_say_what_to_do(status, headers, body, expected):
    error = github_error("POST", "/orgs/acme/repos", GitHubResponse(status, headers, body))
    assert expected in str(error) and "POST /orgs/acme/repos" in str(error)


def test_github_name_clash_is_an_existing_repository():
    body = {"message": "Repository creation failed.", "errors": [{"message": "name already exists on this account"}]}
    assert isinstance(github_error("POST", "/orgs/acme/repos", GitHubResponse(422, {}, body)), RepositoryExists)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.github.com/repositories/1/branches?page=2", True),
        ("https://API.github.com:443/repositories/1/branches?page=2", True),
        ("http://api.github.com/repositories/1/branches?page=2", False),  # the token would travel in clear
        ("https://api.github.com:8443/repositories/1/branches", False),
        ("https://api.github.com.evil.example/repositories/1/branches", False),
        ("https://evil.example/?https://api.github.com", False),
        ("https://user@api.github.com/x", False),
        ("/repositories/1/branches?page=2", False),
    ],
)
def test_only_links_on_the_github_api_origin_are_followed(url, expected):
    assert same_origin(url, "https://api.github.com") is expected


def test_github_enterprise_links_are_followed_on_its_own_host_only():
    api = "https://ghe.example.com/api/v3"
    assert same_origin("https://ghe.example.com/api/v3/repositories/1/branches?page=2", api) is True
    assert same_origin("https://api.github.com/repositories/1/branches?page=2", api) is False
