"""A tiny config with every task type, its vocabularies and one batch of transformed-like tensors: the
trainer, weighting, architecture and distribution tests share them."""
import numpy as np
import tensorflow as tf

from pipeline import config as cfg
from trainer.model import Vocabularies

CONFIG = cfg.parse_config({
    "name": "tiny", "data": {"train": "x.csv"},
    "features": {"age": {"type": "numeric"}, "city": {"type": "categorical"},
                 "msg": {"type": "text", "max_tokens": 3}},
    "tasks": {"churn": {"type": "binary", "label": "churned", "weight": 2.0},
              "intent": {"type": "multiclass", "label": "intent"},
              "keywords": {"type": "multilabel", "label": "keywords"},
              "minutes": {"type": "regression", "label": "minutes"}},
    "model": {"shared_units": [8], "tower_units": [4]},
    "training": {"batch_size": 4, "learning_rate": 0.01},
})


VOCABS = Vocabularies({"city": 3, "msg": 6}, {"intent": ["a", "b", "c"], "keywords": ["x", "y"]})


N = 8


def batch(missing_churn=()):
    rng = np.random.default_rng(0)
    features = {"age": tf.constant(rng.normal(size=N), tf.float32), "age__missing": tf.zeros(N),
                "city": tf.constant(rng.integers(0, 3, N), tf.int64),
                "msg": tf.constant(rng.integers(0, 6, (N, 3)), tf.int64)}
    targets = {"churn": tf.constant(rng.integers(0, 2, N), tf.int64),
               "intent": tf.constant(rng.integers(0, 3, N), tf.int64),
               "keywords": tf.sparse.from_dense(tf.constant(rng.integers(-1, 2, (N, 2)), tf.int64) + 0),
               "minutes": tf.constant(rng.normal(size=N), tf.float32)}
    masks = {name: tf.ones(N) for name in CONFIG.tasks}
    masks["churn"] = tf.constant([0.0 if i in missing_churn else 1.0 for i in range(N)])
    return features, targets, masks
