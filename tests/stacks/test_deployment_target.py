"""Deployment-target base: key, data-capture bucket, and the named SageMaker execution role."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match


@pytest.fixture(scope="module", params=["dev", "test", "prod"])
def target(request, platform, template_of):
    return request.param, template_of(platform.targets[request.param])


def test_targets_live_in_their_accounts(platform):
    assert {name: stack.account for name, stack in platform.targets.items()} == {
        "dev": "111111111111",
        "test": "222222222222",
        "prod": "333333333333",
    }


def test_data_capture_bucket_is_kms_encrypted_and_named(target):
    account, template = target
    account_id = {"dev": "111111111111", "test": "222222222222", "prod": "333333333333"}[account]
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": f"mlops-data-capture-{account_id}-eu-west-1",
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like({"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})})
                ]
            },
        },
    )


def test_execution_role_is_named_for_the_artifact_store(target):
    account, template = target
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": f"mlops-{account}-sagemaker-execution",
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]}
            ),
        },
    )


def test_execution_role_reads_dev_artifacts_through_s3_only(target):
    _, template = target
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": Match.object_like(
                {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Sid": "DecryptDevArtifactsThroughS3",
                                    "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
                                }
                            )
                        ]
                    )
                }
            )
        },
    )
