"""Promotion on evidence: a challenger becomes the champion only with a comparison on record that meets the rule.

Promoting a challenger is approving, in the project's ``-champion`` group, a copy of the tested dev
package the challenger serves (the registry stays the single source of truth). The prod gate
(:func:`promoter.decisions.prod_gate_refusal`) already ties that copy to its dev source by content;
this gate asks the ledger for the newest comparison of that source against the champion serving now.
Pure: the handler reads the ledger and the stack, this module decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import contract
from challenger_comparison.decisions import Verdict
from contract import ComparisonFields
from promoter.decisions import GateRefusal

NO_EVIDENCE = "no comparison on record"
NOT_BETTER = "comparison does not meet the rule"
STALE = "compared with another champion"


def evidence_refusal(
    deployment: contract.Deployment,
    *,
    candidate_arn: str,
    source_arn: str,
    serving_arn: str,
    served_before: bool,
    comparison: Mapping[str, Any] | None,
) -> GateRefusal | None:
    """Why ``candidate_arn`` may not become the champion now (None if it may).

    Only the champion stage is gated. Nothing is asked of the first champion (no champion serves:
    there is nothing to compare with), of the version already serving, or of a former champion coming
    back (a rollback to a version this stage served before). Otherwise the newest comparison of the
    candidate's dev source (``source_arn``) must compare it with the champion serving now
    (``serving_arn``) and meet the project's rule.
    """
    if deployment.stage != contract.CHAMPION_STAGE or not serving_arn or candidate_arn == serving_arn:
        return None
    if served_before:
        return None
    if comparison is None:
        return GateRefusal(
            NO_EVIDENCE,
            f"{candidate_arn}: its model ({source_arn or 'no source package'}) has no champion/challenger comparison "
            f"on record; serve it as the challenger of {deployment.project} until a comparison meets the rule",
        )
    compared_with = comparison.get(ComparisonFields.CHAMPION_PACKAGE_ARN) or "an unknown champion"
    evaluated = comparison.get(ComparisonFields.EVALUATED_AT, "?")
    if compared_with != serving_arn:
        return GateRefusal(
            STALE,
            f"{candidate_arn}: the newest comparison ({evaluated}) is against {compared_with}, "
            f"not against {serving_arn}, the champion serving now",
        )
    verdict = comparison.get(ComparisonFields.VERDICT, "")
    if verdict != Verdict.BETTER_OR_EQUAL:
        reasons = "; ".join(comparison.get(ComparisonFields.REASONS) or []) or "no reasons recorded"
        return GateRefusal(NOT_BETTER, f"{candidate_arn}: the newest comparison ({evaluated}) is {verdict}: {reasons}")
    return None
