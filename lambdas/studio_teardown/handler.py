"""The Studio teardown function: clears a user profile's apps and spaces before CloudFormation deletes it.

Trigger: CloudFormation, through the ``Custom::StudioTeardown`` resource the Studio stack declares next
to each user profile (it depends on the profile, so CloudFormation deletes it first). Effect on Delete
(idempotent): deletes the profile's apps and the spaces it owns, with their apps, and waits until they
are gone, so deleting the profile, and then the domain, is not refused because of them. Create and
Update do nothing. Home storage (the domain's EFS) is never touched.

A delete never fails: every path, including errors and the function running out of time, answers
SUCCESS with what is left in the reason, because a Studio stack stuck in DELETE_FAILED helps nobody
(CloudFormation then reports the profile's own deletion error, which names what still stands).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from clients import Clients
from custom_resource import Responder
from studio_teardown.decisions import InvalidRequest, Request, next_steps, owned_spaces, parse_request

logger = Logger()

#: The answer goes out this long before the function would time out, whatever is still going.
TIMEOUT_MARGIN_SECONDS = 15
#: How often SageMaker is asked again while apps and spaces are being deleted.
POLL_SECONDS = 15
#: A delete that SageMaker refuses because the resource is already gone or going: not an error.
ALREADY_GONE = {"ResourceNotFound", "ResourceInUse", "ValidationException"}


class Teardown:
    """Deletes one profile's apps and spaces and waits for them, until ``deadline`` (time.monotonic)."""

    def __init__(self, clients: Clients, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sagemaker = clients.sagemaker
        self.sleep = sleep

    def clear(self, request: Request, deadline: float) -> str:
        """Delete and wait; returns what happened (for the answer's reason)."""
        while True:
            spaces = owned_spaces(
                self._list("list_spaces", "Spaces", DomainIdEquals=request.domain_id), request.user_profile
            )
            apps = self._list(
                "list_apps", "Apps", DomainIdEquals=request.domain_id, UserProfileNameEquals=request.user_profile
            )
            for space in spaces:
                apps += self._list(
                    "list_apps", "Apps", DomainIdEquals=request.domain_id, SpaceNameEquals=space["SpaceName"]
                )
            steps = next_steps(apps, spaces)
            if steps.done:
                return f"no apps or spaces left for {request.user_profile}"
            for app in steps.delete_apps:
                self._delete_app(request.domain_id, app)
            for space in steps.delete_spaces:
                self._ignore_gone(self.sagemaker.delete_space, DomainId=request.domain_id, SpaceName=space)
            if time.monotonic() + POLL_SECONDS > deadline:
                return f"{request.user_profile}'s apps and spaces are still being deleted"
            self.sleep(POLL_SECONDS)

    def _list(self, operation: str, key: str, **filters: str) -> list[Mapping[str, Any]]:
        paginator = self.sagemaker.get_paginator(operation)
        return [item for page in paginator.paginate(**filters) for item in page.get(key, [])]

    def _delete_app(self, domain_id: str, app: Mapping[str, Any]) -> None:
        owner = {"SpaceName": app["SpaceName"]} if app.get("SpaceName") else {"UserProfileName": app["UserProfileName"]}
        logger.info("Deleting app", extra={"app": app["AppName"], "type": app["AppType"], **owner})
        self._ignore_gone(
            self.sagemaker.delete_app, DomainId=domain_id, AppType=app["AppType"], AppName=app["AppName"], **owner
        )

    @staticmethod
    def _ignore_gone(delete: Callable[..., Any], **params: str) -> None:
        try:
            delete(**params)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ALREADY_GONE:
                raise
            logger.info("Already gone or going", extra={"params": params, "code": error.response["Error"]["Code"]})


def serve(event: dict[str, Any], context, build: Callable[[], Teardown]) -> dict[str, Any]:
    """Answer one request; always answers, never raises, and never fails a Delete."""
    responder = Responder(event)
    request_type = event.get("RequestType", "")
    fallback_id = event.get("PhysicalResourceId") or f"studio-teardown/{event.get('RequestId', 'unknown')}"
    remaining = context.get_remaining_time_in_millis() / 1000 if context else 300
    deadline = time.monotonic() + max(remaining - 2 * TIMEOUT_MARGIN_SECONDS, 1)
    watchdog = threading.Timer(
        max(remaining - TIMEOUT_MARGIN_SECONDS, 0.5),
        lambda: responder.send("SUCCESS", fallback_id, reason="ran out of time; apps and spaces may remain"),
    )
    watchdog.daemon = True
    watchdog.start()
    try:
        request = parse_request(event)
        logger.append_keys(request_type=request.type, domain_id=request.domain_id, profile=request.user_profile)
        physical_id = event.get("PhysicalResourceId") or request.physical_id
        result = build().clear(request, deadline) if request.type == "Delete" else "nothing to do until deletion"
        responder.send("SUCCESS", physical_id, reason=result)
    except Exception as error:  # every failure must reach CloudFormation
        if isinstance(error, InvalidRequest):
            logger.warning("Invalid request", extra={"reason": str(error)})
        else:
            logger.exception("Teardown failed")
        status = "SUCCESS" if request_type == "Delete" else "FAILED"
        responder.send(status, fallback_id, reason=f"teardown not done: {error}")
    finally:
        watchdog.cancel()
        logger.remove_keys(["request_type", "domain_id", "profile"])
    return responder.sent or {}


_teardown: Teardown | None = None


def _build() -> Teardown:
    global _teardown
    if _teardown is None:
        _teardown = Teardown(Clients())
    return _teardown


@logger.inject_lambda_context
def handler(event: dict[str, Any], context) -> dict[str, Any]:
    """Lambda entry point (``studio_teardown.handler.handler``)."""
    return serve(event, context, _build)
