"""Crossed categorical features (`features.X: {type: cross, of: [...], buckets: K}`) and vocabulary frequency
thresholds (`min_frequency`, default `model.min_frequency`) through real TFT; a model on a cross exported and
served in a process that imports only TensorFlow, asking only for the raw columns, with stock ops only."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg
from pipeline.core.model_contract import CONTRACT_FILE
from test_transform import run_transform

SPEC = {"color": tf.string, "size": tf.string, "msg": tf.string, "y": tf.float32}


def _config(features=None, **model):
    return {"name": "x", "data": {"train": "x.csv"}, "model": model,
            "features": features or {"color": {"type": "categorical"}, "size": {"type": "categorical"},
                                     "pair": {"type": "cross", "of": ["color", "size"], "buckets": 64}},
            "tasks": {"y": {"type": "regression", "label": "y"}}}


def _rows(pairs):
    return [{"color": [c] if c else [], "size": [s] if s else [], "msg": [], "y": [1.0]} for c, s in pairs]


# ------------------------------------------------------------------------------------------- crosses
def test_cross_is_the_hash_bucket_of_the_joined_raw_values_and_missing_is_a_value():
    pairs = [("red", "s"), ("red", "l"), ("blue", "s"), ("red", "s"), (None, "s"), ("blue", None)]
    out, _ = run_transform(_config(min_frequency=1), _rows(pairs), spec=SPEC)
    joined = [f"{c or '__missing__'}_X_{s or '__missing__'}" for c, s in pairs]
    expected = tf.strings.to_hash_bucket_fast(joined, 64).numpy()
    assert [int(r["pair"]) for r in out] == list(expected)
    assert out[0]["pair"] == out[3]["pair"]  # the same pair, the same id
    assert all(0 <= r["pair"] < 64 for r in out)


def test_cross_config_errors_name_the_feature_and_what_is_expected():
    with pytest.raises(cfg.ConfigError, match=r"features\.pair\.of: 'age' is a numeric feature; a cross joins "
                                              r"categorical features of this config \(color\)"):
        cfg.parse_config(_config({"color": {"type": "categorical"}, "age": {"type": "numeric"},
                                  "pair": {"type": "cross", "of": ["color", "age"]}}))
    with pytest.raises(cfg.ConfigError, match=r"features\.pair\.of: 'shape' is not a feature"):
        cfg.parse_config(_config({"color": {"type": "categorical"}, "size": {"type": "categorical"},
                                  "pair": {"type": "cross", "of": ["color", "shape"]}}))
    with pytest.raises(cfg.ConfigError, match=r"features\.pair\.of"):
        cfg.parse_config(_config({"color": {"type": "categorical"},
                                  "pair": {"type": "cross", "of": ["color"]}}))
    config = cfg.parse_config(_config())
    assert "pair" not in config.columns and config.resolved_features["pair"].buckets == 64


# ------------------------------------------------------------------------------------- min_frequency
def test_values_rarer_than_min_frequency_share_the_oov_id_and_a_feature_overrides_the_default():
    features = {"color": {"type": "categorical"}, "size": {"type": "categorical", "min_frequency": 1},
                "msg": {"type": "text", "max_tokens": 3}}
    pairs = [("red", "s")] * 3 + [("blue", "m"), ("green", "l")]
    rows = [{**r, "msg": [m]} for r, m in zip(_rows(pairs), ["hi hi", "hi", "hi", "rare", "hi"])]
    out, _ = run_transform(_config(features, min_frequency=2), rows, spec=SPEC)
    colors = [int(r["color"]) for r in out]
    assert colors[0] == colors[1] == colors[2] == 0  # red (3 rows) keeps its own id
    assert colors[3] == colors[4] == 1  # blue and green (1 row each) -> the one OOV bucket after the vocabulary
    assert len({int(r["size"]) for r in out}) == 3  # min_frequency 1 on the feature: every size keeps its id
    msg = [list(r["msg"]) for r in out]
    assert msg[3][0] != msg[0][0] and msg[3][0] > 1  # 'rare' (once) is OOV, 'hi' (5 times) is in the vocabulary
    contract = cfg.data_contract(cfg.parse_config(_config(features)))
    assert contract["features"]["color"]["min_frequency"] == cfg.Model().min_frequency
    assert contract["features"]["size"]["min_frequency"] == 1


# ------------------------------------------------------------------------------------- exported and served
SERVED_SPEC = {"color": tf.string, "size": tf.string, "label": tf.string}
COLORS, SIZES = ["red", "blue", "green", "black"], ["s", "m", "l", "xl"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A binary task that is the XOR of two categorical features, learnt from their cross alone (no cross layers,
    no other inputs), exported; (model dir, raw CSV path, the Keras model's scores on those rows)."""
    from helpers.four_tasks import serialize, write_transform
    from trainer import export
    from trainer.inputs import input_keys
    from trainer.model import Vocabularies, build_model, split_example

    rng = np.random.default_rng(5)
    rows = [{"color": COLORS[c], "size": SIZES[s], "label": "yes" if (c % 2) ^ (s % 2) else "no"}
            for c, s in rng.integers(0, 4, (400, 2))]
    raw = {"name": "x", "data": {"train": "x.csv"}, "model": {"shared_units": [8], "tower_units": [4]},
           "features": {"pair": {"type": "cross", "of": ["color", "size"], "buckets": 97},
                        "color": {"type": "categorical"}, "size": {"type": "categorical"}},
           "tasks": {"hit": {"type": "binary", "label": "label", "positive": "yes"}},
           "training": {"learning_rate": 0.05}}
    config = cfg.parse_config(raw)
    output = write_transform(cfg.data_contract(config), rows, SERVED_SPEC)
    model = build_model(config, Vocabularies.from_transform_output(config, output))
    transformed = output.transform_features_layer()(
        tf.io.parse_example([serialize(r, SERVED_SPEC, SERVED_SPEC) for r in rows], output.raw_feature_spec()))
    data = tf.data.Dataset.from_tensor_slices(split_example(config)(transformed)).batch(16)
    model.fit(data, epochs=15, verbose=0)
    directory = str(tmp_path_factory.mktemp("served") / "model")
    export.export(model, output, directory)
    expected = model({k: transformed[k] for k in input_keys(config)}, training=False)
    csv_path = tmp_path_factory.mktemp("rows") / "rows.csv"
    with open(csv_path, "w") as f:
        f.write("color,size,label\n" + "".join(f"{r['color']},{r['size']},{r['label']}\n" for r in rows))
    return directory, str(csv_path), expected["hit"].numpy(), rows


def test_served_cross_model_takes_the_raw_columns_and_answers_the_keras_scores(served):
    from helpers.served import SERVE_SCRIPT

    directory, csv_path, expected, rows = served
    with open(os.path.join(directory, CONTRACT_FILE)) as f:
        assert sorted(json.load(f)["features"]) == ["color", "size"]  # the cross is derived, never requested
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, directory, csv_path,
                             json.dumps({"color": "BYTES", "size": "BYTES"}), "80"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["foreign_modules"] == []
    np.testing.assert_allclose(np.ravel(answer["outputs"]["hit"]), np.ravel(expected[:80]), rtol=1e-4, atol=1e-5)
    labels = np.array([r["label"] == "yes" for r in rows[:80]])
    scores = np.ravel(answer["outputs"]["hit"])
    assert np.mean((scores > 0.5) == labels) > 0.95  # the XOR of the two columns is learnt


def test_served_cross_model_holds_only_stock_ops(served):
    from helpers.served import assert_only_stock_ops

    assert_only_stock_ops(served[0])
