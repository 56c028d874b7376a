"""Dev account: SageMaker projects from Studio, as a Service Catalog product and one shared function."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import CfnParameter, CustomResource, Duration, IgnoreMode, RemovalPolicy, Stack, Tags
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_servicecatalog as servicecatalog
from constructs import Construct

from lambdas.contract import (
    CI_PROJECT_SUFFIX,
    CI_ROLE_SUFFIX,
    CI_TRIGGER_ROLE_SUFFIX,
    DEV_BRANCH,
    FEATURE_BRANCH_PREFIX,
    PIPELINE_ROLE_SUFFIX,
    PROD_BRANCH,
    ProjectParameters,
)
from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.deployment_roles import RULE_HANDLER_ACTIONS
from mlops_constructs.functions import PlatformFunction
from mlops_constructs.messaging import AlertTopic, DeadLetterQueue
from mlops_constructs.naming import PlatformNames
from mlops_constructs.personas import PROJECT_CREATORS
from mlops_constructs.project_roles import (
    ProjectScope,
    boundary_statements,
    ci_statements,
    pipeline_statements,
    project_ci_log_group,
    trigger_statements,
)
from mlops_constructs.storage import PlatformKey, let_cloudwatch_logs_encrypt
from platform_config import Persona, PlatformConfig, ProjectsConfig

#: The launch role SageMaker Projects expects on a project product, at the path the console creates it.
LAUNCH_ROLE_NAME = "AmazonSageMakerServiceCatalogProductsLaunchRole"
LAUNCH_ROLE_PATH = "/service-role/"
#: Tag that makes a Service Catalog product appear among Studio's organization templates.
STUDIO_VISIBILITY_TAG = "sagemaker:studio-visibility"
#: A project stack gives up on an unanswered custom resource after this (CloudFormation's default is an hour).
CUSTOM_RESOURCE_TIMEOUT = Duration.minutes(10)
FUNCTION_TIMEOUT = Duration.minutes(5)
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


def git_ignored_patterns(template_dir: Path) -> list[str]:
    """The ignore patterns git applies to ``template_dir``: the repository's and the template's own
    ``.gitignore`` lines, so the asset holds what ``git ls-files`` lists (no ``.venv``, no caches)."""
    patterns: list[str] = []
    for ignore_file in (REPOSITORY_ROOT / ".gitignore", template_dir / ".gitignore"):
        if ignore_file.exists():
            lines = (line.strip() for line in ignore_file.read_text().splitlines())
            patterns.extend(line for line in lines if line and not line.startswith("#"))
    return patterns


#: Where GitHub Actions' OIDC tokens come from, and the audience the AWS credentials action asks for.
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
#: The build image (Amazon Linux, Python 3.11 as buildspec.yml asks) and size of a project's CI builds.
CI_BUILD_IMAGE = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
CI_COMPUTE_TYPE = "BUILD_GENERAL1_SMALL"
#: EventBridge retries starting a build this long, then dead-letters the push.
TRIGGER_RETRY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 8}
#: The ``BRANCH`` a pull request's build runs with: no pipeline runs for it (``pipelines.run`` runs
#: nothing for branches other than feature-*, dev and prod), so the build only tests.
PULL_REQUEST_BRANCH = "pull-request"


#: How long the projects' build logs are kept.
CI_LOG_RETENTION = logs.RetentionDays.ONE_YEAR


def ci_key_alias(names: PlatformNames) -> str:
    """The key of the projects' CI (build logs, dead-lettered triggers); CodeBuild takes it by alias."""
    return f"alias/{names.prefix}/project-ci"


def ci_dead_letter_queue(names: PlatformNames) -> str:
    """The queue every project's CI trigger dead-letters the pushes it could not start a build for."""
    return f"{names.prefix}-project-ci-dead-letters"


def github_oidc_provider_arn(names: PlatformNames, configured: str) -> str:
    """The configured provider, or the one the projects stack creates (IAM names it by its URL)."""
    return configured or f"arn:{names.partition}:iam::{names.account_id('dev')}:oidc-provider/{GITHUB_OIDC_HOST}"


def push_pattern(repository_arn: str, repository: str) -> dict:
    """Pushes to ``feature-*``, ``dev`` or ``prod`` of one CodeCommit repository (branches only, not
    deletions: a deleted reference has no commit to build)."""
    return {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        "resources": [repository_arn],
        "detail": {
            "event": ["referenceCreated", "referenceUpdated"],
            "referenceType": ["branch"],
            "referenceName": [{"prefix": FEATURE_BRANCH_PREFIX}, DEV_BRANCH, PROD_BRANCH],
            "repositoryName": [repository],
        },
    }


def pull_request_pattern(repository_arn: str, repository: str) -> dict:
    """A pull request of one CodeCommit repository opened, or its source branch pushed to."""
    return {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Pull Request State Change"],
        "resources": [repository_arn],
        "detail": {
            "event": ["pullRequestCreated", "pullRequestSourceBranchUpdated"],
            "pullRequestStatus": ["Open"],
            "repositoryNames": [repository],
        },
    }


class ProjectProductStack(servicecatalog.ProductStack):
    """The template a SageMaker project launches: SageMaker's two parameters, the project's own roles
    and CI, and one custom resource served by the platform's shared project-template function (named
    by ARN: a product template cannot reference the platform stack's resources).

    The roles live under the platform's project role path with its permissions boundary (the only
    roles the launch role may create); deleting the project's stack deletes them and the CI, while the
    custom resource keeps the repository and model package groups. On CodeCommit the CI is a CodeBuild
    project ``<project>-ci`` started by EventBridge on pushes to ``feature-*``, ``dev`` and ``prod``
    (the pushed commit, with ``BRANCH``) and on pull requests (tests only); on GitHub a role the
    repository's workflow assumes through GitHub's OIDC provider, from those branches only, and the
    repository variables the workflow reads.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, service_token: str, names: PlatformNames, settings: ProjectsConfig
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="MLOps platform: a SageMaker project's repository, groups, roles and CI",
            analytics_reporting=False,
        )
        name = CfnParameter(
            self,
            ProjectParameters.PROJECT_NAME,
            type="String",
            description="Name of the SageMaker project (SageMaker fills it in)",
        )
        project_id = CfnParameter(
            self, ProjectParameters.PROJECT_ID, type="String", description="Id of the SageMaker project"
        )
        project = name.value_as_string
        self.names, self.scope = names, ProjectScope(names, project)
        github = settings.repository_provider == "github"
        self.pipeline_role = self._role(
            "PipelineRole",
            PIPELINE_ROLE_SUFFIX,
            iam.ServicePrincipal("sagemaker.amazonaws.com"),
            pipeline_statements(self.scope),
            "Runs the project's SageMaker pipelines and jobs; writes its model artifacts",
        )
        ci_principal = (
            self._github_principal(settings) if github else self._service("codebuild", self.scope.ci_project_arn)
        )
        self.ci_role = self._role(
            "CiRole",
            CI_ROLE_SUFFIX,
            ci_principal,
            ci_statements(self.scope, codebuild=not github),
            "The project's CI: defines and starts its pipelines, copies approved dev versions to prod",
        )
        variables = {
            "PROJECT_NAME": project,
            "AWS_REGION": names.region,
            "ARTIFACT_BUCKET": names.artifact_bucket,
            "SAGEMAKER_PIPELINE_ROLE_ARN": self.pipeline_role.role_arn,
            "PLATFORM_PREFIX": names.prefix,  # its /<prefix>/jobs/* parameters: the jobs' subnets and group
        }
        self.resource = CustomResource(
            self,
            "ProjectTemplate",
            service_token=service_token,
            resource_type=ProjectParameters.RESOURCE_TYPE,
            properties={
                ProjectParameters.NAME_PROPERTY: project,
                ProjectParameters.ID_PROPERTY: project_id.value_as_string,
                **(
                    {ProjectParameters.VARIABLES_PROPERTY: {**variables, "CI_ROLE_ARN": self.ci_role.role_arn}}
                    if github
                    else {}
                ),
            },
            service_timeout=CUSTOM_RESOURCE_TIMEOUT,
        )
        if not github:
            self.build = self._build(project, variables, settings.ci_build_timeout_minutes)
            self.build.node.add_dependency(self.resource)  # its source is the repository
            self._triggers(project)
        acknowledge_wildcards(self, PROJECT_ROLE_WILDCARDS)

    def _role(
        self, construct_id: str, suffix: str, principal: iam.IPrincipal, statements, description: str
    ) -> iam.Role:
        return iam.Role(
            self,
            construct_id,
            role_name=f"{self.scope.project}{suffix}",
            path=self.names.project_role_path,
            assumed_by=principal,
            permissions_boundary=iam.ManagedPolicy.from_managed_policy_arn(
                self, f"{construct_id}Boundary", self.names.project_role_boundary_arn
            ),
            inline_policies={"Project": iam.PolicyDocument(statements=statements)},
            description=description,
        )

    def _service(self, service: str, source_arn: str) -> iam.IPrincipal:
        """A service principal bound to this account's ``source_arn`` (confused deputy)."""
        return iam.ServicePrincipal(
            f"{service}.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": self.names.account_id("dev")},
                "ArnLike": {"aws:SourceArn": source_arn},
            },
        )

    def _github_principal(self, settings: ProjectsConfig) -> iam.IPrincipal:
        """The repository's workflow runs on ``dev``, ``prod`` and ``feature-*``, through GitHub's OIDC provider."""
        repository = f"repo:{settings.github_organization}/{self.scope.project}"
        return iam.WebIdentityPrincipal(
            github_oidc_provider_arn(self.names, settings.github_oidc_provider_arn),
            conditions={
                "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": GITHUB_OIDC_AUDIENCE},
                "StringLike": {
                    f"{GITHUB_OIDC_HOST}:sub": [
                        f"{repository}:ref:refs/heads/{branch}"
                        for branch in (DEV_BRANCH, PROD_BRANCH, f"{FEATURE_BRANCH_PREFIX}*")
                    ]
                },
            },
        )

    def _build(self, project: str, variables: dict[str, str], timeout_minutes: int) -> codebuild.CfnProject:
        names = self.names
        return codebuild.CfnProject(
            self,
            "Ci",
            name=f"{project}{CI_PROJECT_SUFFIX}",
            description="Runs the project's buildspec.yml on pushes to feature-*, dev and prod; tests pull requests",
            service_role=self.ci_role.role_arn,
            source=codebuild.CfnProject.SourceProperty(
                type="CODECOMMIT",
                location=f"https://git-codecommit.{names.region}.amazonaws.com/v1/repos/{project}",
                build_spec="buildspec.yml",
            ),
            artifacts=codebuild.CfnProject.ArtifactsProperty(type="NO_ARTIFACTS"),
            environment=codebuild.CfnProject.EnvironmentProperty(
                type="LINUX_CONTAINER",
                compute_type=CI_COMPUTE_TYPE,
                image=CI_BUILD_IMAGE,
                environment_variables=[
                    codebuild.CfnProject.EnvironmentVariableProperty(name=key, value=value, type="PLAINTEXT")
                    for key, value in variables.items()
                ],
            ),
            timeout_in_minutes=timeout_minutes,
            encryption_key=ci_key_alias(names),
            logs_config=codebuild.CfnProject.LogsConfigProperty(
                cloud_watch_logs=codebuild.CfnProject.CloudWatchLogsConfigProperty(
                    status="ENABLED", group_name=project_ci_log_group(names.prefix), stream_name=project
                ),
                s3_logs=codebuild.CfnProject.S3LogsConfigProperty(status="DISABLED"),
            ),
        )

    def _triggers(self, project: str) -> None:
        """EventBridge starts the build on pushes (the pushed commit, its branch as ``BRANCH``) and on
        pull requests (the source commit, tests only), retrying, then dead-lettering."""
        names = self.names
        rules = self.scope.arn("events", f"rule/{project}{CI_PROJECT_SUFFIX}-*")
        trigger_role = self._role(
            "TriggerRole",
            CI_TRIGGER_ROLE_SUFFIX,
            self._service("events", rules),
            trigger_statements(self.scope),
            "EventBridge starts the project's CI build with this role",
        )
        dead_letters = (
            f"arn:{names.partition}:sqs:{names.region}:{names.account_id('dev')}:{ci_dead_letter_queue(names)}"
        )
        repository = self.scope.repository_arn

        def target(paths: dict[str, str], variables: dict[str, str]) -> events.CfnRule.TargetProperty:
            overrides = ", ".join(
                f'{{"name": "{key}", "value": "{value}", "type": "PLAINTEXT"}}' for key, value in variables.items()
            )
            return events.CfnRule.TargetProperty(
                id="Build",
                arn=self.build.attr_arn,
                role_arn=trigger_role.role_arn,
                input_transformer=events.CfnRule.InputTransformerProperty(
                    input_paths_map=paths,
                    input_template=f'{{"sourceVersion": "<commit>", "environmentVariablesOverride": [{overrides}]}}',
                ),
                dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dead_letters),
                retry_policy=events.CfnRule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=TRIGGER_RETRY["MaximumEventAgeInSeconds"],
                    maximum_retry_attempts=TRIGGER_RETRY["MaximumRetryAttempts"],
                ),
            )

        for construct_id, suffix, description, pattern, paths, branch in (
            (
                "PushTrigger",
                "push",
                "Builds pushes to feature-*, dev and prod",
                push_pattern(repository, project),
                {"commit": "$.detail.commitId", "branch": "$.detail.referenceName"},
                "<branch>",
            ),
            (
                "PullRequestTrigger",
                "pull-request",
                "Tests pull requests (their source commit); trains nothing",
                pull_request_pattern(repository, project),
                {"commit": "$.detail.sourceCommit"},
                PULL_REQUEST_BRANCH,
            ),
        ):
            events.CfnRule(
                self,
                construct_id,
                name=f"{project}{CI_PROJECT_SUFFIX}-{suffix}",
                description=description,
                event_pattern=pattern,
                state="ENABLED",
                targets=[target(paths, {"BRANCH": branch})],
            )


#: Why the project roles' statements have wildcards (the same reasons hold in the boundary).
PROJECT_ROLE_WILDCARDS = {
    "Resource::*": "ECR authorization, the network-interface actions of jobs in the VPC, SageMaker "
    "List/Describe/Search and S3's bucket listing support no resource-level permissions.",
    "Action::sagemaker:Describe*": "Read-only discovery of SageMaker resources (pipelines, jobs, packages).",
    "Action::sagemaker:List*": "Read-only discovery of SageMaker resources (pipelines, jobs, packages).",
    "Resource::arn:*:kms:*:key/*": "The artifact key, usable only through S3 (kms:ViaService) on the buckets "
    "the S3 statements name.",
    "Resource::arn:*:s3:::*/data/*": "The data/ prefix of the artifact store, read only.",
    "Resource::arn:*:s3:::*/projects/*/*": "The project's own prefix of the artifact store.",
    "Resource::arn:*:sagemaker:*:*-job/*": "SageMaker Pipelines names the jobs of each execution itself.",
    "Resource::arn:*:sagemaker:*:model/*": "SageMaker Pipelines names the models of a CreateModel step itself.",
    "Resource::arn:*:sagemaker:*:model-package/*-*/*": "Versions of the project's own <project>-<stage> groups.",
    "Resource::arn:*:sagemaker:*:model-package-group/*-*": "The project's own <project>-<stage> groups.",
    "Resource::arn:*:sagemaker:*:model-package/*-feature/*": "Versions of the project's feature group.",
    "Resource::arn:*:sagemaker:*:pipeline/*-*": "The project's own <project>-<stage>-training pipelines.",
    "Resource::arn:*:sagemaker:*:pipeline/*-*/execution/*": "Executions of the project's own pipelines.",
    "Resource::arn:*:logs:*:log-group:/aws/sagemaker/*": "SageMaker writes job logs to per-job streams "
    "under /aws/sagemaker/.",
    "Resource::arn:*:logs:*:log-group:*:log-stream:*/*": "The project's own streams (one per build) of the "
    "platform's CI log group.",
    "Resource::arn:*:iam::*:role/*-projects/*-pipeline": "The projects' pipeline roles, passed to SageMaker only.",
    "Resource::arn:*:codebuild:*:project/*-ci": "The projects' own CI builds.",
    "Resource::arn:*:codecommit:*:*": "The projects' own repositories.",
}


class ProjectsStack(Stack):
    """Projects from Studio: the portfolio shared with the persona roles that create projects, the
    project product (visible in Studio) with its launch role, and the project-template function with
    the template's files, its dead-letter queue and alarms; and what every project's CI shares: the
    permissions boundary of the project roles, the build log group and the triggers' dead-letter
    queue (with their key), and on GitHub the dev account's OIDC provider for GitHub Actions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        persona_roles: Mapping[Persona, iam.IRole],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = PlatformNames(config)
        prefix, settings = config.prefix, config.projects
        self.key = PlatformKey(
            self, "ProjectsKey", alias=f"alias/{prefix}/projects", description="Encrypts the projects' alerts"
        )
        self.alerts = AlertTopic(
            self, "Alerts", topic_name=f"{prefix}-projects-alerts", encryption_key=self.key, emails=config.alert_emails
        )
        self.dead_letters = DeadLetterQueue(
            self,
            "DeadLetters",
            alarm_name=f"{prefix}-project-template-dead-letters",
            encryption_key=self.key,
            alarm_action=self.alerts.alarm_action,
        )
        self.template_files = s3_assets.Asset(
            self,
            "TemplateFiles",
            path=str(settings.template_path),
            ignore_mode=IgnoreMode.GIT,
            exclude=git_ignored_patterns(settings.template_path),
        )
        self.function = self._function(config, names)
        self.portfolio = servicecatalog.Portfolio(
            self,
            "Portfolio",
            display_name=f"{prefix} SageMaker projects",
            provider_name=f"{prefix} MLOps platform",
            description="Project templates of the MLOps platform, offered in SageMaker Studio",
        )
        for persona in PROJECT_CREATORS:
            self.portfolio.give_access_to_role(persona_roles[persona])
        self.boundary = iam.ManagedPolicy(
            self,
            "ProjectRoleBoundary",
            managed_policy_name=names.project_role_boundary,
            description="Permissions boundary of every project's roles: what any project role may ever do",
            statements=boundary_statements(names),
        )
        acknowledge_wildcards(self.boundary, PROJECT_ROLE_WILDCARDS)
        self._shared_ci(config, names)
        self.product_stack = ProjectProductStack(
            self, "ProjectProduct", service_token=names.project_template_function_arn, names=names, settings=settings
        )
        self.product = servicecatalog.CloudFormationProduct(
            self,
            "Product",
            product_name=f"{prefix}-{settings.template}",
            owner=f"{prefix} MLOps platform",
            description=f"A repository seeded from the {settings.template} template (prod and dev branches) and "
            f"the {config.scenario} scenario's model package groups",
            product_versions=[
                servicecatalog.CloudFormationProductVersion(
                    product_version_name="v1",
                    cloud_formation_template=servicecatalog.CloudFormationTemplate.from_product_stack(
                        self.product_stack
                    ),
                )
            ],
        )
        Tags.of(self.product).add(STUDIO_VISIBILITY_TAG, "true")
        self.portfolio.add_product(self.product)
        self.launch_role = self._launch_role(settings, names)
        self.portfolio.set_launch_role(self.product, self.launch_role)

    def _shared_ci(self, config: PlatformConfig, names: PlatformNames) -> None:
        """The build log group and the triggers' dead-letter queue every project's CI uses, with their
        key; on GitHub the OIDC provider, unless the configuration names an existing one."""
        self.ci_key = PlatformKey(
            self, "CiKey", alias=ci_key_alias(names), description="Encrypts the projects' build logs and triggers"
        )
        log_group = project_ci_log_group(config.prefix)
        self.ci_logs = logs.LogGroup(
            self,
            "CiLogs",
            log_group_name=log_group,
            encryption_key=self.ci_key,
            retention=CI_LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN,
        )
        log_group_arn = self._arn("logs", "", f"log-group:{log_group}")
        let_cloudwatch_logs_encrypt(self.ci_key, sid="CloudWatchLogsEncryptsBuildLogs", log_groups=log_group_arn)
        self.ci_dead_letters = DeadLetterQueue(
            self,
            "CiDeadLetters",
            alarm_name=f"{config.prefix}-project-ci-dead-letters",
            encryption_key=self.ci_key,
            alarm_action=self.alerts.alarm_action,
            queue_name=ci_dead_letter_queue(names),
        )
        self.ci_dead_letters.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ProjectTriggersDeadLetter",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.ci_dead_letters.queue.queue_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": self._arn("events", "rule", f"*{CI_PROJECT_SUFFIX}-*")},
                    "StringEquals": {"aws:SourceAccount": self.account},
                },
            )
        )
        settings = config.projects
        if settings.repository_provider == "github" and not settings.github_oidc_provider_arn:
            iam.CfnOIDCProvider(
                self,
                "GitHubActions",
                url=f"https://{GITHUB_OIDC_HOST}",
                client_id_list=[GITHUB_OIDC_AUDIENCE],
            )

    def _function(self, config: PlatformConfig, names: PlatformNames) -> PlatformFunction:
        settings = config.projects
        readers = [
            names.role_arn(account, role)
            for account in ("test", "prod")
            for role in (names.sagemaker_execution_role(account), names.cloudformation_role(account))
        ]
        github = settings.repository_provider == "github"
        function = PlatformFunction(
            self,
            "ProjectTemplate",
            handler="project_template.handler.handler",
            function_name=names.project_template_function,
            description="Sets up a SageMaker project: git repository with prod and dev, model package groups",
            alarm_name=f"{config.prefix}-project-template-errors",
            alarm_action=self.alerts.alarm_action,
            powertools_version=config.powertools_layer_version,
            timeout=FUNCTION_TIMEOUT,
            environment={
                "TEMPLATE_NAME": settings.template,
                "TEMPLATE_BUCKET": self.template_files.s3_bucket_name,
                "TEMPLATE_KEY": self.template_files.s3_object_key,
                "STAGES": ",".join(config.stages),
                "MODEL_READER_ROLE_ARNS": json.dumps(readers),
                "REPOSITORY_PROVIDER": settings.repository_provider,
                "ON_DELETE": settings.on_delete,
                **(
                    {
                        "GITHUB_ORGANIZATION": settings.github_organization,
                        "GITHUB_TOKEN_SECRET": settings.github_token_secret_name,
                        "GITHUB_API_URL": settings.github_api_url,
                    }
                    if github
                    else {}
                ),
            },
        )
        # CloudFormation invokes custom resources asynchronously. The handler answers every request
        # itself, so a retry could only act after the answer: none; a lost invocation is dead-lettered.
        function.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letters.queue), retry_attempts=0
        )
        role = function.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTemplateFiles",
                actions=["s3:GetObject"],
                resources=[
                    f"arn:{self.partition}:s3:::{self.template_files.s3_bucket_name}/{self.template_files.s3_object_key}"
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="VerifyProjects",
                actions=["sagemaker:DescribeProject"],
                resources=[self._arn("sagemaker", "project", "*")],
            )
        )
        stage_groups = [self._arn("sagemaker", "model-package-group", f"*-{stage}") for stage in config.stages]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ProjectModelPackageGroups",
                actions=[
                    "sagemaker:CreateModelPackageGroup",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:PutModelPackageGroupPolicy",
                    "sagemaker:AddTags",
                ],
                resources=stage_groups,
            )
        )
        if github:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="ReadGitHubToken",
                    actions=["secretsmanager:GetSecretValue"],
                    # Secrets Manager appends six random characters to a secret's ARN.
                    resources=[self._arn("secretsmanager", "secret", f"{settings.github_token_secret_name}-??????")],
                )
            )
        else:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="ProjectRepositories",
                    actions=[
                        "codecommit:CreateRepository",
                        "codecommit:GetRepository",
                        "codecommit:CreateCommit",
                        "codecommit:GetBranch",
                        "codecommit:CreateBranch",
                        "codecommit:TagResource",
                        "codecommit:UpdateRepositoryDescription",
                    ],
                    resources=[self._arn("codecommit", "", "*")],
                )
            )
        acknowledge_wildcards(
            function,
            {
                "Resource::arn:*:sagemaker:*:model-package-group/*-*": "The <project>-<stage> groups of the "
                "scenario's stages; projects are named by their creators.",
                "Resource::arn:*:sagemaker:*:project/*": "Any project a request names is looked up, to refuse "
                "requests that SageMaker did not send for it.",
                "Resource::arn:*:codecommit:*:*": "Repositories are named after projects, which users name.",
                "Resource::arn:*:secretsmanager:*:secret:*-??????": "The configured GitHub token secret; "
                "Secrets Manager appends six random characters to its ARN.",
                "Action::kms:GenerateDataKey*": "Data keys of the projects key only, to dead-letter a lost invocation.",
                "Action::kms:ReEncrypt*": "Re-encryption with the projects key only (SQS grant).",
            },
        )
        return function

    def _launch_role(self, settings: ProjectsConfig, names: PlatformNames) -> iam.IRole:
        """The role Service Catalog launches project stacks with; only what the product template needs."""
        arn = f"arn:{names.partition}:iam::{names.account_id('dev')}:role{LAUNCH_ROLE_PATH}{LAUNCH_ROLE_NAME}"
        if not settings.create_launch_role:
            return iam.Role.from_role_arn(self, "LaunchRole", arn, mutable=False)
        role = iam.Role(
            self,
            "LaunchRole",
            role_name=LAUNCH_ROLE_NAME,
            path=LAUNCH_ROLE_PATH,
            assumed_by=iam.ServicePrincipal("servicecatalog.amazonaws.com"),
            description="Service Catalog launches SageMaker project stacks with this role (MLOps platform, scoped)",
        )
        project_stacks = self._arn("cloudformation", "stack", "SC-*")
        role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeProjectTemplateFunction",
                actions=["lambda:InvokeFunction"],
                resources=[names.project_template_function_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ProjectStacks",
                actions=[
                    "cloudformation:CreateStack",
                    "cloudformation:UpdateStack",
                    "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks",
                    "cloudformation:DescribeStackEvents",
                    "cloudformation:SetStackPolicy",
                    "cloudformation:TagResource",
                    "cloudformation:UntagResource",
                ],
                resources=[project_stacks],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ValidateProductTemplates",
                actions=["cloudformation:ValidateTemplate", "cloudformation:GetTemplateSummary"],
                resources=["*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadProductTemplates",
                actions=["s3:GetObject"],
                resources=["*"],
                conditions={"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}},
            )
        )
        for statement in self._project_role_creation(names, codebuild=settings.repository_provider == "codecommit"):
            role.add_to_policy(statement)
        acknowledge_wildcards(
            role,
            {
                "Resource::arn:*:cloudformation:*:stack/SC-*": "Service Catalog names the stacks it provisions "
                "SC-<account>-pp-<id>.",
                "Resource::arn:*:iam::*:role/*-projects/*": "The roles of projects, under the platform's project "
                "role path, created only with the project role boundary.",
                "Resource::arn:*:iam::*:role/*-projects/*-ci": "The projects' CI roles, passed to CodeBuild only.",
                "Resource::arn:*:iam::*:role/*-projects/*-ci-trigger": "The projects' trigger roles, passed to "
                "EventBridge only.",
                "Resource::arn:*:codebuild:*:project/*-ci": "The projects' CI builds, <project>-ci.",
                "Resource::arn:*:events:*:rule/*-ci-*": "The projects' CI triggers, <project>-ci-push and "
                "<project>-ci-pull-request.",
                "Resource::*": "ValidateTemplate and a template-URL GetTemplateSummary have no resource-level "
                "permissions; s3:GetObject is limited to Service Catalog's own provisioning templates by tag.",
            },
        )
        return role

    @staticmethod
    def _project_role_creation(names: PlatformNames, *, codebuild: bool) -> list[iam.PolicyStatement]:
        """Create, change and delete roles only under the project role path and only with the project
        role boundary, never remove it nor change the boundary policy; pass only the CI roles to CodeBuild
        and the trigger roles to EventBridge; manage the projects' builds and triggers."""
        roles = names.project_role_arn("*")
        statements = [
            iam.PolicyStatement(
                sid="ProjectRolesOnlyWithTheBoundary",
                actions=[
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:PutRolePermissionsBoundary",
                ],
                resources=[roles],
                conditions={"StringEquals": {"iam:PermissionsBoundary": names.project_role_boundary_arn}},
            ),
            iam.PolicyStatement(
                sid="DescribeAndTagProjectRoles",
                actions=[
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateRole",
                    "iam:UpdateRoleDescription",
                ],
                resources=[roles],
            ),
            iam.PolicyStatement(
                sid="KeepTheBoundary",
                effect=iam.Effect.DENY,
                actions=[
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion",
                ],
                resources=[roles, names.project_role_boundary_arn],
            ),
        ]
        if not codebuild:
            return statements
        account, region, partition = names.account_id("dev"), names.region, names.partition
        for sid, suffix, service in (
            ("PassCiRolesToCodeBuild", CI_ROLE_SUFFIX, "codebuild"),
            ("PassTriggerRolesToEventBridge", CI_TRIGGER_ROLE_SUFFIX, "events"),
        ):
            statements.append(
                iam.PolicyStatement(
                    sid=sid,
                    actions=["iam:PassRole"],
                    resources=[names.project_role_arn(f"*{suffix}")],
                    conditions={"StringEquals": {"iam:PassedToService": f"{service}.amazonaws.com"}},
                )
            )
        statements += [
            iam.PolicyStatement(
                sid="ProjectBuilds",
                actions=[
                    "codebuild:CreateProject",
                    "codebuild:UpdateProject",
                    "codebuild:DeleteProject",
                    "codebuild:BatchGetProjects",
                ],
                resources=[f"arn:{partition}:codebuild:{region}:{account}:project/*{CI_PROJECT_SUFFIX}"],
            ),
            iam.PolicyStatement(
                sid="ProjectBuildTriggers",
                actions=list(RULE_HANDLER_ACTIONS),
                resources=[f"arn:{partition}:events:{region}:{account}:rule/*{CI_PROJECT_SUFFIX}-*"],
            ),
        ]
        return statements

    def _arn(self, service: str, resource: str, name: str) -> str:
        if not resource:
            return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{name}"
        separator = ":" if service == "secretsmanager" else "/"
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}{separator}{name}"
