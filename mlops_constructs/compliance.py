"""Compliance checks applied to the whole app (cdk-nag's AWS Solutions rules) and how to acknowledge.

Every acknowledgment sits next to the resource it concerns and carries a specific reason; nothing is
acknowledged app-wide. Wildcard findings (``AwsSolutions-IAM5``) name the exact resource string, which
contains account ids and logical ids, so :func:`acknowledge_wildcards` takes glob patterns and
acknowledges only the findings a policy actually has that match them: a new wildcard nobody
explained still fails the synth.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

import jsii
from aws_cdk import Acknowledgment, App, Aspects, IAspect, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def apply_compliance_checks(app: App) -> None:
    """Run the AWS Solutions pack at synthesis; any unacknowledged finding fails the synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct`` (and its children) with a specific reason."""
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge_wildcards(scope: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge the IAM wildcard findings under ``scope`` that match a pattern of ``reasons``.

    Keys are glob patterns over cdk-nag's finding text, e.g. ``"Resource::*"`` for statements whose
    actions have no resource-level permissions or ``"Resource::arn:*:training-job/*"``; values are
    the reasons recorded with each acknowledgment.
    """
    Aspects.of(scope).add(_WildcardAcknowledger(dict(reasons)))


@jsii.implements(IAspect)
class _WildcardAcknowledger:
    def __init__(self, reasons: dict[str, str]) -> None:
        self._reasons = reasons

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, (iam.CfnPolicy, iam.CfnManagedPolicy)):
            documents = [Stack.of(node).resolve(node.policy_document)]
        elif isinstance(node, iam.CfnRole):
            inline = Stack.of(node).resolve(node.policies) or []
            # resolved L1 properties keep their construct-side (camelCase) keys
            documents = [policy.get("PolicyDocument") or policy["policyDocument"] for policy in inline]
        else:
            return
        for document in documents:
            for finding in _wildcard_findings(document):
                reason = next((r for pattern, r in self._reasons.items() if fnmatchcase(finding, pattern)), None)
                if reason:
                    acknowledge(node, f"AwsSolutions-IAM5[{finding}]", reason)


def _wildcard_findings(document: Mapping[str, Any]) -> Iterator[str]:
    """The findings cdk-nag's IAM5 rule reports for a resolved policy document (Allow statements)."""
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action")):
            if "*" in action:
                yield f"Action::{action}"
        for resource in _as_list(statement.get("Resource")):
            flat = _flatten(resource)
            if "*" in flat:
                yield f"Resource::{flat}"


def _flatten(node: Any) -> str:
    """cdk-nag's rendering of an intrinsic as text: joins joined, references as ``<Logical.Attr>``."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict) and "Fn::Join" in node:
        delimiter, items = node["Fn::Join"]
        return delimiter.join(_flatten(item) for item in items)
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        resource, attribute = node["Fn::GetAtt"]
        return f"<{_flatten(resource)}.{_flatten(attribute)}>"
    if isinstance(node, dict) and ("Fn::Sub" in node or "Fn::ImportValue" in node):
        return _flatten(node.get("Fn::Sub", node.get("Fn::ImportValue")))
    if isinstance(node, dict) and "Ref" in node:
        return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
