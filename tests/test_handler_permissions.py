"""The check that every handler call is allowed (tests/handler_permissions.py) finds what IAM would deny."""

from __future__ import annotations

import json

import pytest

from tests.handler_calls import Call
from tests.handler_permissions import UnmappedCall, denials, iam_requests
from tests.iam_evaluation import Request

REGION = "eu-west-1"
DEV_DEPLOYER = "arn:aws:iam::111111111111:role/mlops-dev-deployer"
TEST_DEPLOYER = "arn:aws:iam::222222222222:role/mlops-test-deployer"


def test_a_function_assuming_a_role_its_policy_does_not_name_is_denied(synthesized_roles):
    call = Call("tracker", "sts", "AssumeRole", {"RoleArn": TEST_DEPLOYER, "RoleSessionName": "x"}, REGION)
    problems, checked = denials([call], synthesized_roles)
    assert len(problems) == 1 and "sts:AssumeRole on " + TEST_DEPLOYER in problems[0]
    assert [action for _, action in checked] == ["sts:AssumeRole"]


def test_the_promoter_may_assume_the_deploy_roles(synthesized_roles):
    call = Call("promoter", "sts", "AssumeRole", {"RoleArn": TEST_DEPLOYER, "RoleSessionName": "x"}, REGION)
    assert denials([call], synthesized_roles)[0] == []


def test_a_session_policy_limits_what_the_assumed_role_may_do(synthesized_roles):
    stack = {"StackName": "churn-feature-endpoint"}
    read_only = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "cloudformation:Describe*", "Resource": "*"}],
        }
    )
    describe = Call("endpoint_cleanup", "cloudformation", "DescribeStacks", stack, REGION, DEV_DEPLOYER, read_only)
    delete = Call("endpoint_cleanup", "cloudformation", "DeleteStack", stack, REGION, DEV_DEPLOYER, read_only)
    assert denials([describe], synthesized_roles)[0] == []
    (problem,) = denials([delete], synthesized_roles)[0]
    assert "cloudformation:DeleteStack" in problem and "session policy" in problem


def test_a_transaction_needs_the_action_of_each_item_and_a_change_set_passes_its_role():
    ledger = "arn:aws:dynamodb:eu-west-1:111111111111:table/ledger"
    transaction = Call(
        "promoter",
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "ledger"}}, {"Update": {"TableName": "ledger"}}]},
        REGION,
    )
    assert [(r.action, r.resource) for r in iam_requests(transaction, "111111111111")] == [
        ("dynamodb:PutItem", ledger),
        ("dynamodb:UpdateItem", ledger),
    ]
    execution_role = "arn:aws:iam::222222222222:role/mlops-test-cfn-execution"
    change_set = Call(
        "promoter", "cloudformation", "CreateChangeSet", {"StackName": "s", "RoleARN": execution_role}, REGION
    )
    passed = Request("iam:PassRole", execution_role, {"iam:PassedToService": "cloudformation.amazonaws.com"})
    assert passed in iam_requests(change_set, "222222222222")


def test_a_call_whose_resource_is_not_mapped_fails_loudly():
    call = Call("promoter", "sagemaker", "DeleteModelPackage", {"ModelPackageName": "x"}, REGION)
    with pytest.raises(UnmappedCall, match="sagemaker:DeleteModelPackage"):
        iam_requests(call, "111111111111")
