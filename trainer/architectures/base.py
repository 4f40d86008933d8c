"""Base class of multi-task architectures: shared input representation in, one tower output per task out.

An architecture builds Keras layers and records three things the trainer needs besides the tower outputs:
- `task_layers`: the layers that belong to one task only (its tower, its experts and gates), so that per-task
  learning rates and gradient surgery know which variables are shared and which are not;
- `gate_layers`: layers whose output is a softmax over experts (logged per epoch: expert collapse is visible);
- `last_shared_layers`: where GradNorm measures each task's gradient norm (empty: all shared variables).
Two optional hooks: `untrained_tasks()` (tasks trained only through others: ESMM) and `extra_losses(outputs)`
(loss terms on the task outputs: AITM's calibrator).
A new architecture is one file: subclass, implement `towers`, add it to the registry.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Set

import tensorflow as tf
import tf_keras

from pipeline import config as cfg


def apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x


class Architecture:
    """Subclasses implement `towers(shared_input, task_names) -> {task: tower output}` with Keras layers."""

    def __init__(self, model_config: cfg.Model, tasks: Optional[Dict[str, cfg.Task]] = None):
        self.config = model_config
        self.tasks = dict(tasks or {})
        self.task_layers: Dict[str, List[tf_keras.layers.Layer]] = defaultdict(list)
        self.gate_layers: List[tf_keras.layers.Layer] = []
        self.last_shared_layers: List[tf_keras.layers.Layer] = []

    def towers(self, shared_input: tf.Tensor, task_names: List[str]) -> Dict[str, tf.Tensor]:
        raise NotImplementedError

    def untrained_tasks(self) -> Set[str]:
        """Tasks whose own loss the training leaves out (still computed, logged and evaluated): ESMM's CVR."""
        return set()

    def extra_losses(self, outputs: Dict[str, tf.Tensor]) -> List[tf.Tensor]:
        """Loss terms on the task outputs (symbolic), added to the model's losses: AITM's calibrator."""
        return []

    # ------------------------------------------------------------------------------------ building blocks
    def dense_stack(self, units: Sequence[int], name: str, task: Optional[str] = None) -> List[tf_keras.layers.Layer]:
        """ReLU Dense layers (+ dropout), owned by `task` when given."""
        layers = []
        for i, width in enumerate(units):
            layers.append(tf_keras.layers.Dense(width, activation="relu", name=f"{name}_{i}"))
            if self.config.dropout:
                layers.append(tf_keras.layers.Dropout(self.config.dropout, name=f"{name}_dropout_{i}"))
        if task is not None:
            self.task_layers[task].extend(layers)
        return layers

    def tower(self, task: str, x: tf.Tensor) -> tf.Tensor:
        """The task's own MLP (`tower_units`) on top of its input."""
        return apply(self.dense_stack(self.config.tower_units, f"{task}_tower", task), x)

    def expert(self, name: str, x: tf.Tensor, task: Optional[str] = None, last_shared: bool = False) -> tf.Tensor:
        """One expert MLP (`expert_units`); `last_shared` marks its last Dense layer for GradNorm."""
        layers = self.dense_stack(self.config.expert_layers, name, task)
        if last_shared:
            self.last_shared_layers.append(last_dense(layers))
        return apply(layers, x)

    def gate(self, name: str, x: tf.Tensor, experts: List[tf.Tensor], task: Optional[str] = None) -> tf.Tensor:
        """Softmax gate over experts (Ma et al. 2018): sum_e softmax(W x)_e * expert_e."""
        layer = tf_keras.layers.Dense(len(experts), activation="softmax", name=name)
        self.gate_layers.append(layer)
        if task is not None:
            self.task_layers[task].append(layer)
        return MixExperts(name=f"{name}_mix")([layer(x), *experts])


def last_dense(layers: Sequence[tf_keras.layers.Layer]) -> tf_keras.layers.Layer:
    return [layer for layer in layers if isinstance(layer, tf_keras.layers.Dense)][-1]


class MixExperts(tf_keras.layers.Layer):
    """[gate weights [B, E], expert_1 [B, D], ..., expert_E [B, D]] -> gate-weighted sum [B, D]."""

    def call(self, inputs):
        weights, experts = inputs[0], tf.stack(inputs[1:], axis=1)
        return tf.einsum("be,bed->bd", weights, experts)


def build_architecture(model_config: cfg.Model, tasks: Optional[Dict[str, cfg.Task]] = None) -> Architecture:
    from trainer.architectures import REGISTRY

    return REGISTRY[model_config.architecture](model_config, tasks)
