"""Test-only stand-ins for the SageMaker Studio operations moto 5 does not implement: apps and spaces.

:func:`install_studio_stand_ins` adds ``ListApps``, ``DeleteApp``, ``ListSpaces`` and ``DeleteSpace`` to
moto's SageMaker, over a small in-memory Studio (:class:`Studio`) that tests fill with :meth:`Studio.app`
and :meth:`Studio.space`. It keeps what the teardown relies on from SageMaker's documented behaviour:
ListApps still lists Deleted apps for a while; deleting takes time (an app or space answers Deleting
until the next listing, or for as long as ``stuck`` says); DeleteApp of an unknown app is
ResourceNotFound and of a Deleted app ResourceInUse; DeleteSpace is ResourceInUse while the space has
apps that are not Deleted or Failed; a deleted space disappears from ListSpaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse


class _StudioError(JsonRESTError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@dataclass
class Studio:
    """Apps and spaces of the account's Studio domains, as the stand-ins serve them."""

    apps: list[dict[str, Any]] = field(default_factory=list)
    spaces: list[dict[str, Any]] = field(default_factory=list)
    stuck: bool = False  # True: whatever is Deleting stays Deleting
    failure: str | None = None  # an error code every call answers with (e.g. ThrottlingException)
    calls: list[str] = field(default_factory=list)

    def app(
        self, domain: str, app_type: str, name: str, *, profile: str = "", space: str = "", status: str = "InService"
    ):
        owner = {"SpaceName": space} if space else {"UserProfileName": profile}
        self.apps.append({"DomainId": domain, "AppType": app_type, "AppName": name, "Status": status, **owner})

    def space(self, domain: str, name: str, owner: str, sharing: str = "Private", status: str = "InService"):
        self.spaces.append(
            {
                "DomainId": domain,
                "SpaceName": name,
                "Status": status,
                "OwnershipSettingsSummary": {"OwnerUserProfileName": owner},
                "SpaceSharingSettingsSummary": {"SharingType": sharing},
            }
        )

    def _progress(self) -> None:
        """Time passes between two listings: what was being deleted is gone."""
        if self.stuck:
            return
        for app in self.apps:
            if app["Status"] == "Deleting":
                app["Status"] = "Deleted"
        self.spaces = [space for space in self.spaces if space["Status"] != "Deleting"]

    def _check(self, operation: str) -> None:
        self.calls.append(operation)
        if self.failure:
            raise _StudioError(self.failure, f"{operation} refused by the test")


def install_studio_stand_ins(monkeypatch) -> Studio:
    """Register the stand-ins for one test; returns the Studio they serve."""
    studio = Studio()

    def list_apps(self: SageMakerResponse) -> ActionResult:
        studio._check("ListApps")
        studio._progress()
        filters = {
            "DomainId": self._get_param("DomainIdEquals"),
            "UserProfileName": self._get_param("UserProfileNameEquals"),
            "SpaceName": self._get_param("SpaceNameEquals"),
        }
        found = [a for a in studio.apps if all(a.get(key) == value for key, value in filters.items() if value)]
        return ActionResult({"Apps": [dict(app) for app in found]})

    def delete_app(self: SageMakerResponse) -> ActionResult:
        studio._check("DeleteApp")
        key = {name: self._get_param(name) for name in ("DomainId", "AppType", "AppName")}
        owner = (
            {"SpaceName": self._get_param("SpaceName")}
            if self._get_param("SpaceName")
            else {"UserProfileName": self._get_param("UserProfileName")}
        )
        match = [a for a in studio.apps if all(a.get(k) == v for k, v in {**key, **owner}.items())]
        if not match:
            raise _StudioError("ResourceNotFound", f"App {key['AppName']} does not exist")
        if match[0]["Status"] in ("Deleted", "Deleting"):
            raise _StudioError("ResourceInUse", f"App {key['AppName']} is already {match[0]['Status']}")
        match[0]["Status"] = "Deleting"
        return ActionResult({})

    def list_spaces(self: SageMakerResponse) -> ActionResult:
        studio._check("ListSpaces")
        domain = self._get_param("DomainIdEquals")
        return ActionResult({"Spaces": [dict(s) for s in studio.spaces if not domain or s["DomainId"] == domain]})

    def delete_space(self: SageMakerResponse) -> ActionResult:
        studio._check("DeleteSpace")
        domain, name = self._get_param("DomainId"), self._get_param("SpaceName")
        match = [s for s in studio.spaces if (s["DomainId"], s["SpaceName"]) == (domain, name)]
        if not match:
            raise _StudioError("ResourceNotFound", f"Space {name} does not exist")
        if any(a.get("SpaceName") == name and a["Status"] not in ("Deleted", "Failed") for a in studio.apps):
            raise _StudioError("ResourceInUse", f"Space {name} has apps that are not deleted")
        match[0]["Status"] = "Deleting"
        return ActionResult({})

    for name, method in {
        "list_apps": list_apps,
        "delete_app": delete_app,
        "list_spaces": list_spaces,
        "delete_space": delete_space,
    }.items():
        monkeypatch.setattr(SageMakerResponse, name, method, raising=False)
    return studio
