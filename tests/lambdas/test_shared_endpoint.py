"""Shadow and split modes: the promoter serves the challenger on the champion's endpoint stack.

Against moto, in the advanced scenario: a challenger's approval updates the champion's stack with the
champion/challenger template (the champion's served model kept as it is), the tracker confirms it as
the challenger's deployment; a challenger whose model is promoted to champion is retired (its variant
removed) once, whatever the duplicate or late events; a rejected challenger leaves the champion untouched.
"""

from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator
from moto.cloudformation.models import cloudformation_backends

import contract
from contract import ChallengerParameters, EndpointParameters
from promoter.shared_endpoint import EvaluationModes, stack_owner
from settings import ConfigurationError, Environment
from tests.lambdas.events import REGION
from tests.lambdas.test_promotion_on_evidence import (  # noqa: F401 (the fixture)
    advanced,
    passed_dev_package,
    record,
    serving_champion,
)

CHAMPION_STACK = "churn-champion-endpoint"


class ParameterOnlyUpdates:
    """The deploy role's CloudFormation client, except that executing a change set of an existing stack
    gives the stack the change set's parameters (``UPDATE_COMPLETE``) without touching its resources:
    moto cannot update an endpoint stack that gains the challenger's resources (it replaces the endpoint
    twice); what these tests check is which change set the promoter makes, and the ledger."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def execute_change_set(self, **request):
        change_set = self._client.describe_change_set(
            ChangeSetName=request["ChangeSetName"], StackName=request["StackName"]
        )
        backend = cloudformation_backends[change_set["StackId"].split(":")[4]][REGION]
        stack = backend.stacks[change_set["StackId"]]
        if stack.status == "REVIEW_IN_PROGRESS":  # a creation: moto runs it
            return self._client.execute_change_set(**request)
        stack.resource_map.resolved_parameters.clear()
        stack.resource_map.resolved_parameters.update(
            {p["ParameterKey"]: p["ParameterValue"] for p in change_set["Parameters"]}
        )
        stack.status = "UPDATE_COMPLETE"
        backend.change_sets.pop(change_set["ChangeSetId"], None)
        return {}


@pytest.fixture(params=["shadow", "split"])
def shared(advanced, request):  # noqa: F811 (the imported fixture)
    """The advanced scenario with the platform's evaluation mode ``shadow`` or ``split``."""
    advanced.promoter_environment["DEFAULT_EVALUATION_MODE"] = request.param
    advanced.promoter = advanced.new_promoter(
        cloudformation_for=lambda target, session_name, promoter=advanced.promoter: ParameterOnlyUpdates(
            promoter._assume_deploy_role(target, session_name)
        )
    )
    advanced.mode = request.param
    return advanced


def deployed_challenger(platform) -> tuple[str, str]:
    """A serving champion, then a challenger (a copy of a tested dev package) approved and confirmed."""
    champion = serving_champion(platform)
    source = passed_dev_package(platform)
    challenger = platform.register("challenger", metadata={contract.META_SOURCE_PACKAGE: source})
    platform.promote(platform.package_event(challenger))
    platform.track(platform.completion("champion", token=platform.state("challenger")["deployment_id"]))
    platform.alerts()
    return champion, challenger


def test_a_challengers_approval_deploys_it_beside_the_champion_keeping_the_champions_model(shared):
    champion = serving_champion(shared)
    before = shared.parameters("champion")
    challenger = shared.register("challenger", metadata={contract.META_SOURCE_PACKAGE: passed_dev_package(shared)})
    approval = shared.package_event(challenger)

    shared.promote(approval)
    shared.promote(approval)  # SageMaker may send the same event twice

    request = shared.change_set_requests()[-1]
    assert len(shared.change_set_requests()) == 2  # the champion's creation, then this one
    assert request["StackName"] == CHAMPION_STACK and request["ChangeSetType"] == "UPDATE"
    assert request["TemplateBody"] == shared.champion_challenger_template
    assert request["RollbackConfiguration"]["RollbackTriggers"]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in request["Parameters"]}
    for name in (EndpointParameters.MODEL_PACKAGE_ARN, EndpointParameters.MODEL_DATA_KEY, EndpointParameters.IMAGE):
        assert parameters[name] == before[name]
    assert parameters[EndpointParameters.MODEL_PACKAGE_ARN] == champion
    assert parameters[ChallengerParameters.MODEL_PACKAGE_ARN] == challenger
    assert parameters[ChallengerParameters.EVALUATION_MODE] == shared.mode.upper()
    assert parameters[ChallengerParameters.MODEL_DATA_KEY] in shared.verified_copies(contract_prod(shared))
    state = shared.state("challenger")
    assert (state["status"], state["package_arn"], state["stack"]) == ("IN_PROGRESS", challenger, CHAMPION_STACK)
    assert state.get("previous_package_arn", "") == ""  # no challenger served before (not the champion)
    assert parameters[EndpointParameters.DEPLOYMENT_ID] == state["deployment_id"]
    assert shared.stack("challenger") is None  # no endpoint of its own


def rollback_triggers(request: dict) -> list[str]:
    """The alarm names of a change set's rollback triggers."""
    return [trigger["Arn"].rpartition(":alarm:")[2] for trigger in request["RollbackConfiguration"]["RollbackTriggers"]]


def change_set_parameters(request: dict) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in request["Parameters"]}


CHAMPION = contract.Deployment("churn", "champion")


def test_a_first_challengers_rollout_is_rolled_back_by_the_champions_alarms_and_sagemaker_watches_its_own(shared):
    deployed_challenger(shared)

    # the champion's stack had no challenger alarms yet: CloudFormation fails on a missing trigger
    first = shared.change_set_requests()[-1]
    assert rollback_triggers(first) == list(contract.alarm_names(CHAMPION))
    assert change_set_parameters(first)[ChallengerParameters.ROLLOUT] == "true"


def test_a_newer_challengers_rollout_is_rolled_back_by_its_own_alarms_too(shared):
    deployed_challenger(shared)
    newer = shared.register("challenger", metadata={contract.META_SOURCE_PACKAGE: passed_dev_package(shared)})

    shared.promote(shared.package_event(newer))

    request = shared.change_set_requests()[-1]
    assert change_set_parameters(request)[ChallengerParameters.MODEL_PACKAGE_ARN] == newer
    assert rollback_triggers(request) == [*contract.alarm_names(CHAMPION), *contract.challenger_alarm_names(CHAMPION)]
    assert change_set_parameters(request)[ChallengerParameters.ROLLOUT] == "true"
    assert shared.state("challenger")["status"] == "IN_PROGRESS"


def contract_prod(platform) -> str:
    return platform.promoter.settings.targets["champion"].account_id


def test_the_tracker_confirms_the_champions_stack_operation_as_the_challengers_deployment(shared):
    champion, challenger = deployed_challenger(shared)

    assert shared.state("challenger")["status"] == "DEPLOYED"
    assert (shared.state("champion")["status"], shared.state("champion")["package_arn"]) == ("DEPLOYED", champion)
    assert shared.parameters("champion")[ChallengerParameters.MODEL_PACKAGE_ARN] == challenger


def test_the_change_set_is_a_valid_create_change_set_request(shared):
    deployed_challenger(shared)

    shape = botocore.session.get_session().get_service_model("cloudformation").operation_model("CreateChangeSet")
    report = ParamValidator().validate(shared.change_set_requests()[-1], shape.input_shape)

    assert not report.has_errors(), report.generate_report()


def test_a_challenger_waits_for_a_serving_champion(shared):
    challenger = shared.register("challenger", metadata={contract.META_SOURCE_PACKAGE: passed_dev_package(shared)})

    shared.promote(shared.package_event(challenger))

    assert shared.change_set_requests() == []
    assert shared.state("challenger")["decision"] == "SKIPPED"
    assert "no champion endpoint yet" in shared.state("challenger")["decision_reason"]


def test_a_rejected_challenger_leaves_the_champion_untouched(shared):
    champion, challenger = deployed_challenger(shared)
    change_sets = len(shared.change_set_requests())

    shared.set_approval(challenger, "Rejected")
    shared.promote(shared.package_event(challenger))

    assert len(shared.change_set_requests()) == change_sets
    assert shared.parameters("champion")[EndpointParameters.MODEL_PACKAGE_ARN] == champion
    assert shared.state("champion")["status"] == "DEPLOYED"


def test_a_challenger_rolled_back_by_the_champions_alarms_is_held_and_the_champion_kept(shared):
    champion = serving_champion(shared)
    before = shared.parameters("champion")
    challenger = shared.register("challenger", metadata={contract.META_SOURCE_PACKAGE: passed_dev_package(shared)})
    approval = shared.package_event(challenger)
    shared.promote(approval)
    token = shared.state("challenger")["deployment_id"]
    shared.roll_back("champion", before)  # CloudFormation restores the parameters from before the change set

    shared.track(shared.completion("champion", "UPDATE_ROLLBACK_COMPLETE", token=token))
    change_sets = len(shared.change_set_requests())
    shared.promote(approval)  # a duplicate
    shared.promote(shared.package_event(challenger))  # nor a later event redeploys a rolled-back challenger

    assert shared.state("challenger")["status"] == "ROLLED_BACK"
    assert shared.state("champion")["status"] == "DEPLOYED"
    assert shared.parameters("champion")[EndpointParameters.MODEL_PACKAGE_ARN] == champion
    assert len(shared.change_set_requests()) == change_sets
    assert shared.state("challenger")["decision"] == "HOLD"


def promoted_challenger(platform) -> tuple[str, str, str]:
    """The challenger's model approved in ``-champion`` with a passing comparison."""
    champion, challenger = deployed_challenger(platform)
    source = platform.package(challenger)["CustomerMetadataProperties"][contract.META_SOURCE_PACKAGE]
    record(platform, source, "BETTER_OR_EQUAL", champion)
    new_champion = platform.register("champion", metadata={contract.META_SOURCE_PACKAGE: source})
    platform.promote(platform.package_event(new_champion))
    return champion, challenger, new_champion


def test_promoting_the_challengers_model_retires_the_challenger(shared):
    _, challenger, new_champion = promoted_challenger(shared)

    request = shared.change_set_requests()[-1]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in request["Parameters"]}
    assert request["StackName"] == CHAMPION_STACK and request["TemplateBody"] == shared.endpoint_template
    assert parameters[EndpointParameters.MODEL_PACKAGE_ARN] == new_champion
    assert not any(name.startswith("Challenger") for name in parameters)
    state = shared.state("challenger")
    assert (state["status"], state["retired_package_arn"]) == ("RETIRED", challenger)
    assert shared.state("champion")["package_arn"] == new_champion


def test_duplicate_and_late_events_after_a_retirement_change_nothing(shared):
    _, challenger, new_champion = promoted_challenger(shared)
    promotion = shared.package_event(new_champion)
    change_sets = len(shared.change_set_requests())

    shared.promote(promotion)  # duplicate of the promotion, while it runs
    shared.track(shared.completion("champion"))
    shared.promote(promotion)  # and after it
    shared.promote(shared.package_event(challenger))  # the challenger's approval delivered late

    assert len(shared.change_set_requests()) == change_sets
    assert shared.state("challenger")["status"] == "RETIRED"
    assert ChallengerParameters.MODEL_PACKAGE_ARN not in shared.parameters("champion")


def test_a_champion_redeployed_for_another_reason_keeps_the_serving_challenger(shared):
    champion, challenger = deployed_challenger(shared)
    # a newer champion version whose comparison passed, from another dev package than the challenger's
    source = passed_dev_package(shared)
    record(shared, source, "BETTER_OR_EQUAL", champion)
    newer = shared.register("champion", metadata={contract.META_SOURCE_PACKAGE: source})

    shared.promote(shared.package_event(newer))

    request = shared.change_set_requests()[-1]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in request["Parameters"]}
    assert request["TemplateBody"] == shared.champion_challenger_template
    assert parameters[EndpointParameters.MODEL_PACKAGE_ARN] == newer
    assert parameters[ChallengerParameters.MODEL_PACKAGE_ARN] == challenger
    assert shared.state("challenger")["status"] == "DEPLOYED"
    # the serving challenger's alarms never roll the champion's deployment back
    assert rollback_triggers(request) == list(contract.alarm_names(CHAMPION))
    assert parameters[ChallengerParameters.ROLLOUT] == "false"


def test_separate_mode_keeps_two_endpoints(advanced):  # noqa: F811 (the imported fixture)
    advanced.promoter_environment["DEFAULT_EVALUATION_MODE"] = "separate"
    advanced.promoter = advanced.new_promoter()
    serving_champion(advanced)
    challenger = advanced.register("challenger", metadata={contract.META_SOURCE_PACKAGE: passed_dev_package(advanced)})

    advanced.promote(advanced.package_event(challenger))

    assert advanced.change_set_requests()[-1]["StackName"] == "churn-challenger-endpoint"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEFAULT_EVALUATION_MODE", "canary"),
        ("EVALUATION_MODES", '{"churn": "blue-green"}'),
        ("EVALUATION_MODES", "[]"),
    ],
)
def test_an_unknown_evaluation_mode_is_a_configuration_error_naming_the_variable(variable, value):
    environment = {"DEFAULT_EVALUATION_MODE": "shadow", "EVALUATION_MODES": "{}", variable: value}

    with pytest.raises(ConfigurationError, match=variable):
        EvaluationModes.from_environment(Environment(environment))


def test_only_the_champion_and_challenger_stages_of_a_shadow_or_split_project_share_the_champions_stack():
    modes = EvaluationModes("shadow", {"fraud": "separate"})

    assert stack_owner(contract.Deployment("churn", "challenger"), modes) == contract.Deployment("churn", "champion")
    assert stack_owner(contract.Deployment("fraud", "challenger"), modes) == contract.Deployment("fraud", "challenger")
    assert stack_owner(contract.Deployment("churn", "prod"), modes) == contract.Deployment("churn", "prod")
