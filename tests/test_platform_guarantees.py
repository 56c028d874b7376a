"""Guarantees that hold for every template the platform synthesizes, whatever the stack."""

from __future__ import annotations

import json
from pathlib import Path

SENSITIVE_SERVICES = ("sagemaker", "s3", "kms", "iam")


def _resources(all_templates, resource_type):
    for stack_name, template in all_templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            if resource["Type"] == resource_type:
                yield stack_name, logical_id, resource


def _identity_statements(all_templates):
    for policy_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for stack_name, logical_id, resource in _resources(all_templates, policy_type):
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                yield f"{stack_name}/{logical_id}", statement
    for stack_name, logical_id, role in _resources(all_templates, "AWS::IAM::Role"):
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield f"{stack_name}/{logical_id}", statement


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_no_full_wildcard_actions_on_sensitive_services(all_templates):
    offenders = []
    for where, statement in _identity_statements(all_templates):
        if statement["Effect"] != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        for action in actions:
            full_wildcard = action == "*" or any(action == f"{service}:*" for service in SENSITIVE_SERVICES)
            if full_wildcard:
                offenders.append((where, action, resources))
        if "NotAction" in statement:
            offenders.append((where, "NotAction", statement["NotAction"]))
    assert offenders == []


def test_every_bucket_is_kms_encrypted_except_access_log_destinations(all_templates):
    for stack_name, logical_id, bucket in _resources(all_templates, "AWS::S3::Bucket"):
        encryption = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        algorithm = encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
        if logical_id.startswith("AccessLogs"):
            assert algorithm == "AES256", "S3 only delivers access logs to SSE-S3 buckets"
        else:
            assert algorithm == "aws:kms", f"{stack_name}/{logical_id}"


def test_buckets_block_public_access_and_keep_versions(all_templates):
    for stack_name, logical_id, bucket in _resources(all_templates, "AWS::S3::Bucket"):
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, f"{stack_name}/{logical_id}"
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, f"{stack_name}/{logical_id}"


def test_every_bucket_policy_denies_insecure_transport(all_templates):
    buckets = {(s, lid) for s, lid, _ in _resources(all_templates, "AWS::S3::Bucket")}
    covered = set()
    for stack_name, _, policy in _resources(all_templates, "AWS::S3::BucketPolicy"):
        document = json.dumps(policy["Properties"]["PolicyDocument"])
        if '"aws:SecureTransport": "false"' in document:
            covered.add((stack_name, policy["Properties"]["Bucket"]["Ref"]))
    assert buckets == covered


def test_stateful_resources_are_retained(all_templates):
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::DynamoDB::Table"):
        for stack_name, logical_id, resource in _resources(all_templates, resource_type):
            assert resource.get("DeletionPolicy") == "Retain", f"{stack_name}/{logical_id}"
            assert resource.get("UpdateReplacePolicy") == "Retain", f"{stack_name}/{logical_id}"


def test_keys_rotate(all_templates):
    for stack_name, logical_id, key in _resources(all_templates, "AWS::KMS::Key"):
        assert key["Properties"]["EnableKeyRotation"] is True, f"{stack_name}/{logical_id}"


def test_three_account_environments(assembly):
    environments = {(s.environment.account, s.environment.region) for s in assembly.stacks}
    assert environments == {
        ("111111111111", "eu-west-1"),
        ("222222222222", "eu-west-1"),
        ("333333333333", "eu-west-1"),
    }


def _project_stack_dead_letter_queues(platform, assembly) -> set[str]:
    """The queues (by name) the rules of a project's stack dead-letter into: a product template names
    the platform's queue by ARN, not by reference."""
    body = json.loads(Path(assembly.directory, platform.projects.product_stack.template_file).read_text())
    targets = [
        target
        for resource in body["Resources"].values()
        if resource["Type"] == "AWS::Events::Rule"
        for target in resource["Properties"]["Targets"]
    ]
    assert targets and all("DeadLetterConfig" in target for target in targets)
    return {target["DeadLetterConfig"]["Arn"].rsplit(":", 1)[1] for target in targets}


def test_every_queue_has_a_dead_letter_queue_and_every_dead_letter_queue_an_alarm(all_templates, platform, assembly):
    project_dead_letters = _project_stack_dead_letter_queues(platform, assembly)
    for stack_name, template in all_templates.items():
        resources = template.get("Resources", {})
        queues = {lid for lid, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
        dead_letter_queues = {
            lid for lid in queues if resources[lid]["Properties"].get("QueueName") in project_dead_letters
        }
        for resource in resources.values():
            redrive = resource["Properties"].get("RedrivePolicy") if resource["Type"] == "AWS::SQS::Queue" else None
            if redrive:
                dead_letter_queues.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
            for target in resource["Properties"].get("Targets", []) if resource["Type"] == "AWS::Events::Rule" else []:
                assert "DeadLetterConfig" in target, f"{stack_name}: rule target without a dead-letter queue"
                dead_letter_queues.add(target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])
            if resource["Type"] == "AWS::Lambda::EventInvokeConfig":  # failed asynchronous invocations
                on_failure = resource["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
                dead_letter_queues.add(on_failure["Fn::GetAtt"][0])
        assert queues == {
            lid for lid in queues if lid in dead_letter_queues or "RedrivePolicy" in resources[lid]["Properties"]
        }, f"{stack_name}: a queue without a dead-letter queue"
        alarmed = {
            dimension["Value"]["Fn::GetAtt"][0]
            for resource in resources.values()
            if resource["Type"] == "AWS::CloudWatch::Alarm"
            and resource["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
            for dimension in resource["Properties"]["Dimensions"]
        }
        assert dead_letter_queues <= alarmed, f"{stack_name}: a dead-letter queue without an alarm"


def test_every_alarm_is_enabled(all_templates):
    for stack_name, logical_id, alarm in _resources(all_templates, "AWS::CloudWatch::Alarm"):
        assert alarm["Properties"].get("ActionsEnabled") is True, f"{stack_name}/{logical_id}"
