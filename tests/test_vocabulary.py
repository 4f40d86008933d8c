"""The one-pass feature vocabularies (components/vocabulary.py) against TFT's own: real tft_beam analysis of the
project's preprocessing_fn and of a reference that calls `tft.compute_and_apply_vocabulary` per feature (what
components/transform.py did before), on data built for the edge cases: count ties, top_k, min_frequency, several
OOV buckets, empty and missing cells (MISSING_TOKEN), integer categories, a value holding a newline (TFT keeps it
out of the file), a text vocabulary that min_frequency leaves empty (TFT's dummy token). Files and ids must be
identical."""
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components import transform
from pipeline import config as cfg

FEATURES = {
    "city": {"type": "categorical", "vocab_size": 4, "oov_buckets": 3},  # ties cut by top_k
    "code": {"type": "categorical", "min_frequency": 3},  # integers, rare ones OOV
    "plan": {"type": "categorical"},  # every value kept, ties ordered
    "never": {"type": "categorical", "oov_buckets": 2},  # always missing: the vocabulary is MISSING_TOKEN
    "msg": {"type": "text", "max_tokens": 3, "vocab_size": 5},
    "note": {"type": "text", "max_tokens": 4, "min_frequency": 2},  # every word once: empty vocabulary
}
CONFIG = {"name": "v", "data": {"train": "x.csv"}, "model": {"min_frequency": 1}, "features": FEATURES,
          "tasks": {"t": {"type": "regression", "label": "y"}}}
SPEC = {"city": tf.string, "code": tf.int64, "plan": tf.string, "never": tf.string, "msg": tf.string,
        "note": tf.string, "y": tf.float32}


def _rows():
    rng = np.random.default_rng(7)
    codes = [7] * 5 + [3] * 4 + [11] * 3 + [2] * 3 + [5] * 2 + [1]  # min_frequency 3 keeps 7, 3, 11, 2
    cities = ["b", "a", "d", "c", "e", "x\ny", ""] * 3 + ["a", "b", "c", "d"] * 4 + ["zz", "a b"]
    rows = []
    for i, city in enumerate(cities):
        rows.append({
            "city": [] if i % 11 == 5 else [city],
            "code": [codes[i]] if i < len(codes) else [],
            "plan": [["gold", "silver", "bronze", "Gold", "gold ", "a\nb", "c\rd"][i % 7]],
            "never": [],
            "msg": [" ".join(rng.choice(["alpha", "beta", "gamma", "delta", "eps", "zeta", "Eta"], 4))],
            "note": [f"word{i} unique{i}"],
            "y": [float(i)],
        })
    return rows


def reference_fn(inputs, contract):
    """Per-feature TFT vocabularies, as components/transform.py computed them before the one-pass analyzer."""
    config = cfg.DataContract.model_validate(contract)
    outputs = {}
    for name, feature in config.features.items():
        values = transform._VOCABULARY_VALUES[feature.type](name, inputs[name], feature)
        ids = tft.compute_and_apply_vocabulary(
            values, top_k=feature.vocab_size, frequency_threshold=transform._frequency_threshold(feature),
            num_oov_buckets=feature.oov_buckets, vocab_filename=cfg.feature_vocab_name(name))
        outputs[name] = ids if feature.type == "categorical" else ids.to_tensor(-1, shape=[None, feature.max_tokens]) + 1
    return outputs


def analyze(fn, rows, serve_rows):
    feature_spec = {k: tf.io.VarLenFeature(dtype) for k, dtype in SPEC.items()}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec))
    contract = cfg.data_contract(cfg.parse_config(CONFIG))
    encode = lambda rows: [{k: [v.encode() if isinstance(v, str) else v for v in row.get(k, [])] for k in SPEC}
                           for row in rows]
    out_dir = tempfile.mkdtemp()
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=True):
        transform_fn = (encode(rows), metadata) | tft_beam.AnalyzeDataset(lambda x: fn(x, contract))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
        out, _ = ((encode(rows + serve_rows), metadata), transform_fn) | tft_beam.TransformDataset()
    output = tft.TFTransformOutput(out_dir)
    files = {name: open(output.vocabulary_file_by_name(cfg.feature_vocab_name(name)), "rb").read()
             for name in FEATURES}
    sizes = {name: output.vocabulary_size_by_name(cfg.feature_vocab_name(name)) for name in FEATURES}
    ids = {name: [np.asarray(r[name]).tolist() for r in out] for name in FEATURES}
    return files, sizes, ids


SERVE = [{"city": ["unseen"], "code": [99], "plan": ["platinum"], "msg": ["unseen alpha words"], "note": ["word1"]},
         {"city": ["x\ny"], "code": [], "plan": [""], "never": ["something"], "msg": [""], "note": []}]


@pytest.fixture(scope="module")
def both():
    return analyze(transform.preprocessing_fn, _rows(), SERVE), analyze(reference_fn, _rows(), SERVE)


def test_vocabulary_files_are_tfts_byte_for_byte(both):
    (files, sizes, _), (expected_files, expected_sizes, _) = both
    assert files == expected_files
    assert sizes == expected_sizes
    city = files["city"].split(b"\n")
    assert len(city) == 5 and b"x\ny" not in files["city"]  # top_k 4 (+ the final newline); the newline value dropped
    assert files["code"] == b"__missing__\n7\n3\n2\n11\n"  # 21 missing cells; the tie 2, 11 as strings
    assert b"a\nb" not in files["plan"] and b"c\rd" not in files["plan"] and files["plan"].count(b"\n") == 5
    assert files["never"] == transform.MISSING_TOKEN.encode() + b"\n"
    assert files["note"].count(b"\n") == 1  # min_frequency 2 over unique words: TFT's single dummy token


def test_transformed_ids_are_the_same_as_per_feature_vocabularies(both):
    (_, _, ids), (_, _, expected_ids) = both
    for name in FEATURES:
        assert ids[name] == expected_ids[name], name
    assert len(set(ids["city"])) > 4  # OOV buckets in use (cut, unseen and newline values)
