"""The multi-task Keras model: transformed features -> input encoders -> architecture -> one head per task.

`MultiTaskModel` owns a custom `train_step` (GradientTape) that computes each task's masked loss, combines
them with the configured loss weighting, and reports per-task losses, weights and metrics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import tensorflow as tf
import tf_keras

from pipeline import config as cfg
from trainer import heads
from trainer.architectures import build_architecture
from trainer.weighting import build_weighting


@dataclass(frozen=True)
class Vocabularies:
    """What the model needs from Transform: id-space sizes of categorical/text features, and class names."""

    feature_sizes: Dict[str, int]  # vocabulary + OOV buckets (+1 padding for text)
    classes: Dict[str, List[str]] = field(default_factory=dict)  # multiclass / multilabel task -> class names
    label_stats: Dict[str, Tuple[float, float]] = field(default_factory=dict)  # regression task -> (mean, std)

    def stats(self, task: str) -> Tuple[float, float]:
        return self.label_stats.get(task, (0.0, 1.0))

    def num_classes(self, task: str) -> int:
        return max(1, len(self.classes.get(task, [])))

    @classmethod
    def from_transform_output(cls, config: cfg.Config, tf_transform_output) -> "Vocabularies":
        sizes = {}
        for name, feature in config.features.items():
            if feature.type in ("categorical", "text"):
                size = tf_transform_output.vocabulary_size_by_name(cfg.feature_vocab_name(name))
                sizes[name] = size + feature.oov_buckets + (1 if feature.type == "text" else 0)
        classes = {}
        for name, task in config.tasks.items():
            if task.classes:
                classes[name] = list(task.classes)
            elif task.type in ("multiclass", "multilabel"):
                words = tf_transform_output.vocabulary_by_name(cfg.label_vocab_name(name))
                classes[name] = [w.decode("utf-8", "replace") if isinstance(w, bytes) else w for w in words]
        return cls(sizes, classes)


def embedding_dim(model_config: cfg.Model, vocabulary_size: int) -> int:
    if model_config.embedding_dim:
        return model_config.embedding_dim
    return max(2, min(64, int(round(6 * vocabulary_size ** 0.25))))


def feature_inputs(config: cfg.Config) -> Dict[str, tf_keras.Input]:
    inputs = {}
    for name, feature in config.features.items():
        if feature.type == "numeric":
            inputs[name] = tf_keras.Input(shape=(), dtype=tf.float32, name=name)
        elif feature.type == "categorical":
            inputs[name] = tf_keras.Input(shape=(), dtype=tf.int64, name=name)
        else:
            inputs[name] = tf_keras.Input(shape=(feature.max_tokens,), dtype=tf.int64, name=name)
    return inputs


def encode(config: cfg.Config, inputs: Dict[str, tf.Tensor], vocabularies: Vocabularies) -> tf.Tensor:
    """Concatenate numerics, categorical embeddings and mean-pooled text embeddings into one vector."""
    parts = []
    numerics = [tf_keras.layers.Reshape((1,))(inputs[n]) for n, f in config.features.items() if f.type == "numeric"]
    if numerics:
        parts.append(numerics[0] if len(numerics) == 1 else tf_keras.layers.Concatenate(name="numerics")(numerics))
    for name, feature in config.features.items():
        if feature.type == "numeric":
            continue
        size = vocabularies.feature_sizes[name]
        layer = tf_keras.layers.Embedding(size, embedding_dim(config.model, size), name=f"{name}_embedding")
        embedded = layer(inputs[name])
        if feature.type == "text":
            embedded = TokenMeanPool(name=f"{name}_pool")([embedded, inputs[name]])
        parts.append(embedded)
    return parts[0] if len(parts) == 1 else tf_keras.layers.Concatenate(name="encoded")(parts)


class TokenMeanPool(tf_keras.layers.Layer):
    """Mean of token embeddings over non-padding ids (id 0); all-padding rows (empty text) give zeros."""

    def call(self, inputs):
        embedded, ids = inputs
        present = tf.cast(ids > 0, embedded.dtype)[..., None]
        return tf.math.divide_no_nan(tf.reduce_sum(embedded * present, axis=1), tf.reduce_sum(present, axis=1))


class MultiTaskModel(tf_keras.Model):
    """Functional model plus a masked, weighted multi-task train/test step."""

    def configure(self, config: cfg.Config, vocabularies: Vocabularies):
        self.mtl_config = config
        self.vocabularies = vocabularies
        self.weighting = build_weighting(config.training.loss_weighting,
                                         {n: t.weight for n, t in config.tasks.items()})
        names = list(config.tasks)
        self.task_loss_trackers = {n: tf_keras.metrics.Mean(name=f"{n}_loss") for n in names}
        self.task_weight_trackers = {n: tf_keras.metrics.Mean(name=f"{n}_weight") for n in names}
        self.task_metrics = {n: heads.HEADS[t.type].metric(n) for n, t in config.tasks.items()}
        self.total_loss_tracker = tf_keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, *self.task_loss_trackers.values(), *self.task_weight_trackers.values(),
                *self.task_metrics.values()]

    def _task_losses(self, data, training: bool):
        features, targets, masks = data
        outputs = self(features, training=training)
        losses = {}
        for name, task in self.mtl_config.tasks.items():
            target = heads.prepare_target(task, targets[name], self.vocabularies.num_classes(name))
            losses[name] = heads.masked_loss(task, target, outputs[name], masks[name],
                                             self.vocabularies.stats(name)[1])
            self.task_metrics[name].update_state(target, outputs[name], sample_weight=masks[name])
        return losses

    def _record(self, total, losses, weights):
        self.total_loss_tracker.update_state(total)
        for name in losses:
            self.task_loss_trackers[name].update_state(losses[name])
            self.task_weight_trackers[name].update_state(weights[name])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            losses = self._task_losses(data, training=True)
            total, weights = self.weighting.combine(losses)
            total += sum(self.losses) if self.losses else 0.0
        gradients = tape.gradient(total, self.trainable_variables)
        self.optimizer.apply_gradients(
            (g, v) for g, v in zip(gradients, self.trainable_variables) if g is not None)
        return self._record(total, losses, weights)

    def test_step(self, data):
        losses = self._task_losses(data, training=False)
        total, weights = self.weighting.combine(losses)
        return self._record(total, losses, weights)


def build_model(config: cfg.Config, vocabularies: Vocabularies) -> MultiTaskModel:
    inputs = feature_inputs(config)
    encoded = encode(config, inputs, vocabularies)
    towers = build_architecture(config.model).towers(encoded, list(config.tasks))
    outputs = {name: heads.output(name, task, vocabularies.num_classes(name), vocabularies.stats(name))(towers[name])
               for name, task in config.tasks.items()}
    model = MultiTaskModel(inputs=inputs, outputs=outputs, name=config.name.replace("-", "_"))
    model.configure(config, vocabularies)
    optimizer = tf_keras.optimizers.Adam(learning_rate=config.training.learning_rate,
                                         clipnorm=config.training.clipnorm)
    model.compile(optimizer=optimizer)
    return model


def regression_label_stats(config: cfg.Config, dataset) -> Dict[str, Tuple[float, float]]:
    """(mean, std) of each regression task's present labels, from one pass over the (features, targets,
    masks) training dataset."""
    names = [n for n, t in config.tasks.items() if t.type == "regression"]
    sums = {n: [0.0, 0.0, 0.0] for n in names}  # count, sum, sum of squares
    if not names:
        return {}
    for _, targets, masks in dataset:
        for name in names:
            y, m = tf.reshape(tf.cast(targets[name], tf.float64), [-1]), tf.reshape(tf.cast(masks[name], tf.float64), [-1])
            sums[name][0] += float(tf.reduce_sum(m))
            sums[name][1] += float(tf.reduce_sum(y * m))
            sums[name][2] += float(tf.reduce_sum(y * y * m))
    stats = {}
    for name, (count, total, squares) in sums.items():
        mean = total / count if count else 0.0
        variance = squares / count - mean ** 2 if count else 1.0
        stats[name] = (mean, max(variance, 1e-12) ** 0.5 if variance > 1e-12 else 1.0)
    return stats


def split_example(config: cfg.Config):
    """Map a transformed-feature dict to (features, targets, masks) keyed by feature / task name."""
    def split(batch):
        features = {name: batch[name] for name in config.features}
        targets = {name: batch[cfg.label_key(name)] for name in config.tasks}
        masks = {name: batch[cfg.mask_key(name)] for name in config.tasks}
        return features, targets, masks
    return split
