"""Endpoint clean-up Lambda: deletes the dev account's feature-stage endpoints after their time to live.

Trigger: an hourly EventBridge schedule (Lambda target with retries and a dead-letter queue).

Effect: through the dev account's deploy role, restricted further by a session policy to listing
stacks and deleting feature endpoint and monitor stacks, it deletes the feature stages whose last
deployment is older than ``FEATURE_ENDPOINT_TTL_HOURS``: the monitor stack first (a monitoring
schedule must go before its endpoint), then the endpoint stack. Before deleting the endpoint it
marks the stage CLEANED_UP in the ledger, so a late or duplicate approval event does not make the
promoter recreate it, and removes the package's ``deployed-feature`` annotation (life cycle
``CleanedUp``). It logs and returns what it deleted and sends one alert listing the stacks.
It never touches test or prod: its role can assume nothing but the dev deploy role, and only stacks
named and tagged as a platform feature stage are selected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError, WaiterError

import contract
from alerts import alert_subject
from endpoint_cleanup.decisions import CLEANED_STAGE, ExpiredDeployment, expired_feature_deployments, stack_record
from entry_point import EntryPoint
from envelope import role_session_name
from scheduled import ScheduledHandler
from settings import CommonSettings, Environment
from tracker.decisions import annotated_deployment, package_withdrawal

logger = Logger()

#: Stack statuses in which a stack can be deleted; stacks in progress are left for a later run, and one
#: in UPDATE_ROLLBACK_FAILED needs an operator (ContinueUpdateRollback) before anything can delete it.
LISTED_STATUSES = (
    "CREATE_COMPLETE",
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "DELETE_FAILED",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
)
#: How long the clean-up waits for a monitor stack to be deleted before deleting its endpoint stack;
#: a stage whose monitor takes longer is finished by the next run.
MONITOR_DELETION_WAIT = {"Delay": 10, "MaxAttempts": 18}
#: How a cleaned-up package's ModelLifeCycle reads (the tracker writes Deployed, RolledBack, ...).
CLEANED_UP_STAGE_STATUS = "CleanedUp"


@dataclass(frozen=True)
class CleanupSettings:
    """The clean-up's environment, read and validated once per Lambda environment."""

    common: CommonSettings
    deploy_role_arn: str
    cloudformation_role_arn: str
    time_to_live: timedelta

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CleanupSettings:
        """Read every variable the infrastructure sets; raise ``ConfigurationError`` naming the first bad one."""
        env = Environment(environ)
        return cls(
            common=CommonSettings.from_environment(env),
            deploy_role_arn=env.text("DEPLOY_ROLE_ARN"),
            cloudformation_role_arn=env.text("CLOUDFORMATION_ROLE_ARN"),
            time_to_live=timedelta(hours=env.whole_number("FEATURE_ENDPOINT_TTL_HOURS", 1, 720)),
        )


def session_policy(cloudformation_role_arn: str) -> str:
    """What the clean-up may do with the deploy role: list stacks, delete feature stacks with the
    CloudFormation execution role; the deploy role's other permissions do not apply."""
    partition = cloudformation_role_arn.split(":")[1]
    feature_stacks = [
        f"arn:{partition}:cloudformation:*:*:stack/*-{CLEANED_STAGE}{suffix}/*"
        for suffix in (contract.MONITOR_SUFFIX, contract.ENDPOINT_SUFFIX)
    ]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "cloudformation:ListStacks", "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": ["cloudformation:DescribeStacks", "cloudformation:DeleteStack"],
                    "Resource": feature_stacks,
                },
                {"Effect": "Allow", "Action": "iam:PassRole", "Resource": cloudformation_role_arn},
            ],
        }
    )


class EndpointCleanup(ScheduledHandler):
    """Deletes expired feature stages. One instance per Lambda environment (clients are reused)."""

    def run(self, run_id: str) -> dict[str, Any]:
        """Delete every expired feature stage; report and return what was deleted and what failed."""
        now = self._clock()
        cloudformation = self._cloudformation(run_id)
        expired = expired_feature_deployments(
            self._feature_stacks(cloudformation), now=now, time_to_live=self.settings.time_to_live
        )
        deleted, failed = [], []
        for stage in expired:
            try:
                deleted.extend(self._delete(cloudformation, stage, now))
            except (ClientError, WaiterError) as error:
                logger.exception("Clean-up of a feature stage failed", extra={"project": stage.deployment.project})
                failed.append({"project": stage.deployment.project, "error": str(error)})
        result = {"deleted": deleted, "failed": failed, "ttl_hours": self.settings.time_to_live // timedelta(hours=1)}
        logger.info("Feature endpoint clean-up finished", extra=result)
        if deleted or failed:
            self._report(deleted, failed, run_id)
        if failed:
            raise RuntimeError(f"clean-up of {len(failed)} feature stage(s) failed: {failed}")
        return result

    def _cloudformation(self, run_id: str):
        return self.clients.in_account(
            "cloudformation",
            role_arn=self.settings.deploy_role_arn,
            session_name=role_session_name("cleanup", run_id),
            region=self.settings.common.region,
            policy=session_policy(self.settings.cloudformation_role_arn),
        )

    @staticmethod
    def _feature_stacks(cloudformation):
        """The feature endpoint and monitor stacks of the account, with their tags (described by name)."""
        pages = cloudformation.get_paginator("list_stacks").paginate(StackStatusFilter=list(LISTED_STATUSES))
        for page in pages:
            for summary in page["StackSummaries"]:
                name = summary["StackName"]
                deployment = contract.Deployment.from_resource_name(name, (CLEANED_STAGE,))
                if deployment and name in (deployment.endpoint_stack, deployment.monitor_stack):
                    yield stack_record(cloudformation.describe_stacks(StackName=name)["Stacks"][0])

    def _delete(self, cloudformation, stage: ExpiredDeployment, now: datetime) -> list[str]:
        """Delete the monitor stack and wait for it, mark the stage cleaned up, delete the endpoint stack."""
        deployment = stage.deployment
        role = self.settings.cloudformation_role_arn
        deleted = []
        for name in stage.stacks:
            if name == deployment.endpoint_stack:
                self.ledger.record_cleanup(
                    deployment,
                    account=self.settings.common.dev_account_id,
                    package_arn=stage.package_arn,
                    at=now.isoformat(timespec="seconds"),
                )
            cloudformation.delete_stack(StackName=name, RoleARN=role)
            if name == deployment.monitor_stack:
                cloudformation.get_waiter("stack_delete_complete").wait(
                    StackName=name, WaiterConfig=MONITOR_DELETION_WAIT
                )
            deleted.append(name)
            logger.info(
                "Deleted a feature stack",
                extra={"stack": name, "project": deployment.project, "last_deployed": stage.last_deployed.isoformat()},
            )
        if deployment.endpoint_stack in stage.stacks and stage.package_arn:
            self._withdraw(deployment, stage.package_arn)
        return deleted

    def _withdraw(self, deployment: contract.Deployment, package_arn: str) -> None:
        """The package no longer says it runs in the feature stage (metadata and life cycle), as the
        tracker leaves it when a deployment stops serving; a package that cannot be read is only logged."""
        sagemaker = self.clients.sagemaker
        try:
            package = sagemaker.describe_model_package(ModelPackageName=package_arn)
            if annotated_deployment(package, deployment.stage):
                why = f"{deployment.endpoint_stack} deleted after its time to live"
                sagemaker.update_model_package(
                    ModelPackageArn=package_arn, **package_withdrawal(deployment, CLEANED_UP_STAGE_STATUS, why)
                )
        except ClientError:
            logger.exception("Could not withdraw the package's feature annotation", extra={"package": package_arn})

    def _report(self, deleted: list[str], failed: list[dict[str, str]], run_id: str) -> None:
        summary = f"clean-up deleted {len(deleted)} feature stack(s)" + (f", {len(failed)} failed" if failed else "")
        self.alerts.send(
            alert_subject(None, summary),
            account=self.settings.common.dev_account_id,
            stacks=deleted,
            failed=failed,
            ttl_hours=self.settings.time_to_live // timedelta(hours=1),
            run_id=run_id,
        )


#: Lambda entry point (``endpoint_cleanup.handler.handler``): one EndpointCleanup per Lambda environment.
handler = EntryPoint(EndpointCleanup, CleanupSettings)
