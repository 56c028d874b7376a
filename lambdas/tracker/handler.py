"""Tracker Lambda: records what became of each deployment the promoter started, and tells the team.

Trigger: the tracking queue (SQS, partial batch responses), fed by the dev promotion bus with events
the test and prod (and dev) accounts forward: ``CloudFormation Stack Status Change`` of endpoint and
monitor stacks and ``SageMaker Endpoint (Deployment) State Change`` of the platform's endpoints (alarm
state changes go to the monitoring loop). Each event is processed once per event id.

Effect: the attempt (and the stage) in the ledger moves to DEPLOYED, ROLLED_BACK or FAILED; outcomes
only move forward, so a rollback is never recorded as a success whatever order the events arrive in.
A rollback or failure in the test account revokes the package's test-stage pass (the prod gate, which
only the integration tester writes); the model package shows where it runs (metadata and life
cycle); a completed endpoint stack sends the promoter a reconcile request so it deploys the monitor
stack; outcomes are notified. Events from other accounts or about other resources are logged and
dropped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aws_lambda_powertools import Logger

import contract
from alerts import alert_subject
from clients import Clients
from entry_point import EntryPoint
from envelope import reconcile_request
from ledger import Attempt, StageState, Status, utc_now
from queue_handler import QueuedEventHandler
from settings import CommonSettings, Environment, is_test_stage
from tracker.decisions import (
    EndpointStateChange,
    Outcome,
    Rejection,
    StackKind,
    StackStatusChange,
    TrackingRules,
    annotated_deployment,
    endpoint_outcome,
    outcome_summary,
    package_annotation,
    package_withdrawal,
    stack_event_deployment_id,
    stack_outcome,
    tracked_event,
    unrelated_to_stage,
)

logger = Logger()

#: How the model package's life cycle reads after a deployment stops serving it.
WITHDRAWN = {Status.ROLLED_BACK: "RolledBack", Status.FAILED: "Failed", Status.DEPLOYED: "Superseded"}


@dataclass(frozen=True)
class TrackerSettings:
    """The tracker's environment, read and validated once per Lambda environment."""

    common: CommonSettings
    promotion_queue_url: str
    target_accounts: frozenset[str]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TrackerSettings:
        """Read every variable the infrastructure sets; raise ``ConfigurationError`` naming the first bad one."""
        env = Environment(environ)
        return cls(
            common=CommonSettings.from_environment(env),
            promotion_queue_url=env.text("PROMOTION_QUEUE_URL"),
            target_accounts=env.account_ids("TARGET_ACCOUNTS"),
        )

    @property
    def rules(self) -> TrackingRules:
        return TrackingRules(self.target_accounts, self.common.region, self.common.stages)


class Tracker(QueuedEventHandler):
    """Applies forwarded events to the ledger. One instance per Lambda environment (clients are reused)."""

    name = "tracker"

    def __init__(self, settings: TrackerSettings, clients: Clients) -> None:
        self.settings = settings
        super().__init__(settings.common, clients)

    def process(self, event: dict[str, Any]) -> dict[str, str]:
        """Record what a forwarded stack or endpoint event says about a deployment."""
        change = tracked_event(event, self.settings.rules)
        if isinstance(change, Rejection):
            return self.drop(change.reason, event)
        state = self.ledger.state(change.deployment)
        if isinstance(change, StackStatusChange) and change.kind is StackKind.ENDPOINT:
            change, state = self._challenger_beside_champion(change, state)
        logger.append_keys(project=change.deployment.project, stage=change.deployment.stage)
        unrelated = unrelated_to_stage(change.account, state)
        if unrelated:
            return self.drop(unrelated, event)
        if isinstance(change, StackStatusChange):
            if change.kind is StackKind.MONITOR:
                return self._on_monitor_stack(change, state)
            return self._on_endpoint_stack(change, state)
        return self._on_endpoint(change, state)

    def _challenger_beside_champion(
        self, change: StackStatusChange, state: StageState | None
    ) -> tuple[StackStatusChange, StageState | None]:
        """In shadow and split modes the champion's endpoint stack also deploys the challenger: an operation
        of that stack the challenger stage's current attempt started is the challenger's."""
        project = change.deployment.project
        challenger = contract.Deployment(project, contract.CHALLENGER_STAGE)
        if change.deployment.stage != contract.CHAMPION_STAGE or challenger.stage not in self.settings.common.stages:
            return change, state
        if not change.token or (state is not None and change.token == state.deployment_id):
            return change, state
        challenger_state = self.ledger.state(challenger)
        if challenger_state is None or challenger_state.deployment_id != change.token:
            return change, state
        return replace(change, deployment=challenger), challenger_state

    # Events

    def _on_endpoint_stack(self, change: StackStatusChange, state: StageState) -> dict[str, str]:
        outcome = stack_outcome(change.status, change.reason)
        if outcome is None:
            logger.info("Stack status noted", extra={"stack": change.stack_name, "status": change.status})
            return {"result": "NOTED", "status": change.status}
        deployment_id = stack_event_deployment_id(change.token, state.deployment_id)
        if deployment_id is None:
            reason = f"{change.stack_name} {change.status}: operation {change.token!r} was not started by the promoter"
            return self.drop(reason)
        return self._apply(change.deployment, state, deployment_id, outcome, change.event_id)

    def _on_endpoint(self, change: EndpointStateChange, state: StageState) -> dict[str, str]:
        result = endpoint_outcome(change, state.deployment_id)
        if result is None:
            logger.info("Endpoint state noted", extra={"endpoint": change.endpoint_name, "status": change.status})
            return {"result": "NOTED", "status": change.status}
        deployment_id, outcome = result
        return self._apply(change.deployment, state, deployment_id, outcome, change.event_id)

    def _on_monitor_stack(self, change: StackStatusChange, state: StageState) -> dict[str, str]:
        outcome = stack_outcome(change.status, change.reason)
        if outcome is None:
            return {"result": "NOTED", "status": change.status}
        if change.token and change.token != state.monitor_change_set:
            return self.drop(f"{change.stack_name}: {change.token!r} is not the stage's monitor deployment")
        recorded = self.ledger.record_monitor_outcome(
            change.deployment, change_set=state.monitor_change_set, status=outcome.status, reason=outcome.reason
        )
        if not recorded:
            return self.drop(f"{change.stack_name}: a newer monitor deployment started meanwhile")
        if outcome.status is not Status.DEPLOYED:
            self.alerts.send(
                alert_subject(change.deployment, f"monitor stack {change.status}"),
                project=change.deployment.project,
                stage=change.deployment.stage,
                account=change.account,
                stack=change.stack_name,
                status=str(outcome.status),
                reason=outcome.reason,
                event_id=change.event_id,
            )
        return {"result": str(outcome.status), "reason": outcome.reason}

    # Outcomes

    def _apply(
        self, deployment: contract.Deployment, state: StageState, deployment_id: str, outcome: Outcome, event_id: str
    ) -> dict[str, str]:
        """Record an outcome of an attempt and carry out what follows from it, once."""
        attempt = self.ledger.attempt(deployment, deployment_id, state)
        if attempt is None:
            return self.drop(f"no attempt {deployment_id} in the ledger")
        transition = self.ledger.record_outcome(attempt, outcome.status, reason=outcome.reason, event_id=event_id)
        if transition.after is not outcome.status:
            logger.info(
                "Outcome does not replace the recorded status",
                extra={"deployment_id": deployment_id, "recorded": transition.after, "arrived": outcome.status},
            )
            return {"result": str(transition.after), "ignored": str(outcome.status)}
        if not transition.changed and attempt.notified == outcome.status:
            logger.info("Outcome already recorded and notified", extra={"deployment_id": deployment_id})
            return {"result": str(outcome.status), "reason": "already recorded"}
        # Everything below is safe to repeat: the notification marker is set last, so a failure here
        # makes the message come back and the whole sequence run again.
        current = state.deployment_id == deployment_id
        if outcome.status is Status.DEPLOYED:
            self._show_deployed(attempt, state if current else None)
            if current:
                self._request_reconcile(attempt, outcome)
        else:
            if is_test_stage(deployment.stage):
                self.ledger.revoke_test_pass(attempt.package_arn, deployment_id)
            self._withdraw(attempt.package_arn, attempt, outcome.status, outcome.reason)
        self._notify(attempt, outcome, event_id)
        logger.info("Outcome recorded", extra={"deployment_id": deployment_id, "status": outcome.status})
        return {"result": str(outcome.status), "reason": outcome.reason}

    def _show_deployed(self, attempt: Attempt, state: StageState | None) -> None:
        """Annotate the package with where it runs; withdraw the annotation of the package it replaced."""
        self.clients.sagemaker.update_model_package(
            ModelPackageArn=attempt.package_arn,
            **package_annotation(attempt.deployment, attempt.account, attempt.deployment_id, utc_now()),
        )
        previous = state.previous_package_arn if state else ""
        if previous and previous != attempt.package_arn:
            self._withdraw(previous, attempt, Status.DEPLOYED, f"replaced by {attempt.deployment_id}")

    def _withdraw(self, package_arn: str, attempt: Attempt, because: Status, why: str) -> None:
        """Remove a package's ``deployed-<stage>`` annotation, if it has one that this change invalidates."""
        package = self.clients.sagemaker.describe_model_package(ModelPackageName=package_arn)
        annotated = annotated_deployment(package, attempt.deployment.stage)
        invalidated = annotated is not None and (because is Status.DEPLOYED or annotated == attempt.deployment_id)
        if invalidated:
            self.clients.sagemaker.update_model_package(
                ModelPackageArn=package_arn, **package_withdrawal(attempt.deployment, WITHDRAWN[because], why)
            )

    def _request_reconcile(self, attempt: Attempt, outcome: Outcome) -> None:
        """Ask the promoter to reconcile the stage again: the endpoint runs, the monitor stack can follow."""
        request = reconcile_request(
            attempt.deployment,
            reason=f"{attempt.deployment_id} {outcome.reason}",
            account=self.settings.common.dev_account_id,
            region=self.settings.common.region,
        )
        self.clients.sqs.send_message(QueueUrl=self.settings.promotion_queue_url, MessageBody=json.dumps(request))

    def _notify(self, attempt: Attempt, outcome: Outcome, event_id: str) -> None:
        """Tell the team about the outcome, then remember they were told."""
        deployment = attempt.deployment
        self.alerts.send(
            alert_subject(deployment, outcome_summary(outcome.status, attempt.package_version, attempt.deployment_id)),
            project=deployment.project,
            stage=deployment.stage,
            account=attempt.account,
            status=str(outcome.status),
            reason=outcome.reason,
            package_arn=attempt.package_arn,
            deployment_id=attempt.deployment_id,
            endpoint=deployment.endpoint_name,
            event_id=event_id,
        )
        self.ledger.mark_notified(attempt, outcome.status)


#: Lambda entry point (``tracker.handler.handler``): one Tracker per Lambda environment.
handler = EntryPoint(Tracker, TrackerSettings)
