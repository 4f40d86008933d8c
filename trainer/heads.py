"""Task type -> output layer, masked loss, training metric and decoded labels: the TensorFlow side of the
task-kind table (pipeline/core/kinds.py), one HEADS row per kind (tests/test_kinds.py checks they match).

Every head maps a tower output to the task's Keras output (named after the task) and computes a loss that
only counts rows whose label is present (mask 1.0): rows without a label contribute nothing to that task.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import tensorflow as tf
import tf_keras

from pipeline import config as cfg
from pipeline.core import kinds
from trainer.tagging import CRFOutput, TokenAccuracy, tagging_loss


@dataclass(frozen=True)
class Head:
    activation: Optional[str]
    per_example_loss: Optional[Callable[[tf.Tensor, tf.Tensor], tf.Tensor]]  # (target [B, units], output) -> [B];
    # None for kinds that predict a value: their loss is the task's `loss` (REGRESSION_LOSSES) on the standardized error
    metric: Callable[[str], tf_keras.metrics.Metric]


def _bce(y, p):
    return tf_keras.losses.binary_crossentropy(y, p)


def _sparse_ce(y, p):
    return tf_keras.losses.sparse_categorical_crossentropy(tf.reshape(y, [-1]), p)


def _huber(error, task):
    delta = task.huber_delta or 1.0
    size = tf.abs(error)
    return tf.where(size <= delta, 0.5 * tf.square(error), delta * (size - 0.5 * delta))


def _pinball(error, task):
    q = 0.5 if task.quantile is None else task.quantile
    return tf.maximum(q * error, (q - 1.0) * error)


# `tasks.X.loss` of a task predicting a value -> elementwise loss of (target - output) / label std.
REGRESSION_LOSSES = {"mse": lambda e, task: tf.square(e), "mae": lambda e, task: tf.abs(e), "huber": _huber,
                     "quantile": _pinball}


HEADS = {
    "binary": Head("sigmoid", _bce, lambda name: tf_keras.metrics.AUC(name=f"{name}_auc")),
    "multiclass": Head("softmax", _sparse_ce,
                       lambda name: tf_keras.metrics.SparseCategoricalAccuracy(name=f"{name}_accuracy")),
    "multilabel": Head("sigmoid", _bce, lambda name: tf_keras.metrics.AUC(name=f"{name}_auc", multi_label=True)),
    "regression": Head(None, None, lambda name: tf_keras.metrics.MeanAbsoluteError(name=f"{name}_mae")),
    "sequence_tagging": Head("softmax", None, lambda name: TokenAccuracy(name=f"{name}_token_accuracy")),
}


def output_units(task: cfg.Task, num_classes: int) -> int:
    return num_classes if kinds.kind(task.type).label_vocabulary else 1  # one unit per class, or a single one


class Rescale(tf_keras.layers.Layer):
    """y = x * scale + shift with fixed constants: regression heads predict in label units while their
    Dense layer works on a standardized scale."""

    def __init__(self, scale: float, shift: float, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.shift = float(scale), float(shift)

    def call(self, x):
        return x * self.scale + self.shift

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "shift": self.shift}


def output_layers(task_name: str, task: cfg.Task, num_classes: int, label_stats=(0.0, 1.0)):
    """The head's layers, applied in order to a tower output (a tagging task: to TokenFeatures); the last one is
    the Keras output named after the task. Regression heads predict in label units (Dense on a standardized
    scale, then a fixed Rescale); a CRF tagging head ends in the CRFOutput holding the transitions."""
    units = output_units(task, num_classes)
    if task.type == "sequence_tagging" and task.crf:
        return [tf_keras.layers.Dense(units, name=f"{task_name}_potentials"), CRFOutput(units, name=task_name)]
    if kinds.kind(task.type).predicts != "value":
        return [tf_keras.layers.Dense(units, activation=HEADS[task.type].activation, name=task_name)]
    mean, std = label_stats
    return [tf_keras.layers.Dense(units, name=f"{task_name}_standardized"), Rescale(std, mean, name=task_name)]


def prepare_target(task: cfg.Task, target, num_classes: int) -> tf.Tensor:
    """Transformed target -> the dense tensor the head's loss and metric expect ([B, 1] or [B, K])."""
    encoding = kinds.kind(task.type).label_encoding
    if encoding == "tag_ids":  # [B, T] tag ids, -1 where no tag counts
        return tf.cast(target, tf.int64)
    if encoding == "multi_hot":  # sparse label ids -> dense multi-hot
        ids = tf.sparse.to_dense(target, default_value=-1) if isinstance(target, tf.SparseTensor) else target
        return tf.minimum(tf.reduce_sum(tf.one_hot(ids, num_classes, dtype=tf.float32), axis=1), 1.0)
    target = tf.reshape(target, [-1, 1])
    return tf.cast(target, tf.int64 if encoding == "class_id" else tf.float32)


def masked_loss(task: cfg.Task, target: tf.Tensor, output: tf.Tensor, mask: tf.Tensor,
                label_std: float = 1.0, crf: Optional[CRFOutput] = None) -> tf.Tensor:
    """Mean per-example loss over the rows that have a label (0 when the batch has none). A task predicting a
    value is trained on its error in label standard deviations (its `loss`, mse by default), so every task's loss
    starts near 1 whatever the label's units."""
    if kinds.kind(task.type).predicts == "tags":
        return tagging_loss(target, output, mask, crf)
    mask = tf.reshape(tf.cast(mask, tf.float32), [-1])
    if kinds.kind(task.type).predicts == "value":
        error = (target - output) / label_std
        losses = tf.reduce_mean(REGRESSION_LOSSES[task.regression_loss](error, task), axis=-1)
    else:
        losses = HEADS[task.type].per_example_loss(target, output)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * mask), tf.reduce_sum(mask))


def binary_label_names(task: cfg.Task, vocabulary: Sequence[str] = ()) -> List[str]:
    """[negative, positive] label strings of a binary task, as the data spells them: the configured negative
    (`not <positive>` for several), else the training data's other value (its label vocabulary, most frequent
    first: the one Transform takes as negative); "0" and "1" without `positive`."""
    if task.positive is None:
        return ["0", "1"]
    if task.negative:
        return [task.negative[0] if len(task.negative) == 1 else f"not {task.positive}", task.positive]
    other = next((v for v in vocabulary if v != task.positive), None)
    return [other if other is not None else f"not {task.positive}", task.positive]


def decode(task: cfg.Task, output: tf.Tensor, vocabulary: List[str]) -> tf.Tensor:
    """Decoded label string per row: class name, or the `separator`-joined names of labels with p >= 0.5
    (binary: `vocabulary` is the task's label vocabulary, see binary_label_names)."""
    if task.type == "binary":
        names = binary_label_names(task, vocabulary)
        return tf.gather(tf.constant(names), tf.cast(output[:, 0] >= 0.5, tf.int32))
    names = tf.constant(vocabulary if vocabulary else [""])
    if task.type == "multiclass":
        return tf.gather(names, tf.argmax(output, axis=-1))
    if task.type == "multilabel":
        chosen = tf.ragged.boolean_mask(tf.broadcast_to(names, tf.shape(output)), output >= 0.5)
        return tf.strings.reduce_join(chosen, axis=1, separator=task.label_separator)
    if task.type == "sequence_tagging":  # output: tag ids [B, T], -1 at padding
        return tf.where(output >= 0, tf.gather(names, tf.maximum(output, 0)), "")
    raise ValueError(f"regression task has no label to decode ({task})")
