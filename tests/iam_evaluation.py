"""A small, strict IAM evaluator over synthesized templates, for asserting who may do what offline.

It implements the parts of IAM policy evaluation the platform's policies use: Allow and Deny with
explicit deny winning, Action/NotAction and Resource/NotResource with ``*``/``?`` wildcards (actions
are case-insensitive), Principal in resource policies and role trust policies (``*``, account, role
ARN, service, federated identity provider; the caller's ``aws:PrincipalArn`` and
``aws:PrincipalAccount`` are derived from it), and the condition operators StringEquals,
StringNotEquals, StringLike, StringNotLike, StringEqualsIfExists, ArnLike, ArnNotLike, ArnEquals,
ArnNotEquals, Bool and Null. Within one account, IAM allows a request that either the identity or
the resource policy allows and no statement of either denies, which is what ``is_allowed`` computes
over their concatenation (:func:`resource_statements_for` picks a resource policy's statements for a principal).
Any other operator makes evaluation fail loudly rather than guess. Intrinsics are resolved with the
stack's own account, region and partition, and ``Fn::GetAtt`` with the ``attributes`` given (others
stay ``<LogicalId.Attribute>`` placeholders).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Request:
    """One API call to evaluate: ``action`` on ``resource`` with optional request context keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)
    principal: str | None = None
    """The caller, for resource policies: a role ARN (``arn:aws:iam::<account>:role/<name>``) or a service."""

    @property
    def principal_context(self) -> dict[str, str]:
        if not self.principal or not self.principal.startswith("arn:"):
            return {}
        return {"aws:PrincipalArn": self.principal, "aws:PrincipalAccount": self.principal.split(":")[4]}


def identity_statements(
    template: Mapping[str, Any],
    role_logical_id: str,
    env: Mapping[str, str],
    attributes: Mapping[str, str] | None = None,
) -> list[dict]:
    """All statements of the identity policies attached to a role (inline, AWS::IAM::Policy, managed).

    ``attributes`` gives values to ``Fn::GetAtt`` by ``"LogicalId.Attribute"``, e.g. a key's real ARN.
    """
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
    return [_resolve(statement, template, env, attributes or {}) for statement in statements]


def resource_policy_statements(template: Mapping[str, Any], logical_id: str, env: Mapping[str, str]) -> list[dict]:
    """The statements of a resource policy resource (event bus, bucket, topic or queue policy) or key policy."""
    properties = template["Resources"][logical_id]["Properties"]
    document = properties.get("PolicyDocument") or properties.get("KeyPolicy") or properties
    return [_resolve(statement, template, env) for statement in _as_list(document["Statement"])]


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
    if "NotResource" in statement:
        resource_ok = not any(_glob(p, request.resource) for p in _as_list(statement["NotResource"]))
    else:
        resource_ok = any(_glob(p, request.resource) for p in _as_list(statement.get("Resource", "*")))
    principal_ok = "Principal" not in statement or _principal_matches(statement["Principal"], request.principal)
    context = {**request.principal_context, **request.context}
    return action_ok and resource_ok and principal_ok and _conditions_hold(statement.get("Condition", {}), context)


def _principal_matches(principal: Any, caller: str | None) -> bool:
    """Whether a resource policy's Principal names ``caller``; an account names every principal in it."""
    if caller is None:
        raise ValueError("a statement with a Principal needs Request.principal")
    if principal == "*":
        return True
    for kind, names in principal.items():
        for name in _as_list(names):
            if kind in ("Service", "Federated") and name == caller:
                return True
            if kind == "AWS" and caller.startswith("arn:"):
                account = caller.split(":")[4]
                if name in ("*", caller, account) or re.fullmatch(rf"arn:[^:]+:iam::{account}:root", name):
                    return True
    return False


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
            elif base in ("StringNotLike", "ArnNotLike"):
                ok = not any(_glob(p, actual) for p in expected_values)
            else:
                raise NotImplementedError(f"condition operator {operator} is not evaluated by this helper")
            if not ok:
                return False
    return True


#: No ``Fn::GetAtt`` values given: attributes stay ``<LogicalId.Attribute>`` placeholders.
_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    # A pattern left unresolved (an intrinsic such as Fn::GetStackOutput, a dict) is compiled uncached.
    compile_glob = _glob_regex if isinstance(pattern, str) else _glob_regex.__wrapped__
    return compile_glob(pattern, ignore_case).fullmatch(value) is not None


@functools.cache
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """An IAM wildcard pattern as a compiled regular expression (the policies hold a few hundred patterns)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def _resolve(
    node: Any, template: Mapping[str, Any], env: Mapping[str, str], attributes: Mapping[str, str] = _NO_ATTRIBUTES
) -> Any:
    """Resolve Ref/Fn::Join/Fn::GetAtt well enough to compare ARNs as strings."""
    if isinstance(node, list):
        return [_resolve(item, template, env, attributes) for item in node]
    if not isinstance(node, dict):
        return node
    if "Ref" in node:
        name = node["Ref"]
        pseudo = {"AWS::Partition": env["partition"], "AWS::Region": env["region"], "AWS::AccountId": env["account"]}
        return pseudo.get(name, f"<{name}>")
    if "Fn::Join" in node:
        delimiter, parts = node["Fn::Join"]
        return delimiter.join(str(_resolve(part, template, env, attributes)) for part in parts)
    if "Fn::GetAtt" in node:
        logical_id, attribute = node["Fn::GetAtt"]
        return attributes.get(f"{logical_id}.{attribute}", f"<{logical_id}.{attribute}>")
    return {key: _resolve(value, template, env, attributes) for key, value in node.items()}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
