"""Fixtures of the scripts' tests: the dev account's project-settings table in moto."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from tests.lambdas.conftest import create_table

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
        resource = boto3.resource("dynamodb")
        create_table(resource.meta.client, TABLE)
        yield resource
