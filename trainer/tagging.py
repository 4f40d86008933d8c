"""The TensorFlow side of sequence-tagging tasks: what the head reads per token, its loss (softmax cross-entropy
or CRF log-likelihood over the tokens that count), its training metric, and the decoding the export serves
(tag ids per token, entity spans by CoNLL rules on the ids of pipeline/core/tags.py)."""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
import tf_keras

from trainer.crf import CRF


def token_mask(target: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """[B, T] float: tokens that count for a tagging task (a tag, not padding, in a labelled row)."""
    return tf.cast(target >= 0, tf.float32) * tf.reshape(tf.cast(mask, tf.float32), [-1, 1])


class TokenAccuracy(tf_keras.metrics.Mean):
    """Share of counted tokens whose most likely tag is right (the training log's metric of tagging tasks)."""

    def update_state(self, target, output, sample_weight=None):
        counted = token_mask(target, sample_weight if sample_weight is not None else tf.ones_like(target[:, 0]))
        right = tf.cast(tf.equal(tf.argmax(output, axis=-1), tf.maximum(target, 0)), tf.float32)
        return super().update_state(right, sample_weight=counted)


class TokenFeatures(tf_keras.layers.Layer):
    """What a tagging head reads per token: the text encoder's state [B, T, H] next to the task's tower output
    [B, U] (the sentence-level, shared representation), repeated over the tokens -> [B, T, H + U]."""

    def call(self, inputs):
        states, tower = inputs
        repeated = tf.repeat(tower[:, None, :], tf.shape(states)[1], axis=1)
        return tf.concat([states, tf.cast(repeated, states.dtype)], axis=-1)


class CRFOutput(CRF):
    """A tagging task's CRF output: the Keras output is the unary potentials [B, T, K] (the loss needs them);
    the layer holds the transitions and decodes the best path for serving and evaluation."""

    def call(self, potentials, mask=None):
        return tf.identity(potentials)

    def decode(self, potentials, mask) -> tf.Tensor:
        return CRF.call(self, potentials, mask)


def tagging_loss(target: tf.Tensor, output: tf.Tensor, mask: tf.Tensor, crf: Optional[CRFOutput] = None):
    """Mean over counted tokens of the per-token cross-entropy, or with a CRF of minus the sequence
    log-likelihood (summed over rows, divided by the counted tokens: the same per-token scale)."""
    counted = token_mask(target, mask)
    gold = tf.maximum(target, 0)
    if crf is None:
        losses = tf_keras.losses.sparse_categorical_crossentropy(gold, output) * counted
    else:
        losses = -crf.log_likelihood(output, gold, counted > 0) * tf.cast(tf.reduce_any(counted > 0, axis=1),
                                                                          output.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.reduce_sum(counted))


def tag_ids(output: tf.Tensor, token_ids: tf.Tensor, crf: Optional[CRFOutput] = None) -> tf.Tensor:
    """Predicted tag id per token [B, T] int64 (argmax, or the CRF's Viterbi path), -1 at padding."""
    real = token_ids > 0
    best = tf.argmax(output, axis=-1) if crf is None else tf.cast(crf.decode(output, real), tf.int64)
    return tf.where(real, best, tf.constant(-1, tf.int64))


def span_strings(ids: tf.Tensor, type_names) -> tf.Tensor:
    """[B] string: each entity of a row's tag ids [B, T] as 'type start end' (token positions, end exclusive),
    joined by ';' in order (CoNLL rules: an I- tag not continuing a span of its type starts one)."""
    tagged = ids > 0
    kind = (ids - 1) // 2
    inside = tagged & tf.equal(ids % 2, 0)
    previous = tf.pad(ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    continues = inside & (previous > 0) & tf.equal((previous - 1) // 2, kind)
    starts = tagged & ~continues
    ends = tagged & ~tf.pad(continues[:, 1:], [[0, 0], [0, 1]], constant_values=False)
    length = tf.shape(ids)[1]
    position = tf.range(length, dtype=tf.int64)
    end_at = tf.where(ends, position[None, :], tf.cast(length, tf.int64))  # [B, T]
    later = position[None, :] >= position[:, None]  # [T(start), T(s)]: s at or after the start
    span_end = tf.reduce_min(tf.where(later[None], end_at[:, None, :], tf.cast(length, tf.int64)), axis=-1)
    names = tf.gather(tf.constant(list(type_names)), tf.maximum(kind, 0))
    text = tf.strings.join([names, tf.strings.as_string(position[None, :] + tf.zeros_like(ids)),
                            tf.strings.as_string(span_end + 1)], separator=" ")
    return tf.strings.reduce_join(tf.ragged.boolean_mask(text, starts), axis=1, separator=";")
