"""cfn-lint over every template the session's synthesized app holds (the deployable templates included).

The session synthesizes the app with the default configuration, exactly as ``cdk synth`` does, so
linting its assembly checks what ``cdk deploy`` would send; the settings are the repository's
``.cfnlintrc.yaml``. One test per app, so a parallel run lints each once while other tests go on; the
advanced scenario's app (``advanced_assembly``) has its stacks linted too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_every_synthesized_template_is_clean_for_cfn_lint(assembly):
    templates = sorted(str(path) for path in Path(assembly.directory).rglob("*.template.json"))
    assert len(templates) >= 12, templates  # nine stacks, the endpoint and monitor templates, the project product
    assert_clean(templates)


def test_the_advanced_scenarios_stacks_are_clean_for_cfn_lint(advanced_assembly):
    """The stacks the scenario changes (its five stages in the functions' settings, its roles and schedules);
    the deployable templates are the same in both scenarios."""
    templates = sorted(str(path) for path in Path(advanced_assembly.directory).glob("*.template.json"))
    assert len(templates) >= 10, templates  # nine stacks and the project product
    assert_clean(templates)


def assert_clean(templates: list[str]) -> None:
    result = subprocess.run(
        [str(CFN_LINT), "--config-file", str(ROOT / ".cfnlintrc.yaml"), "--", *templates],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
