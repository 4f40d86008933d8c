"""Base class of loss-weighting methods, and `fixed` (the config's per-task weights).

A method turns per-task losses into one training loss. The config's `tasks.<name>.weight` is every method's
prior: `fixed` uses it as is, the others scale or renormalize it. Hooks, all optional:
- `regularization()`: extra loss terms (uncertainty's log-variances);
- `update(losses, gradient_norms)`: once per training step, after gradients (GradNorm); it receives each
  task's gradient norm at the architecture's last shared layer when `needs_gradient_norms` is set;
- `end_epoch(epoch_losses)`: once per epoch with each task's epoch-mean training loss (DWA).
State lives in tf.Variables on the instance (a tf.Module, so it is tracked and saved with the model).
"""
from __future__ import annotations

from typing import Dict

import tensorflow as tf

from pipeline import config as cfg


class LossWeighting(tf.Module):
    needs_gradient_norms = False

    def __init__(self, tasks: Dict[str, cfg.Task], training: cfg.Training):
        super().__init__(name=type(self).__name__.lower())
        self.task_names = list(tasks)
        self.prior = {name: float(task.weight) for name, task in tasks.items()}

    def weights(self, losses: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        raise NotImplementedError

    def regularization(self) -> tf.Tensor:
        return tf.constant(0.0)

    def update(self, losses: Dict[str, tf.Tensor], gradient_norms: Dict[str, tf.Tensor]) -> None:
        pass

    def end_epoch(self, epoch_losses: Dict[str, float]) -> None:
        pass

    def combine(self, losses: Dict[str, tf.Tensor]):
        """(total training loss, {task: weight}) for one step."""
        weights = self.weights(losses)
        total = tf.add_n([weights[name] * losses[name] for name in self.task_names]) + self.regularization()
        return total, weights

    def _prior_vector(self) -> tf.Tensor:
        """The prior weights in task order."""
        return tf.constant([self.prior[n] for n in self.task_names], tf.float32)

    def _normalized_prior(self) -> tf.Tensor:
        """The prior weights rescaled to sum to the number of tasks."""
        prior = self._prior_vector()
        return prior * len(self.task_names) / tf.reduce_sum(prior)

    def _as_dict(self, vector: tf.Tensor) -> Dict[str, tf.Tensor]:
        return {name: vector[i] for i, name in enumerate(self.task_names)}


class Fixed(LossWeighting):
    """Constant weights from `tasks.<name>.weight`."""

    def weights(self, losses):
        return {name: tf.constant(self.prior[name], tf.float32) for name in self.task_names}
