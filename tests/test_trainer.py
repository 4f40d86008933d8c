"""The multi-task model on tiny transformed data: every task type builds, trains, masks missing labels."""
import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg
from trainer import heads
from trainer.model import Vocabularies, build_model

CONFIG = cfg.parse_config({
    "name": "tiny", "data": {"train": "x.csv"},
    "features": {"age": {"type": "numeric"}, "city": {"type": "categorical"},
                 "msg": {"type": "text", "max_tokens": 3}},
    "tasks": {"churn": {"type": "binary", "label": "churned", "weight": 2.0},
              "intent": {"type": "multiclass", "label": "intent"},
              "keywords": {"type": "multilabel", "label": "keywords"},
              "minutes": {"type": "regression", "label": "minutes"}},
    "model": {"shared_units": [8], "tower_units": [4]},
    "training": {"batch_size": 4, "learning_rate": 0.01},
})
VOCABS = Vocabularies({"city": 3, "msg": 6}, {"intent": ["a", "b", "c"], "keywords": ["x", "y"]})
N = 8


def batch(missing_churn=()):
    rng = np.random.default_rng(0)
    features = {"age": tf.constant(rng.normal(size=N), tf.float32),
                "city": tf.constant(rng.integers(0, 3, N), tf.int64),
                "msg": tf.constant(rng.integers(0, 6, (N, 3)), tf.int64)}
    targets = {"churn": tf.constant(rng.integers(0, 2, N), tf.int64),
               "intent": tf.constant(rng.integers(0, 3, N), tf.int64),
               "keywords": tf.sparse.from_dense(tf.constant(rng.integers(-1, 2, (N, 2)), tf.int64) + 0),
               "minutes": tf.constant(rng.normal(size=N), tf.float32)}
    masks = {name: tf.ones(N) for name in CONFIG.tasks}
    masks["churn"] = tf.constant([0.0 if i in missing_churn else 1.0 for i in range(N)])
    return features, targets, masks


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
