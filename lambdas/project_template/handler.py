"""The project-template function: sets up a SageMaker project created from Studio.

Trigger: CloudFormation, through the ``Custom::ProjectTemplate`` resource of the project product's
stack (Service Catalog launches it when someone creates a project in Studio). Effect on Create and
Update (idempotent): the project's git repository, seeded from ``project_templates/<template>`` on
``prod`` with ``dev`` branched from it (``prod`` protected where the provider can; on GitHub the
Actions variables the workflow reads, given by the project's stack), and the model
package groups of the scenario, tagged with the project and readable by the test and prod accounts.
On Delete the groups and the repository are kept, or the repository is archived (``ON_DELETE``).
The request's project name and id come from the launched stack, which anyone who may launch the
product can fill in: nothing is created, updated or archived unless SageMaker's own record of the
project (DescribeProject) has that id and is in the state the request's stack operation puts it in.

It always answers CloudFormation, also on bad input, provider failures, unexpected errors and
shortly before the function would time out, so a project stack never waits an hour for an answer.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from clients import Clients
from custom_resource import Responder
from project_template.decisions import (
    InvalidRequest,
    Project,
    Request,
    group_names,
    group_policy,
    owns_nothing,
    parse_request,
    physical_id,
    sagemaker_project_problem,
)
from project_template.repositories import CodeCommit, GitHub, Provider, RepositoryError, RepositoryExists, github_token
from settings import ConfigurationError, Environment

logger = Logger()

#: The answer goes out this long before the function would time out, whatever is still running.
TIMEOUT_MARGIN_SECONDS = 10
PROVIDERS = ("codecommit", "github")
ON_DELETE = ("retain", "archive")


@dataclass(frozen=True)
class Settings:
    """What the infrastructure tells the function (``stacks/projects.py``)."""

    template_name: str
    template_bucket: str
    template_key: str
    stages: tuple[str, ...]
    reader_role_arns: tuple[str, ...]
    repository_provider: str
    on_delete: str
    github_organization: str = ""
    github_token_secret: str = ""
    github_api_url: str = ""

    @classmethod
    def from_environment(cls, env: Environment) -> Settings:
        provider = env.text("REPOSITORY_PROVIDER")
        if provider not in PROVIDERS:
            raise ConfigurationError(f"REPOSITORY_PROVIDER={provider!r}: must be one of {', '.join(PROVIDERS)}")
        on_delete = env.text("ON_DELETE")
        if on_delete not in ON_DELETE:
            raise ConfigurationError(f"ON_DELETE={on_delete!r}: must be one of {', '.join(ON_DELETE)}")
        readers = env.json("MODEL_READER_ROLE_ARNS")
        if not isinstance(readers, list) or not readers or not all(str(r).startswith("arn:") for r in readers):
            raise ConfigurationError(f"MODEL_READER_ROLE_ARNS={readers!r}: must be a JSON list of role ARNs")
        github = provider == "github"
        return cls(
            template_name=env.text("TEMPLATE_NAME"),
            template_bucket=env.text("TEMPLATE_BUCKET"),
            template_key=env.text("TEMPLATE_KEY"),
            stages=env.stages("STAGES"),
            reader_role_arns=tuple(readers),
            repository_provider=provider,
            on_delete=on_delete,
            github_organization=env.text("GITHUB_ORGANIZATION") if github else "",
            github_token_secret=env.text("GITHUB_TOKEN_SECRET") if github else "",
            github_api_url=env.text("GITHUB_API_URL") if github else "",
        )


class ProjectTemplate:
    """Serves the custom-resource requests of project stacks."""

    def __init__(self, settings: Settings, clients: Clients, provider: Provider | None = None) -> None:
        self.settings = settings
        self.clients = clients
        self.provider = provider or self._provider()

    def _provider(self) -> Provider:
        if self.settings.repository_provider == "github":
            return GitHub(
                api_url=self.settings.github_api_url,
                organization=self.settings.github_organization,
                token=github_token(self.clients.secretsmanager, self.settings.github_token_secret),
            )
        return CodeCommit(self.clients.codecommit)

    def apply(self, request: Request) -> dict[str, str]:
        """Bring the project's resources to what ``request`` asks; returns the custom resource's attributes."""
        if request.type == "Delete":
            return self._delete(request)
        problem = sagemaker_project_problem(request, self._sagemaker_project(request.project))
        if problem:
            raise InvalidRequest(problem)
        project = request.project
        existing = self.provider.exists(project.name)
        if existing and not project.owns(existing.description):
            raise RepositoryExists(
                f"a repository named {project.name!r} already exists ({existing.url}) and was not created for "
                f"project {project.id}; choose another project name, or rename or delete that repository"
            )
        repository = self.provider.create(
            project.name, self.template_files(), description=project.description, template=self.settings.template_name
        )
        self.provider.protect(project.name)
        if request.variables:
            self.provider.set_variables(project.name, request.variables)
        groups = self._ensure_groups(project)
        return {"RepositoryUrl": repository.url, "ModelPackageGroups": ",".join(groups)}

    def _delete(self, request: Request) -> dict[str, str]:
        """Keep everything, or archive the repository. Never fails: a project stack stuck in
        DELETE_FAILED helps nobody, and a repository that could not be archived is simply kept."""
        if owns_nothing(request.physical_id):
            return {"Result": "the project was never created; nothing to delete"}
        project = request.project
        if self.settings.on_delete == "archive":
            try:
                problem = sagemaker_project_problem(request, self._sagemaker_project(project))
                if problem:
                    logger.warning("Delete not sent for the project; its repository is kept", extra={"reason": problem})
                    return {"Result": f"repository {project.name} kept, not archived: {problem}"[:500]}
                existing = self.provider.exists(project.name)
                if existing and project.owns(existing.description) and not existing.archived:
                    self.provider.archive(project.name)
                    return {"Result": f"repository {project.name} archived; model package groups kept"}
            except (RepositoryError, ClientError) as error:
                logger.error("Repository not archived; it is kept", extra={"reason": failure_reason(error)})
                return {"Result": f"repository {project.name} kept, not archived: {failure_reason(error)}"[:500]}
        return {"Result": f"repository {project.name} and model package groups kept"}

    def _sagemaker_project(self, project: Project) -> dict[str, Any] | None:
        """SageMaker's description of the project named like ``project``, or None if there is none."""
        try:
            return self.clients.sagemaker.describe_project(ProjectName=project.name)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
                raise
            return None

    def template_files(self) -> dict[str, bytes]:
        """The template's files (path -> content) from the zipped asset the platform uploads."""
        body = self.clients.s3.get_object(Bucket=self.settings.template_bucket, Key=self.settings.template_key)["Body"]
        with zipfile.ZipFile(io.BytesIO(body.read())) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}

    def _ensure_groups(self, project: Project) -> list[str]:
        sagemaker = self.clients.sagemaker
        names = group_names(project.name, self.settings.stages)
        for name in names:
            try:
                arn = sagemaker.describe_model_package_group(ModelPackageGroupName=name)["ModelPackageGroupArn"]
            except ClientError as error:
                if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
                    raise
                arn = sagemaker.create_model_package_group(
                    ModelPackageGroupName=name,
                    ModelPackageGroupDescription=f"Model versions of project {project.name} ({name})",
                    Tags=[{"Key": key, "Value": value} for key, value in project.tags.items()],
                )["ModelPackageGroupArn"]
            sagemaker.put_model_package_group_policy(
                ModelPackageGroupName=name,
                ResourcePolicy=json.dumps(group_policy(arn, self.settings.reader_role_arns)),
            )
        return names


#: What to do when CodeCommit refuses new repositories (it has been closed to accounts without one).
CODECOMMIT_CLOSED_HINT = (
    "CodeCommit creates no repositories in this account; switch the platform to GitHub "
    "(projects.repository_provider=github, projects.github_organization) and redeploy the projects stack."
)


def failure_reason(error: Exception) -> str:
    """The reason CloudFormation shows for ``error``."""
    if isinstance(error, (InvalidRequest, RepositoryError, ConfigurationError)):
        return str(error)
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        reason = f"AWS {error.operation_name} failed: {details.get('Code')}: {details.get('Message')}"
        if (error.operation_name, details.get("Code")) == ("CreateRepository", "OperationNotAllowedException"):
            reason += f" {CODECOMMIT_CLOSED_HINT}"
        return reason
    return f"unexpected error ({type(error).__name__}: {error}); see the function's logs"


_function: ProjectTemplate | None = None


def serve(event: dict[str, Any], context, build) -> dict[str, Any]:
    """Answer one request with ``build()``'s :class:`ProjectTemplate`; always answers, never raises."""
    responder = Responder(event)
    request_type = event.get("RequestType", "")
    properties = event.get("ResourceProperties") or {}
    project_name = str(properties.get("ProjectName") or event.get("PhysicalResourceId") or "unknown")
    logger.append_keys(request_type=request_type, project=project_name, request_id=event.get("RequestId"))
    remaining = context.get_remaining_time_in_millis() / 1000 if context else 300
    failed_id = physical_id(
        request_type, event.get("PhysicalResourceId") or project_name, False, event.get("RequestId", "")
    )
    watchdog = threading.Timer(
        max(remaining - TIMEOUT_MARGIN_SECONDS, 0.5),
        lambda: responder.send("FAILED", failed_id, reason="timed out before the project was set up; see the logs"),
    )
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            request = parse_request(event)
        except InvalidRequest as invalid:
            if request_type != "Delete":
                raise
            # Only a Create that failed on the same input can precede it: nothing exists to delete.
            reason = f"nothing was created: {invalid}"
            responder.send("SUCCESS", event.get("PhysicalResourceId") or failed_id, data={"Result": reason[:500]})
            return responder.sent or {}
        data = build().apply(request)
        responder.send("SUCCESS", physical_id(request.type, request.physical_id, True, ""), data=data)
    except Exception as error:  # every failure must reach CloudFormation
        if isinstance(error, (InvalidRequest, RepositoryError)):
            logger.warning("Request failed", extra={"reason": str(error)})
        else:
            logger.exception("Request failed")
        responder.send("FAILED", failed_id, reason=failure_reason(error))
    finally:
        watchdog.cancel()
        logger.remove_keys(["request_type", "project", "request_id"])
    return responder.sent or {}


def _build() -> ProjectTemplate:
    global _function
    if _function is None:
        _function = ProjectTemplate(Settings.from_environment(Environment()), Clients())
    return _function


@logger.inject_lambda_context
def handler(event: dict[str, Any], context) -> dict[str, Any]:
    """Lambda entry point (``project_template.handler.handler``)."""
    return serve(event, context, _build)
