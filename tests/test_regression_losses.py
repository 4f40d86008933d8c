"""`tasks.X.loss` of a regression task: each loss on known errors (in label standard deviations), the default
(huber, delta 1 std), and the config refusing keys that the task or its loss does not read."""
import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg
from trainer import heads


def task(**keys):
    return cfg.Task(type="regression", label="y", **keys)


TARGET = tf.constant([[10.0], [10.0], [10.0], [10.0]])
OUTPUT = tf.constant([[10.0], [12.0], [4.0], [30.0]])  # errors in std 2: 0, -1, 3, -10
MASK = tf.constant([1.0, 1.0, 1.0, 0.0])  # the last row has no label


@pytest.mark.parametrize("keys, per_row", [
    ({}, [0.0, 0.5, 2.5]),  # the default: huber, delta 1
    ({"loss": "mse"}, [0.0, 1.0, 9.0]),
    ({"loss": "mae"}, [0.0, 1.0, 3.0]),
    ({"loss": "huber"}, [0.0, 0.5, 2.5]),  # delta 1: 0.5 e^2 inside, |e| - 0.5 beyond
    ({"loss": "huber", "huber_delta": 2.0}, [0.0, 0.5, 4.0]),  # 2 * (3 - 1)
    ({"loss": "quantile"}, [0.0, 0.5, 1.5]),  # the median: half the absolute error
    ({"loss": "quantile", "quantile": 0.9}, [0.0, 0.1, 2.7]),  # over-predicting (error < 0) costs 0.1, under 0.9
])
def test_each_loss_on_known_errors(keys, per_row):
    found = float(heads.masked_loss(task(**keys), TARGET, OUTPUT, MASK, label_std=2.0))
    assert found == pytest.approx(np.mean(per_row), rel=1e-6)


def test_the_default_is_huber_with_delta_one_label_std():
    assert task().regression_loss == "huber"
    default = float(heads.masked_loss(task(), TARGET, OUTPUT, MASK, 2.0))
    assert default == pytest.approx(float(heads.masked_loss(task(loss="huber", huber_delta=1.0), TARGET, OUTPUT,
                                                            MASK, 2.0)))
    assert default != pytest.approx(float(heads.masked_loss(task(loss="mse"), TARGET, OUTPUT, MASK, 2.0)))


@pytest.mark.parametrize("raw, message", [
    ({"type": "binary", "label": "y", "loss": "huber"}, "loss: only regression tasks choose a loss"),
    ({"type": "regression", "label": "y", "loss": "mse", "huber_delta": 2.0},
     "huber_delta: only `loss: huber` reads it \\(loss is mse\\)"),
    ({"type": "regression", "label": "y", "loss": "mae", "quantile": 0.9}, "quantile: only `loss: quantile`"),
    ({"type": "regression", "label": "y", "loss": "quantile", "quantile": 1.0}, "quantile"),
    ({"type": "regression", "label": "y", "loss": "l1"}, "loss"),
])
def test_keys_the_task_or_its_loss_does_not_read_are_refused(raw, message):
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.parse_config({"name": "t", "data": {"train": "x.csv"}, "features": {"a": {"type": "numeric"}},
                          "tasks": {"t": raw}})
