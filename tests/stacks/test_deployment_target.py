"""Deployment-target base: key, data-capture bucket, and the named SageMaker execution role."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

import pytest
from aws_cdk.assertions import Match

from lambdas.contract import VIOLATIONS_ALARM_SUFFIX, Deployment, alarm_names
from mlops_constructs.model_monitoring import (
    DATA_QUALITY,
    MODEL_BIAS,
    MODEL_EXPLAINABILITY,
    MODEL_QUALITY,
    MONITORING_IMAGE_REGISTRIES,
)


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


def _role(template, name_suffix):
    roles = template.find_resources("AWS::IAM::Role")
    return next(r for r in roles.values() if r["Properties"].get("RoleName", "").endswith(name_suffix))


def test_deploy_role_trusts_the_promoter_role_and_in_dev_the_cleanup_role_only(target):
    account, template = target
    role = _role(template, f"-{account}-deployer")
    trusted = ["arn:aws:iam::111111111111:role/mlops-promoter"]
    if account == "dev":
        trusted = ["arn:aws:iam::111111111111:role/mlops-endpoint-cleanup", *trusted]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": trusted if len(trusted) > 1 else trusted[0]},
        }
    ]


def _statements_with(template, action: str) -> list[dict]:
    """The identity-policy statements of the stack that allow ``action`` (among others)."""
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if action in statement["Action"]
    ]


def test_only_the_dev_deploy_role_may_list_stacks_for_the_cleanup(target):
    account, template = target
    listing = _statements_with(template, "cloudformation:ListStacks")
    assert listing == (
        [{"Action": "cloudformation:ListStacks", "Effect": "Allow", "Resource": "*", "Sid": "ListStacksForTheCleanup"}]
        if account == "dev"
        else []
    )


def test_deploy_role_creates_change_sets_only_with_the_execution_role(target):
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
                                    "Sid": "ChangeSetsWithTheExecutionRoleOnly",
                                    "Action": "cloudformation:CreateChangeSet",
                                    "Condition": {
                                        "StringEquals": {
                                            "cloudformation:RoleArn": Match.object_like(
                                                {"Fn::GetAtt": Match.any_value()}
                                            )
                                        }
                                    },
                                }
                            )
                        ]
                    )
                }
            )
        },
    )


def test_execution_role_passes_only_the_sagemaker_role(target):
    _, template = target
    statements = _statements_with(template, "iam:PassRole")
    passed = {json.dumps(s["Resource"]): s["Condition"]["StringEquals"]["iam:PassedToService"] for s in statements}
    assert sorted(passed.values()) == ["cloudformation.amazonaws.com", "sagemaker.amazonaws.com"]


def test_templates_find_their_settings_in_ssm(target):
    _, template = target
    for name in ("sagemaker-execution-role-arn", "kms-key-arn", "data-capture-bucket"):
        template.has_resource_properties("AWS::SSM::Parameter", {"Name": f"/mlops/target/{name}", "Type": "String"})


def test_platform_events_are_forwarded_to_the_dev_promotion_bus(target):
    _, template = target
    bus = "arn:aws:events:eu-west-1:111111111111:event-bus/mlops-promotion"
    rules = [
        rule
        for rule in template.find_resources("AWS::Events::Rule").values()
        if rule["Properties"]["Targets"][0]["Arn"] == bus
    ]
    assert len(rules) == 3
    for rule in rules:
        (destination,) = rule["Properties"]["Targets"]
        assert "DeadLetterConfig" in destination
    patterns = [rule["Properties"]["EventPattern"] for rule in rules]
    assert sorted(p["source"][0] for p in patterns) == ["aws.cloudformation", "aws.cloudwatch", "aws.sagemaker"]


def _matches(name: str, patterns: list[dict]) -> bool:
    """EventBridge's prefix and wildcard matching of a string."""
    return any(fnmatchcase(name, p["wildcard"]) if "wildcard" in p else name.startswith(p["prefix"]) for p in patterns)


def test_every_alarm_of_an_endpoint_and_its_monitor_reaches_the_dev_bus(target):
    """The monitoring loop hears of the endpoint's rollback alarms and every Model Monitor violation alarm."""
    _, template = target
    (alarm_rule,) = [
        rule
        for rule in template.find_resources("AWS::Events::Rule").values()
        if rule["Properties"]["EventPattern"].get("source") == ["aws.cloudwatch"]
    ]
    names = alarm_rule["Properties"]["EventPattern"]["detail"]["alarmName"]
    deployment = Deployment("churn", "prod")
    monitor_alarms = [
        f"{deployment.endpoint_name}-{kind.name}{VIOLATIONS_ALARM_SUFFIX}"
        for kind in (DATA_QUALITY, MODEL_QUALITY, MODEL_BIAS, MODEL_EXPLAINABILITY)
    ]
    for name in (*alarm_names(deployment), *monitor_alarms, "mlops-prod-event-forwarding-dead-letters"):
        assert _matches(name, names), name
    assert not _matches("someone-elses-alarm", names)


def test_forwarding_failures_raise_an_alarm(target):
    account, template = target
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"mlops-{account}-event-forwarding-dead-letters",
            "ActionsEnabled": True,
            "AlarmActions": [Match.object_like({"Ref": Match.string_like_regexp("AlertsTopic")})],
        },
    )


def test_endpoint_tester_role_is_trusted_by_the_integration_tester_only(target):
    account, template = target
    role = _role(template, f"-{account}-endpoint-tester")
    assert role["Properties"]["RoleName"] == f"mlops-{account}-endpoint-tester"
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111111111111:role/mlops-integration-tester"},
        }
    ]


def test_endpoint_tester_role_only_describes_and_invokes_platform_endpoints(platform, target):
    from tests.iam_evaluation import Request, identity_statements, is_allowed

    account, template = target
    stack = platform.targets[account]
    statements = identity_statements(
        template.to_json(),
        stack.resolve(stack.endpoint_tester.role.node.default_child.logical_id),
        {"partition": "aws", "region": stack.region, "account": stack.account},
    )
    endpoint = f"arn:aws:sagemaker:eu-west-1:{stack.account}:endpoint/churn-dev-endpoint"
    for action in ("sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"):
        assert is_allowed(statements, Request(action, endpoint))
        assert not is_allowed(statements, Request(action, endpoint.replace("churn-dev-endpoint", "someone-elses")))
    for action in ("sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:InvokeEndpointAsync"):
        assert not is_allowed(statements, Request(action, endpoint))


def test_events_are_forwarded_as_the_named_forwarding_role_only_eventbridge_rules_here_assume(target):
    account, template = target
    account_id = {"dev": "111111111111", "test": "222222222222", "prod": "333333333333"}[account]
    roles = template.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": f"mlops-{account}-event-forwarding"}})
    (role,) = roles
    (trust,) = roles[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": account_id}
    assert trust["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:events:eu-west-1:{account_id}:rule/*"}
    bus = "arn:aws:events:eu-west-1:111111111111:event-bus/mlops-promotion"
    for rule in template.find_resources("AWS::Events::Rule").values():
        for destination in rule["Properties"]["Targets"]:
            if destination["Arn"] == bus:
                assert destination["RoleArn"] == {"Fn::GetAtt": [role, "Arn"]}


def test_endpoints_and_monitoring_jobs_write_their_logs_and_metrics(platform, target):
    """SageMaker runs containers as the execution role: their logs, the monitors' metrics, the jobs' volume key."""
    from tests.iam_evaluation import Request, is_allowed
    from tests.template_deployments import key_arn, role_statements

    account, template = target
    stack = platform.targets[account]
    statements = role_statements(stack, template.to_json(), stack.sagemaker_role)
    logs = f"arn:aws:logs:eu-west-1:{stack.account}:log-group:"
    endpoint_logs = f"{logs}/aws/sagemaker/Endpoints/churn-{account}-endpoint"
    job_logs = f"{logs}/aws/sagemaker/ProcessingJobs"
    for group, stream in (
        (endpoint_logs, "AllTraffic/i-0123456789abcdef0"),
        (job_logs, "model-monitoring-202612031200-0123abcd/algo-1-1764763200"),
    ):
        for action in ("logs:CreateLogGroup", "logs:DescribeLogStreams"):
            assert is_allowed(statements, Request(action, group)), (action, group)
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            assert is_allowed(statements, Request(action, f"{group}:log-stream:{stream}")), (action, group)
    assert not is_allowed(statements, Request("logs:PutLogEvents", f"{logs}/aws/lambda/other:log-stream:x"))
    assert not is_allowed(statements, Request("logs:CreateLogGroup", f"{logs}/aws/sagemaker/Endpoints/other"))

    def metrics(namespace: str) -> Request:
        return Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace})

    assert is_allowed(statements, metrics("aws/sagemaker/Endpoints/data-metrics"))
    assert not is_allowed(statements, metrics("AWS/SageMaker"))

    def grant(for_aws_resource: str) -> Request:
        context = {"kms:GrantIsForAWSResource": for_aws_resource, "kms:ViaService": "sagemaker.eu-west-1.amazonaws.com"}
        return Request("kms:CreateGrant", key_arn(stack.account), context)

    assert is_allowed(statements, grant("true"))
    assert not is_allowed(statements, grant("false"))
    assert is_allowed(statements, Request("kms:Encrypt", key_arn(stack.account)))  # the jobs' output KmsKeyId

    monitor, clarify = MONITORING_IMAGE_REGISTRIES["eu-west-1"]
    for registry, repository in (
        (monitor, "sagemaker-model-monitor-analyzer"),
        (clarify, "sagemaker-clarify-processing"),
    ):
        image = f"arn:aws:ecr:eu-west-1:{registry}:repository/{repository}"
        assert is_allowed(statements, Request("ecr:BatchGetImage", image)), image
        assert not is_allowed(statements, Request("ecr:BatchGetImage", image.replace(repository, "other")))
    assert is_allowed(statements, Request("ecr:GetAuthorizationToken", "*"))
