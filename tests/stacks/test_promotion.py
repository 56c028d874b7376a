"""Promotion stack: event routing, queues that lose nothing, the ledger, and the handlers' wiring."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from lambdas.contract import CHANGE_SET_EXECUTION_WINDOW_SECONDS, CHANGE_SET_WAIT_SECONDS, values_per_stage
from stacks.promotion import PROMOTER_RECORD_ALLOWANCE
from tests.iam_evaluation import Request, identity_statements, is_allowed, resource_policy_statements

REGION, DEV = "eu-west-1", "111111111111"


@pytest.fixture(scope="module")
def promotion(platform, template_of):
    return template_of(platform.promotion)


def function_environment(promotion, handler: str) -> dict:
    (function,) = promotion.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": handler}}).values()
    return function["Properties"]["Environment"]["Variables"]


def test_model_package_approvals_of_managed_groups_reach_the_promotion_queue(promotion):
    promotion.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": {"ModelPackageGroupName": [{"suffix": "-feature"}, {"suffix": "-dev"}, {"suffix": "-prod"}]},
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [Match.string_like_regexp("^PromotionQueue"), "Arn"]},
                        "DeadLetterConfig": Match.any_value(),
                    }
                )
            ],
        },
    )


TEST_FORWARDER = "arn:aws:iam::222222222222:role/mlops-test-event-forwarding"
PROD_FORWARDER = "arn:aws:iam::333333333333:role/mlops-prod-event-forwarding"


@pytest.mark.parametrize(
    ("caller", "source", "allowed"),
    [
        (TEST_FORWARDER, "aws.sagemaker", True),
        (PROD_FORWARDER, "aws.cloudformation", True),
        (PROD_FORWARDER, "aws.cloudwatch", True),
        (TEST_FORWARDER, "mlops.promoter", False),  # forwarded AWS events only
        ("arn:aws:iam::222222222222:role/mlops-test-deployer", "aws.sagemaker", False),  # another role of test
        ("arn:aws:iam::333333333333:role/Admin", "aws.cloudwatch", False),
        ("arn:aws:iam::444444444444:role/mlops-test-event-forwarding", "aws.sagemaker", False),  # same name elsewhere
    ],
)
def test_promotion_bus_accepts_forwarded_events_from_the_named_forwarding_roles_only(
    promotion, caller, source, allowed
):
    (bus,) = promotion.find_resources("AWS::Events::EventBus", {"Properties": {"Name": "mlops-promotion"}})
    env = {"partition": "aws", "region": REGION, "account": DEV}
    statements = [
        statement
        for logical_id in promotion.find_resources("AWS::Events::EventBusPolicy")
        for statement in resource_policy_statements(promotion.to_json(), logical_id, env)
    ]
    request = Request("events:PutEvents", f"<{bus}.Arn>", {"events:source": source}, principal=caller)
    assert is_allowed(statements, request) is allowed


def test_promotion_bus_archives_forwarded_events(promotion):
    promotion.has_resource_properties("AWS::Events::Archive", {"RetentionDays": 30})


def test_ledger_is_encrypted_recoverable_and_kept(promotion):
    promotion.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
                    "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
                    "Replicas": [
                        Match.object_like(
                            {
                                "DeletionProtectionEnabled": True,
                                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                            }
                        )
                    ],
                }
            ),
        },
    )


def test_handlers_consume_their_queues_with_partial_batch_failures(promotion):
    mappings = promotion.find_resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 3
    for mapping in mappings.values():
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    tester = [m for m in mappings.values() if "TesterQueue" in json.dumps(m["Properties"]["EventSourceArn"])]
    assert [mapping["Properties"]["BatchSize"] for mapping in tester] == [1]


def test_promoter_knows_where_each_stage_deploys(promotion):
    environment = function_environment(promotion, "promoter.handler.handler")
    targets = values_per_stage(json.loads(environment["STAGE_TARGETS"]))
    assert targets["feature"]["deploy_role_arn"] == "arn:aws:iam::111111111111:role/mlops-dev-deployer"
    assert targets["dev"]["deploy_role_arn"] == "arn:aws:iam::222222222222:role/mlops-test-deployer"
    assert targets["prod"]["cloudformation_role_arn"] == "arn:aws:iam::333333333333:role/mlops-prod-cfn-execution"
    settings = values_per_stage(json.loads(environment["ENDPOINT_SETTINGS"]))
    assert settings["prod"]["DeploymentStrategy"] == "CANARY"
    assert settings["prod"]["InstanceCount"] == "2"
    assert settings["dev"]["DeploymentStrategy"] == "ALL_AT_ONCE"
    assert environment["STAGES"] == "feature,dev,prod"
    assert environment["ROLLBACK_MONITORING_MINUTES"] == "10"


def test_handlers_run_on_the_latest_python_with_the_pinned_powertools_layer(promotion):
    for function in promotion.find_resources("AWS::Lambda::Function").values():
        assert function["Properties"]["Runtime"] == "python3.14"
        assert function["Properties"]["Architectures"] == ["arm64"]
    parameters = promotion.to_json()["Parameters"]
    assert any(
        p.get("Default") == "/aws/service/powertools/python/arm64/python3.14/3.37.0" for p in parameters.values()
    )


@pytest.fixture(scope="module")
def role_statements(platform, promotion):
    template = promotion.to_json()
    env = {"partition": "aws", "region": REGION, "account": DEV}

    def statements(function):
        return identity_statements(
            template, platform.promotion.resolve(function.role.node.default_child.logical_id), env
        )

    return {
        "promoter": statements(platform.promotion.promoter),
        "tracker": statements(platform.promotion.tracker),
        "tester": statements(platform.promotion.tester),
    }


def package(group: str, version: int = 8) -> str:
    return f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/{group}/{version}"


def test_tracker_annotates_packages_but_never_changes_their_approval(role_statements):
    tracker = role_statements["tracker"]
    assert is_allowed(tracker, Request("sagemaker:UpdateModelPackage", package("churn-dev")))
    assert not is_allowed(
        tracker,
        Request("sagemaker:UpdateModelPackage", package("churn-dev"), {"sagemaker:ModelApprovalStatus": "Approved"}),
    )


def test_promoter_reads_managed_groups_and_assumes_deploy_roles_only(role_statements):
    promoter = role_statements["promoter"]
    assert is_allowed(promoter, Request("sagemaker:DescribeModelPackage", package("churn-prod")))
    assert not is_allowed(promoter, Request("sagemaker:DescribeModelPackage", package("someone-elses-group")))
    assert not is_allowed(promoter, Request("sagemaker:UpdateModelPackage", package("churn-prod")))
    assert is_allowed(promoter, Request("sts:AssumeRole", "arn:aws:iam::333333333333:role/mlops-prod-deployer"))
    assert not is_allowed(promoter, Request("sts:AssumeRole", "arn:aws:iam::333333333333:role/OrganizationAdmin"))


def test_promoter_role_has_the_name_the_deploy_roles_trust(promotion):
    promotion.has_resource_properties("AWS::IAM::Role", {"RoleName": "mlops-promoter"})


def test_handlers_get_exactly_the_environment_their_tests_give_them(promotion):
    """The handler tests run with PROMOTER_ENVIRONMENT / TRACKER_ENVIRONMENT: the synthesized functions
    must set the same variables, with the same stage targets and settings."""
    from tests.lambdas.conftest import PROMOTER_ENVIRONMENT, TESTER_ENVIRONMENT, TRACKER_ENVIRONMENT

    for handler, tested in (
        ("promoter.handler.handler", PROMOTER_ENVIRONMENT),
        ("tracker.handler.handler", TRACKER_ENVIRONMENT),
        ("integration_tester.handler.handler", TESTER_ENVIRONMENT),
    ):
        synthesized = function_environment(promotion, handler)
        assert set(synthesized) - {"POWERTOOLS_SERVICE_NAME"} == set(tested) - {"AWS_REGION"}, handler
        for name in ("STAGE_TARGETS", "ENDPOINT_SETTINGS"):  # the promoter's, stages sharing a value share its key
            if name in tested:
                assert values_per_stage(json.loads(synthesized[name])) == json.loads(tested[name]), name
        for name in ("TARGET_ACCOUNTS", "TESTER_ROLES"):
            if name in tested:
                assert json.loads(synthesized[name]) == json.loads(tested[name]), name
        for name in ("DEV_ACCOUNT_ID", "STAGES"):
            assert synthesized[name] == tested[name]


def test_project_settings_table_is_encrypted_recoverable_and_kept(promotion):
    promotion.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "TableName": "mlops-project-settings",
                    "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
                    "Replicas": [
                        Match.object_like(
                            {
                                "DeletionProtectionEnabled": True,
                                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                            }
                        )
                    ],
                }
            ),
        },
    )


def test_endpoints_in_service_reach_the_integration_tester(promotion):
    promotion.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventBusName": Match.any_value(),
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Endpoint State Change"],
                "detail": {"EndpointName": [{"suffix": "-endpoint"}], "EndpointStatus": ["IN_SERVICE"]},
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [Match.string_like_regexp("^TesterQueue"), "Arn"]},
                        "DeadLetterConfig": Match.any_value(),
                    }
                )
            ],
        },
    )
    # a batch stage has no endpoint: its smoke run starts when its deployment stack completes
    promotion.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudformation"],
                "detail-type": ["CloudFormation Stack Status Change"],
                "detail": {
                    "stack-id": [{"wildcard": "*-endpoint/*"}],
                    "status-details": {"status": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]},
                },
            },
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [Match.string_like_regexp("^TesterQueue"), "Arn"]}})],
        },
    )
    promotion.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmName": "mlops-integration-tester-dead-letters", "ActionsEnabled": True}
    )
    promotion.has_resource_properties(
        "AWS::Lambda::Function",
        {"Handler": "integration_tester.handler.handler", "Timeout": 300, "Role": Match.any_value()},
    )
    promotion.has_resource_properties("AWS::IAM::Role", {"RoleName": "mlops-integration-tester"})


def test_tester_assumes_the_endpoint_tester_roles_and_reads_test_cases_only(platform, role_statements):
    tester = role_statements["tester"]
    for account, name in (("111111111111", "dev"), ("222222222222", "test"), ("333333333333", "prod")):
        role = f"arn:aws:iam::{account}:role/mlops-{name}-endpoint-tester"
        assert is_allowed(tester, Request("sts:AssumeRole", role))
    assert not is_allowed(tester, Request("sts:AssumeRole", "arn:aws:iam::222222222222:role/mlops-test-deployer"))
    table = platform.promotion.project_settings.node.default_child
    settings = f"<{platform.promotion.resolve(table.logical_id)}.Arn>"  # how the evaluator resolves its ARN
    assert is_allowed(tester, Request("dynamodb:Query", settings))
    assert not is_allowed(tester, Request("dynamodb:PutItem", settings))
    assert not is_allowed(tester, Request("sagemaker:UpdateModelPackage", package("churn-dev")))


def test_a_promoter_batch_always_finishes_within_the_functions_timeout(promotion):
    """Every record of a batch may wait the full change set time, and SQS must not make a batch's
    messages visible again while it still runs (AWS: visibility timeout at least six times the timeout)."""
    (mapping,) = [
        m
        for m in promotion.find_resources("AWS::Lambda::EventSourceMapping").values()
        if "PromotionQueue" in json.dumps(m["Properties"]["EventSourceArn"])
    ]
    queue_id = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
    queue = promotion.to_json()["Resources"][queue_id]
    (function,) = promotion.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "promoter.handler.handler"}}
    ).values()
    timeout = function["Properties"]["Timeout"]
    record_worst_case = CHANGE_SET_WAIT_SECONDS + PROMOTER_RECORD_ALLOWANCE.to_seconds()

    assert mapping["Properties"]["BatchSize"] * record_worst_case <= timeout
    assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout
    # A change set still waiting after the promoter's timeout was abandoned; before then it may be executed.
    assert timeout < CHANGE_SET_EXECUTION_WINDOW_SECONDS
