"""Dev account: the artifact store every project writes to and the deployment targets read from."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlops_constructs.naming import PROJECTS_PREFIX, PlatformNames
from mlops_constructs.storage import AccessLogBucket, EncryptedBucket, PlatformKey


class ArtifactStoreStack(Stack):
    """The KMS key and versioned buckets for datasets, pipeline outputs and model artifacts.

    The deployment targets' SageMaker execution roles (named, never whole accounts) may read model
    artifacts and baselines cross-account: the bucket policy and the key policy both name them, which
    is what cross-account KMS decryption needs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: PlatformNames,
        artifact_readers: list[str],
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
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DeploymentTargetsReadModelArtifacts",
                principals=readers,
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.bucket.arn_for_objects(f"{PROJECTS_PREFIX}*")],
            )
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
