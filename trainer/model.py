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
from pipeline.core import kinds, tags
from trainer import heads, tagging
from trainer.architectures import build_architecture
from trainer.architectures.base import apply
from trainer.distribute import mean_over_replicas
from trainer.inputs import encode, feature_inputs, input_keys
from trainer.weighting import SURGERIES, build_weighting


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
            if feature.type in cfg.VOCABULARY_TYPES:
                size = tf_transform_output.vocabulary_size_by_name(cfg.feature_vocab_name(name))
                sizes[name] = size + feature.oov_buckets + (1 if feature.type == "text" else 0)
            elif feature.type == "cross":
                sizes[name] = feature.buckets
        classes = {}
        for name, task in config.tasks.items():
            if task.classes:
                classes[name] = list(task.classes)
            elif kinds.kind(task.type).label_vocabulary:
                words = tf_transform_output.vocabulary_by_name(cfg.label_vocab_name(name))
                classes[name] = [w.decode("utf-8", "replace") if isinstance(w, bytes) else w for w in words]
                if task.type == "sequence_tagging":  # the vocabulary holds span types: tag id -> tag
                    classes[name] = tags.tag_names(classes[name])
        return cls(sizes, classes)


# The train and test steps branch only on Python values (config, registries), never on tensors, so they are traced
# as written: AutoGraph would otherwise rewrite every function they reach, tf_keras's losses, metrics and
# optimizers included (a package outside TensorFlow, so AutoGraph converts it), which took ~25 s per model.
_TRACED_AS_WRITTEN = tf.autograph.experimental.do_not_convert


class MultiTaskModel(tf_keras.Model):
    """Functional model plus a masked, weighted multi-task train/test step.

    Logged per epoch: `loss`, the prior-weighted sum of task losses (sum_i weight_i * L_i: the same objective
    whatever the loss weighting, so it is comparable across methods and drives early stopping),
    `weighted_loss` (what the weighting method optimizes), and per task its loss, weight and metric.
    """

    def configure(self, config: cfg.Config, vocabularies: Vocabularies, architecture):
        self.mtl_config = config
        self.vocabularies = vocabularies
        untrained = architecture.untrained_tasks()
        self.trained_tasks = [n for n in config.tasks if n not in untrained]
        self.weighting = build_weighting({n: config.tasks[n] for n in self.trained_tasks}, config.training)
        names = list(config.tasks)
        self.task_layer_names = {n: [layer.name for layer in layers]
                                 for n, layers in architecture.task_layers.items()}
        self.gate_layer_names = [layer.name for layer in architecture.gate_layers]
        self.last_shared_layer_names = [layer.name for layer in architecture.last_shared_layers]
        self.task_loss_trackers = {n: tf_keras.metrics.Mean(name=f"{n}_loss") for n in names}
        self.task_weight_trackers = {n: tf_keras.metrics.Mean(name=f"{n}_weight") for n in names}
        self.task_metrics = {n: heads.HEADS[t.type].metric(n) for n, t in config.tasks.items()}
        self.total_loss_tracker = tf_keras.metrics.Mean(name="loss")
        self.weighted_loss_tracker = tf_keras.metrics.Mean(name="weighted_loss")
        self.task_optimizers = {n: tf_keras.optimizers.Adam(learning_rate=t.learning_rate)
                                for n, t in config.tasks.items() if t.learning_rate is not None}

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.weighted_loss_tracker, *self.task_loss_trackers.values(),
                *self.task_weight_trackers.values(), *self.task_metrics.values()]

    # ------------------------------------------------------------------------------- variable groups
    def task_variables(self, task: str) -> List[tf.Variable]:
        """Trainable variables that belong to one task only (its tower, head, own experts and gates)."""
        return [v for name in self.task_layer_names.get(task, []) for v in self.get_layer(name).trainable_weights]

    def shared_variables(self) -> List[tf.Variable]:
        """Model variables that several tasks train (input embeddings, shared layers and experts, mixing)."""
        owned = {v.ref() for task in self.mtl_config.tasks for v in self.task_variables(task)}
        weighting = {v.ref() for v in self.weighting.trainable_variables}
        return [v for v in self.trainable_variables if v.ref() not in owned and v.ref() not in weighting]

    def last_shared_variables(self) -> List[tf.Variable]:
        """Where GradNorm measures gradient norms: the architecture's last shared layer(s), else every shared
        variable."""
        found = [v for name in self.last_shared_layer_names for v in self.get_layer(name).trainable_weights]
        return found or self.shared_variables()

    # ------------------------------------------------------------------------------------ train / test
    def _task_losses(self, data, training: bool):
        features, targets, masks = data
        outputs = self(features, training=training)
        losses = {}
        for name, task in self.mtl_config.tasks.items():
            target = heads.prepare_target(task, targets[name], self.vocabularies.num_classes(name))
            crf = self.get_layer(name) if task.type == "sequence_tagging" and task.crf else None
            losses[name] = heads.masked_loss(task, target, outputs[name], masks[name],
                                             self.vocabularies.stats(name)[1], crf)
            self.task_metrics[name].update_state(target, outputs[name], sample_weight=masks[name])
        return losses

    def _record(self, weighted_total, losses, weights):
        """`loss` sums the trained tasks' losses (an untrained task's loss is logged, with weight 0)."""
        prior = {n: t.weight for n, t in self.mtl_config.tasks.items()}
        self.total_loss_tracker.update_state(tf.add_n([prior[n] * losses[n] for n in self.trained_tasks]))
        self.weighted_loss_tracker.update_state(weighted_total)
        for name in losses:
            self.task_loss_trackers[name].update_state(losses[name])
            self.task_weight_trackers[name].update_state(weights.get(name, 0.0))
        return {m.name: m.result() for m in self.metrics}

    def _trained(self, losses):
        return {n: losses[n] for n in self.trained_tasks}

    @_TRACED_AS_WRITTEN
    def train_step(self, data):
        surgery = self.mtl_config.training.gradient_surgery
        per_task = surgery is not None or self.weighting.needs_gradient_norms
        with tf.GradientTape(persistent=per_task) as tape:
            losses = self._task_losses(data, training=True)
            trained = self._trained(losses)
            total, weights = self.weighting.combine(trained)
            if self.losses:
                total += tf.add_n(self.losses)
            weighted = {n: weights[n] * trained[n] for n in trained}  # on the tape: surgery differentiates these
        variables = self.trainable_variables
        if surgery is None:
            gradients = mean_over_replicas(tape.gradient(total, variables))
        else:
            gradients = self._surgery_gradients(tape, surgery, total, weighted, variables)
        if self.weighting.needs_gradient_norms:
            last_shared = self.last_shared_variables()
            norms = {n: tf.linalg.global_norm([g for g in mean_over_replicas(tape.gradient(trained[n], last_shared))
                                               if g is not None]) for n in trained}
            self.weighting.update(trained, norms)
        del tape
        self._apply(gradients, variables)
        return self._record(total, losses, weights)

    def _surgery_gradients(self, tape, surgery, total, weighted_losses, variables):
        """Shared variables: the surgery's combination of per-task weighted gradients (plus any model
        regularization); everything else: the plain gradient of the total loss. The weighted losses must have
        been computed on the (persistent) tape."""
        shared = self.shared_variables()
        shared_refs = {v.ref() for v in shared}
        rest = [v for v in variables if v.ref() not in shared_refs]
        per_task = [mean_over_replicas(tape.gradient(loss, shared)) for loss in weighted_losses.values()]
        combined = SURGERIES[surgery](per_task, shared, seed=self.mtl_config.training.seed)
        if self.losses:
            extra = mean_over_replicas(tape.gradient(tf.add_n(self.losses), shared))
            combined = [c + tf.convert_to_tensor(e) if e is not None else c for c, e in zip(combined, extra)]
        by_ref = dict(zip([v.ref() for v in shared], combined))
        by_ref.update(zip([v.ref() for v in rest], mean_over_replicas(tape.gradient(total, rest))))
        return [by_ref[v.ref()] for v in variables]

    def _apply(self, gradients, variables):
        """Global-norm clipping (training.clipnorm), then each task with its own learning rate gets its own
        optimizer for its own variables (Adam ignores a gradient's scale, so scaling gradients would not do).
        Gradients arrive averaged over replicas already: the optimizers must not aggregate them again."""
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        if self.mtl_config.training.clipnorm and pairs:
            clipped, _ = tf.clip_by_global_norm([g for g, _ in pairs], self.mtl_config.training.clipnorm)
            pairs = list(zip(clipped, [v for _, v in pairs]))
        groups = {n: {v.ref() for v in self.task_variables(n)} for n in self.task_optimizers}
        for name, optimizer in self.task_optimizers.items():
            own = [(g, v) for g, v in pairs if v.ref() in groups[name]]
            if own:
                optimizer.apply_gradients(own, skip_gradients_aggregation=True)
        claimed = set().union(*groups.values()) if groups else set()
        self.optimizer.apply_gradients([(g, v) for g, v in pairs if v.ref() not in claimed],
                                       skip_gradients_aggregation=True)

    @_TRACED_AS_WRITTEN
    def test_step(self, data):
        losses = self._task_losses(data, training=False)
        total, weights = self.weighting.combine(self._trained(losses))
        return self._record(total, losses, weights)

    def fit(self, *args, callbacks=None, **kwargs):
        """Keras fit, plus the loss weighting's end-of-epoch hook (DWA) on every epoch."""
        return super().fit(*args, callbacks=[*(callbacks or []), _WeightingEpochEnd()], **kwargs)


class _WeightingEpochEnd(tf_keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.model.weighting.end_epoch({n: logs[f"{n}_loss"] for n in self.model.trained_tasks
                                        if f"{n}_loss" in logs})


def build_model(config: cfg.Config, vocabularies: Vocabularies) -> MultiTaskModel:
    inputs = feature_inputs(config)
    token_states = {}
    encoded = encode(config, inputs, vocabularies.feature_sizes, token_states)
    architecture = build_architecture(config.model, config.tasks)
    towers = architecture.towers(encoded, [n for n, t in config.tasks.items() if not t.product_of])
    outputs = {}
    for name, task in sorted(config.tasks.items(), key=lambda item: bool(item[1].product_of)):
        if task.product_of:  # ESMM's pCTCVR: the product of its factors' probabilities, no tower or head
            product = tf_keras.layers.Multiply(name=name)
            architecture.task_layers[name].append(product)
            outputs[name] = product([outputs[factor] for factor in task.product_of])
            continue
        layers = heads.output_layers(name, task, vocabularies.num_classes(name), vocabularies.stats(name))
        tower = towers[name]
        if task.type == "sequence_tagging":  # per token: the text's encoder state and the task's tower output
            features = tagging.TokenFeatures(name=f"{name}_token_features")
            architecture.task_layers[name].append(features)
            tower = features([token_states[task.tokens_of], tower])
        architecture.task_layers[name].extend(layers)
        outputs[name] = apply(layers, tower)
    outputs = {name: outputs[name] for name in config.tasks}  # the config's order
    model = MultiTaskModel(inputs=inputs, outputs=outputs, name=config.name.replace("-", "_"))
    for extra in architecture.extra_losses(outputs):
        model.add_loss(extra)
    model.configure(config, vocabularies, architecture)
    optimizer = tf_keras.optimizers.Adam(learning_rate=config.training.learning_rate)
    # Batches are (features, targets, masks): Keras reads the masks as sample weights and warns on every
    # evaluation step unless weighted metrics are declared (the step functions apply the masks themselves).
    model.compile(optimizer=optimizer, weighted_metrics=[])
    return model


def regression_label_stats(config: cfg.Config, dataset) -> Dict[str, Tuple[float, float]]:
    """(mean, std) of each regression task's present labels, from one pass over the (features, targets,
    masks) training dataset."""
    names = [n for n, t in config.tasks.items() if kinds.kind(t.type).predicts == "value"]
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
        features = {key: batch[key] for key in input_keys(config)}
        targets = {name: batch[cfg.label_key(name)] for name in config.tasks}
        masks = {name: batch[cfg.mask_key(name)] for name in config.tasks}
        return features, targets, masks
    return split
