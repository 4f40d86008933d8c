"""Base class of multi-task architectures: shared input representation in, one tower output per task out."""
from __future__ import annotations

from typing import Dict, List, Sequence

import tensorflow as tf
import tf_keras

from pipeline import config as cfg


def dense_stack(units: Sequence[int], name: str, dropout: float = 0.0) -> List[tf_keras.layers.Layer]:
    layers = []
    for i, width in enumerate(units):
        layers.append(tf_keras.layers.Dense(width, activation="relu", name=f"{name}_{i}"))
        if dropout:
            layers.append(tf_keras.layers.Dropout(dropout, name=f"{name}_dropout_{i}"))
    return layers


def apply(layers, x):
    for layer in layers:
        x = layer(x)
    return x


class Architecture:
    """Subclasses implement `towers(shared_input, task_names) -> {task: tower output}` with Keras layers."""

    def __init__(self, model_config: cfg.Model):
        self.config = model_config

    def towers(self, shared_input: tf.Tensor, task_names: List[str]) -> Dict[str, tf.Tensor]:
        raise NotImplementedError


def build_architecture(model_config: cfg.Model) -> Architecture:
    from trainer.architectures import REGISTRY

    return REGISTRY[model_config.architecture](model_config)
