"""What each project's own roles may do, and the permissions boundary that caps every one of them.

A project's stack creates three roles under the platform's project role path (``/<prefix>-projects/``):

- ``<project>-pipeline``, assumed by SageMaker: runs the project's pipelines and jobs, registers
  pending versions in its ``<project>-*`` groups; with the others like it, the only writer of model
  artifacts in the artifact store;
- ``<project>-ci``, assumed by CodeBuild or by GitHub Actions (OIDC): defines and starts the
  ``<project>-*`` pipelines, passes them the pipeline role, copies approved dev versions into the
  production groups (pending);
- ``<project>-ci-trigger``, assumed by EventBridge (CodeCommit only): starts the ``<project>-ci`` build.

Each reads ``data/`` and reads and writes ``projects/<project>/`` of the artifact store (KMS through S3
only). The statements are written once, for a project name; with the name ``*`` the same statements
form the permissions boundary (:func:`boundary_statements`), so no project role, whatever policy its
stack gives it, can do more than some project role may, and none can touch IAM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aws_cdk import aws_iam as iam

from lambdas.contract import CI_PROJECT_SUFFIX, PIPELINE_ROLE_SUFFIX
from mlops_constructs.job_network import jobs_stay_in_vpc, read_job_network
from mlops_constructs.naming import DATA_PREFIX, PROJECTS_PREFIX, PlatformNames
from mlops_constructs.personas import JOB_ACTION_NOUNS, job_infrastructure

#: Model package groups a project's CI copies approved dev versions into (``pipelines/copy_to_prod.py``).
PRODUCTION_STAGES = ("prod", "champion", "challenger")


def project_ci_log_group(prefix: str) -> str:
    """The platform's log group every project's CodeBuild writes to (one stream prefix per project)."""
    return f"/{prefix}/projects/ci"


@dataclass(frozen=True)
class ProjectScope:
    """The ARNs a project's roles act on; ``project="*"`` gives those of every project (the boundary)."""

    names: PlatformNames
    project: str

    def arn(self, service: str, resource: str) -> str:
        names = self.names
        return f"arn:{names.partition}:{service}:{names.region}:{names.account_id('dev')}:{resource}"

    def objects(self, key_pattern: str) -> str:
        return f"arn:{self.names.partition}:s3:::{self.names.artifact_bucket}/{key_pattern}"

    @property
    def artifact_prefix(self) -> str:
        return f"{PROJECTS_PREFIX}{self.project}/"

    @property
    def pipeline_role_arn(self) -> str:
        return self.names.project_role_arn(f"{self.project}{PIPELINE_ROLE_SUFFIX}")

    @property
    def ci_project_arn(self) -> str:
        return self.arn("codebuild", f"project/{self.project}{CI_PROJECT_SUFFIX}")

    @property
    def repository_arn(self) -> str:
        return self.arn("codecommit", self.project)


def _artifacts(scope: ProjectScope) -> Iterable[iam.PolicyStatement]:
    """Read ``data/`` and the project's prefix, write the project's prefix, the key through S3 only."""
    names = scope.names
    yield iam.PolicyStatement(
        sid="ListArtifacts",
        actions=["s3:ListBucket"],
        resources=[f"arn:{names.partition}:s3:::{names.artifact_bucket}"],
        conditions={"StringLike": {"s3:prefix": [f"{DATA_PREFIX}*", f"{scope.artifact_prefix}*"]}},
    )
    yield iam.PolicyStatement(
        sid="FindTheArtifactBucket",  # the SageMaker SDK lists buckets to check its default bucket
        actions=["s3:ListAllMyBuckets"],
        resources=["*"],
    )
    yield iam.PolicyStatement(
        sid="ReadArtifacts",
        actions=["s3:GetObject", "s3:GetObjectVersion"],
        resources=[scope.objects(f"{DATA_PREFIX}*"), scope.objects(f"{scope.artifact_prefix}*")],
    )
    yield iam.PolicyStatement(
        sid="WriteProjectArtifacts",
        actions=["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
        resources=[scope.objects(f"{scope.artifact_prefix}*")],
    )
    yield iam.PolicyStatement(
        sid="ArtifactKeyThroughS3",
        actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
        resources=[scope.arn("kms", "key/*")],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{names.region}.amazonaws.com"}},
    )
    yield iam.PolicyStatement(
        sid="ReadOnlyDiscovery",
        actions=["sagemaker:Describe*", "sagemaker:List*", "sagemaker:Search"],
        resources=["*"],
    )


def _registration(scope: ProjectScope) -> Iterable[iam.PolicyStatement]:
    """Versions go into the project's groups pending approval; feature versions may be approved."""
    versions = [
        scope.arn("sagemaker", f"model-package/{scope.project}-*/*"),
        scope.arn("sagemaker", f"model-package-group/{scope.project}-*"),
    ]
    yield iam.PolicyStatement(
        sid="RegisterPendingVersions",
        actions=["sagemaker:CreateModelPackage"],
        resources=versions,
        conditions={"StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}},
    )
    yield iam.PolicyStatement(sid="TagVersions", actions=["sagemaker:AddTags"], resources=versions)


def pipeline_statements(scope: ProjectScope) -> list[iam.PolicyStatement]:
    """The project's pipeline execution role: its pipelines' jobs, models and registrations."""
    job_types = list(JOB_ACTION_NOUNS)
    feature = f"{scope.project}-feature"
    return [
        *_artifacts(scope),
        *_registration(scope),
        iam.PolicyStatement(
            sid="RegisterFeatureVersions",  # AUTO_APPROVE_FEATURE registers feature versions approved
            actions=["sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"],
            resources=[
                scope.arn("sagemaker", f"model-package/{feature}/*"),
                scope.arn("sagemaker", f"model-package-group/{feature}"),
            ],
        ),
        iam.PolicyStatement(
            sid="RunPipelineJobs",
            actions=[
                *(f"sagemaker:{verb}{JOB_ACTION_NOUNS[kind]}" for kind in job_types for verb in ("Create", "Stop")),
                "sagemaker:CreateModel",
                "sagemaker:AddTags",
            ],
            resources=[*(scope.arn("sagemaker", f"{kind}/*") for kind in job_types), scope.arn("sagemaker", "model/*")],
        ),
        iam.PolicyStatement(
            sid="PassThePipelineRoleToItsJobs",
            actions=["iam:PassRole"],
            resources=[scope.pipeline_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        *job_infrastructure(scope.arn("logs", "log-group:/aws/sagemaker/*")),
        *jobs_stay_in_vpc(),
    ]


def ci_statements(scope: ProjectScope, *, codebuild: bool) -> list[iam.PolicyStatement]:
    """The project's CI role: define and start its pipelines as the pipeline role, copy to prod; on
    CodeBuild also read the repository and write the build's log stream."""
    statements = [
        *_artifacts(scope),
        *_registration(scope),
        iam.PolicyStatement(
            sid="RunProjectPipelines",
            actions=[
                "sagemaker:CreatePipeline",
                "sagemaker:UpdatePipeline",
                "sagemaker:StartPipelineExecution",
                "sagemaker:StopPipelineExecution",
                "sagemaker:AddTags",
            ],
            resources=[
                scope.arn("sagemaker", f"pipeline/{scope.project}-*"),
                scope.arn("sagemaker", f"pipeline/{scope.project}-*/execution/*"),
            ],
        ),
        iam.PolicyStatement(
            sid="PassThePipelineRole",
            actions=["iam:PassRole"],
            resources=[scope.pipeline_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
        read_job_network([scope.arn("ssm", f"parameter{name}") for name in scope.names.job_network_parameters]),
    ]
    if codebuild:
        statements += [
            iam.PolicyStatement(
                sid="ReadTheRepository",
                actions=["codecommit:GitPull"],
                resources=[scope.repository_arn],
            ),
            iam.PolicyStatement(
                sid="WriteBuildLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    scope.arn(
                        "logs",
                        f"log-group:{project_ci_log_group(scope.names.prefix)}:log-stream:{scope.project}/*",
                    )
                ],
            ),
        ]
    return statements


def trigger_statements(scope: ProjectScope) -> list[iam.PolicyStatement]:
    """What EventBridge may do with the project's trigger role: start the project's build."""
    return [
        iam.PolicyStatement(
            sid="StartTheProjectBuild", actions=["codebuild:StartBuild"], resources=[scope.ci_project_arn]
        )
    ]


def boundary_statements(names: PlatformNames) -> list[iam.PolicyStatement]:
    """The permissions boundary of every project role: each role's statements for any project, once each."""
    scope = ProjectScope(names, "*")
    by_sid: dict[str, iam.PolicyStatement] = {}
    for statement in [*pipeline_statements(scope), *ci_statements(scope, codebuild=True), *trigger_statements(scope)]:
        known = by_sid.setdefault(statement.sid, statement)
        if known.to_json() != statement.to_json():
            raise ValueError(f"two project statements are named {statement.sid}; name them apart")
    return list(by_sid.values())
