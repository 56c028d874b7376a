"""A platform function EventBridge runs on a schedule, with retries, a dead-letter queue and alarms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from constructs import Construct

from mlops_constructs.functions import DEFAULT_TIMEOUT, PlatformFunction
from mlops_constructs.messaging import AlertTopic, DeadLetterQueue


@dataclass(frozen=True)
class JobPartIds:
    """The construct ids of a job's dead-letter queue, function and schedule rule.

    They name the parts' logical ids; a job made with the id ``Default`` (which CDK leaves out of
    logical ids) and the ids its parts had before keeps the resources of an already deployed stack.
    """

    dead_letters: str = "DeadLetters"
    function: str = "Function"
    schedule: str = "Schedule"


class ScheduledJob(Construct):
    """A :class:`PlatformFunction` an EventBridge rule invokes every ``rate`` (the scheduled jobs of dev).

    EventBridge retries the delivery and Lambda the run; a delivery or a run that still fails lands in
    ``dead_letters``, whose alarm (``<name>-dead-letters``) tells the team, as the function's error alarm
    (``<name>-errors``) does. Callers grant the function's role what the job needs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        handler: str,
        description: str,
        environment: Mapping[str, str],
        rate: Duration,
        schedule_description: str,
        key: kms.IKey,
        alerts: AlertTopic,
        powertools_version: str,
        role_name: str | None = None,
        timeout: Duration = DEFAULT_TIMEOUT,
        enabled: bool = True,
        part_ids: JobPartIds = JobPartIds(),
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = DeadLetterQueue(
            self,
            part_ids.dead_letters,
            alarm_name=f"{name}-dead-letters",
            encryption_key=key,
            alarm_action=alerts.alarm_action,
        )
        self.function = PlatformFunction(
            self,
            part_ids.function,
            handler=handler,
            description=description,
            role_name=role_name,
            alarm_name=f"{name}-errors",
            timeout=timeout,
            environment=environment,
            powertools_version=powertools_version,
            alarm_action=alerts.alarm_action,
        )
        self.function.function.configure_async_invoke(
            retry_attempts=2,
            max_event_age=Duration.hours(1),
            on_failure=destinations.SqsDestination(self.dead_letters.queue),
        )
        self.schedule = events.Rule(
            self,
            part_ids.schedule,
            description=schedule_description,
            enabled=enabled,
            schedule=events.Schedule.rate(rate),
            targets=[
                targets.LambdaFunction(
                    self.function.function,
                    retry_attempts=4,
                    max_event_age=Duration.hours(1),
                    dead_letter_queue=self.dead_letters.queue,
                )
            ],
        )
