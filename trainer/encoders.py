"""Text encoders: token embeddings [B, T, D] and token ids [B, T] (0 = padding) -> per-token states [B, T, H]
(what a sequence-tagging task reading the feature sees) and one pooled vector [B, H] (what sentence-level tasks
see), selected by `features.X.encoder`. Stock TensorFlow ops only, so the exported SavedModel runs in TF Serving.

- `bag` (default): the embeddings themselves as states; the pooled vector is their mean over real tokens.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras

from pipeline import config as cfg


def token_mask(ids: tf.Tensor) -> tf.Tensor:
    """[B, T] bool: real tokens (id > 0)."""
    return ids > 0


def masked_mean(states: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    """Mean of states over real tokens; rows without any (empty text) give zeros."""
    present = tf.cast(token_mask(ids), states.dtype)[..., None]
    return tf.math.divide_no_nan(tf.reduce_sum(states * present, axis=1), tf.reduce_sum(present, axis=1))


class BagEncoder(tf_keras.layers.Layer):
    """No context: states are the token embeddings, pooled is their mean over real tokens."""

    def call(self, inputs):
        embedded, ids = inputs
        return embedded, masked_mean(embedded, ids)


ENCODERS = {"bag": BagEncoder}


def build_encoder(feature: "cfg.TextFeature", name: str) -> tf_keras.layers.Layer:
    """The feature's encoder layer: called on [embedded, ids], returns (states, pooled)."""
    return ENCODERS[getattr(feature, "encoder", None) or "bag"](name=name)
