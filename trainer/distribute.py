"""tf.distribute for the Trainer (`training.distribution`): the strategy, and gradient averaging across replicas.

The custom train step (trainer/model.py) averages every gradient over replicas itself (`mean_over_replicas`)
before clipping, gradient surgery and GradNorm's norms, and then applies it with the optimizers' own
aggregation skipped. Each replica's update is therefore the one a single device would make on the whole
global batch, up to the masked means being taken per replica. The same code runs unchanged with no
strategy (one replica: averaging is a no-op).
"""
from __future__ import annotations

import json
import os
from typing import List, Optional

import tensorflow as tf

from pipeline import config as cfg


def strategy(config: cfg.Config) -> tf.distribute.Strategy:
    """mirrored: every local GPU (the CPU when there is none); multi_worker: the cluster in TF_CONFIG (one
    worker alone when unset); none: the default strategy."""
    kind = config.training.distribution
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """Whether this process writes the model: the chief, or worker 0 of a cluster without one (TF_CONFIG)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and "chief" not in tf_config.get(
        "cluster", {})


def replicas() -> int:
    return tf.distribute.get_strategy().num_replicas_in_sync


def mean_over_replicas(gradients: List[Optional[tf.Tensor]]) -> List[Optional[tf.Tensor]]:
    """Each gradient averaged over replicas (None stays None). Called inside the replica function."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return list(gradients)
    present = [i for i, g in enumerate(gradients) if g is not None]
    reduced = context.all_reduce(tf.distribute.ReduceOp.MEAN, [gradients[i] for i in present]) if present else []
    out = list(gradients)
    for i, g in zip(present, reduced):
        out[i] = g
    return out
