"""The promoter's decisions, exhaustively: requests, the package a stage should run, what to do with its stacks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import botocore.session
import pytest

import contract
from contract import EndpointParameters, MonitorParameters
from envelope import reconcile_request
from ledger import StageState, Status
from promoter.artifacts import ServedModel
from promoter.decisions import (
    DecisionKind,
    Deploy,
    PackageVersion,
    PromotionRequest,
    Rejection,
    RequestRules,
    StackAction,
    StackView,
    StageTarget,
    _ModelPackageStateChange,
    alarm_arns,
    decide_endpoint,
    decide_monitor,
    endpoint_change_set,
    highest_approved,
    is_empty_change_set,
    monitor_blocker,
    monitor_change_set_name,
    monitor_parameters,
    monitors_something,
    new_deployment_id,
    prod_gate_refusal,
    promotion_request,
    releases_hold,
    stack_action,
)
from promoter.kinds import StageKind
from tests.lambdas.conftest import full_baselines, stage_settings
from tests.lambdas.events import DEV, REGION, TEST, model_package_state_change

REALTIME = StageKind("realtime", "platform")

RULES = RequestRules(dev_account_id=DEV, region=REGION, stages=("feature", "dev", "prod"))
CHURN_DEV = contract.Deployment("churn", "dev")
ARN = f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-dev/8"
V7 = PackageVersion(f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-dev/7", 7)
V8 = PackageVersion(ARN, 8)
TARGET = StageTarget(
    account_id=TEST,
    region=REGION,
    deploy_role_arn=f"arn:aws:iam::{TEST}:role/mlops-test-deployer",
    cloudformation_role_arn=f"arn:aws:iam::{TEST}:role/mlops-test-cfn-execution",
    model_bucket=f"mlops-models-{TEST}-{REGION}",
)
SERVED = ServedModel(
    image="141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1", key="churn/dev/v8/e/model.tar.gz"
)
ALL_STACK_STATUSES = botocore.session.get_session().get_service_model("cloudformation").shape_for("StackStatus").enum


def approval(**detail_changes) -> dict:
    package = {
        "ModelPackageGroupName": "churn-dev",
        "ModelPackageVersion": 8,
        "ModelPackageArn": ARN,
        "ModelApprovalStatus": "Approved",
        "CreationTime": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    }
    event = model_package_state_change(package)
    event["detail"].update(detail_changes)
    return event


# --- Requests -------------------------------------------------------------------------------------------


def test_an_approval_is_a_request_to_reconcile_its_stage():
    event = approval()
    assert event["detail"]["CreationTime"] == 1772357400000  # epoch milliseconds, as SageMaker sends it
    emitted = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    expected = PromotionRequest(CHURN_DEV, event["id"], "v8 is Approved", emitted, ARN, "Approved")
    assert promotion_request(event, RULES) == expected


@pytest.mark.parametrize("status", ["Rejected", "PendingManualApproval"])
def test_any_approval_status_change_is_a_request(status):
    request = promotion_request(approval(ModelApprovalStatus=status), RULES)
    assert request.deployment == CHURN_DEV
    assert status in request.trigger


def test_creation_time_may_also_be_iso_8601():
    assert isinstance(promotion_request(approval(CreationTime="2026-03-01T09:30:00Z"), RULES), PromotionRequest)


def test_creation_time_in_epoch_milliseconds_is_read_as_utc():
    detail = _ModelPackageStateChange.model_validate(approval()["detail"])
    assert detail.CreationTime == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_a_naive_event_time_is_rejected_not_compared_with_a_clean_up():
    """An event time without a zone used to reach the clean-up comparison and raise TypeError there."""
    result = promotion_request(approval() | {"time": "2026-03-02T11:00:00"}, RULES)
    assert isinstance(result, Rejection)
    assert "time" in result.reason and "time zone" in result.reason


def test_the_trackers_reconcile_request_is_accepted():
    event = reconcile_request(CHURN_DEV, reason="endpoint stack completed", account=DEV, region=REGION)
    request = promotion_request(event, RULES)
    assert request == PromotionRequest(CHURN_DEV, event["id"], "reconcile: endpoint stack completed")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"account": "444455556666"}, "account 444455556666 is not the dev account"),
        ({"region": "us-east-1"}, "region us-east-1 is not the registry's region"),
        ({"source": "custom.approvals"}, "unexpected event"),
        ({"detail-type": "SageMaker Model State Change"}, "unexpected event"),
        ({"id": ""}, "not an EventBridge event: id"),
        ({"time": "2026-03-01T09:30:00"}, "not an EventBridge event: time"),
        ({"time": "soon"}, "not an EventBridge event: time"),
        ({"detail": "approved"}, "not an EventBridge event: detail"),
    ],
)
def test_envelopes_from_elsewhere_are_rejected(change, reason):
    result = promotion_request(approval() | change, RULES)
    assert isinstance(result, Rejection)
    assert reason in result.reason


@pytest.mark.parametrize(
    ("detail_change", "reason"),
    [
        ({"ModelPackageGroupName": "churn-staging"}, "not a managed <project>-<stage> group"),
        ({"ModelPackageGroupName": "Churn-dev"}, "not a managed"),
        ({"ModelPackageGroupName": "churn-champion"}, "not a managed"),  # not a stage of the baseline scenario
        ({"ModelPackageVersion": "8"}, "ModelPackageVersion"),
        ({"ModelPackageVersion": 0}, "ModelPackageVersion"),
        ({"ModelPackageVersion": True}, "ModelPackageVersion"),
        ({"ModelPackageArn": None}, "ModelPackageArn"),
        ({"ModelApprovalStatus": "APPROVED"}, "ModelApprovalStatus"),
        ({"CreationTime": "yesterday"}, "CreationTime"),
        ({"CreationTime": "2026-03-01T09:30:00"}, "CreationTime"),  # no time zone
        ({"ModelPackageVersion": 9}, "is not version 9 of group 'churn-dev'"),
        ({"ModelPackageArn": ARN.replace(DEV, "444455556666")}, "in the dev registry"),
        ({"ModelPackageArn": ARN.replace("churn-dev", "churn-prod")}, "in the dev registry"),
    ],
)
def test_malformed_or_unmanaged_details_are_rejected(detail_change, reason):
    event = approval()
    for name, value in detail_change.items():
        if value is None:
            del event["detail"][name]
        else:
            event["detail"][name] = value
    result = promotion_request(event, RULES)
    assert isinstance(result, Rejection)
    assert reason in result.reason


@pytest.mark.parametrize(
    "detail",
    [
        {"project": "churn", "stage": "staging", "reason": "x"},
        {"project": "Churn", "stage": "dev", "reason": "x"},
        {"project": "churn", "stage": "dev", "reason": ""},
        {"project": "churn", "stage": "dev"},
    ],
)
def test_malformed_reconcile_requests_are_rejected(detail):
    event = reconcile_request(CHURN_DEV, reason="x", account=DEV, region=REGION) | {"detail": detail}
    assert isinstance(promotion_request(event, RULES), Rejection)


# --- The desired package ---------------------------------------------------------------------------------


def summary(version: int, approval_status: str = "Approved", status: str = "Completed") -> dict:
    return {
        "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-dev/{version}",
        "ModelPackageVersion": version,
        "ModelApprovalStatus": approval_status,
        "ModelPackageStatus": status,
    }


@pytest.mark.parametrize(
    ("summaries", "expected"),
    [
        ([], None),
        ([summary(3, "Rejected")], None),
        ([summary(7), summary(8), summary(2)], 8),
        ([summary(8), summary(7)], 8),
        ([summary(7), summary(9, "PendingManualApproval"), summary(8, "Rejected")], 7),
        ([summary(7), summary(8, status="Failed"), summary(9, status="InProgress")], 7),
    ],
)
def test_the_desired_package_is_the_highest_approved_completed_version(summaries, expected):
    desired = highest_approved(summaries)
    assert (desired.version if desired else None) == expected


# --- Stacks ----------------------------------------------------------------------------------------------


def stack(status: str = "UPDATE_COMPLETE", package: PackageVersion = V8, *, busy: bool = False) -> StackView:
    """The endpoint stack running ``package`` (v8 as deployment v8-0a1b2c3d, v7 as v7-00000000)."""
    deployment_id = "v8-0a1b2c3d" if package == V8 else "v7-00000000"
    parameters = {EndpointParameters.MODEL_PACKAGE_ARN: package.arn, EndpointParameters.DEPLOYMENT_ID: deployment_id}
    return StackView("churn-dev-endpoint", status, parameters, busy)


EXPECTED_ACTIONS = {
    "CREATE_COMPLETE": StackAction.UPDATE,
    "UPDATE_COMPLETE": StackAction.UPDATE,
    "UPDATE_ROLLBACK_COMPLETE": StackAction.UPDATE,
    "IMPORT_COMPLETE": StackAction.UPDATE,
    "IMPORT_ROLLBACK_COMPLETE": StackAction.UPDATE,
    "REVIEW_IN_PROGRESS": StackAction.CREATE,
    "ROLLBACK_COMPLETE": StackAction.DELETE_FAILED_CREATION,
    "CREATE_FAILED": StackAction.NEEDS_OPERATOR,
    "ROLLBACK_FAILED": StackAction.NEEDS_OPERATOR,
    "DELETE_FAILED": StackAction.NEEDS_OPERATOR,
    "UPDATE_FAILED": StackAction.NEEDS_OPERATOR,
    "UPDATE_ROLLBACK_FAILED": StackAction.NEEDS_OPERATOR,
    "IMPORT_ROLLBACK_FAILED": StackAction.NEEDS_OPERATOR,
    "DELETE_COMPLETE": StackAction.NEEDS_OPERATOR,  # never seen by name: deleted stacks are not described
}


@pytest.mark.parametrize("status", ALL_STACK_STATUSES)
def test_every_stack_status_has_an_action(status):
    if status not in EXPECTED_ACTIONS:
        assert status.endswith("_IN_PROGRESS"), f"{status}: add its expected action"
    assert stack_action(stack(status), in_sync=False) is EXPECTED_ACTIONS.get(status, StackAction.WAIT)


def test_a_settled_stack_in_sync_is_unchanged_and_a_missing_one_is_created():
    assert stack_action(stack("UPDATE_COMPLETE"), in_sync=True) is StackAction.UNCHANGED
    assert stack_action(None, in_sync=False) is StackAction.CREATE


@pytest.mark.parametrize("status", ["UPDATE_COMPLETE", "REVIEW_IN_PROGRESS"])
def test_a_change_set_being_created_or_executed_makes_the_stack_busy(status):
    assert stack_action(stack(status, busy=True), in_sync=False) is StackAction.WAIT


STARTED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
#: The endpoint stack after CloudFormation rolled the update to v8 back: it runs v7 again.
V8_ROLLED_BACK = stack("UPDATE_ROLLBACK_COMPLETE", V7)
RETRY, UNCHANGED = DecisionKind.RETRY, DecisionKind.UNCHANGED


def state(
    package: PackageVersion, status: Status, deployment_id: str = "v8-0a1b2c3d", *, released: bool = False
) -> StageState:
    """The stage's current attempt (started at ``STARTED``); ``released``: rejected since it rolled back."""
    return StageState(
        CHURN_DEV,
        package_arn=package.arn,
        deployment_id=deployment_id,
        attempt_sk=f"ATTEMPT#{STARTED.isoformat()}#{deployment_id}",
        status=str(status),
        released_package_arn=package.arn if released else "",
    )


@pytest.mark.parametrize(
    ("current", "desired", "ledger", "kind", "change_set_type", "alert"),
    [
        (None, V8, None, DecisionKind.DEPLOY, "CREATE", False),
        (stack("REVIEW_IN_PROGRESS"), V8, None, DecisionKind.DEPLOY, "CREATE", False),
        (stack(package=V7), V8, state(V7, Status.DEPLOYED), DecisionKind.DEPLOY, "UPDATE", False),
        (stack(package=V8), V7, state(V8, Status.DEPLOYED), DecisionKind.DEPLOY, "UPDATE", False),  # v8 rejected
        (stack(package=V8), V8, state(V8, Status.DEPLOYED), DecisionKind.UNCHANGED, None, False),
        (stack(package=V8), V8, None, DecisionKind.UNCHANGED, None, False),
        (stack("UPDATE_ROLLBACK_COMPLETE", V7), V7, state(V8, Status.ROLLED_BACK), DecisionKind.UNCHANGED, None, False),
        (stack("UPDATE_ROLLBACK_COMPLETE", V7), V8, state(V8, Status.ROLLED_BACK), DecisionKind.HOLD, None, False),
        (stack("UPDATE_COMPLETE", V8), V8, state(V8, Status.ROLLED_BACK), DecisionKind.HOLD, None, False),
        (stack("UPDATE_COMPLETE", V7), V8, state(V8, Status.FAILED), DecisionKind.DEPLOY, "UPDATE", False),
        (None, V8, state(V8, Status.ROLLED_BACK), DecisionKind.DEPLOY, "CREATE", False),  # nothing serves
        # CloudFormation rolled v8 back, the tracker has not recorded it yet: the stack says so already
        (V8_ROLLED_BACK, V8, state(V8, Status.IN_PROGRESS), DecisionKind.HOLD, None, False),
        (V8_ROLLED_BACK, V7, state(V8, Status.IN_PROGRESS), DecisionKind.UNCHANGED, None, False),  # v8 rejected
        # ... unless a change set is about to run (after an earlier rollback, a new attempt is starting)
        (stack("UPDATE_ROLLBACK_COMPLETE", V7, busy=True), V8, state(V8, Status.IN_PROGRESS), RETRY, None, False),
        (stack("UPDATE_ROLLBACK_COMPLETE", V8), V8, state(V8, Status.IN_PROGRESS), UNCHANGED, None, False),
        # the team rejected v8 after its rollback and approved it again: a retry
        (V8_ROLLED_BACK, V8, state(V8, Status.ROLLED_BACK, released=True), DecisionKind.DEPLOY, "UPDATE", False),
        (stack(package=V8), V8, state(V8, Status.ROLLED_BACK, released=True), DecisionKind.DEPLOY, "UPDATE", False),
        (V8_ROLLED_BACK, V8, state(V8, Status.IN_PROGRESS, released=True), DecisionKind.DEPLOY, "UPDATE", False),
        (stack(package=V8), V8, state(V8, Status.DEPLOYED, released=True), UNCHANGED, None, False),
        (stack("UPDATE_IN_PROGRESS"), V8, None, DecisionKind.RETRY, None, False),
        (stack("UPDATE_COMPLETE", busy=True), V7, None, DecisionKind.RETRY, None, False),
        (stack("ROLLBACK_COMPLETE"), V8, None, DecisionKind.DELETE_FAILED_CREATION, None, False),
        (stack("UPDATE_ROLLBACK_FAILED"), V8, None, DecisionKind.FAILED, None, True),
        (stack("DELETE_FAILED"), None, None, DecisionKind.FAILED, None, True),
        (stack(package=V8), None, state(V8, Status.DEPLOYED), DecisionKind.NO_APPROVED_VERSION, None, True),
        (None, None, None, DecisionKind.NO_APPROVED_VERSION, None, False),
        (stack("UPDATE_IN_PROGRESS"), None, None, DecisionKind.RETRY, None, False),
    ],
)
def test_endpoint_decisions(current, desired, ledger, kind, change_set_type, alert):
    decision = decide_endpoint(current, desired, ledger)
    assert (decision.kind, decision.change_set_type, decision.alert) == (kind, change_set_type, alert)
    assert decision.retry is (kind in (DecisionKind.RETRY, DecisionKind.DELETE_FAILED_CREATION))
    assert decision.reason


def test_the_hold_message_says_how_to_retry():
    decision = decide_endpoint(stack("UPDATE_ROLLBACK_COMPLETE", V7), V8, state(V8, Status.ROLLED_BACK))
    assert decision.kind is DecisionKind.HOLD
    assert "to retry it, reject it, then approve it again" in decision.reason


def rejection(package: PackageVersion = V8, status: str = "Rejected", at: datetime = STARTED + timedelta(hours=1)):
    return PromotionRequest(CHURN_DEV, "e-1", f"v{package.version} is {status}", at, package.arn, status)


@pytest.mark.parametrize(
    ("request_", "current", "ledger", "releases"),
    [
        (rejection(), V8_ROLLED_BACK, state(V8, Status.ROLLED_BACK), True),
        (rejection(), stack("UPDATE_COMPLETE", V8), state(V8, Status.ROLLED_BACK), True),  # SageMaker rolled back
        (rejection(), V8_ROLLED_BACK, state(V8, Status.IN_PROGRESS), True),  # not recorded yet
        (rejection(), V8_ROLLED_BACK, state(V8, Status.ROLLED_BACK, released=True), False),  # done
        (rejection(at=STARTED), V8_ROLLED_BACK, state(V8, Status.ROLLED_BACK), False),  # not after it
        (rejection(at=STARTED - timedelta(days=1)), stack("UPDATE_COMPLETE", V8), state(V8, Status.ROLLED_BACK), False),
        (rejection(status="Approved"), V8_ROLLED_BACK, state(V8, Status.ROLLED_BACK), False),
        (
            rejection(status="PendingManualApproval"),
            V8_ROLLED_BACK,
            state(V8, Status.ROLLED_BACK),
            False,
        ),
        (rejection(V7), V8_ROLLED_BACK, state(V8, Status.ROLLED_BACK), False),  # another version
        (rejection(), stack("UPDATE_COMPLETE", V8), state(V8, Status.DEPLOYED), False),  # nothing to release
        (rejection(), stack("UPDATE_COMPLETE", V8), state(V8, Status.FAILED), False),
        (rejection(), stack("UPDATE_COMPLETE", V8), state(V8, Status.IN_PROGRESS), False),  # still rolling out
        (rejection(), V8_ROLLED_BACK, None, False),
        (
            PromotionRequest(CHURN_DEV, "e-1", "reconcile: x"),
            V8_ROLLED_BACK,
            state(V8, Status.ROLLED_BACK),
            False,
        ),
    ],
)
def test_rejecting_a_rolled_back_version_releases_it_for_a_retry(request_, current, ledger, releases):
    assert releases_hold(request_, current, ledger) is releases


CLEANED_AT = "2026-03-02T10:00:00+00:00"
BEFORE, AFTER = datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "desired", "approval_time", "kind"),
    [
        (None, V8, BEFORE, DecisionKind.SKIPPED),  # a late or duplicate delivery of the approval
        (None, V8, CLEANED_AT, DecisionKind.SKIPPED),  # the same second: not after the clean-up
        (None, V8, None, DecisionKind.SKIPPED),  # a reconcile request is no approval
        (None, V8, AFTER, DecisionKind.DEPLOY),  # approved again after the clean-up
        (None, PackageVersion(f"{ARN[:-2]}/9", 9), BEFORE, DecisionKind.DEPLOY),  # a newer approved version
        (stack(package=V7), V8, BEFORE, DecisionKind.DEPLOY),  # a stack exists again: normal reconciliation
    ],
)
def test_a_cleaned_up_package_is_not_recreated_by_events_from_before_the_clean_up(
    current, desired, approval_time, kind
):
    cleaned = StageState(
        CHURN_DEV, package_arn=V8.arn, status="CLEANED_UP", cleaned_up_package_arn=V8.arn, cleaned_up_at=CLEANED_AT
    )
    if isinstance(approval_time, str):
        approval_time = datetime.fromisoformat(approval_time)
    decision = decide_endpoint(current, desired, cleaned, approval_time)
    assert decision.kind is kind
    if kind is DecisionKind.SKIPPED:
        assert "cleaned up" in decision.reason and not decision.alert


def test_a_kept_endpoint_names_what_it_keeps_serving():
    decision = decide_endpoint(stack(package=V8), None, None)
    assert V8.arn in decision.reason
    assert "keeps serving" in decision.reason


SOURCE = f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-dev/3"
PROD_ARN = f"arn:aws:sagemaker:{REGION}:{DEV}:model-package/churn-prod/1"
CONTAINER = {
    "Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "ImageDigest": "sha256:" + "a" * 64,
    "ModelDataUrl": "s3://mlops-artifacts/projects/churn/training/9f1c2ab/model.tar.gz",
    "ModelDataETag": '"' + "b" * 32 + '"',
}


def described(arn: str, *, source: str | None = None, **container) -> dict:
    """A DescribeModelPackage response with one container (``CONTAINER`` changed by ``container``)."""
    metadata = {contract.META_SOURCE_PACKAGE: source} if source else {}
    return {
        "ModelPackageArn": arn,
        "InferenceSpecification": {"Containers": [{**CONTAINER, **container}]},
        "CustomerMetadataProperties": metadata,
    }


@pytest.mark.parametrize("stage", ["feature", "dev"])
def test_the_prod_gate_does_not_apply_to_other_stages(stage):
    package = described(ARN)
    assert prod_gate_refusal(contract.Deployment("churn", stage), package, None, set(), RULES) is None


@pytest.mark.parametrize("stage", ["prod", "champion", "challenger"])
def test_a_copy_of_a_tested_source_with_the_same_content_passes_the_prod_gate(stage):
    package = described(PROD_ARN, source=SOURCE, ModelDataETag="b" * 32)  # quotes or not, the same ETag
    deployment = contract.Deployment("churn", stage)
    assert prod_gate_refusal(deployment, package, described(SOURCE), {SOURCE}, RULES) is None


@pytest.mark.parametrize(
    ("cited", "changes", "source_read", "passed", "reason"),
    [
        (None, {}, True, {PROD_ARN}, "names no source package"),
        (SOURCE.replace("churn-dev", "fraud-dev"), {}, True, {SOURCE.replace("churn-dev", "fraud-dev")}, "fraud-dev"),
        (SOURCE.replace("churn-dev", "churn-feature"), {}, True, set(), "not a version of churn-dev"),
        (SOURCE.replace(DEV, "999999999999"), {}, True, set(), "not a version of churn-dev in the dev registry"),
        (SOURCE.replace(REGION, "us-east-1"), {}, True, set(), "not a version of churn-dev"),
        (SOURCE.removesuffix("/3"), {}, True, set(), "not a version of churn-dev"),
        (SOURCE, {}, False, {SOURCE}, "cannot be read"),
        (SOURCE, {}, True, set(), "has not passed the test stage"),
        (SOURCE, {}, True, {PROD_ARN}, "has not passed the test stage"),
        (SOURCE, {"ModelDataETag": "c" * 32}, True, {SOURCE}, "ModelDataETag"),
        (SOURCE, {"ModelDataETag": None}, True, {SOURCE}, "ModelDataETag"),
        (
            SOURCE,
            {"ModelDataUrl": "s3://mlops-artifacts/projects/churn/x/model.tar.gz"},
            True,
            {SOURCE},
            "ModelDataUrl",
        ),
        (SOURCE, {"Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/other:1"}, True, {SOURCE}, "Image"),
        (SOURCE, {"ImageDigest": "sha256:" + "0" * 64}, True, {SOURCE}, "ImageDigest"),
    ],
)
def test_the_prod_gate_refuses_anything_but_the_tested_content_of_the_same_project(
    cited, changes, source_read, passed, reason
):
    package = described(PROD_ARN, source=cited, **changes)
    source = described(cited) if source_read and cited else None
    refusal = prod_gate_refusal(contract.Deployment("churn", "prod"), package, source, passed, RULES)
    assert refusal is not None and reason in refusal.reason and PROD_ARN in refusal.reason
    content = any(field in reason for field in ("ModelData", "Image"))
    assert refusal.headline == ("not the tested model" if content else "no test-stage pass")


def test_the_prod_gate_refuses_packages_with_other_than_one_container():
    package = described(PROD_ARN, source=SOURCE)
    package["InferenceSpecification"]["Containers"].append(CONTAINER)
    refusal = prod_gate_refusal(contract.Deployment("churn", "prod"), package, described(SOURCE), {SOURCE}, RULES)
    assert "exactly one container" in refusal.reason


# --- Monitor ---------------------------------------------------------------------------------------------


def test_monitor_parameters_come_from_the_packages_baselines_and_metadata():
    package = {
        "DriftCheckBaselines": full_baselines(),
        "CustomerMetadataProperties": {
            contract.META_GROUND_TRUTH: "s3://bucket/ground-truth/",
            contract.META_PROBLEM_TYPE: "Regression",
            contract.META_INFERENCE_ATTRIBUTE: "prediction",
        },
    }
    parameters = monitor_parameters(CHURN_DEV, "v8-0a1b2c3d", package)
    assert parameters[MonitorParameters.ENDPOINT_NAME] == "churn-dev-endpoint"
    assert parameters[MonitorParameters.DEPLOYMENT_ID] == "v8-0a1b2c3d"
    assert parameters[MonitorParameters.DATA_QUALITY_STATISTICS_URI].endswith("/statistics.json")
    assert parameters[MonitorParameters.DATA_QUALITY_CONSTRAINTS_URI].endswith("/constraints.json")
    assert parameters[MonitorParameters.MODEL_QUALITY_CONSTRAINTS_URI].endswith("/model-quality-constraints.json")
    assert parameters[MonitorParameters.BIAS_CONFIG_URI].endswith("/bias-analysis-config.json")
    assert parameters[MonitorParameters.BIAS_CONSTRAINTS_URI].endswith("/post-training-bias.json")
    assert parameters[MonitorParameters.EXPLAINABILITY_CONFIG_URI].endswith("/explainability-config.json")
    assert parameters[MonitorParameters.EXPLAINABILITY_CONSTRAINTS_URI].endswith("/explainability-constraints.json")
    assert parameters[MonitorParameters.GROUND_TRUTH_URI] == "s3://bucket/ground-truth/"
    assert parameters[MonitorParameters.PROBLEM_TYPE] == "Regression"
    assert parameters[MonitorParameters.INFERENCE_ATTRIBUTE] == "prediction"
    assert parameters[MonitorParameters.PROBABILITY_ATTRIBUTE] == ""


def test_a_probability_output_carries_its_threshold():
    metadata = {contract.META_PROBABILITY_ATTRIBUTE: "0", contract.META_PROBABILITY_THRESHOLD: "0.7"}
    parameters = monitor_parameters(CHURN_DEV, "v8-0a1b2c3d", {"CustomerMetadataProperties": metadata})
    assert parameters[MonitorParameters.PROBABILITY_ATTRIBUTE] == "0"
    assert parameters[MonitorParameters.PROBABILITY_THRESHOLD] == "0.7"


def test_absent_baselines_are_empty_and_an_unknown_problem_type_is_left_to_the_template():
    parameters = monitor_parameters(CHURN_DEV, "v8-0a1b2c3d", {})
    assert MonitorParameters.PROBLEM_TYPE not in parameters
    assert MonitorParameters.PROBABILITY_THRESHOLD not in parameters
    assert {value for name, value in parameters.items() if name.endswith("Uri")} == {""}
    assert not monitors_something(parameters)


@pytest.mark.parametrize(
    ("given", "monitors"),
    [
        ({"DataQualityStatisticsUri", "DataQualityConstraintsUri"}, True),
        ({"DataQualityStatisticsUri"}, False),
        ({"GroundTruthS3Uri", "ModelQualityConstraintsUri"}, True),
        ({"ModelQualityConstraintsUri"}, False),
        ({"GroundTruthS3Uri", "BiasConfigUri", "BiasConstraintsUri"}, True),
        ({"BiasConfigUri", "BiasConstraintsUri"}, False),
        ({"ExplainabilityConfigUri", "ExplainabilityConstraintsUri"}, True),
        ({"ExplainabilityConstraintsUri", "GroundTruthS3Uri"}, False),
    ],
)
def test_the_monitor_is_deployed_only_if_it_would_monitor_something(given, monitors):
    assert monitors_something({name: "s3://bucket/key" for name in given}) is monitors


def test_the_monitor_waits_for_a_confirmed_instance_backed_deployment():
    endpoint = stack()
    assert monitor_blocker(endpoint, state(V8, Status.DEPLOYED), kind=REALTIME) is None
    assert "not confirmed" in monitor_blocker(endpoint, state(V8, Status.IN_PROGRESS), kind=REALTIME)
    assert "not confirmed" in monitor_blocker(endpoint, state(V8, Status.ROLLED_BACK), kind=REALTIME)
    assert "not confirmed" in monitor_blocker(endpoint, state(V8, Status.DEPLOYED, "v8-ffffffff"), kind=REALTIME)
    assert "not confirmed" in monitor_blocker(endpoint, None, kind=REALTIME)
    for kind in ("serverless", "batch"):
        blocker = monitor_blocker(endpoint, state(V8, Status.DEPLOYED), StageKind(kind, "platform"))
        assert blocker == f"a {kind} stage has no monitor stack"
    assert monitor_blocker(endpoint, state(V8, Status.DEPLOYED), StageKind("async", "platform")) is None


def monitor_stack(status: str = "UPDATE_COMPLETE", deployment_id: str = "v7-00000000", busy: bool = False):
    return StackView("churn-dev-monitor", status, {MonitorParameters.DEPLOYMENT_ID: deployment_id}, busy)


BASELINES = monitor_parameters(CHURN_DEV, "v8-0a1b2c3d", {"DriftCheckBaselines": full_baselines()})


@pytest.mark.parametrize(
    ("monitor", "parameters", "kind", "change_set_type"),
    [
        (None, BASELINES, DecisionKind.DEPLOY, "CREATE"),
        (monitor_stack(), BASELINES, DecisionKind.DEPLOY, "UPDATE"),
        (monitor_stack(deployment_id="v8-0a1b2c3d"), BASELINES, DecisionKind.UNCHANGED, None),
        (monitor_stack("UPDATE_IN_PROGRESS"), BASELINES, DecisionKind.RETRY, None),
        (monitor_stack("ROLLBACK_COMPLETE"), BASELINES, DecisionKind.DELETE_FAILED_CREATION, None),
        (monitor_stack("UPDATE_ROLLBACK_FAILED"), BASELINES, DecisionKind.FAILED, None),
        (None, monitor_parameters(CHURN_DEV, "v8-0a1b2c3d", {}), DecisionKind.SKIPPED, None),
    ],
)
def test_monitor_decisions(monitor, parameters, kind, change_set_type):
    decision = decide_monitor(monitor, "v8-0a1b2c3d", parameters)
    assert (decision.kind, decision.change_set_type) == (kind, change_set_type)


# --- Requests to CloudFormation ----------------------------------------------------------------------------


def deploy(change_set_type: str) -> Deploy:
    return Deploy(CHURN_DEV, TARGET, ARN, "9f1c2ab", "v8-0a1b2c3d", change_set_type, "event-1")


def test_an_endpoint_change_set_sets_the_stage_settings_and_the_deployment():
    settings = stage_settings("dev")
    request = endpoint_change_set(
        deploy("CREATE"), served=SERVED, template="{}", settings=settings, monitoring_minutes=10
    )
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in request["Parameters"]}
    assert parameters == {
        **settings,
        EndpointParameters.MODEL_PACKAGE_ARN: ARN,
        EndpointParameters.MODEL_DATA_KEY: SERVED.key,
        EndpointParameters.IMAGE: SERVED.image,
        EndpointParameters.ENDPOINT_NAME: "churn-dev-endpoint",
        EndpointParameters.DEPLOYMENT_ID: "v8-0a1b2c3d",
    }
    assert request["StackName"] == "churn-dev-endpoint"
    assert request["ChangeSetName"] == request["ClientToken"] == "v8-0a1b2c3d"
    assert request["ChangeSetType"] == "CREATE"
    assert request["RoleARN"] == TARGET.cloudformation_role_arn
    assert request["Tags"] == [
        {"Key": contract.TAG_PROJECT, "Value": "churn"},
        {"Key": contract.TAG_STAGE, "Value": "dev"},
        {"Key": contract.TAG_MODEL_PACKAGE, "Value": ARN},
        {"Key": contract.TAG_COMMIT, "Value": "9f1c2ab"},
    ]
    assert "RollbackConfiguration" not in request  # a stack being created has no alarms yet


def test_an_update_is_rolled_back_by_the_endpoints_alarms():
    request = endpoint_change_set(
        deploy("UPDATE"), served=SERVED, template="{}", settings=stage_settings("dev"), monitoring_minutes=7
    )
    assert request["RollbackConfiguration"] == {
        "RollbackTriggers": [
            {
                "Arn": f"arn:aws:cloudwatch:{REGION}:{TEST}:alarm:churn-dev-endpoint-5xx-errors",
                "Type": "AWS::CloudWatch::Alarm",
            },
            {
                "Arn": f"arn:aws:cloudwatch:{REGION}:{TEST}:alarm:churn-dev-endpoint-model-latency",
                "Type": "AWS::CloudWatch::Alarm",
            },
        ],
        "MonitoringTimeInMinutes": 7,
    }


def test_alarm_arns_follow_the_partition_of_the_target():
    china = StageTarget(TEST, "cn-north-1", f"arn:aws-cn:iam::{TEST}:role/d", f"arn:aws-cn:iam::{TEST}:role/c", "b")
    assert all(arn.startswith("arn:aws-cn:cloudwatch:cn-north-1:") for arn in alarm_arns(CHURN_DEV, china))


def test_a_commit_is_unknown_when_the_package_does_not_say():
    request = endpoint_change_set(
        Deploy(CHURN_DEV, TARGET, ARN, None, "v8-0a1b2c3d", "CREATE", "e"),
        served=SERVED,
        template="{}",
        settings={},
        monitoring_minutes=10,
    )
    assert {"Key": contract.TAG_COMMIT, "Value": "unknown"} in request["Tags"]


def test_deployment_ids_are_unique_and_fit_the_templates_pattern():
    ids = {new_deployment_id(8) for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"v[0-9]{1,5}-[0-9a-f]{8}", deployment_id) for deployment_id in ids)
    assert new_deployment_id(12, "0a1b2c3d") == "v12-0a1b2c3d"
    names = {monitor_change_set_name("v8-0a1b2c3d") for _ in range(10)}
    assert len(names) == 10
    assert all(re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]*", name) for name in names)  # CloudFormation's pattern


@pytest.mark.parametrize(
    ("reason", "empty"),
    [
        (
            "The submitted information didn't contain changes. Submit different information to create a change set.",
            True,
        ),
        ("No updates are to be performed.", True),
        ("Parameters: [ModelPackageArn] must have values", False),
        ("", False),
    ],
)
def test_an_empty_change_set_is_recognised(reason, empty):
    assert is_empty_change_set(reason) is empty
