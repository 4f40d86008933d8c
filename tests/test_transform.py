"""The generated preprocessing_fn on tiny in-memory data, through real TFT (tft_beam), every type."""
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.tokens import tokenize
from components.transform import preprocessing_fn
from pipeline import config as cfg

CONFIG = {
    "name": "t", "data": {"train": "x.csv"}, "model": {"min_frequency": 1},  # 4 rows: keep every value
    "features": {
        "age": {"type": "numeric", "log": True},
        "score": {"type": "numeric", "clip": [0, 10], "fill": 5},
        "city": {"type": "categorical"},
        "msg": {"type": "text", "max_tokens": 4},
    },
    "tasks": {
        "churn": {"type": "binary", "label": "churned", "positive": "yes"},
        "flag": {"type": "binary", "label": "flag_num"},
        "intent": {"type": "multiclass", "label": "intent"},
        "keywords": {"type": "multilabel", "label": "keywords", "separator": "|"},
        "minutes": {"type": "regression", "label": "minutes"},
    },
}
SPEC = {"age": tf.int64, "score": tf.float32, "city": tf.string, "msg": tf.string, "churned": tf.string,
        "flag_num": tf.int64, "intent": tf.string, "keywords": tf.string, "minutes": tf.float32}
ROWS = [  # row 1 has every cell missing; row 2 has non-ASCII text and a messy keyword cell
    {"age": [3], "score": [20.0], "city": ["a"], "msg": ["Where is my REFUND?! now please"], "churned": ["yes"],
     "flag_num": [1], "intent": ["refund"], "keywords": ["refund|order"], "minutes": [1.5]},
    {k: [] for k in SPEC},
    {"age": [10], "score": [-3.0], "city": ["b"], "msg": ["café ünïcode"], "churned": ["no"], "flag_num": [0],
     "intent": ["delivery"], "keywords": [" order | "], "minutes": [2.0]},
    {"age": [10], "score": [4.0], "city": ["b"], "msg": [""], "churned": ["no"], "flag_num": [0],
     "intent": ["refund"], "keywords": [""], "minutes": [float("nan")]},
]


def run_transform(config: dict, rows, spec=SPEC):
    """AnalyzeAndTransformDataset with every column a VarLenFeature (cells may be missing, as from CSV)."""
    feature_spec = {k: tf.io.VarLenFeature(dtype) for k, dtype in spec.items()}
    encoded = [{k: [v.encode() if isinstance(v, str) else v for v in vals] for k, vals in row.items()}
               for row in rows]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec))
    contract = cfg.data_contract(cfg.parse_config(config))
    temp = tempfile.mkdtemp()
    with tft_beam.Context(temp_dir=temp, force_tf_compat_v1=True):
        (out, _), transform_fn = (encoded, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, contract))
        (_, transform_dir) = transform_fn
    return out, temp


@pytest.fixture(scope="module")
def transformed():
    out, _ = run_transform(CONFIG, ROWS)
    return out


def test_numeric_zscore_log_fill_and_clip(transformed):
    ages = np.array([r["age"] for r in transformed])
    logs = np.log1p([3, 10, 10])
    filled = np.array([logs[0], logs.mean(), logs[1], logs[2]])  # missing -> mean of present values
    np.testing.assert_allclose(ages, (filled - filled.mean()) / filled.std(), rtol=1e-5, atol=1e-6)
    assert ages[1] == pytest.approx(0.0, abs=1e-6)
    scores = np.array([r["score"] for r in transformed])
    clipped = np.array([10.0, 5.0, 0.0, 4.0])  # 20 -> 10, missing -> fill 5, -3 -> 0
    np.testing.assert_allclose(scores, (clipped - clipped.mean()) / clipped.std(), rtol=1e-5)


class _Phases:
    """A tensorflow_transform.nodes visitor collecting the analysis phases (passes over the data) of a graph."""

    def __init__(self):
        self.phases = set()

    def visit(self, operation_def, input_values):
        from tensorflow_transform import nodes
        from tensorflow_transform.beam import beam_nodes

        if isinstance(operation_def, beam_nodes.ApplySavedModel):
            self.phases.add(operation_def.phase)
        return nodes.OperationNode(operation_def, input_values).outputs

    def validate_value(self, value):
        pass


def analysis_phases(config: dict, spec=SPEC) -> int:
    """How many passes over the data TFT's analysis plan of the config's preprocessing_fn makes."""
    from tensorflow_transform import impl_helper, nodes
    from tensorflow_transform.beam import analysis_graph_builder

    contract = cfg.data_contract(cfg.parse_config(config))
    graph, inputs, outputs = impl_helper.trace_preprocessing_function(
        lambda i: preprocessing_fn(i, contract), {k: tf.io.VarLenFeature(d) for k, d in spec.items()},
        use_tf_compat_v1=True)
    future, _, _ = analysis_graph_builder.build(graph, inputs, outputs)
    visitor = _Phases()
    nodes.Traverser(visitor).visit_value_node(future)
    return len(visitor.phases)


def test_analysis_is_one_pass_over_the_data():
    """Every analyzer (vocabularies, label classes, fill means, z-score moments of filled numerics, quantiles)
    reads the raw data directly: one analysis pass, not a second one after the fill means."""
    binned = {**CONFIG, "features": {**CONFIG["features"],
                                     "q": {"type": "numeric", "encoding": "quantile"},
                                     "ple": {"type": "numeric", "encoding": "piecewise_linear", "fill": 2}}}
    assert analysis_phases(CONFIG) == 1
    assert analysis_phases(binned, {**SPEC, "q": tf.float32, "ple": tf.float32}) == 1


def test_filled_z_scores_equal_scale_to_z_score_of_the_filled_column():
    """Many rows, a third missing, a skewed column: the one-pass moments give tft.scale_to_z_score's values."""
    rng = np.random.default_rng(3)
    values = rng.lognormal(2.0, 1.5, size=300)
    present = rng.random(300) > 0.33
    rows = [{"age": [float(v)] if p else [], "score": [float(v)] if p else []} for v, p in zip(values, present)]
    config = {"name": "t", "data": {"train": "x.csv"},
              "features": {"age": {"type": "numeric"}, "score": {"type": "numeric", "fill": 100.0}},
              "tasks": {"y": {"type": "regression", "label": "y"}}}
    rows = [{**r, "y": [1.0]} for r in rows]
    out, _ = run_transform(config, rows, {"age": tf.float32, "score": tf.float32, "y": tf.float32})
    for name, fill in (("age", values[present].astype(np.float32).mean()), ("score", 100.0)):
        filled = np.where(present, values, fill)
        np.testing.assert_allclose([r[name] for r in out], (filled - filled.mean()) / filled.std(),
                                   rtol=1e-4, atol=1e-5, err_msg=name)


def test_categorical_vocabulary_with_missing_token(transformed):
    cities = [r["city"] for r in transformed]
    assert cities[2] == cities[3] != cities[0]  # 'b' twice, 'a' once: same id for the same value
    assert len(set(cities)) == 3  # a, b and the missing marker
    assert all(c >= 0 for c in cities)


def test_text_tokens_padded_and_zero_for_empty(transformed):
    msg = [list(r["msg"]) for r in transformed]
    assert all(len(m) == 4 for m in msg)  # truncated to max_tokens
    assert msg[1] == [0, 0, 0, 0] and msg[3] == [0, 0, 0, 0]  # missing and empty text are all padding
    assert msg[2][:2] != [0, 0] and msg[2][2:] == [0, 0]  # two unicode tokens then padding
    assert min(msg[0]) >= 1


def test_text_subwords_are_each_tokens_shape_then_its_character_trigrams(transformed):
    """`subwords`: per token its word shape then its character 3-grams with boundary marks (unicode characters,
    not bytes), hashed into [1, buckets], cut at MAX_SUBWORDS, 0 at padding; the word ids are unchanged."""
    config = {**CONFIG, "features": {"msg": {"type": "text", "max_tokens": 4, "subwords": 1000}}}
    rows = [{**{k: [] for k in SPEC}, "msg": [m]} for m in ("DH8 café x", "", "a" * 40)]
    out, _ = run_transform(config, rows)
    plain, _ = run_transform({**CONFIG, "features": {"msg": CONFIG["features"]["msg"]}}, rows)

    def ids(items):
        hashed = (tf.strings.to_hash_bucket_fast(items, 1000) + 1).numpy().tolist() if items else []
        return hashed + [0] * (cfg.MAX_SUBWORDS - len(hashed))
    expected = [[ids(["\x01aa0", "<dh", "dh8", "h8>"]), ids(["\x01aaaa", "<ca", "caf", "afé", "fé>"]),
                 ids(["\x01a", "<x>"]), ids([])], [ids([])] * 4,
                [ids(["\x01" + "a" * 40, "<aa"] + ["aaa"] * 14), ids([]), ids([]), ids([])]]
    assert [r[cfg.subword_key("msg")].tolist() for r in out] == expected
    assert [r["msg"].tolist() for r in out] == [r["msg"].tolist() for r in plain]
    assert cfg.subword_key("msg") not in transformed[0] and cfg.subword_key("msg") not in plain[0]


def test_tokenize_handles_case_punctuation_and_unicode():
    tokens = tokenize(tf.constant(["Where's my REFUND?!", "café–ünïcode", "", "a" * 10_000]))
    assert tokens.to_list() == [[b"where's", b"my", b"refund"], ["café".encode(), "ünïcode".encode()], [],
                                [b"a" * 10_000]]


def test_binary_labels_and_masks(transformed):
    assert [r["churn__target"] for r in transformed] == [1, 0, 0, 0]
    assert [r["churn__mask"] for r in transformed] == [1.0, 0.0, 1.0, 1.0]
    assert [r["flag__target"] for r in transformed] == [1, 0, 0, 0]
    assert [r["flag__mask"] for r in transformed] == [1.0, 0.0, 1.0, 1.0]


def test_multiclass_label_vocabulary_ignores_missing_rows(transformed):
    targets = [r["intent__target"] for r in transformed]
    assert [r["intent__mask"] for r in transformed] == [1.0, 0.0, 1.0, 1.0]
    assert targets[0] == targets[3] == 0  # 'refund' is the most frequent class
    assert targets[2] == 1


def test_multilabel_sparse_ids_and_mask(transformed):
    ids = [sorted(r["keywords__target"].tolist()) for r in transformed]
    assert ids == [[0, 1], [], [0], []]  # 'order' (2x) = 0, 'refund' = 1; blanks dropped
    assert [r["keywords__mask"] for r in transformed] == [1.0, 0.0, 1.0, 1.0]  # an empty cell is "no labels"


def test_regression_masks_missing_and_non_finite(transformed):
    assert [r["minutes__target"] for r in transformed] == [1.5, 0.0, 2.0, 0.0]
    assert [r["minutes__mask"] for r in transformed] == [1.0, 0.0, 1.0, 0.0]


def test_numeric_feature_holding_text_is_a_clear_error():
    config = {**CONFIG, "features": {"city": {"type": "numeric"}}, "tasks": {"t": CONFIG["tasks"]["minutes"]}}
    with pytest.raises(ValueError, match=r"features.city \(type numeric\): column 'city' holds text"):
        run_transform(config, ROWS)


def test_missing_label_column_is_a_clear_error():
    spec = {k: v for k, v in SPEC.items() if k != "intent"}
    rows = [{k: v for k, v in row.items() if k != "intent"} for row in ROWS]
    with pytest.raises(ValueError, match=r"tasks.intent.label: column 'intent' is not in the data schema"):
        run_transform(CONFIG, rows, spec)


def test_declared_classes_fix_the_index_and_unknown_values_count_as_unlabelled():
    config = {**CONFIG, "tasks": {
        "intent": {"type": "multiclass", "label": "intent", "classes": ["delivery", "refund"]},
        "keywords": {"type": "multilabel", "label": "keywords", "classes": ["refund", "other"]}}}
    rows = [{**ROWS[0]}, {**ROWS[2], "intent": ["cancel"]}]
    out, _ = run_transform(config, rows)
    assert [r["intent__target"] for r in out] == [1, 0] and [r["intent__mask"] for r in out] == [1.0, 0.0]
    assert [r["keywords__target"].tolist() for r in out] == [[0], []]  # 'order' is not a declared class


def test_text_at_serving_time_unseen_words_long_non_ascii_and_broken_utf8():
    """The analyzed transform applied to new text: unseen words map to the OOV id (never padding, never an
    error), a 5,000-word message is cut to max_tokens, non-ASCII words and invalid UTF-8 bytes still give ids."""
    feature_spec = {k: tf.io.VarLenFeature(dtype) for k, dtype in SPEC.items()}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec))
    contract = cfg.data_contract(cfg.parse_config(CONFIG))
    encode = lambda rows: [{k: [v.encode() if isinstance(v, str) else v for v in row.get(k, [])] for k in SPEC}
                           for row in rows]
    new_rows = [{"msg": ["zebra quantum"]}, {"msg": ["word " * 5000]}, {"msg": ["Привет où 😡 refund"]},
                {"msg": [b"\xff\xfe refund \xc3"]}, {"msg": ["REFUND"]}]
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=True):
        transform_fn = (encode(ROWS), metadata) | tft_beam.AnalyzeDataset(lambda x: preprocessing_fn(x, contract))
        out, _ = ((encode(new_rows), metadata), transform_fn) | tft_beam.TransformDataset()
    msg = [list(r["msg"]) for r in out]
    vocabulary_ids = {i for r in run_transform(CONFIG, ROWS)[0] for i in r["msg"] if i}
    oov = max(vocabulary_ids) + 1  # the single OOV bucket follows the vocabulary (0 is padding)
    assert msg[0] == [oov, oov, 0, 0]  # two unseen words: OOV, then padding
    assert msg[1] == [oov] * 4  # 5,000 tokens truncated to max_tokens
    refund = msg[4][0]
    assert refund in vocabulary_ids and msg[2] == [oov, oov, refund, 0]  # emoji is not a word token
    assert len(msg[3]) == 4 and refund in msg[3]  # broken bytes are replaced, the valid word survives


# ------------------------------------------------------------------ binary labels: the negative, never an unknown
def _binary_out(task, labels, dtype=tf.string):
    config = {**CONFIG, "features": {"age": CONFIG["features"]["age"]},
              "tasks": {"sex": {"type": "binary", "label": "sex", **task}}}
    rows = [{"age": [1], "sex": [] if v is None else [v]} for v in labels]
    out, temp = run_transform(config, rows, {"age": tf.int64, "sex": dtype})
    return [r["sex__target"] for r in out], [r["sex__mask"] for r in out], temp


def test_binary_negative_is_the_datas_other_value_and_unknown_values_are_unlabelled():
    targets, masks, temp = _binary_out({"positive": "male"}, ["male", "female", " male", "female ", "Male", "NA",
                                                              None, "female"])
    assert targets == [1, 0, 1, 0, 0, 0, 0, 0]
    assert masks == [1, 1, 1, 1, 0, 0, 0, 1]  # 'Male' (letter case) and 'NA' count for nothing, never as negative
    import glob

    vocabulary = glob.glob(f"{temp}/**/label_sex", recursive=True)
    assert vocabulary and open(vocabulary[0]).read().split()[:2] == ["female", "male"]  # served label names


def test_binary_configured_negatives_and_true_false_strings():
    targets, masks, _ = _binary_out({"positive": "yes", "negative": ["no", "nope"]}, ["yes", "no", "nope", "maybe"])
    assert (targets, masks) == ([1, 0, 0, 0], [1, 1, 1, 0])
    targets, masks, _ = _binary_out({}, ["Yes", "no", "TRUE", "f", "maybe"])
    assert (targets, masks) == ([1, 0, 1, 0, 0], [1, 1, 1, 1, 0])


def test_numeric_binary_labels_other_extreme_and_nan():
    targets, masks, _ = _binary_out({"positive": "2"}, [1.0, 2.0, 2.0, float("nan"), None], tf.float32)
    assert (targets, masks) == ([0, 1, 1, 0, 0], [1, 1, 1, 0, 0])  # NaN is no label (and a DataGate finding)
    targets, masks, _ = _binary_out({"positive": "2", "negative": "1"}, [1.0, 2.0, 3.0], tf.float32)
    assert (targets, masks) == ([0, 1, 0], [1, 1, 0])
    targets, masks, _ = _binary_out({}, [0.0, 1.0, float("nan")], tf.float32)
    assert (targets, masks) == ([0, 1, 0], [1, 1, 0])
