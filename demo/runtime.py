"""Stand-ins for the AWS services that run the platform's event flow, which moto does not run.

- :class:`EventBridge` delivers an event the way the synthesized rules say: it matches each rule's
  event pattern (the subset of EventBridge's pattern language the platform uses) and sends the event
  to the rule's targets — another account's event bus (the forwarding rules of the deployment
  targets) or an SQS queue (the dev rules in front of the handlers).
- :class:`LambdaPollers` plays Lambda's SQS event source mappings: it receives messages from each
  handler's queue, invokes the real handler with an SQS batch, and deletes what the handler did not
  report as a batch item failure (a failed message stays in the queue, as with SQS).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from demo.synthesized import StandInDeployment

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def matches(pattern: Any, value: Any) -> bool:
    """Whether an event (or part of it) matches an EventBridge event pattern (or part of it)."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(
            any(matches(option, value) for option in condition)
            if key == "$or"
            else _matches_field(condition, value[key])
            if key in value
            else _absent_allowed(condition)
            for key, condition in pattern.items()
        )
    return _matches_field(pattern, value)


def _absent_allowed(condition: Any) -> bool:
    return isinstance(condition, list) and any(
        isinstance(option, dict) and option.get("exists") is False for option in condition
    )


def _matches_field(condition: Any, value: Any) -> bool:
    if isinstance(condition, dict):
        return matches(condition, value)
    values = value if isinstance(value, list) else [value]
    return any(_matches_option(option, candidate) for option in condition for candidate in values)


def _matches_option(option: Any, value: Any) -> bool:
    if not isinstance(option, dict):
        return option == value
    (operator, operand), text = next(iter(option.items())), str(value)
    if operator == "prefix":
        return text.startswith(operand)
    if operator == "suffix":
        return text.endswith(operand)
    if operator == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        return value not in excluded
    if operator == "wildcard":
        return re.fullmatch(".*".join(map(re.escape, operand.split("*"))), text) is not None
    if operator == "exists":
        return operand is True
    raise ValueError(f"event pattern operator {operator!r} is not supported by the demo's EventBridge stand-in")


@dataclass(frozen=True)
class Rule:
    """A synthesized EventBridge rule: where it listens and where it sends."""

    account: str
    bus: str
    pattern: dict[str, Any]
    targets: tuple[str, ...]


class EventBridge:
    """Routes events through the rules of the deployed stacks (default buses and the promotion bus)."""

    def __init__(self, sessions: dict[str, boto3.Session]) -> None:
        self.sessions = sessions
        self.rules: list[Rule] = []
        self._sqs: dict[str, Any] = {}  # each account's SQS client, made on first delivery

    def add_rules(self, deployment: StandInDeployment) -> None:
        for resource in deployment.stack.resources("AWS::Events::Rule").values():
            if "EventPattern" not in resource["Properties"]:
                continue  # a schedule (the hourly clean-up): nothing the demo emits reaches it
            properties = deployment.resolver.resolve(resource["Properties"])
            if properties.get("State", "ENABLED") != "ENABLED":
                continue
            bus = properties.get("EventBusName", "default").rsplit("/", 1)[-1]
            targets = tuple(target["Arn"] for target in properties.get("Targets", []))
            self.rules.append(Rule(deployment.stack.account, bus, properties["EventPattern"], targets))

    def put(self, event: dict[str, Any], *, account: str, bus: str = "default") -> list[str]:
        """Deliver ``event`` on ``account``'s ``bus``; returns where it ended up (queue names)."""
        delivered = []
        for rule in self.rules:
            if rule.account != account or rule.bus != bus or not matches(rule.pattern, event):
                continue
            for target in rule.targets:
                service, _, target_account, resource = target.split(":")[2:6]
                if service == "events":
                    delivered += self.put(event, account=target_account, bus=resource.removeprefix("event-bus/"))
                elif service == "sqs":
                    self._send(target_account, target, event)
                    delivered.append(resource)
        return delivered

    def _send(self, account: str, queue_arn: str, event: dict[str, Any]) -> None:
        if account not in self._sqs:
            self._sqs[account] = self.sessions[account].client("sqs")
        sqs = self._sqs[account]
        queue_url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))


class LambdaContext:
    """What the handlers read of Lambda's context object."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.aws_request_id = "demo-request"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:111111111111:function:{function_name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 120_000


class LambdaPollers:
    """Lambda's SQS event source mappings: each handler consumes its own queue."""

    def __init__(self, session: boto3.Session) -> None:
        self.sqs = session.client("sqs")
        self.consumers: list[tuple[str, str, Handler]] = []

    def add(self, name: str, queue_arn: str, batch_size: int, handler: Handler) -> None:
        self.consumers.append((name, queue_arn, batch_size, handler))

    def poll(self, after_invocation: Callable[[str, list[dict[str, Any]]], None]) -> int:
        """One receive-invoke-delete round over every queue; ``after_invocation(handler, events)``
        runs after each invocation. Returns the number of messages processed.

        A message the handler reports as failed stays in the queue, invisible for the queue's
        visibility timeout, as in SQS.
        """
        processed = 0
        for name, queue_arn, batch_size, handler in self.consumers:
            queue_url = self.sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
            received = self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=batch_size, AttributeNames=["All"]
            )
            messages = received.get("Messages", [])
            if not messages:
                continue
            response = handler(self._batch(queue_arn, messages), LambdaContext(name))
            failed = {failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])}
            for message in messages:
                if message["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            processed += len(messages)
            after_invocation(name, [json.loads(message["Body"]) for message in messages])
        return processed

    @staticmethod
    def _batch(queue_arn: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The SQS event Lambda passes to a function for ``messages``."""
        region = queue_arn.split(":")[3]
        return {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": queue_arn,
                    "awsRegion": region,
                }
                for message in messages
            ]
        }
