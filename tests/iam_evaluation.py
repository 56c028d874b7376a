"""A small, strict IAM evaluator over synthesized templates, for asserting who may do what offline.

It implements the parts of IAM policy evaluation the platform's policies use: Allow and Deny with
explicit deny winning, Action/NotAction and Resource with ``*``/``?`` wildcards (actions are
case-insensitive), and the condition operators StringEquals, StringNotEquals, StringLike,
StringEqualsIfExists, ArnLike, ArnEquals, ArnNotEquals, Bool and Null. Resource-policy statements
apply to a principal through :func:`resource_statements_for`; within one account, IAM allows a request
that either policy allows and no statement of either denies, which is what ``is_allowed`` computes
over their concatenation. Any other operator makes evaluation fail loudly
rather than guess. Intrinsics are resolved with the stack's own account, region and partition.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One API call to evaluate: ``action`` on ``resource`` with optional request context keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def identity_statements(template: Mapping[str, Any], role_logical_id: str, env: Mapping[str, str]) -> list[dict]:
    """All statements of the identity policies attached to a role (inline, AWS::IAM::Policy, managed)."""
    resources = template["Resources"]
    role = resources[role_logical_id]
    statements: list[dict] = []
    for inline in role["Properties"].get("Policies", []):
        statements += _as_list(inline["PolicyDocument"]["Statement"])
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = resource["Properties"].get("Roles", [])
            if {"Ref": role_logical_id} in attached:
                statements += _as_list(resource["Properties"]["PolicyDocument"]["Statement"])
    return [_resolve(statement, template, env) for statement in statements]


def resource_statements_for(
    document: Mapping[str, Any], principal_arn: str, template: Mapping[str, Any], env: Mapping[str, str]
) -> list[dict]:
    """The statements of a resource policy (a bucket or key policy document) that apply to ``principal_arn``:
    those naming it, or any principal (``*``)."""
    statements = []
    for statement in _as_list(_resolve(document, template, env)["Statement"]):
        principal = statement.get("Principal", {})
        named = _as_list(principal.get("AWS", [])) if isinstance(principal, dict) else [principal]
        if "*" in named or principal_arn in named:
            statements.append(statement)
    return statements


def is_allowed(statements: Iterable[Mapping[str, Any]], request: Request) -> bool:
    """True when some Allow statement matches and no Deny statement does."""
    allowed = False
    for statement in statements:
        if not _matches(statement, request):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def _matches(statement: Mapping[str, Any], request: Request) -> bool:
    if "Action" in statement:
        action_ok = any(_glob(p, request.action, ignore_case=True) for p in _as_list(statement["Action"]))
    else:
        action_ok = not any(_glob(p, request.action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    resource_ok = any(_glob(p, request.resource) for p in _as_list(statement.get("Resource", "*")))
    return action_ok and resource_ok and _conditions_hold(statement.get("Condition", {}), request.context)


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, tests in conditions.items():
        for key, expected in tests.items():
            expected_values = [str(v) for v in _as_list(expected)]
            actual = context.get(key)
            if operator == "Null":
                if (actual is None) != (expected_values == ["true"]):
                    return False
                continue
            if operator.endswith("IfExists") and actual is None:
                continue
            base = operator.removesuffix("IfExists")
            if actual is None:
                return False
            if base in ("StringEquals", "ArnEquals", "Bool"):
                ok = actual in expected_values
            elif base in ("StringNotEquals", "ArnNotEquals"):
                ok = actual not in expected_values
            elif base in ("StringLike", "ArnLike"):
                ok = any(_glob(p, actual) for p in expected_values)
            else:
                raise NotImplementedError(f"condition operator {operator} is not evaluated by this helper")
            if not ok:
                return False
    return True


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _resolve(node: Any, template: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """Resolve Ref/Fn::Join/Fn::GetAtt well enough to compare ARNs as strings."""
    if isinstance(node, list):
        return [_resolve(item, template, env) for item in node]
    if not isinstance(node, dict):
        return node
    if "Ref" in node:
        name = node["Ref"]
        pseudo = {"AWS::Partition": env["partition"], "AWS::Region": env["region"], "AWS::AccountId": env["account"]}
        return pseudo.get(name, f"<{name}>")
    if "Fn::Join" in node:
        delimiter, parts = node["Fn::Join"]
        return delimiter.join(str(_resolve(part, template, env)) for part in parts)
    if "Fn::GetAtt" in node:
        logical_id, attribute = node["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    return {key: _resolve(value, template, env) for key, value in node.items()}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
