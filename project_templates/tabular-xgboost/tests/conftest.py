"""Fixtures of the template's tests; ``tests.offline`` sets up the fake AWS world first."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from tests.offline import ROOT


@pytest.fixture(scope="session", autouse=True)
def schemas_checked_once():
    """``jsonschema.validate`` checks each schema against its meta-schema once per session, not on every call.

    The SDK validates its configuration (the pipeline session's telemetry opt-out) before every config look-up,
    and ``jsonschema.validate`` first checks the SDK's constant schema itself: 1.3 s a time, 140 times per
    pipeline definition, nine tenths of the pipeline tests' time. Every instance is still validated against
    its schema on every call, with the error ``jsonschema.validate`` raises.
    """
    validate = jsonschema.validate
    validators: dict[int, tuple[dict, jsonschema.protocols.Validator]] = {}  # the schema kept alive with its id

    def validate_checking_schema_once(instance, schema, cls=None, *args, **kwargs):
        if cls is not None or args or kwargs:
            return validate(instance, schema, cls, *args, **kwargs)
        if id(schema) not in validators:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
            validators[id(schema)] = (schema, validator_class(schema))
        error = jsonschema.exceptions.best_match(validators[id(schema)][1].iter_errors(instance))
        if error is not None:
            raise error

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(jsonschema, "validate", validate_checking_schema_once)
        yield


@pytest.fixture(scope="session")
def dataset_config() -> dict:
    return json.loads((ROOT / "config" / "dataset.json").read_text())


@pytest.fixture(scope="session")
def pii_config() -> dict:
    return json.loads((ROOT / "config" / "pii.json").read_text())


@pytest.fixture(scope="session")
def sample_path() -> Path:
    """The synthetic sample shipped with the template (no real personal data)."""
    return ROOT / "data" / "sample.csv"


@pytest.fixture
def raw_sample(sample_path) -> pd.DataFrame:
    return pd.read_csv(sample_path, dtype=str)
