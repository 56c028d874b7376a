"""scripts/deployment_kind.py: a project's deployment kinds, checked with the promoter's rules and loaded."""

from __future__ import annotations

import json

import pytest

from promoter.kinds import StageKind, stage_kind
from scripts.deployment_kind import main
from tests.conftest import ROOT
from tests.scripts.conftest import TABLE

EXAMPLE = ROOT / "project_templates" / "tabular-xgboost" / "config" / "deployment.json"


def test_the_templates_choice_is_valid(capsys):
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "valid deployment kinds" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"kind": "nightly"}, "kind='nightly' is not one of realtime, serverless, async, batch"),
        ({"stages": {"dev": "batch", "staging": "async"}}, "unknown stage(s) staging"),
        ({"kinds": "batch"}, "unknown field(s) kinds"),
        ({"stages": ["batch"]}, "stages must be a map of stage -> kind"),
    ],
)
def test_a_bad_choice_is_refused_naming_the_field(tmp_path, capsys, document, message):
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(document))

    assert main(["validate", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_load_writes_the_item_the_promoter_reads(tmp_path, dynamodb):
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps({"kind": "async", "stages": {"dev": "batch"}}))

    assert main(["load", "--project", "churn", str(path)], dynamodb=dynamodb) == 0

    item = dynamodb.Table(TABLE).get_item(Key={"pk": "PROJECT#churn", "sk": "DEPLOYMENT"})["Item"]
    assert stage_kind(item, "dev", "realtime") == StageKind("batch", "project (stages.dev)")
    assert stage_kind(item, "prod", "realtime") == StageKind("async", "project (kind)")
