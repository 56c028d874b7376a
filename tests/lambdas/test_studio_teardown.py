"""The Studio teardown function: a profile's apps and spaces go before the profile, and CloudFormation is
answered on every path (moto with the Studio stand-ins of ``studio_fakes``, the answer URL on localhost)."""

from __future__ import annotations

import uuid

import pytest
from moto import mock_aws

from clients import Clients
from demo.synthesized import STUDIO_DOMAIN_ID
from studio_teardown.decisions import InvalidRequest, next_steps, parse_request
from studio_teardown.handler import Teardown, serve
from tests.lambdas.conftest import MOTO_ENVIRONMENT, Platform
from tests.lambdas.events import DEV, REGION
from tests.lambdas.project_fakes import LambdaContext, ResponseCatcher
from tests.lambdas.studio_fakes import install_studio_stand_ins

DOMAIN = STUDIO_DOMAIN_ID  # what the permission check resolves the domain id to
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{DEV}:function:mlops-dev-studio-TeardownFunction"


def teardown_event(request_type: str, response_url: str, profile: str = "alice", **fields) -> dict:
    """A request as CloudFormation sends it for a ``Custom::StudioTeardown`` resource."""
    properties = {"ServiceToken": FUNCTION_ARN, "ServiceTimeout": "960", "DomainId": DOMAIN, "UserProfileName": profile}
    event = {
        "RequestType": request_type,
        "ServiceToken": FUNCTION_ARN,
        "ResponseURL": f"{response_url}/cloudformation-custom-resource-response-euwest1/{uuid.uuid4()}",
        "StackId": f"arn:aws:cloudformation:{REGION}:{DEV}:stack/mlops-dev-studio/{uuid.uuid4()}",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "TeardownProfilealice",
        "ResourceType": "Custom::StudioTeardown",
        "ResourceProperties": properties,
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = f"studio-teardown/{DOMAIN}/{profile}"
    event.update(fields)
    return event


@pytest.fixture(scope="module")
def catcher():
    server = ResponseCatcher()
    yield server
    server.close()


@pytest.fixture
def studio(monkeypatch):
    for name, value in {**MOTO_ENVIRONMENT, "MOTO_ACCOUNT_ID": DEV}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield install_studio_stand_ins(monkeypatch)


def send(catcher, event, remaining_ms: int = 900_000) -> dict:
    """Serve one request; returns CloudFormation's one answer to it."""
    before = len(catcher.responses)
    teardown = Teardown(Clients(Platform._new_session()), sleep=lambda seconds: None)
    serve(event, LambdaContext(remaining_ms), lambda: teardown)
    answers = catcher.responses[before:]
    assert len(answers) == 1, answers
    assert (answers[0]["RequestId"], answers[0]["StackId"]) == (event["RequestId"], event["StackId"])
    return answers[0]


def populated(studio) -> None:
    """alice: a classic-style app, a private space with a running JupyterLab app, a shared space she
    created with a stopped app; bob: his own space and app, which must stay."""
    studio.app(DOMAIN, "JupyterServer", "default", profile="alice")
    studio.space(DOMAIN, "alice-lab", "alice")
    studio.app(DOMAIN, "JupyterLab", "default", space="alice-lab")
    studio.space(DOMAIN, "churn-review", "alice", sharing="Shared")
    studio.app(DOMAIN, "CodeEditor", "default", space="churn-review", status="Deleted")
    studio.space(DOMAIN, "bob-lab", "bob")
    studio.app(DOMAIN, "JupyterLab", "default", space="bob-lab")


def test_delete_removes_the_profiles_apps_and_spaces_and_waits_for_them(studio, catcher):
    populated(studio)
    answer = send(catcher, teardown_event("Delete", catcher.url))
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == f"studio-teardown/{DOMAIN}/alice"
    assert answer["Reason"] == "no apps or spaces left for alice"
    assert [s["SpaceName"] for s in studio.spaces] == ["bob-lab"]
    live = {
        (a.get("UserProfileName") or a.get("SpaceName"), a["AppType"]) for a in studio.apps if a["Status"] != "Deleted"
    }
    assert live == {("bob-lab", "JupyterLab")}


def test_a_repeated_delete_finds_nothing_and_succeeds(studio, catcher):
    populated(studio)
    send(catcher, teardown_event("Delete", catcher.url))
    calls_before = len(studio.calls)
    answer = send(catcher, teardown_event("Delete", catcher.url))
    assert answer["Status"] == "SUCCESS" and answer["Reason"] == "no apps or spaces left for alice"
    assert "DeleteApp" not in studio.calls[calls_before:] and "DeleteSpace" not in studio.calls[calls_before:]


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_touch_nothing(studio, catcher, request_type):
    populated(studio)
    answer = send(catcher, teardown_event(request_type, catcher.url))
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == f"studio-teardown/{DOMAIN}/alice"
    assert studio.calls == []


def test_a_delete_that_runs_out_of_time_still_succeeds(studio, catcher):
    populated(studio)
    studio.stuck = True  # SageMaker takes longer than the function may wait
    answer = send(catcher, teardown_event("Delete", catcher.url), remaining_ms=40_000)
    assert answer["Status"] == "SUCCESS" and "still being deleted" in answer["Reason"]
    assert studio.calls.count("DeleteApp") == 2  # asked once each, then only waited


def test_a_delete_that_sagemaker_refuses_still_succeeds_with_the_reason(studio, catcher):
    populated(studio)
    studio.failure = "ThrottlingException"
    answer = send(catcher, teardown_event("Delete", catcher.url))
    assert answer["Status"] == "SUCCESS" and "ThrottlingException" in answer["Reason"]


def test_an_invalid_create_fails_with_the_rule_and_its_rollback_succeeds(studio, catcher):
    bad = {"ServiceToken": FUNCTION_ARN, "DomainId": "domain-1", "UserProfileName": "alice"}
    answer = send(catcher, teardown_event("Create", catcher.url, ResourceProperties=bad))
    assert answer["Status"] == "FAILED" and "is not a SageMaker domain id" in answer["Reason"]
    rollback = send(catcher, teardown_event("Delete", catcher.url, ResourceProperties=bad))
    assert rollback["Status"] == "SUCCESS" and studio.calls == []


def test_a_foreign_request_type_is_refused():
    with pytest.raises(InvalidRequest, match="RequestType"):
        parse_request({"RequestType": "Replace", "ResourceProperties": {"DomainId": DOMAIN, "UserProfileName": "a"}})


def test_spaces_wait_for_their_apps():
    apps = [{"AppName": "default", "AppType": "JupyterLab", "SpaceName": "lab", "Status": "Deleting"}]
    spaces = [{"SpaceName": "lab", "Status": "InService"}, {"SpaceName": "empty", "Status": "InService"}]
    steps = next_steps(apps, spaces)
    assert steps.delete_apps == () and steps.delete_spaces == ("empty",) and steps.waiting
    assert next_steps([{**apps[0], "Status": "Deleted"}], []).done
