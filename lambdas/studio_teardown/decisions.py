"""The Studio teardown's decisions, as pure functions: what a request asks and what still stands in the way.

- :func:`parse_request`: the custom resource's request (domain id and user profile), or :class:`InvalidRequest`.
- :func:`next_steps`: from the profile's apps and spaces as SageMaker lists them, which apps to delete,
  which spaces to delete (only once their apps are gone) and whether anything is still going away.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REQUEST_TYPES = ("Create", "Update", "Delete")
DOMAIN_ID = re.compile(r"^d-[a-z0-9]{1,63}$")
PROFILE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
#: App states from which SageMaker deletes nothing more: nothing to ask, nothing to wait for.
APP_GONE = {"Deleted", "Failed"}
#: States of a resource already on its way out: wait, do not ask again.
GOING = {"Deleting"}


class InvalidRequest(ValueError):
    """The request names no valid domain and profile."""


@dataclass(frozen=True)
class Request:
    type: str
    domain_id: str
    user_profile: str

    @property
    def physical_id(self) -> str:
        return f"studio-teardown/{self.domain_id}/{self.user_profile}"


def parse_request(event: Mapping[str, Any]) -> Request:
    """The request CloudFormation sent for a ``Custom::StudioTeardown`` resource."""
    request_type = event.get("RequestType")
    if request_type not in REQUEST_TYPES:
        raise InvalidRequest(f"RequestType {request_type!r}: expected one of {', '.join(REQUEST_TYPES)}")
    properties = event.get("ResourceProperties") or {}
    domain_id, profile = str(properties.get("DomainId", "")), str(properties.get("UserProfileName", ""))
    if not DOMAIN_ID.match(domain_id):
        raise InvalidRequest(f"DomainId {domain_id!r} is not a SageMaker domain id (d-...)")
    if not PROFILE_NAME.match(profile):
        raise InvalidRequest(f"UserProfileName {profile!r} is not a SageMaker user profile name")
    return Request(request_type, domain_id, profile)


def owned_spaces(spaces: Iterable[Mapping[str, Any]], profile: str) -> list[Mapping[str, Any]]:
    """The spaces (ListSpaces summaries) ``profile`` owns: its private spaces and the shared ones it created."""
    return [s for s in spaces if (s.get("OwnershipSettingsSummary") or {}).get("OwnerUserProfileName") == profile]


@dataclass(frozen=True)
class Steps:
    """What to do next: apps and spaces to delete now, and whether anything is still on its way out."""

    delete_apps: tuple[Mapping[str, Any], ...]
    delete_spaces: tuple[str, ...]
    waiting: bool

    @property
    def done(self) -> bool:
        return not (self.delete_apps or self.delete_spaces or self.waiting)


def next_steps(apps: Iterable[Mapping[str, Any]], spaces: Iterable[Mapping[str, Any]]) -> Steps:
    """``apps``: ListApps summaries of the profile and of its spaces; ``spaces``: the spaces it owns.

    SageMaker refuses to delete a space whose apps still exist, so a space is deleted once none of its
    apps is left (Deleted or Failed).
    """
    apps, spaces = list(apps), list(spaces)
    live = [app for app in apps if app.get("Status") not in APP_GONE]
    delete_apps = tuple(app for app in live if app.get("Status") not in GOING)
    busy_spaces = {app.get("SpaceName") for app in live}
    delete_spaces = tuple(
        space["SpaceName"]
        for space in spaces
        if space.get("Status") not in GOING and space["SpaceName"] not in busy_spaces
    )
    waiting = bool(live) or any(space.get("Status") in GOING for space in spaces)
    return Steps(delete_apps, delete_spaces, waiting)
