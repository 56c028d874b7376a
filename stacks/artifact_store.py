"""Dev account: the artifact store every project writes to and the deployment targets read from."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlops_constructs.naming import MODEL_ARTIFACT_SUFFIX, PROJECTS_PREFIX, PlatformNames
from mlops_constructs.storage import AccessLogBucket, EncryptedBucket, PlatformKey


class ArtifactStoreStack(Stack):
    """The KMS key and versioned buckets for datasets, pipeline outputs and model artifacts.

    Only ``project_pipeline_roles`` (an ARN pattern: the projects' pipeline execution roles, which
    their pipelines and jobs run as) write model artifacts (``*.tar.gz``) under ``projects/``, where
    registered models live, or delete anything there: the bucket policy denies it to everyone else,
    whatever their IAM policies say (each pipeline role's own policy keeps it to its project's prefix). (People and
    CI still upload job code and configuration under ``projects/<project>/`` when they define a
    pipeline.) The deployment targets' deploy roles (which copy registered models, verified by ETag,
    into their accounts) and SageMaker execution roles (Model Monitor baselines) may read
    ``projects/`` cross-account, named, never whole accounts: the bucket policy and the key policy
    both name them, which is what cross-account KMS decryption needs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: PlatformNames,
        artifact_readers: list[str],
        project_pipeline_roles: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = PlatformKey(
            self, "ArtifactKey", alias=names.artifact_key_alias, description="Encrypts datasets and model artifacts"
        )
        self.access_logs = AccessLogBucket(self, "AccessLogs")
        self.bucket = EncryptedBucket(
            self,
            "Artifacts",
            bucket_name=names.artifact_bucket,
            encryption_key=self.key,
            access_logs=self.access_logs,
        )
        readers = [iam.ArnPrincipal(arn) for arn in artifact_readers]
        registered = self.bucket.arn_for_objects(f"{PROJECTS_PREFIX}*")
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DeploymentTargetsReadModelArtifacts",
                principals=readers,
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[registered],
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DeploymentTargetsListModelArtifacts",
                principals=readers,
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{PROJECTS_PREFIX}*"]}},
            )
        )
        self.bucket.deny_to_all_but(
            "OnlyPipelinesWriteModelArtifacts",
            ["s3:PutObject", "s3:PutObjectTagging"],
            self.bucket.arn_for_objects(f"{PROJECTS_PREFIX}*{MODEL_ARTIFACT_SUFFIX}"),
            project_pipeline_roles,
        )
        self.bucket.deny_to_all_but(
            "OnlyPipelinesDeleteUnderProjects",
            ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            registered,
            project_pipeline_roles,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DeploymentTargetsDecryptThroughS3",
                principals=readers,
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
            )
        )
