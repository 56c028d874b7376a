"""Dev account: SageMaker projects from Studio, as a Service Catalog product and one shared function."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import CfnParameter, CustomResource, Duration, IgnoreMode, Stack, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_servicecatalog as servicecatalog
from constructs import Construct

from lambdas.contract import ProjectParameters
from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.functions import PlatformFunction
from mlops_constructs.messaging import AlertTopic, DeadLetterQueue
from mlops_constructs.naming import PlatformNames
from mlops_constructs.personas import PROJECT_CREATORS
from mlops_constructs.storage import PlatformKey
from platform_config import Persona, PlatformConfig

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


class ProjectProductStack(servicecatalog.ProductStack):
    """The template a SageMaker project launches: SageMaker's two parameters and one custom resource
    served by the platform's shared project-template function (named by ARN: a product template
    cannot reference the platform stack's resources)."""

    def __init__(self, scope: Construct, construct_id: str, *, service_token: str) -> None:
        super().__init__(
            scope,
            construct_id,
            description="MLOps platform: a SageMaker project's repository and groups",
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
        self.resource = CustomResource(
            self,
            "ProjectTemplate",
            service_token=service_token,
            resource_type=ProjectParameters.RESOURCE_TYPE,
            properties={
                ProjectParameters.NAME_PROPERTY: name.value_as_string,
                ProjectParameters.ID_PROPERTY: project_id.value_as_string,
            },
            service_timeout=CUSTOM_RESOURCE_TIMEOUT,
        )


class ProjectsStack(Stack):
    """Projects from Studio: the portfolio shared with the persona roles that create projects, the
    project product (visible in Studio) with its launch role, and the project-template function with
    the template's files, its dead-letter queue and alarms."""

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
        self.product_stack = ProjectProductStack(
            self, "ProjectProduct", service_token=names.project_template_function_arn
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
        self.launch_role = self._launch_role(settings.create_launch_role, names)
        self.portfolio.set_launch_role(self.product, self.launch_role)

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

    def _launch_role(self, create: bool, names: PlatformNames) -> iam.IRole:
        """The role Service Catalog launches project stacks with; only what the product template needs."""
        arn = f"arn:{names.partition}:iam::{names.account_id('dev')}:role{LAUNCH_ROLE_PATH}{LAUNCH_ROLE_NAME}"
        if not create:
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
        acknowledge_wildcards(
            role,
            {
                "Resource::arn:*:cloudformation:*:stack/SC-*": "Service Catalog names the stacks it provisions "
                "SC-<account>-pp-<id>.",
                "Resource::*": "ValidateTemplate and a template-URL GetTemplateSummary have no resource-level "
                "permissions; s3:GetObject is limited to Service Catalog's own provisioning templates by tag.",
            },
        )
        return role

    def _arn(self, service: str, resource: str, name: str) -> str:
        if not resource:
            return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{name}"
        separator = ":" if service == "secretsmanager" else "/"
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}{separator}{name}"
