"""Fixtures of the template's tests; ``tests.offline`` sets up the fake AWS world first."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.offline import ROOT


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
