"""Forwarding of a target account's platform events to the dev promotion bus."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.contract import ENDPOINT_SUFFIX, MONITOR_SUFFIX


class PlatformEventForwarder(Construct):
    """Rules on this account's default bus sending the platform's events to the dev promotion bus.

    Forwarded: CloudFormation status changes of the endpoint and monitor stacks, SageMaker endpoint
    and endpoint-deployment state changes of the platform's endpoints, and state changes of the
    platform's alarms (endpoint alarms and ``<prefix>-*`` operational alarms). Events EventBridge
    cannot deliver land in ``dead_letter_queue``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        destination_bus_arn: str,
        alarm_name_prefix: str,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        bus = events.EventBus.from_event_bus_arn(self, "PromotionBus", destination_bus_arn)
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
                targets=[targets.EventBus(bus, dead_letter_queue=dead_letter_queue)],
            )
            for name, pattern in patterns.items()
        }
