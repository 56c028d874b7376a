"""Promoter Lambda: reconciles a project stage with the highest approved version of its model package group.

Trigger: the promotion queue (SQS, partial batch responses). An EventBridge rule feeds it the dev
account's ``SageMaker Model Package State Change`` events; the tracker adds reconcile requests once an
endpoint stack completes. Each message body is an EventBridge event; one is processed once per event id.

Effect: in the stage's target account, through its deploy role, the promoter creates and executes a
CloudFormation change set of the endpoint stack (with the endpoint's alarms as rollback triggers) so
that it runs the desired package, or, once the endpoint runs it and the tracker confirmed it, of the
monitor stack with that package's baselines. It writes the attempt or decision to the ledger, alerts
the team when something needs them, and never waits for an endpoint. A busy stack makes the message
come back later; anything invalid is logged with a reason and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

import contract
from alerts import alert_subject
from clients import Clients
from contract import BatchParameters, EndpointParameters
from entry_point import EntryPoint
from envelope import role_session_name
from ledger import Attempt, StageState, Status, utc_now
from promoter.artifacts import ArtifactCopier, ServedModel, copy_key, copy_request, registered_model
from promoter.cloudformation import ChangeSetResult, ChangeSetState, TargetStacks
from promoter.decisions import (
    PER_DEPLOYMENT_PARAMETERS,
    Decision,
    DecisionKind,
    Deploy,
    GateRefusal,
    PackageVersion,
    PromotionRequest,
    Rejection,
    RequestRules,
    StackView,
    StageTarget,
    decide_endpoint,
    decide_monitor,
    endpoint_change_set,
    highest_approved,
    monitor_blocker,
    monitor_change_set,
    monitor_change_set_name,
    monitor_parameters,
    new_deployment_id,
    prod_gate_refusal,
    promotion_request,
    releases_hold,
    source_version_pattern,
)
from promoter.evidence import evidence_refusal
from promoter.kinds import StageKind, rollback_alarm_names, stage_kind, template_parameters
from promoter.shared_endpoint import (
    NO_CHAMPION,
    EvaluationModes,
    challenger_parameters,
    challenger_rollback_alarms,
    challenger_view,
    challenger_won,
    retired_challenger,
    served_champion,
    serving_challenger,
    shares_champion_endpoint,
    stack_owner,
)
from queue_handler import QueuedEventHandler, RetryLater
from settings import ACCOUNT_ID, CommonSettings, ConfigurationError, Environment, is_prod_stage

logger = Logger()

#: Alert subjects of the decisions that need the team.
HEADLINES = {
    DecisionKind.FAILED: "stack needs an operator",
    DecisionKind.NO_APPROVED_VERSION: "no approved version left; endpoint kept",
}

#: CloudFormation accepts at most this many bytes as ``TemplateBody``.
TEMPLATE_BODY_LIMIT = 51_200
#: Every endpoint template parameter the stage settings must give (the rest are set per deployment).
STAGE_SETTING_NAMES = (
    frozenset(value for name, value in vars(EndpointParameters).items() if name.isupper()) - PER_DEPLOYMENT_PARAMETERS
)
#: The batch template parameters the stage settings give (the baselines come from the package).
BATCH_SETTING_NAMES = frozenset(
    {BatchParameters.INSTANCE_TYPE, BatchParameters.INSTANCE_COUNT, BatchParameters.SCHEDULE_EXPRESSION}
)
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class TemplateLocation:
    """An S3 object holding a deployable template."""

    bucket: str
    key: str


@dataclass(frozen=True)
class PromoterSettings:
    """The promoter's environment, read and validated once per Lambda environment."""

    common: CommonSettings
    targets: Mapping[str, StageTarget]
    endpoint_settings: Mapping[str, Mapping[str, str]]
    endpoint_template: TemplateLocation
    monitor_template: TemplateLocation
    rollback_monitoring_minutes: int
    deployment_kinds: Mapping[str, str]
    batch_settings: Mapping[str, Mapping[str, str]]
    batch_template: TemplateLocation
    project_settings_table: str
    champion_challenger_template: TemplateLocation
    evaluation_modes: EvaluationModes

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> PromoterSettings:
        """Read every variable the infrastructure sets; raise :class:`ConfigurationError` naming the first bad one."""
        env = Environment(environ)
        common = CommonSettings.from_environment(env)
        return cls(
            common=common,
            targets=_stage_targets(env.per_stage_json("STAGE_TARGETS"), common),
            endpoint_settings=_stage_parameters(
                "ENDPOINT_SETTINGS", env.per_stage_json("ENDPOINT_SETTINGS"), common.stages, STAGE_SETTING_NAMES
            ),
            endpoint_template=TemplateLocation(env.text("ENDPOINT_TEMPLATE_BUCKET"), env.text("ENDPOINT_TEMPLATE_KEY")),
            monitor_template=TemplateLocation(env.text("MONITOR_TEMPLATE_BUCKET"), env.text("MONITOR_TEMPLATE_KEY")),
            rollback_monitoring_minutes=env.whole_number("ROLLBACK_MONITORING_MINUTES", 0, 180),
            deployment_kinds=_deployment_kinds(env.per_stage_json("DEPLOYMENT_KINDS"), common.stages),
            batch_settings=_stage_parameters(
                "BATCH_SETTINGS", env.per_stage_json("BATCH_SETTINGS"), common.stages, BATCH_SETTING_NAMES
            ),
            batch_template=TemplateLocation(env.text("BATCH_TEMPLATE_BUCKET"), env.text("BATCH_TEMPLATE_KEY")),
            project_settings_table=env.text("PROJECT_SETTINGS_TABLE"),
            champion_challenger_template=TemplateLocation(
                env.text("CHAMPION_CHALLENGER_TEMPLATE_BUCKET"), env.text("CHAMPION_CHALLENGER_TEMPLATE_KEY")
            ),
            evaluation_modes=EvaluationModes.from_environment(env),
        )

    @property
    def rules(self) -> RequestRules:
        return RequestRules(self.common.dev_account_id, self.common.region, self.common.stages)


def _stage_targets(value: Any, common: CommonSettings) -> dict[str, StageTarget]:
    """Validate ``STAGE_TARGETS``: every stage, in the registry's region, with roles of its own account."""
    if not isinstance(value, dict):
        raise ConfigurationError("STAGE_TARGETS: must be a JSON object of stage -> target")
    targets = {}
    for stage in common.stages:
        where = f"STAGE_TARGETS[{stage!r}]"
        raw = value.get(stage)
        fields = ("account_id", "region", "deploy_role_arn", "cloudformation_role_arn", "model_bucket")
        if not isinstance(raw, dict) or not all(isinstance(raw.get(name), str) and raw[name] for name in fields):
            raise ConfigurationError(f"{where}: must give {', '.join(fields)}")
        target = StageTarget(**{name: raw[name] for name in fields})
        if not ACCOUNT_ID.match(target.account_id):
            raise ConfigurationError(f"{where}.account_id={target.account_id!r}: must be a 12-digit AWS account id")
        if target.region != common.region:
            raise ConfigurationError(
                f"{where}.region={target.region!r}: must be {common.region!r}; model packages deploy in their region"
            )
        for name in ("deploy_role_arn", "cloudformation_role_arn"):
            arn = getattr(target, name)
            if not arn.startswith("arn:aws") or f":iam::{target.account_id}:role/" not in arn:
                raise ConfigurationError(f"{where}.{name}={arn!r}: must be a role of account {target.account_id}")
        if contract.STAGE_ACCOUNTS[stage] == "dev" and target.account_id != common.dev_account_id:
            raise ConfigurationError(
                f"{where}.account_id={target.account_id!r}: stage {stage} deploys to the dev account"
            )
        targets[stage] = target
    return targets


def _stage_parameters(
    variable: str, value: Any, stages: tuple[str, ...], names: frozenset[str]
) -> dict[str, dict[str, str]]:
    """Validate ``ENDPOINT_SETTINGS`` or ``BATCH_SETTINGS``: for every stage, exactly the template
    parameters not set per deployment."""
    if not isinstance(value, dict):
        raise ConfigurationError(f"{variable}: must be a JSON object of stage -> parameters")
    settings = {}
    for stage in stages:
        raw = value.get(stage)
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise ConfigurationError(f"{variable}[{stage!r}]: must be an object of parameter name -> string")
        missing, unknown = names - raw.keys(), raw.keys() - names
        if missing or unknown:
            raise ConfigurationError(
                f"{variable}[{stage!r}]: missing {sorted(missing)}, unknown {sorted(unknown)}; "
                f"expected exactly {sorted(names)}"
            )
        settings[stage] = dict(raw)
    return settings


def _deployment_kinds(value: Any, stages: tuple[str, ...]) -> dict[str, str]:
    """Validate ``DEPLOYMENT_KINDS``: the platform's kind of every stage."""
    if not isinstance(value, dict) or any(value.get(stage) not in contract.DEPLOYMENT_KINDS for stage in stages):
        raise ConfigurationError(
            f"DEPLOYMENT_KINDS: must give every stage ({', '.join(stages)}) "
            f"one of {', '.join(contract.DEPLOYMENT_KINDS)}"
        )
    return {stage: value[stage] for stage in stages}


@dataclass(frozen=True)
class SharedLayout:
    """The models one endpoint change set serves: the stack's package and served model, and the
    challenger's template parameters (none: the plain endpoint template) or the challenger it retires."""

    mode: str
    package_arn: str
    served: ServedModel
    challenger: Mapping[str, str] = field(default_factory=dict)
    retired: str = ""


class Promoter(QueuedEventHandler):
    """Reconciles stages. One instance per Lambda environment: its clients and templates are reused.

    ``cloudformation_for(target, session_name)`` gives the CloudFormation client of a target account;
    by default it assumes the stage's deploy role (tests inject stubs for what moto cannot simulate).
    """

    name = "promoter"

    def __init__(self, settings: PromoterSettings, clients: Clients, *, cloudformation_for=None) -> None:
        self.settings = settings
        super().__init__(settings.common, clients)
        self._cloudformation_for = cloudformation_for or self._assume_deploy_role

    def process(self, event: dict[str, Any]) -> dict[str, str]:
        """Reconcile the stage an approval-status change or a reconcile request names."""
        request = promotion_request(event, self.settings.rules)
        if isinstance(request, Rejection):
            return self.drop(request.reason, event)
        logger.append_keys(project=request.deployment.project, stage=request.deployment.stage)
        return self.reconcile(request)

    # Reconciliation

    def reconcile(self, request: PromotionRequest) -> dict[str, str]:
        """Move the stage's endpoint (then its monitor) one step toward the highest approved package."""
        deployment = request.deployment
        target = self.settings.targets[deployment.stage]
        desired = highest_approved(self._approved_packages(deployment.group_name))
        stacks = TargetStacks(self._cloudformation_for(target, role_session_name("promoter", request.event_id)))
        # The ledger first: a change set another promoter created for the attempt it names is then
        # already visible in the stack's view (and makes this one wait).
        state = self.ledger.state(deployment)
        owner = stack_owner(deployment, self.settings.evaluation_modes)
        stack = stacks.view(owner.endpoint_stack)
        endpoint = stack if owner == deployment else challenger_view(stack)
        if releases_hold(request, endpoint, state) and self.ledger.release_hold(state, event_id=request.event_id):
            logger.info("Rolled-back version may be retried", extra={"deployment_id": state.deployment_id})
            state = replace(state, released_package_arn=state.package_arn)
        decision = decide_endpoint(endpoint, desired, state, request.approval_time)
        if owner != deployment and decision.kind is DecisionKind.DEPLOY:
            # the challenger beside the champion: only once a champion serves, and never a winner again
            blocker = NO_CHAMPION if stack is None or served_champion(stack) is None else None
            blocker = blocker or retired_challenger(state, desired)
            decision = Decision(DecisionKind.SKIPPED, blocker) if blocker else decision
        logger.info(
            "Endpoint decision",
            extra={
                "trigger": request.trigger,
                "decision": decision.kind,
                "reason": decision.reason,
                "desired_package": desired.arn if desired else None,
                "stack_status": endpoint.status if endpoint else None,
            },
        )
        if decision.kind is DecisionKind.DEPLOY:
            decision = self._deploy_endpoint(request, target, stacks, stack, desired, decision, state)
            return {"endpoint": decision.kind, "reason": decision.reason}
        self._record(request, target, decision)
        self._act_on_unsettled(decision, stacks, owner.endpoint_stack)
        summary = {"endpoint": decision.kind, "reason": decision.reason}
        if decision.kind is DecisionKind.UNCHANGED and owner == deployment:
            monitor = self._reconcile_monitor(request, target, stacks, endpoint, state)
            summary.update(monitor=monitor.kind, monitor_reason=monitor.reason)
        return summary

    def _deploy_endpoint(
        self,
        request: PromotionRequest,
        target: StageTarget,
        stacks: TargetStacks,
        endpoint: StackView | None,
        desired: PackageVersion,
        decision: Decision,
        state: StageState | None,
    ) -> Decision:
        """Gate prod stages on the test stage, create the change set, record the attempt, execute it.

        ``endpoint`` is the stack that serves the stage: the champion's in shadow and split modes (see
        ``promoter.shared_endpoint``). The attempt is recorded only if the stage's current deployment is
        still the one in ``state``; otherwise another promoter started one meanwhile: this change set is
        deleted, not executed.
        """
        deployment = request.deployment
        owner = stack_owner(deployment, self.settings.evaluation_modes)
        view = endpoint if owner == deployment else challenger_view(endpoint)
        package = self._package(desired.arn)
        metadata = package.get("CustomerMetadataProperties") or {}
        attempt = Attempt(
            deployment=deployment,
            account=target.account_id,
            package_arn=desired.arn,
            package_version=desired.version,
            deployment_id=new_deployment_id(desired.version),
            event_id=request.event_id,
            created_at=utc_now(),
            reason=decision.reason,
        )
        if is_prod_stage(deployment.stage):
            source = self._source_package(deployment, metadata.get(contract.META_SOURCE_PACKAGE))
            source_arn = source["ModelPackageArn"] if source else ""
            passed = self.ledger.passed_tests([source_arn]) if source_arn else set()
            refusal = prod_gate_refusal(deployment, package, source, passed, self.settings.rules)
            refusal = refusal or self._evidence_refusal(deployment, desired.arn, source_arn, view)
            if refusal:
                return self._refuse(request, target, attempt, refusal.headline, refusal.reason)
        kind = self._stage_kind(deployment)
        if isinstance(kind, Rejection):
            return self._refuse(request, target, attempt, "deployment kind not valid", kind.reason)
        served = self._verified_copy(request, target, package, desired)
        if isinstance(served, Rejection):
            return self._refuse(request, target, attempt, "model artifact not verified", served.reason)
        layout = self._shared_layout(deployment, owner, endpoint, desired.arn, served, metadata)
        if layout.challenger and kind.kind != "realtime":
            reason = f"evaluation mode {layout.mode} serves the challenger beside a realtime champion, not {kind.kind}"
            return self._refuse(request, target, attempt, "deployment kind not valid", reason)

        deploy = Deploy(
            deployment=owner,
            target=target,
            package_arn=layout.package_arn,
            commit=metadata.get(contract.META_COMMIT),
            deployment_id=attempt.deployment_id,
            change_set_type=decision.change_set_type,
            event_id=request.event_id,
        )
        logger.info("Deployment kind", extra={"kind": kind.kind, "source": kind.source})
        if layout.challenger:
            template = self.champion_challenger_template
        else:
            template = self.batch_template if kind.template == "batch" else self.endpoint_template
        request_body = endpoint_change_set(
            deploy,
            served=layout.served,
            template=template,
            settings={
                **template_parameters(
                    kind,
                    endpoint_settings=self.settings.endpoint_settings[owner.stage],
                    batch_settings=self.settings.batch_settings[owner.stage],
                    baselines=monitor_parameters(owner, attempt.deployment_id, package),
                ),
                **layout.challenger,
            },
            monitoring_minutes=self.settings.rollback_monitoring_minutes,
            rollback_alarms=rollback_alarm_names(kind, owner) + challenger_rollback_alarms(deployment, owner, endpoint),
        )
        change_set = stacks.create_change_set(request_body)
        if change_set.state is not ChangeSetState.READY:
            outcome = self._change_set_not_ready(request, target, change_set, f"v{desired.version}")
            self._record(request, target, outcome)
            return outcome

        attempt = replace(attempt, change_set=change_set.change_set_id)
        started = self.ledger.start_attempt(
            attempt,
            stack=owner.endpoint_stack,
            previous_package_arn=view.package_arn if view else "",
            replacing_deployment_id=state.deployment_id if state else "",
        )
        if not started:
            stacks.discard_change_set(owner.endpoint_stack, change_set.change_set_id)
            reason = f"another promoter started a deployment of {owner.endpoint_stack} meanwhile"
            logger.warning("Change set discarded", extra={"reason": reason, "change_set": change_set.change_set_id})
            raise RetryLater(reason)
        if layout.retired:
            self._retire_challenger(request, target, layout.retired, desired.version)
        try:
            stacks.execute(owner.endpoint_stack, change_set.change_set_id, attempt.deployment_id)
        except ClientError as error:
            reason = f"ExecuteChangeSet failed: {error}"
            self.ledger.record_outcome(attempt, Status.FAILED, reason=reason, event_id=request.event_id)
            raise RetryLater(reason) from error
        logger.info(
            "Deployment started",
            extra={"deployment_id": attempt.deployment_id, "change_set": change_set.change_set_id},
        )
        return decision

    def _shared_layout(
        self,
        deployment: contract.Deployment,
        owner: contract.Deployment,
        stack: StackView | None,
        package_arn: str,
        served: ServedModel,
        metadata: Mapping[str, str],
    ) -> SharedLayout:
        """What the stack serves after this deployment: in shadow and split modes, a challenger's approval
        keeps the champion's served model as the stack runs it; a champion's keeps the serving challenger
        unless the new champion is the challenger's own model (then the challenger is retired)."""
        mode = self.settings.evaluation_modes.of(deployment.project)
        if owner != deployment:
            champion_arn, champion_served = served_champion(stack)
            challenger = challenger_parameters(mode, package_arn, served, rollout=True)
            return SharedLayout(mode, champion_arn, champion_served, challenger)
        shared = shares_champion_endpoint(deployment, self.settings.evaluation_modes)
        current = serving_challenger(stack) if shared else None
        if current is None:
            return SharedLayout(mode, package_arn, served)
        challenger_arn, challenger_served = current
        challenger_metadata = self._package(challenger_arn).get("CustomerMetadataProperties") or {}
        won = challenger_won(
            metadata.get(contract.META_SOURCE_PACKAGE, ""), challenger_metadata.get(contract.META_SOURCE_PACKAGE, "")
        )
        if won:
            return SharedLayout(mode, package_arn, served, retired=challenger_arn)
        kept = challenger_parameters(mode, challenger_arn, challenger_served, rollout=False)
        return SharedLayout(mode, package_arn, served, kept)

    def _retire_challenger(self, request: PromotionRequest, target: StageTarget, challenger_arn: str, version: int):
        """Record (and tell the team) that the challenger won: the champion's new deployment removes its variant."""
        challenger = contract.Deployment(request.deployment.project, contract.CHALLENGER_STAGE)
        reason = f"its model is the champion now (v{version}); the challenger variant is removed"
        self.ledger.record_retirement(challenger, account=target.account_id, package_arn=challenger_arn, reason=reason)
        logger.info("Challenger retired", extra={"challenger": challenger_arn, "reason": reason})

    def _evidence_refusal(
        self, deployment: contract.Deployment, candidate_arn: str, source_arn: str, endpoint: StackView | None
    ) -> GateRefusal | None:
        """Promotion on evidence (champion stage only): the ledger's newest comparison of the candidate's model."""
        serving = endpoint.package_arn if endpoint else ""
        if deployment.stage != contract.CHAMPION_STAGE or not serving or candidate_arn == serving:
            return None
        return evidence_refusal(
            deployment,
            candidate_arn=candidate_arn,
            source_arn=source_arn,
            serving_arn=serving,
            served_before=self.ledger.served_before(deployment, candidate_arn),
            comparison=self.ledger.latest_comparison(source_arn) if source_arn else None,
        )

    def _refuse(
        self, request: PromotionRequest, target: StageTarget, attempt: Attempt, headline: str, reason: str
    ) -> Decision:
        """Record a refused deployment in the ledger and alert the team; nothing is deployed."""
        self.ledger.record_refusal(replace(attempt, status=Status.REFUSED, reason=reason))
        self._alert(request, target, f"v{attempt.package_version} refused: {headline}", reason, attempt.package_arn)
        logger.warning("Refused a deployment", extra={"reason": reason})
        return Decision(DecisionKind.REFUSED, reason, alert=True)

    def _verified_copy(
        self, request: PromotionRequest, target: StageTarget, package: Mapping[str, Any], desired: PackageVersion
    ) -> ServedModel | Rejection:
        """Copy the package's registered artifact into the target's model bucket, only if its ETag still matches."""
        model = registered_model(package)
        if isinstance(model, Rejection):
            return model
        key = copy_key(request.deployment, desired.version, model.etag)
        copy = copy_request(
            model,
            bucket=target.model_bucket,
            key=key,
            source_account=self.settings.common.dev_account_id,
            target_account=target.account_id,
        )
        s3 = self._s3_for(target, role_session_name("promoter", request.event_id))
        refusal = ArtifactCopier(s3).copy(model, copy)
        if refusal:
            return refusal
        logger.info("Model artifact verified", extra={"source": model.url, "etag": model.etag, "copy": key})
        return ServedModel(image=model.served_image, key=key)

    def _source_package(self, deployment: contract.Deployment, source_arn: str | None) -> dict[str, Any] | None:
        """The dev package a prod package names as its source, if it is a version of the project's dev group."""
        group = contract.Deployment(deployment.project, "dev").group_name
        if not source_arn or not source_version_pattern(group, self.settings.rules).match(source_arn):
            return None
        try:
            return self._package(source_arn)
        except ClientError as error:
            logger.warning("Source package unreadable", extra={"source": source_arn, "error": str(error)})
            return None

    def _reconcile_monitor(
        self,
        request: PromotionRequest,
        target: StageTarget,
        stacks: TargetStacks,
        endpoint: StackView,
        state: StageState | None,
    ) -> Decision:
        """Once the endpoint runs a confirmed deployment, deploy the monitor stack with its package's baselines."""
        deployment = request.deployment
        kind = self._stage_kind(deployment)
        if isinstance(kind, Rejection):
            return Decision(DecisionKind.SKIPPED, kind.reason)
        blocker = monitor_blocker(endpoint, state, kind)
        if blocker:
            logger.info("Monitor stack not reconciled", extra={"reason": blocker})
            return Decision(DecisionKind.SKIPPED, blocker)
        package = self._package(endpoint.package_arn)
        parameters = monitor_parameters(deployment, endpoint.deployment_id, package)
        decision = decide_monitor(stacks.view(deployment.monitor_stack), endpoint.deployment_id, parameters)
        logger.info("Monitor decision", extra={"decision": decision.kind, "reason": decision.reason})
        if decision.kind is DecisionKind.DEPLOY:
            name = monitor_change_set_name(endpoint.deployment_id)
            deploy = Deploy(
                deployment=deployment,
                target=target,
                package_arn=endpoint.package_arn,
                commit=(package.get("CustomerMetadataProperties") or {}).get(contract.META_COMMIT),
                deployment_id=endpoint.deployment_id,
                change_set_type=decision.change_set_type,
                event_id=request.event_id,
            )
            request_body = monitor_change_set(deploy, template=self.monitor_template, name=name, parameters=parameters)
            change_set = stacks.create_change_set(request_body)
            if change_set.state is not ChangeSetState.READY:
                decision = self._change_set_not_ready(request, target, change_set, deployment.monitor_stack)
            else:
                self.ledger.start_monitor(
                    deployment, deployment_id=endpoint.deployment_id, change_set=name, reason=decision.reason
                )
                stacks.execute(deployment.monitor_stack, change_set.change_set_id, name)
                return decision
        self.ledger.record_monitor_decision(deployment, decision=decision.kind, reason=decision.reason)
        if decision.alert:
            self._alert(request, target, f"monitor {HEADLINES[decision.kind]}", decision.reason, endpoint.package_arn)
        self._act_on_unsettled(decision, stacks, deployment.monitor_stack)
        return decision

    def _change_set_not_ready(
        self, request: PromotionRequest, target: StageTarget, change_set: ChangeSetResult, what: str
    ) -> Decision:
        """An empty change set means nothing to do; a failed one needs a person (alerted)."""
        if change_set.state is ChangeSetState.EMPTY:
            return Decision(DecisionKind.UNCHANGED, f"nothing would change for {what}")
        reason = f"change set for {what} failed: {change_set.reason}"
        self._alert(request, target, f"change set failed for {what}", reason, None)
        return Decision(DecisionKind.FAILED, reason)

    @staticmethod
    def _act_on_unsettled(decision: Decision, stacks: TargetStacks, stack_name: str) -> None:
        """Delete a failed first creation; make the message come back when the stack is busy."""
        if decision.kind is DecisionKind.DELETE_FAILED_CREATION:
            stacks.delete(stack_name)
        if decision.retry:
            raise RetryLater(decision.reason)

    def _record(self, request: PromotionRequest, target: StageTarget, decision: Decision) -> None:
        """Write the decision to the ledger, and alert the team if it needs them."""
        self.ledger.record_decision(
            request.deployment,
            account=target.account_id,
            decision=decision.kind,
            reason=decision.reason,
            event_id=request.event_id,
        )
        if decision.alert:
            self._alert(request, target, HEADLINES[decision.kind], decision.reason, None)

    def _alert(
        self, request: PromotionRequest, target: StageTarget, summary: str, reason: str, package_arn: str | None
    ) -> None:
        self.alerts.send(
            alert_subject(request.deployment, summary),
            project=request.deployment.project,
            stage=request.deployment.stage,
            account=target.account_id,
            summary=summary,
            reason=reason,
            package_arn=package_arn,
            trigger=request.trigger,
            event_id=request.event_id,
        )

    # Reads in the dev account

    def _approved_packages(self, group: str) -> list[dict[str, Any]]:
        pages = self.clients.sagemaker.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=group, ModelApprovalStatus="Approved"
        )
        return [summary for page in pages for summary in page["ModelPackageSummaryList"]]

    def _stage_kind(self, deployment: contract.Deployment) -> StageKind | Rejection:
        """The stage's kind: the project's ``DEPLOYMENT`` item (project-settings table) over the platform's."""
        item = self.clients.dynamodb.get_item(
            TableName=self.settings.project_settings_table,
            Key={
                "pk": {"S": contract.project_settings_partition(deployment.project)},
                "sk": {"S": contract.DEPLOYMENT_SORT_KEY},
            },
        ).get("Item")
        values = {name: _deserializer.deserialize(value) for name, value in item.items()} if item else None
        return stage_kind(values, deployment.stage, self.settings.deployment_kinds[deployment.stage])

    def _package(self, package_arn: str) -> dict[str, Any]:
        return self.clients.sagemaker.describe_model_package(ModelPackageName=package_arn)

    @cached_property
    def endpoint_template(self) -> str:
        """The endpoint template, read once per Lambda environment."""
        return self._template(self.settings.endpoint_template)

    @cached_property
    def champion_challenger_template(self) -> str:
        """The champion/challenger template, read once per Lambda environment (shadow and split modes only)."""
        return self._template(self.settings.champion_challenger_template)

    @cached_property
    def batch_template(self) -> str:
        """The batch template, read once per Lambda environment (and only if a stage deploys as batch)."""
        return self._template(self.settings.batch_template)

    @cached_property
    def monitor_template(self) -> str:
        """The monitor template, read once per Lambda environment (and only if a monitor is deployed)."""
        return self._template(self.settings.monitor_template)

    def _template(self, location: TemplateLocation) -> str:
        body = self.clients.s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
        if len(body) > TEMPLATE_BODY_LIMIT:
            raise ConfigurationError(
                f"s3://{location.bucket}/{location.key}: {len(body)} bytes, more than CloudFormation's "
                f"{TEMPLATE_BODY_LIMIT}-byte TemplateBody limit"
            )
        return body.decode("utf-8")

    def _assume_deploy_role(self, target: StageTarget, session_name: str):
        return self.clients.in_account(
            "cloudformation", role_arn=target.deploy_role_arn, session_name=session_name, region=target.region
        )

    def _s3_for(self, target: StageTarget, session_name: str):
        """An S3 client of the stage's deploy role: the only writer of the target's model bucket."""
        return self.clients.in_account(
            "s3", role_arn=target.deploy_role_arn, session_name=session_name, region=target.region
        )


#: Lambda entry point (``promoter.handler.handler``): one Promoter per Lambda environment.
handler = EntryPoint(Promoter, PromoterSettings)
