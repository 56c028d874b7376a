"""The preparation job on the shipped synthetic sample: PII never reaches an output."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from jobs import preprocess


@pytest.fixture
def outputs(tmp_path, sample_path):
    """Run the job as SageMaker would, with the template's configuration; return its output folder."""
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "sample.csv").write_bytes(sample_path.read_bytes())
    preprocess.main(
        [
            "--input",
            str(tmp_path / "input"),
            "--config",
            str(sample_path.parents[1] / "config"),
            "--output",
            str(tmp_path / "output"),
        ]
    )
    return tmp_path / "output"


def written_frames(output) -> dict[str, pd.DataFrame]:
    frames = {path.parent.name: pd.read_parquet(path) for path in output.glob("*/*.parquet")}
    frames["baseline"] = pd.read_csv(output / "baseline" / "baseline.csv", header=None, dtype=str)
    return frames


def test_no_raw_pii_value_in_any_output(outputs, raw_sample, pii_config):
    pii_values = {value for column in pii_config["drop"] + pii_config["hash"] for value in raw_sample[column].dropna()}
    for name, frame in written_frames(outputs).items():
        cells = set(frame.astype(str).to_numpy().ravel())
        assert not cells & pii_values, f"raw PII in {name}"
        assert not any("@" in cell for cell in cells), f"an e-mail address in {name}"


def test_dropped_and_unlisted_columns_are_gone(outputs, pii_config):
    for name, frame in written_frames(outputs).items():
        assert not set(frame.columns) & set(pii_config["drop"]), name
        assert not {"customer_id", "signup_channel"} & set(frame.columns), name


def test_hashed_columns_are_salted_sha256_keys_in_the_curated_data_only(outputs, raw_sample, pii_config):
    frames = written_frames(outputs)
    curated = frames.pop("curated")
    for column in pii_config["hash"]:
        assert curated[column].str.fullmatch(r"[0-9a-f]{64}").all()
        assert curated[column].nunique() == raw_sample[column].nunique()  # still a usable key
        first = raw_sample[column].iloc[0]
        assert curated[column].iloc[0] == preprocess.pseudonymise(first, pii_config["hash_salt"])
        assert curated[column].iloc[0] != preprocess.pseudonymise(first, "another-salt")
        for name, frame in frames.items():
            assert column not in frame.columns, name


def test_splits_are_label_then_typed_features(outputs, dataset_config):
    frames = written_frames(outputs)
    expected = [dataset_config["label"], *dataset_config["features"]]
    sizes = {}
    for name in ("train", "validation", "test"):
        frame = frames[name]
        assert list(frame.columns) == expected
        assert {column: str(dtype) for column, dtype in frame.dtypes.items()} == {
            dataset_config["label"]: "int64",
            **dataset_config["features"],
        }
        sizes[name] = len(frame)
    assert sizes == {"train": 210, "validation": 45, "test": 45}
    assert len(frames["curated"]) == 300


def test_baseline_is_the_training_features_without_header(outputs, dataset_config):
    frames = written_frames(outputs)
    baseline, train = frames["baseline"], frames["train"]
    assert baseline.shape == (len(train), len(dataset_config["features"]))
    assert not any(re.search("[a-z]", cell) for cell in baseline.iloc[0])  # numbers, no header row
    assert baseline.astype(float).to_numpy().tolist() == train.iloc[:, 1:].astype(float).to_numpy().tolist()


def test_split_is_reproducible(raw_sample, dataset_config, pii_config):
    curated = preprocess.prepare(raw_sample, dataset_config, pii_config)
    first, second = preprocess.split(curated, dataset_config), preprocess.split(curated, dataset_config)
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])


@pytest.mark.parametrize(
    ("pii", "message"),
    [
        ({"drop": ["age"], "hash": []}, "cannot be features or the label"),
        ({"drop": [], "hash": ["churned"], "hash_salt": "s"}, "cannot be features or the label"),
        ({"drop": ["email"], "hash": ["email"], "hash_salt": "s"}, "both dropped and hashed"),
        ({"drop": [], "hash": ["email"]}, "needs a hash_salt"),
    ],
)
def test_unsafe_configurations_are_refused(raw_sample, dataset_config, pii, message):
    with pytest.raises(ValueError, match=message):
        preprocess.prepare(raw_sample, dataset_config, pii)


def test_a_missing_feature_is_an_error(raw_sample, dataset_config, pii_config):
    with pytest.raises(ValueError, match="tenure_months"):
        preprocess.prepare(raw_sample.drop(columns="tenure_months"), dataset_config, pii_config)


def test_pii_columns_absent_from_the_input_are_fine(raw_sample, dataset_config, pii_config):
    curated = preprocess.prepare(raw_sample.drop(columns=["card_number", "email"]), dataset_config, pii_config)
    assert "email" not in curated.columns
    assert "account_number" in curated.columns
