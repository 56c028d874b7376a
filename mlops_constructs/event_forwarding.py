"""Forwarding of a target account's platform events to the dev promotion bus."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.contract import ENDPOINT_SUFFIX, MONITOR_SUFFIX


class PlatformEventForwarder(Construct):
    """Rules on this account's default bus sending the platform's events to the dev promotion bus.

    Forwarded: CloudFormation status changes of the endpoint and monitor stacks, SageMaker endpoint
    and endpoint-deployment state changes of the platform's endpoints, and state changes of the
    platform's alarms (endpoint alarms and ``<prefix>-*`` operational alarms). Events EventBridge
    cannot deliver land in ``dead_letter_queue``.

    EventBridge sends them as ``role_name``, one named role for all rules: the promotion bus accepts
    events from that role only, not from anyone in the account. Only EventBridge rules of this account
    may assume it (``aws:SourceAccount``, ``aws:SourceArn``), and it may only put events on the bus.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        destination_bus_arn: str,
        alarm_name_prefix: str,
        dead_letter_queue: sqs.IQueue,
        role_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        bus = events.EventBus.from_event_bus_arn(self, "PromotionBus", destination_bus_arn)
        stack = Stack.of(self)
        rules_here = stack.format_arn(service="events", resource="rule", resource_name="*")
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            description="EventBridge forwards the MLOps platform's events to the dev promotion bus with this role",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": rules_here},
                },
            ),
        )
        patterns = {
            "StackStatus": events.EventPattern(
                source=["aws.cloudformation"],
                detail_type=["CloudFormation Stack Status Change"],
                detail={
                    "stack-id": [
                        {"wildcard": f"*:stack/*{ENDPOINT_SUFFIX}/*"},
                        {"wildcard": f"*:stack/*{MONITOR_SUFFIX}/*"},
                    ]
                },
            ),
            "EndpointState": events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Endpoint State Change", "SageMaker Endpoint Deployment State Change"],
                detail={"EndpointName": [{"suffix": ENDPOINT_SUFFIX}]},
            ),
            "AlarmState": events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                detail={"alarmName": [{"wildcard": f"*{ENDPOINT_SUFFIX}-*"}, {"prefix": alarm_name_prefix}]},
            ),
        }
        self.rules = {
            name: events.Rule(
                self,
                name,
                description=f"Forward {name} events of the MLOps platform to the dev promotion bus",
                event_pattern=pattern,
                targets=[targets.EventBus(bus, role=self.role, dead_letter_queue=dead_letter_queue)],
            )
            for name, pattern in patterns.items()
        }
