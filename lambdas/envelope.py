"""The EventBridge events the handlers receive and send: the envelope they validate, and names derived from events.

Every handler is fed EventBridge events (through SQS): :class:`Envelope` checks the fields they all
rely on before a handler's decisions look at ``detail`` (:func:`dev_account_envelope` also checks that the
dev account sent it, in the platform's region), :class:`Rejection` is what those decisions return for an
event they refuse, and :func:`reconcile_request` is the one event the platform sends
itself. The helpers here derive names from events (deployment ids, STS session names, statuses), so
every handler spells them the same way.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

import contract

#: The model of an event's detail (:meth:`Envelope.detail_as`).
DetailModel = TypeVar("DetailModel", bound=BaseModel)

#: ``v<model package version>-<8 hex digits>``: one promotion attempt (see ``contract.EndpointParameters``).
DEPLOYMENT_ID = re.compile(r"^v[0-9]{1,5}-[0-9a-f]{8}$")

#: The message the tracker puts on the promotion queue to make the promoter reconcile a stage again.
RECONCILE_SOURCE = "mlops.platform"
RECONCILE_DETAIL_TYPE = "Reconcile Deployment"


@dataclass(frozen=True)
class Rejection:
    """An event or message a handler's decisions refuse: it is logged with ``reason`` and dropped."""

    reason: str


#: An RFC 3339 date-time: EventBridge's ``time``; the zone (``Z`` or ``+hh:mm``) is required.
RFC_3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class Envelope(BaseModel):
    """The EventBridge fields the handlers check before they look at ``detail``.

    ``time`` is parsed here once, strictly (RFC 3339 with a time zone), so every comparison of event
    times is between aware datetimes; an event without one is rejected like any malformed event.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1)
    source: str
    detail_type: str = Field(alias="detail-type")
    account: str
    region: str
    time: AwareDatetime
    detail: dict[str, Any]

    def detail_as(self, model: type[DetailModel], *, whole: str = "item") -> DetailModel | Rejection:
        """The detail validated as ``model``, or a :class:`Rejection` naming its first problem
        (``whole``: what a problem with the whole detail is called)."""
        try:
            return model.model_validate(self.detail)
        except ValidationError as error:
            return Rejection(f"malformed {self.detail_type}: {first_error(error, whole=whole)}")

    @field_validator("time", mode="before")
    @classmethod
    def _rfc_3339(cls, value: Any) -> Any:
        if not isinstance(value, str) or not RFC_3339.match(value):
            raise ValueError("must be an RFC 3339 time with a time zone, like 2026-12-01T10:00:00Z")
        return value


def first_error(error: ValidationError, whole: str = "item") -> str:
    """The first problem pydantic found, as ``field.path: message`` (``whole: message`` when it is about
    the whole input): what a :class:`Rejection` reports."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or whole
    return f"{location}: {first['msg']}"


@dataclass(frozen=True)
class DevAccountRules:
    """What the events of a handler fed by the dev account (the promoter, the notifier) must match: the dev
    account, the platform's region, and the installation's stages (to read ``<project>-<stage>`` groups)."""

    dev_account_id: str
    region: str
    stages: tuple[str, ...]


def dev_account_envelope(
    event: Mapping[str, Any], rules: DevAccountRules, *, region_of: str = "platform"
) -> Envelope | Rejection:
    """The envelope of an event the dev account sent in the platform's region; a :class:`Rejection` naming the
    first problem otherwise. ``region_of`` says whose region it is in that rejection."""
    try:
        envelope = Envelope.model_validate(event)
    except ValidationError as error:
        return Rejection(f"not an EventBridge event: {first_error(error, whole='event')}")
    if envelope.account != rules.dev_account_id:
        return Rejection(f"account {envelope.account} is not the dev account {rules.dev_account_id}")
    if envelope.region != rules.region:
        return Rejection(f"region {envelope.region} is not the {region_of}'s region {rules.region}")
    return envelope


def event_of(body: str) -> dict[str, Any] | None:
    """The EventBridge event an SQS message body carries, or None when the body is not a JSON object."""
    try:
        event = json.loads(body)
    except (TypeError, ValueError):
        return None
    return event if isinstance(event, dict) else None


def reconcile_request(deployment: contract.Deployment, *, reason: str, account: str, region: str) -> dict[str, Any]:
    """An event asking the promoter to reconcile a stage again, shaped like an EventBridge event."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": RECONCILE_DETAIL_TYPE,
        "source": RECONCILE_SOURCE,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {"project": deployment.project, "stage": deployment.stage, "reason": reason},
    }


def role_session_name(function: str, event_id: str) -> str:
    """An STS session name carrying the event id, so CloudTrail in the target account leads back to it."""
    return re.sub(r"[^\w+=,.@-]", "-", f"{function}-{event_id}")[:64]


def upper_snake(status: str) -> str:
    """``RollingBack`` (the API's spelling) and ``ROLLING_BACK`` (the events') both become ``ROLLING_BACK``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", status).upper()


def deployment_id_of_config(endpoint_name: str, config_name: str) -> str | None:
    """The deployment id in an endpoint configuration name (``<endpoint>-<deployment id>``), if any."""
    prefix = f"{endpoint_name}-"
    if config_name.startswith(prefix) and DEPLOYMENT_ID.match(config_name.removeprefix(prefix)):
        return config_name.removeprefix(prefix)
    return None
