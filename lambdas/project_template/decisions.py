"""Pure decisions of the project-template function: what a request asks for and what it creates.

No AWS calls here: names, scenarios, the model package group policy and how a template's files are
cut into commits are decided from their inputs alone, so every rule is tested exhaustively.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import contract

#: SageMaker's own rule for project names (CreateProject API reference): 1-32 characters, letters,
#: digits and hyphens, starting with a letter or digit.
SAGEMAKER_PROJECT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
#: SageMaker project ids look like ``p-abcdef123456``.
SAGEMAKER_PROJECT_ID = re.compile(r"^p-[a-z0-9]{1,20}$")
#: What CloudFormation's custom-resource protocol sends.
REQUEST_TYPES = ("Create", "Update", "Delete")
#: The states SageMaker keeps a project in while Service Catalog runs each request's stack operation
#: (``ProjectStatus`` of DescribeProject). A request for a project in another state was not sent on
#: SageMaker's behalf. ``UpdateFailed`` admits the Update of an update's rollback.
PROJECT_STATES = {
    "Create": ("Pending", "CreateInProgress"),
    "Update": ("UpdateInProgress", "UpdateFailed"),
    "Delete": ("DeleteInProgress",),
}
#: GitHub's rule for an Actions variable name (letters, digits, underscores, not starting with a digit
#: or ``GITHUB_``); the platform's are upper case.
VARIABLE_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")
#: Physical id of a resource whose Create failed: its Delete (the rollback) must touch nothing,
#: least of all a repository of the same name that belongs to another project.
FAILED_CREATE_PREFIX = "failed-create-"


class InvalidRequest(ValueError):
    """The request cannot be served as asked; the message is the reason CloudFormation shows."""


@dataclass(frozen=True)
class Project:
    """A SageMaker project as the custom resource names it."""

    name: str
    id: str

    @property
    def tags(self) -> dict[str, str]:
        """The tags that attribute a resource to the project (as SageMaker's own templates do)."""
        return {contract.TAG_SAGEMAKER_PROJECT_NAME: self.name, contract.TAG_SAGEMAKER_PROJECT_ID: self.id}

    @property
    def description(self) -> str:
        """Repository description; it records the owning project id, the test of who may reuse it."""
        return f"SageMaker project {self.name} ({self.id}), created by the MLOps platform"

    def owns(self, description: str | None) -> bool:
        """Whether a repository with ``description`` was created for this very project."""
        return f"({self.id})" in (description or "")


@dataclass(frozen=True)
class Request:
    """A CloudFormation custom-resource request, validated."""

    type: str
    project: Project
    physical_id: str
    old_project: Project | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    """The repository's CI variables (GitHub Actions variables), from the product stack."""


def project_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a project of the platform, or None if it can."""
    if not SAGEMAKER_PROJECT_NAME.match(name):
        return (
            f"project name {name!r} breaks SageMaker's rule: 1-32 letters, digits and hyphens, "
            "starting with a letter or digit"
        )
    if not contract.PROJECT_NAME.match(name):
        return (
            f"project name {name!r} is not a platform project name: 2-24 lower-case letters, digits and "
            "single hyphens, starting with a letter and ending with a letter or digit (it prefixes model "
            "groups, endpoints and stacks, which must stay within 63 characters)"
        )
    return None


def _project(properties: Mapping[str, Any], what: str) -> Project:
    name = properties.get(contract.ProjectParameters.NAME_PROPERTY)
    project_id = properties.get(contract.ProjectParameters.ID_PROPERTY)
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{what}: {contract.ProjectParameters.NAME_PROPERTY} is missing")
    problem = project_name_problem(name)
    if problem:
        raise InvalidRequest(problem)
    if not isinstance(project_id, str) or not SAGEMAKER_PROJECT_ID.match(project_id):
        raise InvalidRequest(
            f"{what}: {contract.ProjectParameters.ID_PROPERTY}={project_id!r} is not a SageMaker project id (p-...)"
        )
    return Project(name, project_id)


def parse_request(event: Mapping[str, Any]) -> Request:
    """The request an event carries; :class:`InvalidRequest` names what is wrong with it."""
    request_type = event.get("RequestType")
    if request_type not in REQUEST_TYPES:
        raise InvalidRequest(f"RequestType={request_type!r}: must be one of {', '.join(REQUEST_TYPES)}")
    project = _project(event.get("ResourceProperties") or {}, "ResourceProperties")
    old = None
    if request_type == "Update":
        old = _project(event.get("OldResourceProperties") or {}, "OldResourceProperties")
        if old.name != project.name:
            raise InvalidRequest(
                f"a project cannot be renamed ({old.name!r} -> {project.name!r}); create a new project instead"
            )
    variables = repository_variables(event.get("ResourceProperties") or {})
    return Request(request_type, project, event.get("PhysicalResourceId") or project.name, old, variables)


def repository_variables(properties: Mapping[str, Any]) -> dict[str, str]:
    """The ``RepositoryVariables`` property (name -> value), validated; empty when absent."""
    variables = properties.get(contract.ProjectParameters.VARIABLES_PROPERTY) or {}
    if not isinstance(variables, Mapping):
        raise InvalidRequest(f"{contract.ProjectParameters.VARIABLES_PROPERTY} must be a map of names to values")
    for name, value in variables.items():
        if not isinstance(name, str) or not VARIABLE_NAME.match(name) or name.startswith("GITHUB_"):
            raise InvalidRequest(f"repository variable name {name!r}: upper-case letters, digits and _, not GITHUB_")
        if not isinstance(value, str) or not value:
            raise InvalidRequest(f"repository variable {name}: the value must be a non-empty string")
    return dict(variables)


def sagemaker_project_problem(request: Request, described: Mapping[str, Any] | None) -> str | None:
    """Why SageMaker's DescribeProject answer (None: no such project) does not back ``request``, or None.

    The custom resource's properties are whatever the launched stack says; SageMaker's own record of
    the project decides whether the request is the project's: same id, and the state the request's
    stack operation puts it in.
    """
    project = request.project
    if described is None:
        return f"SageMaker has no project named {project.name!r}; the request was not sent for a SageMaker project"
    if described.get("ProjectId") != project.id:
        return (
            f"SageMaker project {project.name!r} has id {described.get('ProjectId')!r}, not {project.id!r}: "
            "the request names another project"
        )
    status = described.get("ProjectStatus")
    expected = PROJECT_STATES[request.type]
    if status not in expected:
        return (
            f"SageMaker project {project.name!r} ({project.id}) is {status}, not {' or '.join(expected)}: "
            f"SageMaker has no {request.type} of it under way"
        )
    return None


def physical_id(request_type: str, project_name: str, succeeded: bool, request_id: str) -> str:
    """The PhysicalResourceId to answer with: the project name, stable across updates, except for a
    failed Create, whose rollback Delete must then leave everything alone."""
    if request_type == "Create" and not succeeded:
        return f"{FAILED_CREATE_PREFIX}{request_id}"
    return project_name


def owns_nothing(physical_resource_id: str) -> bool:
    """A Delete of a resource whose Create failed: nothing was made for it."""
    return physical_resource_id.startswith(FAILED_CREATE_PREFIX)


def group_names(project: str, stages: Iterable[str]) -> list[str]:
    """The model package groups of a project: ``<project>-<stage>`` for each stage of the scenario."""
    return [contract.Deployment(project, stage).group_name for stage in stages]


def group_policy(group_arn: str, reader_role_arns: Iterable[str]) -> dict[str, Any]:
    """Resource policy of a model package group: the named roles of the test and prod accounts may
    read the group and its versions (the lineage a deployment names), nothing else. They create no
    model from a version: a target serves the promoter's verified copy of the artifact."""
    readers = sorted(set(reader_role_arns))
    account_and_region, _, group = group_arn.partition(":model-package-group/")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DeploymentTargetsReadGroup",
                "Effect": "Allow",
                "Principal": {"AWS": readers},
                "Action": ["sagemaker:DescribeModelPackageGroup"],
                "Resource": group_arn,
            },
            {
                "Sid": "DeploymentTargetsReadVersions",
                "Effect": "Allow",
                "Principal": {"AWS": readers},
                "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
                "Resource": f"{account_and_region}:model-package/{group}/*",
            },
        ],
    }


def commit_batches(files: Mapping[str, bytes], *, max_files: int, max_bytes: int) -> Iterator[list[tuple[str, bytes]]]:
    """The files in path order, cut into batches of at most ``max_files`` files and ``max_bytes``
    bytes (a commit API's limits); a single file over ``max_bytes`` is an error, not a silent skip."""
    batch: list[tuple[str, bytes]] = []
    size = 0
    for path in sorted(files):
        content = files[path]
        if len(content) > max_bytes:
            raise InvalidRequest(f"template file {path} is {len(content)} bytes; a commit takes at most {max_bytes}")
        if batch and (len(batch) == max_files or size + len(content) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append((path, content))
        size += len(content)
    if batch:
        yield batch
