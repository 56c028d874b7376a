"""Encrypted, retained storage: the customer-managed key and the kinds of bucket the stacks use."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from mlops_constructs.compliance import acknowledge


class PlatformKey(kms.Key):
    """A customer-managed KMS key with automatic yearly rotation, retained when its stack is deleted.

    Stateful by nature: deleting a key makes everything encrypted with it unreadable, so it is never
    removed with a stack.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alias: str, description: str) -> None:
        super().__init__(
            scope,
            construct_id,
            alias=alias,
            description=description,
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )


def let_cloudwatch_logs_encrypt(key: kms.IKey, *, sid: str, log_groups: str) -> None:
    """Let CloudWatch Logs of the key's region encrypt and decrypt with ``key`` for the log groups
    ``log_groups`` (an ARN, ``*`` allowed), as AWS documents for encrypted log groups."""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(f"logs.{Stack.of(key).region}.amazonaws.com")],
            # No kms:Describe*: a Describe request carries no encryption context, so under the
            # condition below it would never be allowed.
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        )
    )


_COMMON_BUCKET_SETTINGS = dict(
    block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    enforce_ssl=True,
    minimum_tls_version=1.2,
    versioned=True,
    object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    removal_policy=RemovalPolicy.RETAIN,
)


class AccessLogBucket(s3.Bucket):
    """The destination of S3 server access logs for the other buckets of a stack.

    S3 delivers server access logs only to buckets encrypted with S3-managed keys (SSE-S3), so this is
    the one bucket of the platform without a customer-managed key. Logs expire after a year.
    """

    def __init__(self, scope: Construct, construct_id: str, *, bucket_name: str | None = None) -> None:
        super().__init__(
            scope,
            construct_id,
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(30))
            ],
            **_COMMON_BUCKET_SETTINGS,
        )
        acknowledge(
            self, "AwsSolutions-S1", "This is the server-access-log destination; logging it into itself would loop."
        )


class EncryptedBucket(s3.Bucket):
    """A versioned bucket encrypted with a customer-managed key, TLS-only, logged and retained.

    Old object versions expire after ``noncurrent_days`` so versioning protects against mistakes
    without storing every overwrite forever.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        bucket_name: str | None = None,
        noncurrent_days: int = 90,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            bucket_key_enabled=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{construct_id}/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(noncurrent_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            **_COMMON_BUCKET_SETTINGS,
        )

    def deny_to_all_but(self, sid: str, actions: list[str], objects: str, principal_arn: str | None = None) -> None:
        """Deny ``actions`` on ``objects`` to every principal but ``principal_arn`` (a role ARN, or a pattern
        with ``*``; to everyone when None), whatever their identity policies allow."""
        self.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=actions,
                resources=[objects],
                conditions=(
                    {"ArnNotLike" if "*" in principal_arn else "ArnNotEquals": {"aws:PrincipalArn": principal_arn}}
                    if principal_arn
                    else None
                ),
            )
        )


class VerifiedModelBucket(EncryptedBucket):
    """Where a deployment target keeps the verified copies of the models its endpoints serve.

    An :class:`EncryptedBucket` (the target's key, versioned, TLS-only, logged, retained) whose policy
    lets only ``writer_role_arn`` (the deploy role, which copies a model only if its bytes are the
    registered ones) write objects, and nobody delete them: an endpoint's model, and the previous
    model a rollback returns to, keep reading what was verified. Removing a copy takes changing this
    policy, which is an administrator's act, not a deployment's.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        writer_role_arn: str,
        bucket_name: str | None = None,
    ) -> None:
        super().__init__(
            scope, construct_id, bucket_name=bucket_name, encryption_key=encryption_key, access_logs=access_logs
        )
        objects = self.arn_for_objects("*")
        self.deny_to_all_but(
            "OnlyTheDeployRoleWrites", ["s3:PutObject", "s3:PutObjectTagging"], objects, writer_role_arn
        )
        self.deny_to_all_but("VerifiedCopiesAreNeverDeleted", ["s3:DeleteObject", "s3:DeleteObjectVersion"], objects)
