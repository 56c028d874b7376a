"""Answering CloudFormation's custom-resource requests: the one response each request waits for.

Shared by the platform's custom-resource functions (the project template, the Studio teardown).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger()

#: CloudFormation shows at most this much of a reason.
MAX_REASON = 1000


class Responder:
    """Sends the one answer CloudFormation waits for (to the pre-signed ``ResponseURL``), at most once."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        self._event = event
        self._lock = threading.Lock()
        self.sent: dict[str, Any] | None = None

    def send(self, status: str, physical_resource_id: str, *, reason: str = "", data: Mapping[str, str] = ()) -> bool:
        """PUT the response; False if an answer went out already."""
        with self._lock:
            if self.sent is not None:
                return False
            body = {
                "Status": status,
                "Reason": (reason or status)[:MAX_REASON],
                "PhysicalResourceId": physical_resource_id,
                "StackId": self._event.get("StackId", ""),
                "RequestId": self._event.get("RequestId", ""),
                "LogicalResourceId": self._event.get("LogicalResourceId", ""),
                "NoEcho": False,
                "Data": dict(data),
            }
            self.sent = body
            self._put(json.dumps(body).encode())
            logger.info("Answered CloudFormation", extra={"status": status, "reason": body["Reason"]})
            return True

    def _put(self, payload: bytes) -> None:
        url = self._event.get("ResponseURL")
        if not url:
            logger.error("No ResponseURL in the event; CloudFormation cannot be answered")
            return
        request = urllib.request.Request(
            url, data=payload, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(payload))}
        )
        for attempt in range(3):
            try:
                with urllib.request.urlopen(request, timeout=10):
                    return
            except (urllib.error.URLError, TimeoutError) as error:
                logger.warning("Answer not delivered", extra={"attempt": attempt + 1, "error": str(error)})
                time.sleep(0.5 * (attempt + 1))
        logger.error("CloudFormation could not be answered; the stack waits for the resource's service timeout")
