"""Record every AWS API call the platform's handlers make, and who made it, while tests or the demo run.

:func:`install` wraps botocore's ``BaseClient._make_api_call`` once per process. A call counts as a
handler's when the innermost frame of the project's code is a handler package's
(``lambdas/<function>/``): calls of test set-up code, of the demo's stand-ins, of the shared modules
directly under ``lambdas/`` (``ledger.py``, ``alerts.py``...) used outside a handler and of clients a
test stubs are left out. Each :class:`Call` names the function (the handler package), the service and
operation with its parameters, the region, and the role it acted as: the function's own role, or a
role the handler assumed (``sts:AssumeRole`` with the session policy it passed, recognised by the
access key the assumed credentials sign with).

``python -m tests.handler_calls OUT.jsonl -- <module> <args>`` runs a module (``demo``) with the
recorder on and writes its calls to ``OUT.jsonl``; it shares botocore's read-only models as the handler
tests do (:mod:`tests.botocore_sharing`).
"""

from __future__ import annotations

import functools
import json
import runpy
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import botocore.client
from botocore.stub import Stubber

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS, TESTS, DEMO = ROOT / "lambdas", ROOT / "tests", ROOT / "demo"


@dataclass(frozen=True)
class Call:
    """One API call of a handler: ``role_arn`` empty means the function's own role."""

    function: str
    service: str  # the signing name, e.g. ``sagemaker`` for SageMaker Runtime
    operation: str
    params: dict[str, Any]
    region: str
    role_arn: str = ""
    session_policy: str = ""


_calls: list[Call] = []
#: Access key id of credentials a handler obtained with AssumeRole -> (role ARN, session policy).
_assumed: dict[str, tuple[str, str]] = {}


def install() -> None:
    """Wrap botocore's API call (once): every handler call is appended to :func:`calls`."""
    original = botocore.client.BaseClient._make_api_call
    if getattr(original, "records_handler_calls", False):
        return

    def recording(client, operation_name: str, api_params: dict[str, Any]):
        function = _calling_function()
        if function is None or _is_stubbed(client):
            return original(client, operation_name, api_params)
        credentials = client._request_signer._credentials
        access_key = credentials.get_frozen_credentials().access_key if credentials else ""
        role_arn, session_policy = _assumed.get(access_key, ("", ""))
        service = client.meta.service_model.signing_name
        _calls.append(
            Call(function, service, operation_name, dict(api_params), client.meta.region_name, role_arn, session_policy)
        )
        response = original(client, operation_name, api_params)
        if (service, operation_name) == ("sts", "AssumeRole"):
            key = response["Credentials"]["AccessKeyId"]
            _assumed[key] = (api_params["RoleArn"], api_params.get("Policy", ""))
        return response

    recording.records_handler_calls = True
    botocore.client.BaseClient._make_api_call = recording


def acting_as(client, role_arn: str) -> None:
    """Handler calls through ``client`` act as ``role_arn``: a test assumed the role on the handler's behalf
    (as the handler itself would have) and hands the client to it."""
    _assumed[client._request_signer._credentials.get_frozen_credentials().access_key] = (role_arn, "")


def calls() -> list[Call]:
    """The calls recorded so far in this process."""
    return list(_calls)


@contextmanager
def recorded() -> Iterator[list[Call]]:
    """The calls made inside the ``with`` block (filled in when it ends)."""
    start = len(_calls)
    made: list[Call] = []
    try:
        yield made
    finally:
        made.extend(_calls[start:])


def _calling_function() -> str | None:
    """The handler package whose code made the call, or None when test or demo code made it.

    The innermost frame of the project's own code decides (libraries such as boto3 or Powertools, and
    every module directly under ``lambdas/``, act for their caller): a handler package's, or a test's or
    the demo's.
    """
    frame = sys._getframe(2)  # the caller of the recording wrapper
    while frame is not None:
        decides, function = _role_of_file(frame.f_code.co_filename)
        if decides:
            return function
        frame = frame.f_back
    return None


@functools.cache
def _role_of_file(filename: str) -> tuple[bool, str | None]:
    """Whether code of ``filename`` decides who calls (a handler package's, a test's or the demo's), and the
    handler package it names; cached, as every API call walks the stack through the same few files."""
    path = Path(filename)
    if path.parent.parent == LAMBDAS:
        return True, path.parent.name
    if path.is_relative_to(TESTS) or path.is_relative_to(DEMO):
        return True, None
    return False, None


def _is_stubbed(client) -> bool:
    """A client a test answers with botocore's Stubber: its calls never reach AWS."""
    emitter = getattr(client.meta.events, "_emitter", client.meta.events)
    return any(
        isinstance(getattr(h["handler"], "__self__", None), Stubber) for h in emitter._unique_id_handlers.values()
    )


def write(path: Path, made: list[Call]) -> None:
    """Calls as JSON lines (values JSON cannot hold, such as bytes bodies, as text)."""
    with path.open("w") as out:
        for call in made:
            out.write(json.dumps(asdict(call), default=str) + "\n")


def read(path: Path) -> list[Call]:
    return [Call(**json.loads(line)) for line in path.read_text().splitlines() if line]


if __name__ == "__main__":
    output, separator, module, *arguments = sys.argv[1:]
    assert separator == "--", "usage: python -m tests.handler_calls OUT.jsonl -- <module> <args>"
    from tests import botocore_sharing

    botocore_sharing.install()
    install()
    sys.argv = [module, *arguments]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        write(Path(output), calls())
