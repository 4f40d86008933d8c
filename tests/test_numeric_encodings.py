"""Numeric encodings (features.X.encoding / model.numeric_encoding) through real TFT on known values, and a model
with every encoding plus DCN-v2 cross layers exported and served in a process that imports only TensorFlow, with
stock ops only and the Keras model's own scores."""
import os

import numpy as np
import pytest
import tensorflow as tf
import yaml

from pipeline import config as cfg
from test_transform import run_transform

VALUES = [float(v) for v in range(100)]  # uniform 0..99: quartile edges near 25, 50, 75
ENCODED = {"z": "zscore", "lg": "log", "q": "quantile", "ple": "piecewise_linear", "per": "periodic"}


def _config(**model):
    return {"name": "enc", "data": {"train": "x.csv"}, "model": {"numeric_bins": 4, **model},
            "features": {n: {"type": "numeric", "encoding": e} for n, e in ENCODED.items()},
            "tasks": {"y": {"type": "regression", "label": "y"}}}


@pytest.fixture(scope="module")
def transformed():
    rows = [{**{n: [v] for n in ENCODED}, "y": [v]} for v in VALUES] + [{**{n: [] for n in ENCODED}, "y": [1.0]}]
    out, _ = run_transform(_config(), rows, spec={**{n: tf.float32 for n in ENCODED}, "y": tf.float32})
    return out


def test_zscore_log_and_periodic_are_standardized_and_missing_is_the_mean(transformed):
    filled = np.array(VALUES + [np.mean(VALUES)])
    for name, values in (("z", filled), ("per", filled)):
        got = np.array([r[name] for r in transformed])
        np.testing.assert_allclose(got, (values - values.mean()) / values.std(), rtol=1e-4, atol=1e-5)
    logs = np.log1p(VALUES)
    logs = np.append(logs, logs.mean())
    np.testing.assert_allclose([r["lg"] for r in transformed], (logs - logs.mean()) / logs.std(), rtol=1e-4, atol=1e-5)


def test_missing_indicator_marks_only_the_filled_cell(transformed):
    for name in ENCODED:
        assert [r[cfg.missing_key(name)] for r in transformed] == [0.0] * 100 + [1.0]


def test_quantile_ids_are_the_quartile_of_the_value(transformed):
    ids = [int(r["q"]) for r in transformed[:100]]
    assert ids[:20] == [0] * 20 and ids[30:45] == [1] * 15 and ids[55:70] == [2] * 15 and ids[80:] == [3] * 20
    assert ids == sorted(ids)


def test_piecewise_linear_is_gorishniys_encoding_on_quantile_bins(transformed):
    ple = np.array([r["ple"] for r in transformed])
    assert ple.shape == (101, 4) and ple.min() >= 0 and ple.max() <= 1
    np.testing.assert_allclose(ple[0], [0, 0, 0, 0], atol=1e-6)  # the minimum: nothing filled
    np.testing.assert_allclose(ple[99], [1, 1, 1, 1], atol=1e-6)  # the maximum: every bin full
    for x, row in zip(VALUES, ple[:100]):
        full = int(np.sum(row > 1 - 1e-6))  # bins below x read 1, its own bin the fraction, bins above 0
        assert np.all(row[:full] > 1 - 1e-6) and np.all(row[full + 1:] < 1e-6), (x, row)
        assert row.sum() == pytest.approx(x / 99 * 4, abs=0.15), (x, row)  # ~ uniform bins of width ~25
    assert ple[12] == pytest.approx([12 / ple_width(ple), 0, 0, 0], abs=0.03)
    assert ple[100].sum() == pytest.approx(np.mean(VALUES) / 99 * 4, abs=0.15)  # missing -> the mean


def ple_width(ple):
    """Width of the first bin from the rows that fill it part-way (x / width = the reading)."""
    partial = [(x, r[0]) for x, r in zip(VALUES, ple) if 0 < r[0] < 1]
    return float(np.median([x / f for x, f in partial]))


def test_tied_values_give_zero_width_bins_without_nans():
    values = [0.0] * 70 + [float(v) for v in range(1, 31)]
    rows = [{"ple": [v], "y": [v]} for v in values]
    config = {**_config(), "features": {"ple": {"type": "numeric", "encoding": "piecewise_linear", "bins": 8}}}
    out, _ = run_transform(config, rows, spec={"ple": tf.float32, "y": tf.float32})
    ple = np.array([r["ple"] for r in out])
    assert ple.shape == (100, 8) and np.all(np.isfinite(ple)) and ple.min() >= 0 and ple.max() <= 1
    zeros, top = ple[0], ple[-1]
    assert np.all(ple[:70] == zeros) and np.all(top == 1.0) and zeros.sum() < top.sum()


def test_default_encoding_comes_from_the_model_section_and_a_feature_overrides_it():
    raw = _config(numeric_encoding="piecewise_linear", numeric_bins=16)
    raw["features"]["z"] = {"type": "numeric"}
    contract = cfg.data_contract(cfg.parse_config(raw))
    assert contract["features"]["z"]["encoding"] == "piecewise_linear" and contract["features"]["z"]["bins"] == 16
    assert contract["features"]["q"]["encoding"] == "quantile"
    with pytest.raises(cfg.ConfigError, match="encoding"):
        cfg.parse_config({**raw, "features": {"z": {"type": "numeric", "encoding": "ple"}}})


# ------------------------------------------------------------------------------- exported and served
SERVED_SPEC = {**{n: tf.float32 for n in ENCODED}, "label": tf.string, "y": tf.float32}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Every encoding at once plus 2 low-rank cross layers, trained a few steps on 400 rows where each column
    matters, exported; (model dir, raw CSV path, the Keras model's scores on those rows)."""
    from helpers.four_tasks import serialize, write_transform
    from trainer import export
    from trainer.inputs import input_keys
    from trainer.model import Vocabularies, build_model, split_example

    rng = np.random.default_rng(3)
    x = rng.lognormal(0, 1, (400, len(ENCODED)))
    rows = [{**{n: ("" if i % 37 == 0 else repr(float(v))) for n, v in zip(ENCODED, r)},
             "label": "yes" if r[0] + np.sin(r[4]) > 1.5 else "no", "y": repr(float(r[1] * r[2] + np.log(r[3])))}
            for i, r in enumerate(x)]
    raw = {**_config(cross_layers=2, cross_rank=4, numeric_bins=8),
           "tasks": {"hit": {"type": "binary", "label": "label", "positive": "yes"},
                     "y": {"type": "regression", "label": "y", "loss": "huber"}}}
    config = cfg.parse_config(raw)
    output = write_transform(cfg.data_contract(config), rows, SERVED_SPEC)
    model = build_model(config, Vocabularies.from_transform_output(config, output))
    serialized = [serialize(r, ENCODED, SERVED_SPEC) for r in rows]
    transformed = output.transform_features_layer()(
        tf.io.parse_example([serialize(r, SERVED_SPEC, SERVED_SPEC) for r in rows], output.raw_feature_spec()))
    data = tf.data.Dataset.from_tensor_slices(split_example(config)(transformed)).batch(32)
    history = model.fit(data, epochs=3, verbose=0).history
    assert all(np.isfinite(history["loss"]))
    directory = str(tmp_path_factory.mktemp("served") / "model")
    export.export(model, output, directory)
    expected = model({k: transformed[k] for k in input_keys(config)}, training=False)
    csv_path = tmp_path_factory.mktemp("rows") / "rows.csv"
    with open(csv_path, "w") as f:
        f.write(",".join(ENCODED) + "\n" + "".join(",".join(r[n] for n in ENCODED) + "\n" for r in rows))
    return directory, str(csv_path), {k: v.numpy() for k, v in expected.items()}, serialized


def test_served_model_answers_raw_rows_with_the_keras_scores_in_a_tensorflow_only_process(served):
    import json
    import subprocess
    import sys

    from helpers.served import SERVE_SCRIPT

    directory, csv_path, expected, _ = served
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, directory, csv_path,
                             json.dumps({n: "FLOAT" for n in ENCODED}), "60"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["foreign_modules"] == []
    for task in ("hit", "y"):
        np.testing.assert_allclose(np.ravel(answer["outputs"][task]), np.ravel(expected[task][:60]),
                                   rtol=1e-4, atol=1e-5, err_msg=task)


def test_served_model_with_every_encoding_holds_only_stock_ops(served):
    from helpers.served import assert_only_stock_ops

    assert_only_stock_ops(served[0])
