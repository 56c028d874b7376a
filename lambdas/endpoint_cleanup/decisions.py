"""The clean-up's decisions, as pure functions: which stacks of the dev account have outlived their time.

- :func:`stack_record`: what the clean-up knows of one stack (``DescribeStacks`` output).
- :func:`expired_feature_deployments`: the feature stages to delete, monitor stack first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import contract

#: The only stage the clean-up ever deletes: feature endpoints run in dev for quick checks.
CLEANED_STAGE = "feature"


@dataclass(frozen=True)
class StackRecord:
    """A stack of the dev account: name, status, platform tags, and when it was last deployed."""

    name: str
    status: str
    tags: Mapping[str, str]
    last_deployed: datetime


@dataclass(frozen=True)
class ExpiredDeployment:
    """A feature stage whose stacks have outlived the time to live, in deletion order (monitor first)."""

    deployment: contract.Deployment
    stacks: tuple[str, ...]
    package_arn: str
    last_deployed: datetime


def stack_record(stack: Mapping[str, Any]) -> StackRecord:
    """A ``DescribeStacks`` entry as a :class:`StackRecord` (an update counts as a deployment)."""
    return StackRecord(
        name=stack["StackName"],
        status=stack["StackStatus"],
        tags={tag["Key"]: tag["Value"] for tag in stack.get("Tags", [])},
        last_deployed=stack.get("LastUpdatedTime") or stack["CreationTime"],
    )


def platform_feature_deployment(stack: StackRecord) -> contract.Deployment | None:
    """The feature stage a stack belongs to, if the platform deployed it: its name is a feature
    endpoint or monitor stack and its ``mlops:project``/``mlops:stage`` tags say the same."""
    deployment = contract.Deployment.from_resource_name(stack.name, (CLEANED_STAGE,))
    if deployment is None or stack.name not in (deployment.endpoint_stack, deployment.monitor_stack):
        return None
    tagged = stack.tags.get(contract.TAG_PROJECT) == deployment.project and stack.tags.get(contract.TAG_STAGE) == (
        deployment.stage
    )
    return deployment if tagged else None


def expired_feature_deployments(
    stacks: Iterable[StackRecord], *, now: datetime, time_to_live: timedelta
) -> list[ExpiredDeployment]:
    """The platform's feature stages whose last deployment (of either stack) is older than ``time_to_live``.

    Stacks of other stages, untagged stacks and stages with a stack in progress (being deployed or
    already being deleted) are left alone.
    """
    by_deployment: dict[contract.Deployment, list[StackRecord]] = {}
    for stack in stacks:
        deployment = platform_feature_deployment(stack)
        if deployment:
            by_deployment.setdefault(deployment, []).append(stack)
    expired = []
    for deployment, records in sorted(by_deployment.items(), key=lambda item: item[0].project):
        last_deployed = max(record.last_deployed for record in records)
        busy = any(record.status.endswith("_IN_PROGRESS") for record in records)
        if busy or now - last_deployed <= time_to_live:
            continue
        names = {record.name for record in records}
        order = tuple(name for name in (deployment.monitor_stack, deployment.endpoint_stack) if name in names)
        package = next((r.tags.get(contract.TAG_MODEL_PACKAGE, "") for r in records if r.name == order[-1]), "")
        expired.append(ExpiredDeployment(deployment, order, package, last_deployed))
    return expired
