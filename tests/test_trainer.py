"""The multi-task model on tiny transformed data: every task type builds, trains, masks missing labels."""
import re

import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg
from trainer import heads
from trainer.model import build_model
from helpers.tiny_trainer import CONFIG, N, VOCABS, batch  # noqa: F401


def test_outputs_are_named_after_tasks_with_the_right_shapes():
    model = build_model(CONFIG, VOCABS)
    outputs = model(batch()[0])
    assert set(outputs) == set(CONFIG.tasks)
    assert outputs["churn"].shape == (N, 1) and outputs["minutes"].shape == (N, 1)
    assert outputs["intent"].shape == (N, 3) and outputs["keywords"].shape == (N, 2)
    np.testing.assert_allclose(tf.reduce_sum(outputs["intent"], axis=1), np.ones(N), rtol=1e-5)


def test_few_steps_reduce_the_loss_and_report_each_task():
    model = build_model(CONFIG, VOCABS)
    data = tf.data.Dataset.from_tensors(batch()).repeat(30)
    history = model.fit(data, epochs=2, verbose=0).history
    for name in CONFIG.tasks:
        assert f"{name}_loss" in history and f"{name}_weight" in history
    assert history["churn_weight"][-1] == pytest.approx(2.0)
    assert history["loss"][-1] < history["loss"][0]


def test_masked_rows_do_not_count_in_the_loss():
    model = build_model(CONFIG, VOCABS)
    features, targets, masks = batch(missing_churn=(0, 1, 2))
    outputs = model(features)
    task = CONFIG.tasks["churn"]
    target = heads.prepare_target(task, targets["churn"], 1)
    masked = heads.masked_loss(task, target, outputs["churn"], masks["churn"])
    # Garbage targets on the masked rows must not change the loss.
    flipped = heads.prepare_target(task, tf.tensor_scatter_nd_update(targets["churn"], [[0], [1], [2]],
                                                                     1 - targets["churn"][:3]), 1)
    assert float(heads.masked_loss(task, flipped, outputs["churn"], masks["churn"])) == pytest.approx(float(masked))
    present = heads.masked_loss(task, target[3:], outputs["churn"][3:], tf.ones(N - 3))
    assert float(masked) == pytest.approx(float(present), rel=1e-6)
    assert float(heads.masked_loss(task, target, outputs["churn"], tf.zeros(N))) == 0.0


def test_multilabel_target_becomes_multi_hot():
    task = CONFIG.tasks["keywords"]
    ids = tf.sparse.from_dense(tf.constant([[1, 0], [0, 0]], tf.int64))  # row 0: {1, 0}; row 1: {} (zeros dropped)
    dense = heads.prepare_target(task, tf.sparse.SparseTensor(ids.indices, ids.values, ids.dense_shape), 2)
    np.testing.assert_array_equal(dense.numpy(), [[0, 1], [0, 0]])
    empty = tf.sparse.SparseTensor(tf.zeros([0, 2], tf.int64), tf.zeros([0], tf.int64), [3, 0])  # no labels at all
    np.testing.assert_array_equal(heads.prepare_target(task, empty, 2).numpy(), np.zeros((3, 2)))


def test_decoded_labels():
    intent, keywords, churn = CONFIG.tasks["intent"], CONFIG.tasks["keywords"], CONFIG.tasks["churn"]
    assert heads.decode(intent, tf.constant([[0.1, 0.7, 0.2]]), ["a", "b", "c"]).numpy().tolist() == [b"b"]
    assert heads.decode(keywords, tf.constant([[0.9, 0.6], [0.1, 0.2]]), ["x", "y"]).numpy().tolist() == [
        b"x|y", b""]
    assert heads.decode(churn, tf.constant([[0.2], [0.8]]), []).numpy().tolist() == [b"0", b"1"]


def test_registries_match_the_config_contract():
    from trainer.architectures import REGISTRY as ARCHITECTURES
    from trainer.weighting import REGISTRY as WEIGHTINGS

    assert tuple(ARCHITECTURES) == cfg.ARCHITECTURES and tuple(WEIGHTINGS) == cfg.LOSS_WEIGHTINGS
    assert set(heads.HEADS) == set(cfg.TASK_TYPES)


def test_non_finite_loss_stops_training_with_a_clear_error(tmp_path):
    from trainer.run import EpochLog, TrainingDiverged

    model = build_model(CONFIG, VOCABS)
    features, targets, masks = batch()
    features["age"] = tf.fill([N], float("nan"))
    data = tf.data.Dataset.from_tensors((features, targets, masks)).repeat(2)
    # NaN inputs poison the first layer's weights; whether the loss shows it depends on the CPU (ReLU of NaN).
    with pytest.raises(TrainingDiverged, match="training diverged at epoch 1: non-finite (loss|weights in shared_0)"):
        model.fit(data, epochs=2, verbose=0, callbacks=[EpochLog(CONFIG.tasks, str(tmp_path / "history.json"))])


def test_non_finite_loss_names_the_losses(tmp_path):
    from trainer.run import EpochLog, TrainingDiverged

    log = EpochLog(CONFIG.tasks, str(tmp_path / "history.json"))
    log.set_model(build_model(CONFIG, VOCABS))
    with pytest.raises(TrainingDiverged, match=r"epoch 3: non-finite loss in {'churn_loss': inf}"):
        log.on_epoch_end(2, {"loss": 1.0, "churn_loss": float("inf"), "churn_auc": float("nan")})


def test_binary_label_names_are_the_datas_own_values():
    sex = cfg.Task(type="binary", label="sex", positive="male")
    assert heads.binary_label_names(sex, ["female", "male"]) == ["female", "male"]  # not "not male"
    assert heads.binary_label_names(sex, ["male", "female", "NA"]) == ["female", "male"]  # Transform's negative
    assert heads.binary_label_names(sex, []) == ["not male", "male"]  # no vocabulary (an old transform graph)
    one = cfg.Task(type="binary", label="sex", positive="male", negative="female")
    rest = cfg.Task(type="binary", label="m", positive="Never married", negative=["Divorced", "Widowed"])
    assert heads.binary_label_names(one) == ["female", "male"]
    assert heads.binary_label_names(rest) == ["not Never married", "Never married"]  # one vs. several
    assert heads.decode(sex, tf.constant([[0.2], [0.8]]), ["female", "male"]).numpy().tolist() == [b"female", b"male"]


def test_regression_loss_is_divided_by_the_label_variance():
    """Each task's loss starts near 1 whatever its label's units: with loss mse, the squared error over std**2,
    masked rows out (the default huber is 0.5 * that within one std: tests/test_regression_losses.py)."""
    minutes = CONFIG.tasks["minutes"].model_copy(update={"loss": "mse"})
    target = tf.constant([[10.0], [20.0], [30.0], [1000.0]])
    output = tf.constant([[12.0], [17.0], [30.0], [0.0]])
    mask = tf.constant([1.0, 1.0, 1.0, 0.0])
    expected = (4.0 + 9.0 + 0.0) / 3 / 5.0 ** 2
    assert float(heads.masked_loss(minutes, target, output, mask, label_std=5.0)) == pytest.approx(expected)
    assert float(heads.masked_loss(minutes, target, output, mask)) == pytest.approx(13.0 / 3)
    churn = CONFIG.tasks["churn"]  # classification losses are not scaled
    probabilities = tf.constant([[0.9], [0.2]])
    labels = tf.constant([[1.0], [0.0]])
    assert float(heads.masked_loss(churn, labels, probabilities, tf.ones(2), label_std=5.0)) == pytest.approx(
        float(heads.masked_loss(churn, labels, probabilities, tf.ones(2))))


# ------------------------------------------------------------------ serving: numbers as int64 or float
def _example(**values):
    example = tf.train.Example()
    for key, value in values.items():
        feature = example.features.feature[key]
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, list):
            feature.float_list.value.extend(value)
        elif isinstance(value, int):
            feature.int64_list.value.append(value)
        elif isinstance(value, float):
            feature.float_list.value.append(value)
        else:
            feature.bytes_list.value.append(value.encode())
    return example.SerializeToString()


SPEC = {"flipper": tf.io.FixedLenFeature([1], tf.float32), "mass": tf.io.VarLenFeature(tf.float32),
        "year": tf.io.VarLenFeature(tf.int64), "island": tf.io.VarLenFeature(tf.string)}


def _parse(serialized):
    from trainer.parsing import parse_examples

    return tf.function(lambda s: parse_examples(s, SPEC, ["flipper", "mass", "year"]))(tf.constant(serialized))


def test_numeric_features_parse_from_int64_or_float_lists():
    parsed = _parse([_example(flipper=217, mass=3750, year=2007, island="Dream"),
                     _example(flipper=217.0, mass=3750.5, year=2008.0), _example(flipper=181.5)])
    assert parsed["flipper"].numpy().tolist() == [[217.0], [217.0], [181.5]]
    assert parsed["mass"].indices.numpy().tolist() == [[0, 0], [1, 0]] and parsed["mass"].values.numpy().tolist() \
        == [3750.0, 3750.5] and parsed["mass"].dense_shape.numpy().tolist() == [3, 1]
    assert parsed["year"].values.dtype == tf.int64 and parsed["year"].values.numpy().tolist() == [2007, 2008]
    assert parsed["island"].values.numpy().tolist() == [b"Dream"]
    same = tf.io.parse_example(tf.constant([_example(flipper=217.0, mass=3750.5, year=2008, island="x")]), SPEC)
    again = _parse([_example(flipper=217.0, mass=3750.5, year=2008, island="x")])
    for name in SPEC:  # the same tensors as parse_example where the kinds match
        a, b = same[name], again[name]
        assert tf.sparse.to_dense(a).numpy().tolist() == tf.sparse.to_dense(b).numpy().tolist() if \
            isinstance(a, tf.SparseTensor) else a.numpy().tolist() == b.numpy().tolist()


@pytest.mark.parametrize("example, message", [
    (_example(flipper="217"), "Feature: flipper expects a number (int64_list or float_list), got text"),
    (_example(flipper=[1.0, 2.0]), "Feature: flipper expects one number per example, got several"),
    (_example(flipper=1.0, year=2007.5), "Feature: year expects a whole number"),
    (_example(mass=1.0), "Feature: flipper (data type: float32) is required but could not be found."),
    (b"not an example", "Could not parse example input"),
], ids=["text", "several", "fraction", "absent", "not-an-example"])  # serialized maps have no fixed byte order
def test_unreadable_numbers_are_named_invalid_arguments(example, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        _parse([example])
