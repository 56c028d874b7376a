"""Dashboards of the deployment targets: SEARCH graphs of the platform's endpoints, and counted rollbacks."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match


@pytest.fixture(scope="module", params=["dev", "test", "prod"])
def target(request, platform, template_of):
    return request.param, template_of(platform.targets[request.param])


def _dashboard_body(template) -> dict:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "eu-west-1" for part in parts)
    return dashboard, json.loads(text)


def test_each_account_has_a_dashboard_of_its_endpoints_with_search_expressions(target):
    account, template = target
    dashboard, body = _dashboard_body(template)
    assert dashboard["Properties"]["DashboardName"] == f"mlops-{account}-models"
    expressions = {
        widget["properties"]["title"]: [
            m[0]["expression"] for m in widget["properties"]["metrics"] if isinstance(m[0], dict)
        ]
        for widget in body["widgets"]
    }
    for title, metric, statistic in (
        ("Invocations", "Invocations", "Sum"),
        ("Model latency (microseconds)", "ModelLatency", "Average"),
        ("4xx errors", "Invocation4XXErrors", "Sum"),
        ("5xx errors", "Invocation5XXErrors", "Sum"),
    ):
        assert expressions[title] == [
            f"SEARCH('{{AWS/SageMaker,EndpointName,VariantName}} MetricName=\"{metric}\" endpoint', '{statistic}', 300)"
        ]
    for title, metric in (
        ("Instance CPU utilization (%)", "CPUUtilization"),
        ("Instance memory utilization (%)", "MemoryUtilization"),
        ("Instance disk utilization (%)", "DiskUtilization"),
    ):
        assert expressions[title] == [
            f'SEARCH(\'{{"/aws/sagemaker/Endpoints",EndpointName,VariantName}} MetricName="{metric}" endpoint\', '
            "'Average', 300)"
        ]
    # asynchronous endpoints publish per endpoint only; batch stages' failed runs are their alarms' metric
    for title, metric, statistic in (
        ("Async backlog per instance", "ApproximateBacklogSizePerInstance", "Average"),
        ("Async backlog without capacity (scaled to zero)", "HasBacklogWithoutCapacity", "Maximum"),
        ("Async invocations processed", "InvocationsProcessed", "Sum"),
        ("Async invocation failures", "InvocationFailures", "Sum"),
    ):
        assert expressions[title] == [
            f"SEARCH('{{AWS/SageMaker,EndpointName}} MetricName=\"{metric}\" endpoint', '{statistic}', 300)"
        ]
    assert expressions["Batch runs failed"] == [
        "SEARCH('{AWS/Events,RuleName} MetricName=\"MatchedEvents\" batch failures', 'Sum', 300)"
    ]
    # the metric the monitor templates' violation alarms watch, for the rules of the monitor stacks
    assert expressions["Model Monitor runs with violations"] == [
        "SEARCH('{AWS/Events,RuleName} MetricName=\"MatchedEvents\" monitor', 'Sum', 300)"
    ]
    [rollbacks] = [w for w in body["widgets"] if w["properties"]["title"] == "Rollbacks"]
    assert rollbacks["properties"]["metrics"][0][:2] == ["mlops/platform", "Rollbacks"]


def test_rollbacks_are_logged_encrypted_for_a_year_and_counted(target):
    _, template = target
    (log_group_id,) = [
        logical_id
        for logical_id, group in template.find_resources("AWS::Logs::LogGroup").items()
        if logical_id.startswith("Rollbacks")
    ]
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^TargetKey"), "Arn"]},
                "RetentionInDays": 365,
            },
        },
    )
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "LogGroupName": {"Ref": log_group_id},
            "MetricTransformations": [
                Match.object_like({"MetricNamespace": "mlops/platform", "MetricName": "Rollbacks", "MetricValue": "1"})
            ],
        },
    )
    key_policy = next(iter(template.find_resources("AWS::KMS::Key").values()))["Properties"]["KeyPolicy"]
    [logs_statement] = [s for s in key_policy["Statement"] if s.get("Sid") == "CloudWatchLogsEncryptsTheRollbackLog"]
    assert logs_statement["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}


def test_a_rule_logs_stack_and_endpoint_rollbacks_with_a_dead_letter_queue(target):
    _, template = target
    [rule] = [
        rule
        for rule in template.find_resources("AWS::Events::Rule").values()
        if "$or" in rule["Properties"]["EventPattern"]
    ]
    stacks, endpoints = rule["Properties"]["EventPattern"]["$or"]
    assert stacks["detail"]["status-details"]["status"] == ["UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE"]
    assert stacks["detail"]["stack-id"] == [{"wildcard": "*:stack/*-endpoint/*"}, {"wildcard": "*:stack/*-monitor/*"}]
    assert endpoints["detail-type"] == ["SageMaker Endpoint Deployment State Change"]
    assert "ROLLING_BACK" in endpoints["detail"]["EndpointStatus"]
    (destination,) = rule["Properties"]["Targets"]
    assert re.match(r"^RollbacksLogs", destination["Arn"]["Fn::GetAtt"][0])
    assert destination["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("ForwardingDeadLetters")
    (policy,) = template.find_resources("AWS::Logs::ResourcePolicy").values()
    document = "".join(
        p if isinstance(p, str) else json.dumps(p) for p in policy["Properties"]["PolicyDocument"]["Fn::Join"][1]
    )
    assert '"Service":["events.amazonaws.com"' in document and "logs:PutLogEvents" in document
    assert log_group_arn_of(rule) in document


def log_group_arn_of(rule) -> str:
    return json.dumps(rule["Properties"]["Targets"][0]["Arn"])
