"""The changes ``tests/lambdas/moto_stand_ins.py`` makes to moto keep what the handlers rely on moto to refuse."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.lambdas.conftest import DEV, LEDGER_TABLE

KEY = {"pk": {"S": "DEPLOYMENT#churn#dev"}, "sk": {"S": "STATE"}}


def _update(platform, expression: str, values: dict[str, str]) -> None:
    platform.client(DEV, "dynamodb").update_item(
        TableName=LEDGER_TABLE,
        Key=KEY,
        UpdateExpression=expression,
        ExpressionAttributeValues={name: {"S": value} for name, value in values.items()},
    )


def test_a_long_set_list_updates_every_attribute(platform):
    values = {f":v{number}": f"value {number}" for number in range(30)}
    _update(platform, "SET " + ", ".join(f"a{number} = :v{number}" for number in range(30)), values)

    item = platform.client(DEV, "dynamodb").get_item(TableName=LEDGER_TABLE, Key=KEY)["Item"]
    assert {name: value["S"] for name, value in item.items() if name.startswith("a")} == {
        f"a{number}": f"value {number}" for number in range(30)
    }


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("SET a0 = :v0, a1 = :v1, a2 = :v2, a0 = :v3", "Two document paths overlap"),
        ("SET a0 = :v0, a1 = :v1 SET a2 = :v2", 'The "SET" section can only be used once'),
    ],
)
def test_an_update_expression_setting_a_path_twice_or_with_two_set_clauses_is_refused(platform, expression, message):
    with pytest.raises(ClientError, match=message):
        _update(platform, expression, {f":v{number}": "x" for number in range(4) if f":v{number}" in expression})
