"""PCGrad gradient surgery (Yu et al., NeurIPS 2020), on the shared variables only.

For each task i, its gradient g_i is projected, against every other task j in random order, onto the normal
plane of the *original* g_j whenever they conflict (g_i . g_j < 0): g_i -= (g_i . g_j) / |g_j|^2 * g_j. The
projected gradients are summed. Task-owned variables receive their plain gradients.
"""
from typing import List

import tensorflow as tf


def project_conflicting(gradients: tf.Tensor, seed=None) -> tf.Tensor:
    """[T, D] flat per-task gradients -> [D], the sum of the de-conflicted gradients."""
    count = gradients.shape[0]
    projected = []
    for i in range(count):
        g = gradients[i]
        others = tf.constant([j for j in range(count) if j != i], tf.int32)
        for j in tf.unstack(tf.random.shuffle(others, seed=seed), num=count - 1):
            other = tf.gather(gradients, j)
            dot = tf.reduce_sum(g * other)
            g = tf.where(dot < 0, g - dot / tf.maximum(tf.reduce_sum(other * other), 1e-20) * other, g)
        projected.append(g)
    return tf.add_n(projected)


def flatten(gradients: List, variables: List[tf.Variable]) -> tf.Tensor:
    """One task's gradients (None: zero; IndexedSlices: densified) as a flat vector."""
    parts = []
    for gradient, variable in zip(gradients, variables):
        if gradient is None:
            gradient = tf.zeros_like(variable)
        parts.append(tf.reshape(tf.convert_to_tensor(gradient), [-1]))
    return tf.concat(parts, axis=0)


def unflatten(vector: tf.Tensor, variables: List[tf.Variable]) -> List[tf.Tensor]:
    sizes = [v.shape.num_elements() for v in variables]
    return [tf.reshape(part, v.shape) for part, v in zip(tf.split(vector, sizes), variables)]


def pcgrad(task_gradients: List[List], variables: List[tf.Variable], seed=None) -> List[tf.Tensor]:
    """Per-task gradient lists over `variables` -> one de-conflicted gradient per variable."""
    if len(task_gradients) == 1:
        return [tf.convert_to_tensor(g) if g is not None else tf.zeros_like(v)
                for g, v in zip(task_gradients[0], variables)]
    stacked = tf.stack([flatten(g, variables) for g in task_gradients])
    return unflatten(project_conflicting(stacked, seed), variables)
