"""Every policy the platform writes names real actions, condition keys its actions carry and resources
they apply to, as IAM's service authorization data defines them (see ``tests/iam_lint.py``)."""

from __future__ import annotations

import pytest

from project_template.decisions import group_policy
from tests.iam_lint import Finding, lint, policy_documents

#: A model package group policy as the project-template function writes it (decisions.group_policy).
GROUP_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/churn-dev"
READERS = (
    "arn:aws:iam::222222222222:role/mlops-test-cfn-execution",
    "arn:aws:iam::333333333333:role/mlops-prod-cfn-execution",
)


@pytest.fixture(scope="module")
def findings(all_templates, stack_environments) -> list[Finding]:
    documents = list(policy_documents(all_templates, stack_environments))
    documents.append(("project-template function/model package group policy", group_policy(GROUP_ARN, READERS)))
    assert len(documents) > 50, "the policies of the templates were not found"
    return [finding for where, document in documents for finding in lint(where, document)]


def test_every_policy_is_valid_for_iam(findings):
    assert not findings, "\n".join(str(finding) for finding in findings)


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ({"Action": "s3:GetObjects", "Resource": "*"}, "action 's3:GetObjects' matches no action"),
        ({"Action": "sagemker:DescribeModel", "Resource": "*"}, "action 'sagemker:DescribeModel' matches no"),
        ({"Action": "sqs:Fetch*", "Resource": "*"}, "action 'sqs:Fetch*' matches no action"),
        ({"NotAction": "iam:PassRoles", "Resource": "*"}, "action 'iam:PassRoles' matches no action"),
        (
            {"Action": "kms:DescribeKey", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
            "condition key 'kms:GrantIsForAWSResource' is not carried by kms:DescribeKey",
        ),
        (
            {"Action": "sagemaker:ListEndpoints", "Resource": "arn:aws:sagemaker:eu-west-1:1:endpoint/churn-dev"},
            "sagemaker:ListEndpoints applies to none of",
        ),
        (
            {"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bucket/prefix/*"},
            "s3:ListBucket applies to none of arn:aws:s3:::bucket/prefix/*",
        ),
    ],
)
def test_the_linter_finds_what_iam_would_not_honour(statement, problem):
    messages = [finding.message for finding in lint("example", {"Statement": [{"Effect": "Allow", **statement}]})]
    assert any(problem in message for message in messages), messages


@pytest.mark.parametrize(
    "statement",
    [
        {"Action": ["s3:Get*", "s3:ListBucket"], "Resource": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"]},
        {"Action": "s3:*", "Resource": "*", "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
        {"Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b", "Condition": {"StringLike": {"s3:prefix": "p/*"}}},
        {"Action": "sqs:SendMessage", "Resource": "*", "Condition": {"ArnEquals": {"aws:SourceArn": "arn:x"}}},
        {"Action": "cloudformation:CreateChangeSet", "Resource": "arn:aws:cloudformation:eu-west-1:1:stack/churn-*"},
        {"Action": "sts:AssumeRole", "Resource": "arn:aws:iam::222222222222:role/mlops-test-deployer"},
    ],
)
def test_the_linter_accepts_what_iam_honours(statement):
    assert lint("example", {"Statement": [{"Effect": "Allow", **statement}]}) == []
