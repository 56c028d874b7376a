"""The four persona roles of Studio users, each with only what that persona does.

| persona         | runs jobs & pipelines | registers models | changes approval status              |
|-----------------|-----------------------|------------------|--------------------------------------|
| data engineer   | processing            | no               | no                                   |
| data scientist  | all                   | yes (pending)    | ``*-feature`` groups only            |
| MLOps engineer  | all                   | no               | no                                   |
| model approver  | no                    | no               | every managed group                  |

Every role but the approver's carries an explicit deny on approving outside feature groups, so a
broader policy attached later (say, a managed "full access" policy) cannot turn a data scientist
into an approver.

Registered models live under ``projects/`` of the artifact store, and no persona writes a model
artifact there or deletes anything there: project pipelines and their jobs run as their project's
pipeline execution role (``mlops_constructs/project_roles.py``), the only principals the artifact
store's bucket policy lets do that, which data scientists and MLOps engineers may pass to SageMaker.
They upload a pipeline's job code and configuration under ``projects/`` when they define it, and write
their own experiments under ``scratch/``.

Every role that runs jobs, the projects' pipeline roles included, is denied creating a job outside
the VPC (:func:`~mlops_constructs.job_network.jobs_stay_in_vpc`); job runners read the SSM parameters
naming the jobs' subnets and security group.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.job_network import jobs_stay_in_vpc, read_job_network
from mlops_constructs.naming import DATA_PREFIX, PROJECTS_PREFIX, SCRATCH_PREFIX
from platform_config import Persona

#: Groups whose approval deploys to test or prod: only the model approver may change their status.
GOVERNED_STAGES = ("dev", "prod", "champion", "challenger")
PERSONAS: tuple[Persona, ...] = ("data_engineer", "data_scientist", "mlops_engineer", "model_approver")
JOB_RUNNERS: tuple[Persona, ...] = ("data_engineer", "data_scientist", "mlops_engineer")
#: A SageMaker job's ARN resource type and the noun of its Create/Stop actions.
JOB_ACTION_NOUNS = {
    "processing-job": "ProcessingJob",
    "training-job": "TrainingJob",
    "hyper-parameter-tuning-job": "HyperParameterTuningJob",
    "transform-job": "TransformJob",
}
#: Who creates SageMaker projects from Studio (a repository and model groups for a new model). Data
#: engineers prepare data under ``data/`` and build no models, so they create no projects.
PROJECT_CREATORS: tuple[Persona, ...] = ("data_scientist", "mlops_engineer")
#: Who may change a project's ``prod`` branch in CodeCommit (merging ``dev`` into it).
PROD_BRANCH_MAINTAINERS: tuple[Persona, ...] = ("mlops_engineer",)


def job_infrastructure(sagemaker_log_groups: str) -> Iterable[iam.PolicyStatement]:
    """What a role SageMaker jobs run as needs around them: pull their images, attach them to the VPC
    and write their logs (``sagemaker_log_groups``: the ARN of ``/aws/sagemaker/*``)."""
    yield iam.PolicyStatement(
        sid="PullContainerImages",
        actions=[
            "ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
        ],
        resources=["*"],
    )
    yield iam.PolicyStatement(
        sid="JobNetworkInterfaces",
        actions=[
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeVpcs",
            "ec2:DescribeDhcpOptions",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
        ],
        resources=["*"],
    )
    yield iam.PolicyStatement(
        sid="WriteJobLogs",
        actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[sagemaker_log_groups],
    )


class PersonaRoles(Construct):
    """One SageMaker execution role per persona, used by that persona's Studio user profiles.

    ``artifact_bucket`` is the dev artifact store: data engineers write ``data/``, data scientists and
    MLOps engineers read ``data/`` and ``projects/`` and write ``scratch/`` and (job code and configuration,
    never model artifacts: the bucket policy) ``projects/``, approvers read ``projects/`` (evaluation
    reports) only. ``artifact_key`` is its KMS key.

    ``project_pipeline_roles`` (an ARN pattern) are the projects' pipeline execution roles, which
    project pipelines and their jobs run as: the personas that create projects may pass them, and
    every job-running persona its own role, to SageMaker. Job runners read the SSM parameters
    ``job_network_parameters`` (the jobs' subnets and security group) when they define pipelines.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        project_pipeline_roles: str,
        artifact_bucket: s3.IBucket,
        artifact_key: kms.IKey,
        job_network_parameters: Iterable[str],
        codecommit_repositories: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = Stack.of(self)
        self._codecommit = codecommit_repositories
        self._project_pipeline_roles = project_pipeline_roles
        self._job_network_parameters = list(job_network_parameters)
        self.roles: dict[Persona, iam.Role] = {
            persona: iam.Role(
                self,
                _pascal(persona),
                role_name=f"{prefix}-{persona.replace('_', '-')}",
                assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                description=f"Studio execution role of the {persona.replace('_', ' ')} persona",
            )
            for persona in PERSONAS
        }
        for persona, role in self.roles.items():
            for statement in self._statements(persona, role, artifact_bucket):
                role.add_to_policy(statement)
            if persona == "model_approver":
                artifact_key.grant_decrypt(role)
            else:
                artifact_key.grant_encrypt_decrypt(role)
        acknowledge_wildcards(self, _WILDCARD_REASONS)

    # -- statements ---------------------------------------------------------------------------------

    def _statements(self, persona: Persona, role: iam.Role, bucket: s3.IBucket) -> Iterable[iam.PolicyStatement]:
        yield from self._discovery()
        yield from self._artifact_access(bucket, **self._persona_artifact_access(persona))
        if persona in JOB_RUNNERS:
            yield from self._job_running(persona, role)
            yield read_job_network(
                [
                    self._stack.format_arn(service="ssm", resource="parameter", resource_name=name.lstrip("/"))
                    for name in self._job_network_parameters
                ]
            )
        if persona == "data_scientist":
            yield from self._registration()
            yield self._approval(stages=("feature",))
        if persona in PROJECT_CREATORS:
            yield from self._project_creation(persona)
        if persona == "model_approver":
            yield self._approval(stages=("feature", *GOVERNED_STAGES))
        else:
            yield self._approval_guardrail()

    def _discovery(self) -> Iterable[iam.PolicyStatement]:
        yield iam.PolicyStatement(
            sid="ReadOnlyDiscovery",
            actions=[
                "sagemaker:Describe*",
                "sagemaker:List*",
                "sagemaker:BatchDescribeModelPackage",
                "sagemaker:GetModelPackageGroupPolicy",
                "sagemaker:GetSearchSuggestions",
                "sagemaker:Search",
                "cloudwatch:GetMetricData",
                "cloudwatch:ListMetrics",
            ],
            resources=["*"],
        )
        yield iam.PolicyStatement(
            sid="ReadSageMakerLogs",
            actions=["logs:DescribeLogStreams", "logs:GetLogEvents", "logs:FilterLogEvents"],
            resources=[self._arn("logs", "log-group", "/aws/sagemaker/*", sep=ArnFormat.COLON_RESOURCE_NAME)],
        )

    @staticmethod
    def _persona_artifact_access(persona: Persona) -> dict[str, list[str]]:
        """The artifact-store prefixes a persona reads and writes."""
        return {
            "data_engineer": dict(reads=[DATA_PREFIX], writes=[DATA_PREFIX]),
            "data_scientist": dict(
                reads=[DATA_PREFIX, PROJECTS_PREFIX, SCRATCH_PREFIX], writes=[PROJECTS_PREFIX, SCRATCH_PREFIX]
            ),
            "mlops_engineer": dict(
                reads=[DATA_PREFIX, PROJECTS_PREFIX, SCRATCH_PREFIX], writes=[PROJECTS_PREFIX, SCRATCH_PREFIX]
            ),
            "model_approver": dict(reads=[PROJECTS_PREFIX], writes=[]),
        }[persona]

    def _artifact_access(self, bucket: s3.IBucket, *, reads: list[str], writes: list[str]):
        yield iam.PolicyStatement(
            sid="ListArtifactPrefixes",
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in reads]}},
        )
        yield iam.PolicyStatement(
            sid="ReadArtifacts",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in reads],
        )
        if writes:
            yield iam.PolicyStatement(
                sid="WriteArtifacts",
                actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in writes],
            )

    def _job_running(self, persona: Persona, role: iam.Role) -> Iterable[iam.PolicyStatement]:
        job_types = ["processing-job"] if persona == "data_engineer" else list(JOB_ACTION_NOUNS)
        yield iam.PolicyStatement(
            sid="RunJobs",
            actions=[
                *(f"sagemaker:{verb}{JOB_ACTION_NOUNS[kind]}" for kind in job_types for verb in ("Create", "Stop")),
                "sagemaker:AddTags",
            ],
            resources=[self._arn("sagemaker", job_type, "*") for job_type in job_types],
        )
        yield iam.PolicyStatement(
            sid="RunPipelines",
            actions=[
                "sagemaker:CreatePipeline",
                "sagemaker:UpdatePipeline",
                "sagemaker:StartPipelineExecution",
                "sagemaker:StopPipelineExecution",
                "sagemaker:RetryPipelineExecution",
                "sagemaker:SendPipelineExecutionStepSuccess",
                "sagemaker:SendPipelineExecutionStepFailure",
                "sagemaker:AddTags",
            ],
            resources=[self._arn("sagemaker", "pipeline", "*"), self._arn("sagemaker", "pipeline-execution", "*")],
        )
        passed = [role.role_arn]
        if persona in PROJECT_CREATORS:
            passed.append(self._project_pipeline_roles)  # to run their projects' pipelines
        yield iam.PolicyStatement(
            sid="PassRolesToSageMakerJobs",
            actions=["iam:PassRole"],
            resources=passed,
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        yield from job_infrastructure(
            self._arn("logs", "log-group", "/aws/sagemaker/*", sep=ArnFormat.COLON_RESOURCE_NAME)
        )
        yield from jobs_stay_in_vpc()

    def _registration(self) -> Iterable[iam.PolicyStatement]:
        yield iam.PolicyStatement(
            sid="RegisterPendingModelPackages",
            actions=["sagemaker:CreateModelPackage"],
            resources=[self._arn("sagemaker", "model-package", "*")],
            conditions={"StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}},
        )
        yield iam.PolicyStatement(
            sid="RegisterFeatureModelPackages",
            actions=["sagemaker:CreateModelPackage", "sagemaker:AddTags"],
            resources=[self._model_packages("feature")],
        )

    def _project_creation(self, persona: Persona) -> Iterable[iam.PolicyStatement]:
        """Create projects from Studio: SageMaker calls Service Catalog as the user, and Service Catalog
        only offers the products of portfolios shared with the user's role (the projects portfolio)."""
        yield iam.PolicyStatement(
            sid="CreateProjects",
            actions=[
                "sagemaker:CreateProject",
                "sagemaker:UpdateProject",
                "sagemaker:DeleteProject",
                "sagemaker:AddTags",
            ],
            resources=[self._arn("sagemaker", "project", "*")],
        )
        yield iam.PolicyStatement(
            sid="LaunchSharedProducts",
            actions=[
                "servicecatalog:DescribeProduct",
                "servicecatalog:DescribeProvisioningParameters",
                "servicecatalog:DescribeProvisioningArtifact",
                "servicecatalog:ListLaunchPaths",
                "servicecatalog:ListProvisioningArtifacts",
                "servicecatalog:ProvisionProduct",
            ],
            resources=[self._arn("catalog", "product", "*")],
        )
        yield iam.PolicyStatement(
            sid="FollowProvisionedProjects",
            actions=[
                "servicecatalog:SearchProducts",
                "servicecatalog:DescribeProductView",
                "servicecatalog:SearchProvisionedProducts",
                "servicecatalog:ScanProvisionedProducts",
                "servicecatalog:DescribeProvisionedProduct",
                "servicecatalog:DescribeRecord",
                "servicecatalog:ListRecordHistory",
                "servicecatalog:UpdateProvisionedProduct",
                "servicecatalog:TerminateProvisionedProduct",
            ],
            resources=["*"],
        )
        if not self._codecommit:
            return
        repositories = self._stack.format_arn(service="codecommit", resource="*")
        yield iam.PolicyStatement(
            sid="WorkInProjectRepositories",
            actions=[
                "codecommit:GitPull",
                "codecommit:GitPush",
                "codecommit:GetRepository",
                "codecommit:GetBranch",
                "codecommit:ListBranches",
                "codecommit:CreatePullRequest",
                "codecommit:GetPullRequest",
                "codecommit:ListPullRequests",
                "codecommit:MergePullRequestByFastForward",
            ],
            resources=[repositories],
        )
        if persona not in PROD_BRANCH_MAINTAINERS:
            yield iam.PolicyStatement(
                sid="OnlyMaintainersChangeProd",
                effect=iam.Effect.DENY,
                actions=[
                    "codecommit:GitPush",
                    "codecommit:DeleteBranch",
                    "codecommit:PutFile",
                    "codecommit:MergeBranchesByFastForward",
                    "codecommit:MergeBranchesBySquash",
                    "codecommit:MergeBranchesByThreeWay",
                    "codecommit:MergePullRequestByFastForward",
                    "codecommit:MergePullRequestBySquash",
                    "codecommit:MergePullRequestByThreeWay",
                ],
                resources=[repositories],
                conditions={
                    "StringEqualsIfExists": {"codecommit:References": ["refs/heads/prod"]},
                    "Null": {"codecommit:References": "false"},
                },
            )

    def _approval(self, stages: Iterable[str]) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="ChangeApprovalStatus",
            actions=["sagemaker:UpdateModelPackage"],
            resources=[self._model_packages(stage) for stage in stages],
        )

    def _approval_guardrail(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            sid="OnlyApproversApproveGovernedGroups",
            effect=iam.Effect.DENY,
            actions=["sagemaker:UpdateModelPackage"],
            resources=[self._model_packages(stage) for stage in GOVERNED_STAGES],
        )

    # -- helpers ------------------------------------------------------------------------------------

    def _model_packages(self, stage: str) -> str:
        """Every version in the ``<project>-<stage>`` groups of any project."""
        return self._arn("sagemaker", "model-package", f"*-{stage}/*")

    def _arn(self, service: str, resource: str, name: str, sep: ArnFormat = ArnFormat.SLASH_RESOURCE_NAME) -> str:
        return self._stack.format_arn(service=service, resource=resource, resource_name=name, arn_format=sep)


_WILDCARD_REASONS = {
    "Resource::*": "SageMaker List/Describe/Search, CloudWatch metric reads, ECR authorization, the "
    "network-interface actions of jobs in the VPC, and Service Catalog's product search, product views and "
    "provisioned-product records support no resource-level permissions.",
    "Action::sagemaker:Describe*": "Read-only discovery of SageMaker resources for the Studio UI.",
    "Action::sagemaker:List*": "Read-only discovery of SageMaker resources for the Studio UI.",
    "Action::kms:GenerateDataKey*": "Data keys of the artifact key only, to write encrypted objects.",
    "Action::kms:ReEncrypt*": "Re-encryption with the artifact key only (S3 copy of encrypted objects).",
    "Resource::arn:*:logs:*:log-group:/aws/sagemaker/*": "SageMaker writes job logs to per-job streams "
    "under /aws/sagemaker/.",
    "Resource::arn:*:sagemaker:*:*-job/*": "Jobs are named per run by users and pipelines.",
    "Resource::arn:*:sagemaker:*:pipeline/*": "Every project defines its own pipeline.",
    "Resource::arn:*:sagemaker:*:pipeline-execution/*": "Executions of the projects' pipelines.",
    "Resource::arn:*:sagemaker:*:model-package/*": "Registration of any project's package, conditioned on "
    "PendingManualApproval.",
    "Resource::arn:*:sagemaker:*:model-package/*-*/*": "Versions of the <project>-<stage> groups of every "
    "project; the stage suffix is the scope.",
    "Resource::*/data/*": "The data/ prefix of the artifact store.",
    "Resource::*/projects/*": "The projects/ prefix of the artifact store.",
    "Resource::*/scratch/*": "The scratch/ prefix of the artifact store: people's own experiments.",
    "Resource::arn:*:sagemaker:*:project/*": "SageMaker projects are named by the users who create them.",
    "Resource::arn:*:catalog:*:product/*": "Service Catalog lets a role launch only the products of portfolios "
    "shared with it: the platform's projects portfolio.",
    "Resource::arn:*:codecommit:*:*": "Project repositories are named after projects, which users name.",
    "Resource::arn:*:iam::*:role/*-projects/*-pipeline": "The projects' pipeline execution roles, passed to "
    "SageMaker only, to run a project's pipeline from Studio.",
}


def _pascal(snake: str) -> str:
    return "".join(part.title() for part in snake.split("_"))
