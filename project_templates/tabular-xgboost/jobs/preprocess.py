"""Data preparation job: raw CSV in, PII-safe Parquet splits out.

Runs as the pipeline's first SageMaker Processing step (Python 3.10 in the XGBoost image, which ships
pandas and pyarrow) and locally in the tests. It keeps only the columns named in ``dataset.json``
(an allow-list, so an unlisted column, PII or not, never reaches the outputs), drops or hashes the PII
columns named in ``pii.json`` (owned by the data engineer), casts the features, and writes:

- ``curated/data.parquet``: hashed keys, features and label; the pseudonymised dataset for joins;
- ``train/``, ``validation/``, ``test/``: label first, then features, as the built-in XGBoost reads
  Parquet;
- ``baseline/baseline.csv``: training features only, no header; the shape of an endpoint request, so
  the data-quality baseline matches the data Model Monitor captures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pandas as pd

BASE = Path("/opt/ml/processing")


def load_config(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def check_config(dataset: dict, pii: dict) -> None:
    """Refuse configurations that would leak PII into the model's inputs or lose a column silently."""
    pii_columns = set(pii.get("drop", [])) | set(pii.get("hash", []))
    used = set(dataset["features"]) | {dataset["label"]}
    overlap = sorted(pii_columns & used)
    if overlap:
        raise ValueError(f"PII columns cannot be features or the label: {overlap}")
    both = sorted(set(pii.get("drop", [])) & set(pii.get("hash", [])))
    if both:
        raise ValueError(f"PII columns are both dropped and hashed: {both}")
    if pii.get("hash") and not pii.get("hash_salt"):
        raise ValueError("pii.json: hashing needs a hash_salt")


def pseudonymise(value: str, salt: str) -> str:
    """Salted SHA-256 of one value: a stable key for joins that does not reveal the value."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()


def prepare(raw: pd.DataFrame, dataset: dict, pii: dict) -> pd.DataFrame:
    """Hash, select and cast: the curated dataset (hashed columns, then the label, then the features)."""
    check_config(dataset, pii)
    label, features = dataset["label"], list(dataset["features"])
    missing = [column for column in [label, *features] if column not in raw.columns]
    if missing:
        raise ValueError(f"Columns missing from the input: {missing}")
    hashed = [column for column in pii.get("hash", []) if column in raw.columns]

    curated = pd.DataFrame(index=raw.index)
    for column in hashed:
        curated[column] = raw[column].map(
            lambda value: None if pd.isna(value) else pseudonymise(str(value), pii["hash_salt"])
        )
    curated[label] = pd.to_numeric(raw[label], errors="raise").astype("int64")
    for column, dtype in dataset["features"].items():
        curated[column] = pd.to_numeric(raw[column], errors="raise").astype(dtype)
    return curated.reset_index(drop=True)


def split(curated: pd.DataFrame, dataset: dict) -> dict[str, pd.DataFrame]:
    """Shuffle with the configured seed and cut train/validation/test; each split is label, then features."""
    settings = dataset["split"]
    model_columns = [dataset["label"], *dataset["features"]]
    shuffled = curated[model_columns].sample(frac=1.0, random_state=settings["seed"]).reset_index(drop=True)
    n_test = int(len(shuffled) * settings["test"])
    n_validation = int(len(shuffled) * settings["validation"])
    return {
        "test": shuffled.iloc[:n_test],
        "validation": shuffled.iloc[n_test : n_test + n_validation],
        "train": shuffled.iloc[n_test + n_validation :],
    }


def write_outputs(curated: pd.DataFrame, splits: dict[str, pd.DataFrame], dataset: dict, output: Path) -> None:
    for name, frame in [("curated", curated), *splits.items()]:
        directory = output / name
        directory.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(directory / f"{'data' if name == 'curated' else name}.parquet", index=False)
    baseline = output / "baseline"
    baseline.mkdir(parents=True, exist_ok=True)
    splits["train"][list(dataset["features"])].to_csv(baseline / "baseline.csv", header=False, index=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=BASE / "input")
    parser.add_argument("--config", type=Path, default=BASE / "config")
    parser.add_argument("--output", type=Path, default=BASE / "output")
    args = parser.parse_args(argv)

    dataset = load_config(args.config / "dataset.json")
    pii = load_config(args.config / "pii.json")
    files = sorted(args.input.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"No CSV file in {args.input}")
    raw = pd.concat([pd.read_csv(file, dtype=str) for file in files], ignore_index=True)
    curated = prepare(raw, dataset, pii)
    splits = split(curated, dataset)
    write_outputs(curated, splits, dataset, args.output)
    print(f"Prepared {len(curated)} rows: " + ", ".join(f"{name} {len(frame)}" for name, frame in splits.items()))


if __name__ == "__main__":
    main()
