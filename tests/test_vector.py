"""Vector features (`features.X: {type: vector, size: N}`): a cell of N space-separated numbers (CSV) or a float
list becomes one float input of width N through real TFT; the DataGate names rows of another length; a model on a
vector is exported and served from the raw string, and the client turns a list of numbers into that string."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg

SPEC = {"emb": tf.string, "y": tf.string}


def _raw(size=4):
    return {"name": "v", "data": {"train": "x.csv"}, "model": {"shared_units": [8], "tower_units": [4]},
            "features": {"emb": {"type": "vector", "size": size}},
            "tasks": {"y": {"type": "binary", "label": "y", "positive": "yes"}},
            "training": {"learning_rate": 0.05}}


def _rows(n=300, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 4))
    return [{"emb": " ".join(f"{v:.4f}" for v in vec), "y": "yes" if vec @ [1, -2, 0.5, 0] > 0 else "no"}
            for vec in vectors]


def test_vector_cells_become_float_rows_and_an_empty_cell_reads_zeros():
    from helpers.four_tasks import serialize, write_transform

    rows = [{"emb": "1 2.5 -3 4e-1", "y": "yes"}, {"emb": "", "y": "no"}, {"emb": " 0.5  1 2 3 ", "y": "no"}]
    config = cfg.parse_config(_raw())
    output = write_transform(cfg.data_contract(config), rows, SPEC)
    transformed = output.transform_features_layer()(
        tf.io.parse_example([serialize(r, SPEC, SPEC) for r in rows], output.raw_feature_spec()))
    np.testing.assert_allclose(transformed["emb"].numpy(), [[1, 2.5, -3, 0.4], [0, 0, 0, 0], [0.5, 1, 2, 3]])


def test_data_gate_names_rows_of_another_length_or_with_text(tmp_path):
    from components.gates.row_checks import row_findings
    from helpers.four_tasks import serialize

    split = tmp_path / "Split-eval"
    split.mkdir()
    rows = [{"emb": "1 2 3 4", "y": "yes"}, {"emb": "1 2 3", "y": "no"}, {"emb": "", "y": "no"},
            {"emb": "1 2 x 4", "y": "no"}, {"emb": "1 2 3 nan", "y": "no"}]
    with tf.io.TFRecordWriter(str(split / "data.gz"), options="GZIP") as writer:
        for row in rows:
            writer.write(serialize(row, SPEC, SPEC))
    contract = cfg.DataContract.model_validate(cfg.data_contract(cfg.parse_config(_raw())))
    findings = row_findings(contract, SimpleNamespace(uri=str(tmp_path)))
    assert [str(f) for f in findings] == [
        "[eval] emb: vector feature of size 4: 3 row(s) with another length or a value that is not a number: "
        "row 2: 3 numbers; expected 4; row 4: 'x' is not a number (expected 4 space-separated numbers); "
        "row 5: holds NaN or an infinite number"]
    assert findings[0].blocking


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from helpers.four_tasks import serialize, write_transform
    from trainer import export
    from trainer.inputs import input_keys
    from trainer.model import Vocabularies, build_model, split_example

    rows = _rows()
    config = cfg.parse_config(_raw())
    output = write_transform(cfg.data_contract(config), rows, SPEC)
    model = build_model(config, Vocabularies.from_transform_output(config, output))
    transformed = output.transform_features_layer()(
        tf.io.parse_example([serialize(r, SPEC, SPEC) for r in rows], output.raw_feature_spec()))
    model.fit(tf.data.Dataset.from_tensor_slices(split_example(config)(transformed)).batch(16), epochs=20, verbose=0)
    directory = str(tmp_path_factory.mktemp("vector") / "model")
    export.export(model, output, directory)
    return directory, rows, model({k: transformed[k] for k in input_keys(config)})["y"].numpy()


def test_served_vector_model_reads_the_raw_string_and_the_client_sends_lists(served):
    from serving.contract import ModelContract

    directory, rows, expected = served
    contract = ModelContract.load(directory)
    assert json.load(open(os.path.join(directory, "assets.extra", "mtl_model.json")))["features"]["emb"]["type"] \
        == "vector"
    model = tf.saved_model.load(directory)
    as_lists = [{"emb": [float(v) for v in r["emb"].split()]} for r in rows[:50]]
    out = model.signatures["serving_default"](examples=tf.constant(contract.examples(as_lists)))
    np.testing.assert_allclose(out["y"].numpy()[:, 0], expected[:50, 0], rtol=1e-4, atol=1e-5)
    accuracy = np.mean((out["y"].numpy()[:, 0] > 0.5) == np.array([r["y"] == "yes" for r in rows[:50]]))
    assert accuracy > 0.9  # a linear rule of the vector is learnt


def test_served_vector_model_holds_only_stock_ops(served):
    from helpers.served import assert_only_stock_ops

    assert_only_stock_ops(served[0])
