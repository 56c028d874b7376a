"""Confused deputy: every statement that lets an AWS service act binds it to this platform's own sources.

A statement whose principal is a service (a role's trust, a key, bucket, queue or log-group policy, a
Lambda permission) must say on whose behalf the service may act: ``aws:SourceAccount`` or
``aws:SourceArn`` (for a Lambda permission its ``SourceAccount``/``SourceArn``), or for CloudWatch Logs
on a key the ``kms:EncryptionContext:aws:logs:arn`` AWS documents for it. The few statements where the
service sends no such key are listed in ``EXCEPTIONS`` with the reason; anything else fails.
"""

from __future__ import annotations

import json
import re

#: Condition keys that tie a service's request to a source of this account.
SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn", "kms:EncryptionContext:aws:logs:arn")
#: (resource type, service principal) -> why the statement carries no source condition.
EXCEPTIONS = {
    ("AWS::IAM::Role", "lambda.amazonaws.com"): "Lambda documents no source keys for assuming a function's "
    "execution role; the role reaches a function only through iam:PassRole, which cannot cross accounts.",
    ("AWS::IAM::Role", "sagemaker.amazonaws.com"): "The persona and execution roles are assumed by many SageMaker "
    "features (Studio apps, Pipelines, processing and training jobs, endpoints, Model Monitor schedules, Clarify); "
    "the developer guide shows source keys for some of them only, and a key a feature does not send would stop it "
    "assuming the role. SageMaker uses a role only through iam:PassRole, which cannot cross accounts.",
    ("AWS::IAM::Role", "cloudformation.amazonaws.com"): "The CloudFormation execution role is passed by the deploy "
    "role only (iam:PassRole, same account); its trust is owned by mlops_constructs/deployment_roles.py.",
    ("AWS::IAM::Role", "servicecatalog.amazonaws.com"): "Service Catalog documents no source keys for launch roles; "
    "the portfolio using it is not shared with other accounts.",
    ("AWS::Logs::ResourcePolicy", "events.amazonaws.com"): "EventBridge's log-group target policy: AWS documents "
    "no source keys for it; the policy allows writing to the one rollback log group only.",
    ("AWS::Logs::ResourcePolicy", "delivery.logs.amazonaws.com"): "Part of EventBridge's log-group target policy "
    "(see events.amazonaws.com); it allows writing to the one rollback log group only.",
}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _document(value) -> dict:
    """A policy document, also when CloudFormation receives it as a (joined) JSON string."""
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        value = delimiter.join(part if isinstance(part, str) else "<token>" for part in parts)
    return json.loads(value) if isinstance(value, str) else value


def _service_statements(template: dict):
    """(logical id, resource type, statement) for every statement granting something to a service."""
    for logical_id, resource in template.get("Resources", {}).items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::Lambda::Permission":
            principal = properties["Principal"]
            if isinstance(principal, str) and principal.endswith(".amazonaws.com"):
                condition = {key: properties[key] for key in ("SourceAccount", "SourceArn") if key in properties}
                statement = {"Principal": {"Service": principal}, "Condition": {"Lambda": condition}}
                yield logical_id, kind, statement
            continue
        documents = []
        if kind == "AWS::IAM::Role":
            documents.append(properties["AssumeRolePolicyDocument"])
        elif kind == "AWS::KMS::Key":
            documents.append(properties["KeyPolicy"])
        elif kind == "AWS::Events::EventBusPolicy":
            documents.append({"Statement": properties["Statement"]})
        elif "PolicyDocument" in properties and not kind.startswith("AWS::IAM::"):
            documents.append(_document(properties["PolicyDocument"]))
        for document in documents:
            for statement in _as_list(document["Statement"]):
                principal = statement.get("Principal")
                if isinstance(principal, dict) and "Service" in principal and statement.get("Effect") == "Allow":
                    yield logical_id, kind, statement


def _bound(statement: dict) -> bool:
    keys = {key.removeprefix("Lambda") for tests in statement.get("Condition", {}).values() for key in tests}
    return any(key in SOURCE_KEYS or f"aws:{key}" in SOURCE_KEYS for key in keys)


def test_service_principals_act_only_for_the_platforms_own_sources(all_templates):
    unbound, excepted = [], set()
    for stack_name, template in all_templates.items():
        for logical_id, kind, statement in _service_statements(template):
            if _bound(statement):
                continue
            for service in _as_list(statement["Principal"]["Service"]):
                service = re.sub(r"^logs\.[a-z0-9-]+\.", "logs.<region>.", service)
                if (kind, service) in EXCEPTIONS:
                    excepted.add((kind, service))
                else:
                    unbound.append(f"{stack_name}/{logical_id} ({kind}): {service}")
    assert unbound == [], "service principals without aws:SourceAccount/aws:SourceArn:\n" + "\n".join(unbound)
    assert excepted == set(EXCEPTIONS), f"exceptions no statement needs any more: {set(EXCEPTIONS) - excepted}"


def test_the_walk_sees_every_kind_of_service_statement(all_templates):
    """The test above can fail: it finds statements of each kind the platform writes, bound or not."""
    kinds = {kind for template in all_templates.values() for _, kind, _ in _service_statements(template)}
    assert {
        "AWS::IAM::Role",
        "AWS::KMS::Key",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::Logs::ResourcePolicy",
        "AWS::Lambda::Permission",
    } <= kinds
