"""Fixtures of the scripts' tests: the dev account's project-settings table in moto."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from tests.lambdas import moto_seed

TABLE = "mlops-project-settings"


@pytest.fixture
def dynamodb(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        moto_seed.table(DEFAULT_ACCOUNT_ID, "eu-west-1", TABLE, "pk", "sk")
        yield boto3.resource("dynamodb")
