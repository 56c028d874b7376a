"""How Lambda reaches a handler of the platform: one handler object per Lambda environment, built on first use.

Each function's ``<package>/handler.py`` makes its ``handler`` (the infrastructure's
``<package>.handler.handler``) an :class:`EntryPoint` of its handler class and settings class: the
object is built on the first invocation, from the settings the environment holds then and the
function role's credentials, and kept for the life of the Lambda environment, so its clients (and
what it reads once, such as templates) are reused; every invocation logs with the Lambda context.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from clients import Clients

logger = Logger()


class EntryPoint:
    """A function's Lambda handler: ``handler_type(settings_type.from_environment(os.environ), Clients())``,
    built on the first invocation and kept, handles each event with its ``handle(event, context)``."""

    def __init__(self, handler_type: Callable[[Any, Clients], Any], settings_type: Any) -> None:
        self._build = lambda: handler_type(settings_type.from_environment(os.environ), Clients())
        self._instance: Any = None
        self._invoke = logger.inject_lambda_context(clear_state=True)(self._handle)

    def instance(self) -> Any:
        """The handler object of this Lambda environment, built (settings read) on the first call."""
        if self._instance is None:
            self._instance = self._build()
        return self._instance

    def __call__(self, event: dict[str, Any], context) -> dict[str, Any]:
        """One invocation: the Lambda runtime calls the entry point as it would a function."""
        return self._invoke(event, context)

    def _handle(self, event: dict[str, Any], context) -> dict[str, Any]:
        return self.instance().handle(event, context)
