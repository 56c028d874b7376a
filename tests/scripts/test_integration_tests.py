"""scripts/integration_tests.py: case files are validated with the tester's model and loaded per project."""

from __future__ import annotations

import json

import pytest

from integration_tester.cases import TestCase, parse_case
from scripts.integration_tests import main
from tests.conftest import ROOT
from tests.scripts.conftest import TABLE

EXAMPLE = ROOT / "project_templates" / "tabular-xgboost" / "integration-tests.json"


def items(dynamodb, project: str = "churn") -> list[dict]:
    return dynamodb.Table(TABLE).query(
        KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": f"PROJECT#{project}"}
    )["Items"]


def test_the_templates_example_is_valid(capsys):
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "3 valid test cases" in capsys.readouterr().out


def test_loaded_cases_are_what_the_tester_reads(dynamodb):
    assert main(["load", "--project", "churn", str(EXAMPLE)], dynamodb=dynamodb) == 0

    loaded = {item["sk"]: parse_case(item) for item in items(dynamodb)}
    assert set(loaded) == {"TEST_CASE#typical-customer", "TEST_CASE#batch-of-three", "TEST_CASE#extreme-values"}
    assert all(isinstance(case, TestCase) for case in loaded.values())
    assert loaded["TEST_CASE#batch-of-three"].output.count == 3


def test_replace_deletes_the_cases_the_file_no_longer_has(dynamodb, tmp_path):
    main(["load", "--project", "churn", str(EXAMPLE)], dynamodb=dynamodb)
    main(["load", "--project", "fraud", str(EXAMPLE)], dynamodb=dynamodb)
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"cases": json.loads(EXAMPLE.read_text())["cases"][:1]}))

    assert main(["load", "--project", "churn", "--replace", str(one)], dynamodb=dynamodb) == 0

    assert [item["sk"] for item in items(dynamodb)] == ["TEST_CASE#typical-customer"]
    assert len(items(dynamodb, "fraud")) == 3


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"cases": []}, 'expected {"cases": [...]} with at least one case'),
        (
            {"cases": [{"name": "a", "payload": "1", "content_type": "text/csv", "expected_status": 99}]},
            "case 'a': expected_status",
        ),
        (
            {"cases": [{"name": "a", "payload": "1", "content_type": "text/csv", "ouput": {}}]},
            "case 'a': ouput: Extra inputs",
        ),
        ({"cases": [{"name": "a", "payload": "1", "content_type": "text/csv"}] * 2}, "case 'a' appears twice"),
    ],
)
def test_an_invalid_file_is_refused_naming_the_case_and_field(tmp_path, capsys, document, message):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(document))
    assert main(["validate", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_an_invalid_project_name_is_refused(dynamodb, capsys):
    assert main(["load", "--project", "Not_A_Project", str(EXAMPLE)], dynamodb=dynamodb) == 1
    assert items(dynamodb, "Not_A_Project") == []
