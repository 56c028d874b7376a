"""cfn-lint over every template the session's synthesized app holds (the deployable templates included).

The session synthesizes the app with the default configuration, exactly as ``cdk synth`` does, so
linting its assembly checks what ``cdk deploy`` would send; the settings are the repository's
``.cfnlintrc.yaml``. One test, so a parallel run lints once while other tests go on; the advanced
scenario's app is linted with its demo (``tests/test_demo_advanced.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import ROOT, run_in_repository

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_every_synthesized_template_is_clean_for_cfn_lint(assembly):
    templates = sorted(str(path) for path in Path(assembly.directory).rglob("*.template.json"))
    assert len(templates) >= 12, templates  # nine stacks, the endpoint and monitor templates, the project product
    assert_clean(templates)


def assert_clean(templates: list[str]) -> None:
    """cfn-lint with the repository's settings finds nothing in ``templates``."""
    run_in_repository([str(CFN_LINT), "--config-file", str(ROOT / ".cfnlintrc.yaml"), "--", *templates], timeout=600)
