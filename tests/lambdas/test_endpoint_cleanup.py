"""The endpoint clean-up against moto: old feature stages deleted (monitor first), everything else kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from moto.cloudformation import models as cloudformation_models

import contract
from endpoint_cleanup.decisions import StackRecord, expired_feature_deployments
from endpoint_cleanup.handler import CleanupSettings, handler, session_policy
from settings import ConfigurationError
from tests.iam_evaluation import Request, is_allowed
from tests.lambdas.conftest import CLEANUP_ENVIRONMENT, cloudformation_role, deploy_role
from tests.lambdas.events import DEV, TEST, LambdaContext

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TTL = timedelta(hours=24)
#: A minimal template, for stacks the platform did not deploy through the promoter.
TEMPLATE = json.dumps({"Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}}})


def feature_tags(project: str, package: str = ""):
    package = package or f"arn:aws:sagemaker:eu-west-1:111111111111:model-package/{project}-feature/1"
    return [
        {"Key": contract.TAG_PROJECT, "Value": project},
        {"Key": contract.TAG_STAGE, "Value": "feature"},
        {"Key": contract.TAG_MODEL_PACKAGE, "Value": package},
    ]


@pytest.fixture
def created_at(monkeypatch):
    """``created_at(when)``: stacks created from now on carry ``when`` as their creation time."""

    def set_time(when: datetime) -> None:
        monkeypatch.setattr(cloudformation_models, "utcnow", lambda: when.replace(tzinfo=None))

    return set_time


def deploy_feature(platform, package: str) -> dict:
    """Approve a feature package; the promoter deploys its endpoint, then (once confirmed) its monitor."""
    approval = platform.package_event(package)
    platform.promote(approval)
    platform.track(platform.completion("feature", "CREATE_COMPLETE"))
    assert "deployed-feature" in platform.package(package)["CustomerMetadataProperties"]
    [nudge] = platform.reconcile_requests()
    platform.promote(nudge)
    assert platform.stack("feature", "monitor") is not None
    platform.alerts()
    return approval


def stack_names(platform, account: str) -> set[str]:
    return {s["StackName"] for s in platform.client(account, "cloudformation").describe_stacks()["Stacks"]}


def test_old_feature_stages_are_deleted_monitor_first_and_everything_else_kept(platform, created_at):
    created_at(datetime.now(UTC) - timedelta(hours=30))
    package = platform.register("feature")
    approval = deploy_feature(platform, package)
    platform.promote(platform.package_event(platform.register("dev")))  # the dev stage, in the test account
    dev_cloudformation = platform.client(DEV, "cloudformation")
    dev_cloudformation.create_stack(StackName="legacy-feature-endpoint", TemplateBody=TEMPLATE)  # not tagged
    created_at(datetime.now(UTC) - timedelta(hours=2))
    dev_cloudformation.create_stack(
        StackName="fraud-feature-endpoint", TemplateBody=TEMPLATE, Tags=feature_tags("fraud")
    )
    session = platform.role_session("endpoint-cleanup")
    assumed = []
    session.events.register("provide-client-params.sts.AssumeRole", lambda params, **_: assumed.append(dict(params)))

    result = platform.new_cleanup(session).run("run-1")

    assert result == {"deleted": ["churn-feature-monitor", "churn-feature-endpoint"], "failed": [], "ttl_hours": 24}
    assert stack_names(platform, DEV) == {"legacy-feature-endpoint", "fraud-feature-endpoint"}
    assert "churn-dev-endpoint" in stack_names(platform, TEST)
    [assume] = assumed
    assert assume["RoleArn"] == deploy_role(DEV)
    assert json.loads(assume["Policy"]) == json.loads(session_policy(cloudformation_role(DEV)))
    state = platform.state("feature")
    assert (state["status"], state["cleaned_up_package_arn"]) == ("CLEANED_UP", package)
    assert "deployed-feature" not in platform.package(package)["CustomerMetadataProperties"]
    assert platform.package(package)["ModelApprovalStatus"] == "Approved"
    [(subject, message)] = platform.alerts()
    assert subject == "[mlops] clean-up deleted 2 feature stack(s)"
    assert message["stacks"] == ["churn-feature-monitor", "churn-feature-endpoint"]

    # A late (or duplicate) delivery of the approval does not bring the endpoint back...
    requests = len(platform.change_set_requests())
    platform.promote(approval | {"id": "late-delivery"})
    assert platform.stack("feature") is None and len(platform.change_set_requests()) == requests
    assert platform.state("feature")["decision"] == "SKIPPED"
    # ...a newer approved version does.
    platform.promote(platform.package_event(platform.register("feature")))
    assert platform.stack("feature")["StackStatus"] == "CREATE_COMPLETE"

    assert platform.new_cleanup().run("run-2")["deleted"] == []  # young now, and nothing else expired
    assert platform.alerts() == []


def test_a_package_that_cannot_be_read_does_not_stop_the_cleanup(platform, created_at):
    created_at(datetime.now(UTC) - timedelta(hours=25))
    platform.client(DEV, "cloudformation").create_stack(
        StackName="fraud-feature-endpoint",
        TemplateBody=TEMPLATE,
        Tags=feature_tags("fraud"),  # no such package
    )

    result = platform.new_cleanup().run("run-1")

    assert (result["deleted"], result["failed"]) == (["fraud-feature-endpoint"], [])
    assert (
        platform.admin[DEV]
        .resource("dynamodb")
        .Table("mlops-promotion-ledger")
        .get_item(Key={"pk": "DEPLOYMENT#fraud#feature", "sk": "STATE"})["Item"]["status"]
        == "CLEANED_UP"
    )


def test_the_entry_point_runs_the_environments_cleanup(platform, monkeypatch):
    import endpoint_cleanup.handler as module

    monkeypatch.setattr(module.handler, "instance", lambda: platform.new_cleanup())
    scheduled = {"id": "5f4e-scheduled", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert handler(scheduled, LambdaContext("mlops-endpoint-cleanup"))["deleted"] == []


def record(
    name: str, age_hours: float, *, project: str | None = None, stage: str = "feature", status="CREATE_COMPLETE"
):
    project = project if project is not None else name.split("-")[0]
    tags = {contract.TAG_PROJECT: project, contract.TAG_STAGE: stage, contract.TAG_MODEL_PACKAGE: f"arn:{name}"}
    return StackRecord(name, status, tags, NOW - timedelta(hours=age_hours))


@pytest.mark.parametrize(
    ("stacks", "expected"),
    [
        ([record("churn-feature-endpoint", 25)], [("churn", ("churn-feature-endpoint",))]),
        ([record("churn-feature-endpoint", 23)], []),  # young
        (  # the monitor goes first; the youngest stack of the stage counts
            [record("churn-feature-endpoint", 30), record("churn-feature-monitor", 25)],
            [("churn", ("churn-feature-monitor", "churn-feature-endpoint"))],
        ),
        ([record("churn-feature-endpoint", 30), record("churn-feature-monitor", 2)], []),
        ([record("churn-dev-endpoint", 99, stage="dev"), record("churn-prod-endpoint", 99, stage="prod")], []),
        ([record("churn-feature-endpoint", 99, stage="dev")], []),  # tags disagree with the name
        ([record("churn-feature-endpoint", 99, project="fraud")], []),
        ([StackRecord("churn-feature-endpoint", "CREATE_COMPLETE", {}, NOW - timedelta(days=9))], []),  # untagged
        ([record("churn-feature-endpoint", 99, status="UPDATE_IN_PROGRESS")], []),  # busy
        ([record("churn-feature-endpoint", 99, status="DELETE_IN_PROGRESS")], []),
        ([record("churn-feature-endpointx", 99)], []),
    ],
)
def test_only_old_tagged_feature_stages_of_the_platform_are_selected(stacks, expected):
    expired = expired_feature_deployments(stacks, now=NOW, time_to_live=TTL)
    assert [(e.deployment.project, e.stacks) for e in expired] == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FEATURE_ENDPOINT_TTL_HOURS", "0", "FEATURE_ENDPOINT_TTL_HOURS='0'"),
        ("DEPLOY_ROLE_ARN", "", "DEPLOY_ROLE_ARN: missing"),
    ],
)
def test_an_invalid_environment_stops_the_cleanup_with_the_variables_name(name, value, message):
    with pytest.raises(ConfigurationError, match=message):
        CleanupSettings.from_environment({**CLEANUP_ENVIRONMENT, name: value})


def test_the_session_policy_leaves_the_cleanup_only_feature_stacks_to_delete():
    statements = json.loads(session_policy(cloudformation_role(DEV)))["Statement"]
    stack = "arn:aws:cloudformation:eu-west-1:111111111111:stack/{}/0f1e2d3c"
    for name in ("churn-feature-endpoint", "churn-feature-monitor"):
        assert is_allowed(statements, Request("cloudformation:DeleteStack", stack.format(name)))
    for name in ("churn-dev-endpoint", "churn-prod-monitor", "mlops-dev-target", "churn-feature-endpoint-x"):
        assert not is_allowed(statements, Request("cloudformation:DeleteStack", stack.format(name)))
    assert is_allowed(statements, Request("iam:PassRole", cloudformation_role(DEV)))
    assert not is_allowed(statements, Request("iam:PassRole", deploy_role(DEV)))
    assert not is_allowed(statements, Request("cloudformation:CreateChangeSet", stack.format("churn-feature-endpoint")))
