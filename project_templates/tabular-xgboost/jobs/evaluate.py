"""Evaluation job: the trained model on the test split, as metrics JSON and a predictions file.

Runs as a SageMaker Processing step in the XGBoost image (Python 3.10, xgboost, pandas, pyarrow) and
locally in the tests. Writes:

- ``evaluation/evaluation.json``: the metrics in the registry's model-quality format
  (``binary_classification_metrics.<name>.value``); the pipeline's gate reads the AUC from it;
- ``predictions/predictions.csv``: ``label,probability,prediction`` per test row, with a header; the
  model-quality baseline is computed from it;
- ``evaluation/model-artifact.json``: when ``MODEL_DATA_URL`` names the evaluated ``model.tar.gz``, its
  URL and S3 ETag; the pipeline registers the model pinned to that ETag (``ModelDataETag``), so the
  platform deploys these bytes and nothing written over them later.
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

BASE = Path("/opt/ml/processing")
MODEL_FILE = "xgboost-model"  # the file name the built-in XGBoost algorithm saves its booster under
THRESHOLD = 0.5


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative
    (Mann-Whitney U with average ranks, so ties count half)."""
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes in the test split")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """AUC, accuracy, precision, recall and F1 of the predictions at ``threshold``."""
    predicted = probabilities >= threshold
    actual = labels == 1
    true_pos = int((predicted & actual).sum())
    precision = true_pos / int(predicted.sum()) if predicted.any() else 0.0
    recall = true_pos / int(actual.sum()) if actual.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "auc": roc_auc(labels, probabilities),
        "accuracy": float((predicted == actual).mean()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def report(values: dict[str, float]) -> dict:
    """The metrics in the format SageMaker's model registry shows as model quality."""
    return {
        "binary_classification_metrics": {
            name: {"value": value, "standard_deviation": "NaN"} for name, value in values.items()
        }
    }


def load_booster(model_dir: Path):
    """The booster from the training job's ``model.tar.gz``."""
    import xgboost  # only in the XGBoost image and the test environment

    with tarfile.open(model_dir / "model.tar.gz") as archive:
        member = archive.extractfile(MODEL_FILE)  # read by name: no path from the archive touches the disk
        if member is None:
            raise FileNotFoundError(f"{MODEL_FILE} is not a file in model.tar.gz")
        model = bytearray(member.read())
    booster = xgboost.Booster()
    booster.load_model(model)
    return booster


def predict(booster, test: pd.DataFrame) -> pd.DataFrame:
    """Label, probability and thresholded prediction for every test row (label is the first column)."""
    import xgboost

    labels, features = test.iloc[:, 0], test.iloc[:, 1:]
    probabilities = booster.predict(xgboost.DMatrix(features.to_numpy()))
    return pd.DataFrame(
        {
            "label": labels.to_numpy().astype(int),
            "probability": probabilities,
            "prediction": (probabilities >= THRESHOLD).astype(int),
        }
    )


def artifact_record(url: str, s3) -> dict[str, str]:
    """The evaluated artifact's URL and current ETag (without quotes), read with ``s3`` (a boto3 client)."""
    if not url.startswith("s3://") or "/" not in url[5:]:
        raise ValueError(f"MODEL_DATA_URL must be an s3:// object URL, got {url!r}")
    bucket, key = url[5:].split("/", 1)
    return {"url": url, "etag": s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=BASE / "model")
    parser.add_argument("--test", type=Path, default=BASE / "test")
    parser.add_argument("--output", type=Path, default=BASE / "output")
    args = parser.parse_args(argv)

    test = pd.concat([pd.read_parquet(file) for file in sorted(args.test.glob("*.parquet"))], ignore_index=True)
    predictions = predict(load_booster(args.model), test)
    values = metrics(predictions["label"].to_numpy(), predictions["probability"].to_numpy())

    (args.output / "evaluation").mkdir(parents=True, exist_ok=True)
    (args.output / "evaluation" / "evaluation.json").write_text(json.dumps(report(values), indent=2))
    if os.environ.get("MODEL_DATA_URL"):
        import boto3  # in the XGBoost image; only this record needs AWS

        record = artifact_record(os.environ["MODEL_DATA_URL"], boto3.client("s3"))
        (args.output / "evaluation" / "model-artifact.json").write_text(json.dumps(record))
    (args.output / "predictions").mkdir(parents=True, exist_ok=True)
    predictions.to_csv(args.output / "predictions" / "predictions.csv", index=False)
    print(json.dumps(values))


if __name__ == "__main__":
    main()
