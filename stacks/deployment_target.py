"""Test, prod (and dev, for feature endpoints): what the promoter needs to deploy into an account."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.naming import PROJECTS_PREFIX, PlatformNames
from mlops_constructs.storage import AccessLogBucket, EncryptedBucket, PlatformKey
from platform_config import AccountName


class DeploymentTargetStack(Stack):
    """Key, data-capture bucket and the SageMaker execution role of one deployment-target account.

    The execution role is named by convention so the dev artifact store can grant it read access to
    model artifacts without a cross-account reference.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, names: PlatformNames, account: AccountName, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = PlatformKey(
            self,
            "TargetKey",
            alias=f"alias/{names.prefix}/{account}/endpoints",
            description="Encrypts endpoint volumes, data capture and monitoring output",
        )
        self.access_logs = AccessLogBucket(self, "AccessLogs")
        self.data_capture = EncryptedBucket(
            self,
            "DataCapture",
            bucket_name=names.data_capture_bucket(account),
            encryption_key=self.key,
            access_logs=self.access_logs,
        )
        self.sagemaker_role = iam.Role(
            self,
            "SageMakerExecutionRole",
            role_name=names.sagemaker_execution_role(account),
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Runs the platform's endpoints and Model Monitor jobs in this account",
        )
        self._grant_data_capture(self.sagemaker_role)
        self._grant_dev_artifact_read(names)
        acknowledge_wildcards(
            self.sagemaker_role,
            {
                "Resource::<DataCapture*.Arn>/*": "Objects of this account's data-capture bucket: endpoints "
                "write captured requests, monitoring jobs read them and write reports.",
                f"Resource::arn:*:s3:::{names.artifact_bucket}/projects/*": "Model artifacts and baselines "
                "under the projects/ prefix of the dev artifact store.",
                "Resource::arn:*:kms:*:key/*": "Keys of the dev account, only through S3 (kms:ViaService); "
                "the dev artifact key's policy is what grants access, naming this role.",
            },
        )

    def _grant_data_capture(self, role: iam.IRole) -> None:
        """Endpoints write captured traffic; monitoring jobs read it and write their reports."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DataCaptureObjects",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.data_capture.arn_for_objects("*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DataCaptureBucket",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[self.data_capture.bucket_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DataCaptureKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self.key.key_arn],
            )
        )

    def _grant_dev_artifact_read(self, names: PlatformNames) -> None:
        """Read model artifacts and baselines from the dev artifact store (its policies name this role)."""
        dev_account = names.account_id("dev")
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadDevModelArtifacts",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[f"arn:{self.partition}:s3:::{names.artifact_bucket}/{PROJECTS_PREFIX}*"],
            )
        )
        self.sagemaker_role.add_to_policy(
            iam.PolicyStatement(
                sid="DecryptDevArtifactsThroughS3",
                actions=["kms:Decrypt", "kms:DescribeKey"],
                resources=[f"arn:{self.partition}:kms:{self.region}:{dev_account}:key/*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
            )
        )
