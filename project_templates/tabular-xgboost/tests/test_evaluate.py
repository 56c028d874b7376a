"""The evaluation job: its metrics, and a run on a booster trained like the built-in algorithm trains."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost

from jobs import evaluate, preprocess


def test_auc_of_perfect_inverted_and_uninformative_scores():
    labels = np.array([0, 0, 1, 1])
    assert evaluate.roc_auc(labels, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert evaluate.roc_auc(labels, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert evaluate.roc_auc(labels, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5


def test_auc_counts_pairs():
    # Positives 0.7 and 0.3 against negatives 0.5 and 0.1: three of four pairs are ordered right.
    assert evaluate.roc_auc(np.array([1, 0, 1, 0]), np.array([0.7, 0.5, 0.3, 0.1])) == 0.75


def test_auc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        evaluate.roc_auc(np.array([1, 1]), np.array([0.2, 0.8]))


def test_threshold_metrics():
    values = evaluate.metrics(np.array([1, 1, 0, 0, 1]), np.array([0.9, 0.4, 0.6, 0.1, 0.8]))
    # Predicted positive: rows 0, 2, 4 -> 2 true positives of 3 predicted and of 3 actual.
    assert values["precision"] == pytest.approx(2 / 3)
    assert values["recall"] == pytest.approx(2 / 3)
    assert values["f1"] == pytest.approx(2 / 3)
    assert values["accuracy"] == pytest.approx(3 / 5)


def test_report_is_in_the_registry_format():
    assert evaluate.report({"auc": 0.9}) == {
        "binary_classification_metrics": {"auc": {"value": 0.9, "standard_deviation": "NaN"}}
    }


@pytest.fixture
def trained(tmp_path, raw_sample, dataset_config, pii_config):
    """A booster trained on the prepared sample with the template's hyperparameters, saved as the
    built-in XGBoost algorithm saves it (``xgboost-model`` in ``model.tar.gz``), and the test split."""
    splits = preprocess.split(preprocess.prepare(raw_sample, dataset_config, pii_config), dataset_config)
    params = json.loads((Path(__file__).parents[1] / "config" / "hyperparameters.json").read_text())
    rounds = int(params.pop("num_round"))
    train = splits["train"]
    booster = xgboost.train(params, xgboost.DMatrix(train.iloc[:, 1:].to_numpy(), label=train.iloc[:, 0]), rounds)

    model_dir, test_dir = tmp_path / "model", tmp_path / "test"
    model_dir.mkdir()
    test_dir.mkdir()
    saved = booster.save_raw(raw_format="ubj")
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo(evaluate.MODEL_FILE)
        info.size = len(saved)
        archive.addfile(info, io.BytesIO(bytes(saved)))
    splits["test"].to_parquet(test_dir / "test.parquet", index=False)
    return tmp_path


def test_evaluation_writes_metrics_and_predictions(trained):
    output = trained / "output"
    evaluate.main(["--model", str(trained / "model"), "--test", str(trained / "test"), "--output", str(output)])

    report = json.loads((output / "evaluation" / "evaluation.json").read_text())
    metrics = report["binary_classification_metrics"]
    assert set(metrics) == {"auc", "accuracy", "precision", "recall", "f1"}
    assert 0.6 < metrics["auc"]["value"] <= 1.0  # the synthetic label depends on the features

    predictions = pd.read_csv(output / "predictions" / "predictions.csv")
    test = pd.read_parquet(trained / "test" / "test.parquet")
    assert list(predictions.columns) == ["label", "probability", "prediction"]
    assert predictions["label"].tolist() == test["churned"].tolist()
    assert predictions["probability"].between(0, 1).all()
    assert (predictions["prediction"] == (predictions["probability"] >= 0.5)).all()


def test_an_archive_without_the_model_file_is_an_error(tmp_path):
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("other")
        archive.addfile(info, io.BytesIO(b""))
    with pytest.raises(KeyError):
        evaluate.load_booster(tmp_path)


def test_the_evaluated_artifact_is_recorded_with_its_etag(trained, monkeypatch):
    class S3:
        def head_object(self, Bucket, Key):
            assert (Bucket, Key) == ("artifacts", "projects/churn/model.tar.gz")
            return {"ETag": '"0123456789abcdef0123456789abcdef"'}

    assert evaluate.artifact_record("s3://artifacts/projects/churn/model.tar.gz", S3()) == {
        "url": "s3://artifacts/projects/churn/model.tar.gz",
        "etag": "0123456789abcdef0123456789abcdef",
    }
    with pytest.raises(ValueError, match="s3:// object URL"):
        evaluate.artifact_record("https://example.com/model.tar.gz", S3())
