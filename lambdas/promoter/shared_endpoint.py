"""Shadow and split modes: the challenger served on the champion's endpoint stack (pure decisions).

In the advanced scenario with evaluation mode ``shadow`` or ``split`` one prod stack,
``<project>-champion-endpoint``, serves both stages with the champion/challenger template: the
champion's model as the endpoint template's served model, the challenger's as the
``ChallengerParameters``. An approval in ``-challenger`` updates that stack keeping the champion's
served model as it is (its verified copy and image read back from the stack's parameters); an approval
in ``-champion`` keeps the challenger serving, unless the new champion serves the challenger's own
model: then the challenger has won and is retired (the plain endpoint template, one variant).
``separate`` keeps two endpoint stacks, one per stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import contract
from challenger_comparison.decisions import EvaluationModes
from contract import ChallengerParameters, EndpointParameters
from ledger import StageState, Status
from promoter.artifacts import ServedModel
from promoter.decisions import PackageVersion, StackView

#: Evaluation modes that put the challenger on the champion's endpoint.
SHARED_MODES = frozenset({"shadow", "split"})
#: Why a challenger cannot be deployed before a champion serves.
NO_CHAMPION = "no champion endpoint yet: the challenger is deployed beside a serving champion"


def shares_champion_endpoint(deployment: contract.Deployment, modes: EvaluationModes) -> bool:
    """The stage's model is served on the champion's endpoint stack (shadow or split mode)."""
    stages = (contract.CHAMPION_STAGE, contract.CHALLENGER_STAGE)
    return deployment.stage in stages and modes.of(deployment.project) in SHARED_MODES


def stack_owner(deployment: contract.Deployment, modes: EvaluationModes) -> contract.Deployment:
    """The deployment whose endpoint stack serves ``deployment``: the champion's in shared modes."""
    if shares_champion_endpoint(deployment, modes):
        return contract.Deployment(deployment.project, contract.CHAMPION_STAGE)
    return deployment


def challenger_view(champion_stack: StackView | None) -> StackView | None:
    """The champion's stack as the challenger stage sees it: its package is the challenger's (none yet: '')."""
    if champion_stack is None:
        return None
    parameters = {
        **champion_stack.parameters,
        EndpointParameters.MODEL_PACKAGE_ARN: champion_stack.parameters.get(ChallengerParameters.MODEL_PACKAGE_ARN, ""),
    }
    return replace(champion_stack, parameters=parameters)


def served_champion(champion_stack: StackView) -> tuple[str, ServedModel] | None:
    """The champion's package and served model as its stack runs them now (None before it serves one)."""
    return _served(champion_stack.parameters, EndpointParameters)


def serving_challenger(champion_stack: StackView | None) -> tuple[str, ServedModel] | None:
    """The challenger the champion's stack serves now, if any."""
    return _served(champion_stack.parameters, ChallengerParameters) if champion_stack else None


def _served(parameters: Mapping[str, str], names: type) -> tuple[str, ServedModel] | None:
    """A package and its served model from a stack's parameters (``names``: the champion's or the challenger's)."""
    package_arn, key = parameters.get(names.MODEL_PACKAGE_ARN), parameters.get(names.MODEL_DATA_KEY)
    if not package_arn or not key:
        return None
    return package_arn, ServedModel(image=parameters.get(names.IMAGE, ""), key=key)


def challenger_parameters(mode: str, package_arn: str, served: ServedModel, *, rollout: bool) -> dict[str, str]:
    """The champion/challenger template's parameters for the challenger (weights: the template's defaults);
    ``rollout``: this change set rolls the challenger out, so its alarms roll the endpoint's blue/green
    deployment back too (a champion's change set keeping the challenger passes False)."""
    if mode not in SHARED_MODES:
        raise ValueError(f"evaluation mode {mode!r} does not share the champion's endpoint")
    return {
        ChallengerParameters.EVALUATION_MODE: mode.upper(),
        ChallengerParameters.MODEL_PACKAGE_ARN: package_arn,
        ChallengerParameters.MODEL_DATA_KEY: served.key,
        ChallengerParameters.IMAGE: served.image,
        ChallengerParameters.ROLLOUT: str(rollout).lower(),
    }


def challenger_rollback_alarms(
    deployment: contract.Deployment, owner: contract.Deployment, champion_stack: StackView | None
) -> list[str]:
    """The challenger's own alarms as CloudFormation rollback triggers of ``deployment``'s change set.

    Only a challenger's rollout onto the champion's stack (``owner``) is rolled back by them, never a
    champion's deployment: a failing challenger must not hold the champion back. And only once the
    stack has them, that is serves a challenger already: CloudFormation fails an operation whose trigger
    is missing. A first challenger's alarms are created by its own rollout, during which SageMaker's
    blue/green auto-rollback watches them (``ChallengerRollout``).
    """
    if deployment == owner or serving_challenger(champion_stack) is None:
        return []
    return list(contract.challenger_alarm_names(owner))


def challenger_won(new_champion_source: str, challenger_source: str) -> bool:
    """The new champion serves the challenger's own model (the same tested dev package): the challenger is retired."""
    return bool(new_champion_source) and new_champion_source == challenger_source


def retired_challenger(state: StageState | None, desired: PackageVersion | None) -> str | None:
    """Why ``desired`` is not deployed as the challenger again: it won and was retired (its model is the
    champion's now); a late or duplicate approval of it changes nothing. None otherwise."""
    if state is None or desired is None or state.status != Status.RETIRED or state.package_arn != desired.arn:
        return None
    return f"v{desired.version} won its comparison and serves as the champion; its challenger variant was retired"
