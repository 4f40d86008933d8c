"""Base class of loss-weighting methods, and `fixed` (the config's per-task weights)."""
from __future__ import annotations

from typing import Dict

import tensorflow as tf


class LossWeighting:
    """Turns per-task losses into one training loss. Stateful methods keep tf.Variables on the instance."""

    def __init__(self, task_weights: Dict[str, float]):
        self.task_names = list(task_weights)
        self.initial = dict(task_weights)

    def weights(self, losses: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        raise NotImplementedError

    def combine(self, losses: Dict[str, tf.Tensor]):
        """(total loss, {task: weight}) for one step."""
        weights = self.weights(losses)
        total = tf.add_n([weights[name] * losses[name] for name in self.task_names])
        return total, weights


class Fixed(LossWeighting):
    """Constant weights from `tasks.<name>.weight`."""

    def weights(self, losses):
        return {name: tf.constant(self.initial[name], tf.float32) for name in self.task_names}
