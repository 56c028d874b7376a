"""Artifact store: KMS-encrypted versioned bucket, and cross-account reads by named roles only."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

TARGET_ROLES = sorted(
    f"arn:aws:iam::{account_id}:role/mlops-{account}-{role}"
    for account, account_id in (("dev", "111111111111"), ("test", "222222222222"), ("prod", "333333333333"))
    for role in ("sagemaker-execution", "deployer")  # Model Monitor baselines; verified copies of models
)


@pytest.fixture(scope="module")
def store(platform, template_of):
    return template_of(platform.artifact_store)


def test_artifact_bucket_is_kms_encrypted_versioned_and_named(store):
    store.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": "mlops-artifacts-111111111111-eu-west-1",
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like({"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})})
                ]
            },
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "Artifacts/"}),
        },
    )


def test_key_rotates(store):
    store.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def _statement(document, sid):
    return next(s for s in document["Statement"] if s.get("Sid") == sid)


def test_bucket_policy_grants_model_reads_to_named_roles_only(store):
    policies = store.find_resources(
        "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": Match.string_like_regexp("^Artifacts")}}}
    )
    (policy,) = policies.values()
    statement = _statement(policy["Properties"]["PolicyDocument"], "DeploymentTargetsReadModelArtifacts")
    assert sorted(statement["Principal"]["AWS"]) == TARGET_ROLES
    assert statement["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert statement["Resource"]["Fn::Join"][1][-1] == "/projects/*"  # never data/


def test_key_policy_lets_the_named_roles_decrypt_through_s3_only(store):
    key = next(iter(store.find_resources("AWS::KMS::Key").values()))
    statement = _statement(key["Properties"]["KeyPolicy"], "DeploymentTargetsDecryptThroughS3")
    assert sorted(statement["Principal"]["AWS"]) == TARGET_ROLES
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def test_bucket_denies_plain_http(store):
    store.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                ),
                "Version": "2012-10-17",
            }
        },
    )


def test_deployed_after_the_targets_whose_roles_it_names(platform):
    dependencies = {stack.stack_name for stack in platform.artifact_store.dependencies}
    assert {"mlops-dev-target", "mlops-test-target", "mlops-prod-target"} <= dependencies


def test_only_the_projects_pipeline_roles_write_model_artifacts_or_delete_under_projects(store):
    policy = next(
        iter(
            store.find_resources(
                "AWS::S3::BucketPolicy", {"Properties": {"Bucket": {"Ref": Match.string_like_regexp("^Artifacts")}}}
            ).values()
        )
    )
    document = policy["Properties"]["PolicyDocument"]
    only_the_pipeline_role = {
        "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/mlops-projects/*-pipeline"}
    }
    for sid, actions, suffix in (
        ("OnlyPipelinesWriteModelArtifacts", {"s3:PutObject", "s3:PutObjectTagging"}, "/projects/*.tar.gz"),
        ("OnlyPipelinesDeleteUnderProjects", {"s3:DeleteObject", "s3:DeleteObjectVersion"}, "/projects/*"),
    ):
        statement = _statement(document, sid)
        assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
        assert set(statement["Action"]) == actions
        assert statement["Resource"]["Fn::Join"][1][-1] == suffix
        assert statement["Condition"] == only_the_pipeline_role
