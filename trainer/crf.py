"""Linear-chain CRF output for sequence tagging, in stock TensorFlow ops (no tensorflow_addons).

A tag path y over the valid tokens of a sequence scores
``start[y_1] + sum_t potentials[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_last]``; the CRF's
log-likelihood of the gold path is its score minus the log-sum-exp over all paths (the forward algorithm), and
decoding takes the best path (Viterbi). Both run as a tf.scan over time, so the exported graph holds only
While/TensorList ops. A mask [B, T] marks the valid tokens: masked steps are skipped (state carried over, no
transition), so padding anywhere, right padding included, changes nothing; a sequence without a valid token has
score 0, log-partition 0 and a decoded path of `pad_tag` only.

`CRF` is a tf_keras layer holding the transition variables; it decodes in `call` (what serving returns) and
gives the per-sequence log-likelihood for the training loss.
"""
from __future__ import annotations

from typing import Optional, Tuple

import tensorflow as tf
import tf_keras


def _time_major(x: tf.Tensor) -> tf.Tensor:
    perm = [1, 0] + list(range(2, x.shape.rank))
    return tf.transpose(x, perm)


def _mask(potentials: tf.Tensor, mask: Optional[tf.Tensor]) -> tf.Tensor:
    if mask is None:
        return tf.ones(tf.shape(potentials)[:2], dtype=tf.bool)
    return tf.cast(mask, tf.bool)


def sequence_score(potentials: tf.Tensor, tags: tf.Tensor, mask: Optional[tf.Tensor], transitions: tf.Tensor,
                   start: tf.Tensor, end: tf.Tensor) -> tf.Tensor:
    """Score [B] of the tag paths `tags` [B, T] under unary `potentials` [B, T, K] (valid tokens only)."""
    mask = _mask(potentials, mask)
    tags = tf.where(mask, tf.cast(tags, tf.int32), 0)  # padding labels (e.g. -1) are never gathered
    unary = tf.gather(potentials, tags, batch_dims=2)  # [B, T]
    batch = tf.shape(potentials)[0]

    def step(state, inputs):
        score, prev, started = state
        tag, valid, emit = inputs
        moved = tf.where(started, tf.gather_nd(transitions, tf.stack([prev, tag], axis=1)), tf.gather(start, tag))
        score = tf.where(valid, score + moved + emit, score)
        return score, tf.where(valid, tag, prev), started | valid

    init = (tf.zeros([batch], potentials.dtype), tf.zeros([batch], tf.int32), tf.zeros([batch], tf.bool))
    scores, last, started = tf.scan(step, (_time_major(tags), _time_major(mask), _time_major(unary)), init)
    return tf.where(started[-1], scores[-1] + tf.gather(end, last[-1]), tf.zeros_like(scores[-1]))


def log_partition(potentials: tf.Tensor, mask: Optional[tf.Tensor], transitions: tf.Tensor, start: tf.Tensor,
                  end: tf.Tensor) -> tf.Tensor:
    """log Z [B]: log-sum-exp of the scores of all tag paths over the valid tokens (forward algorithm)."""
    mask = _mask(potentials, mask)
    batch = tf.shape(potentials)[0]

    def step(state, inputs):
        alpha, started = state
        valid, emit = inputs
        moved = tf.where(started[:, None], tf.reduce_logsumexp(alpha[:, :, None] + transitions, axis=1), alpha)
        alpha = tf.where(valid[:, None], moved + emit, alpha)
        return alpha, started | valid

    init = (tf.tile(start[None, :], [batch, 1]), tf.zeros([batch], tf.bool))
    alphas, started = tf.scan(step, (_time_major(mask), _time_major(potentials)), init)
    return tf.where(started[-1], tf.reduce_logsumexp(alphas[-1] + end, axis=1), tf.zeros_like(alphas[-1][:, 0]))


def log_likelihood(potentials, tags, mask, transitions, start, end) -> tf.Tensor:
    """log p(tags | potentials) [B]; its negative mean is the training loss."""
    return (sequence_score(potentials, tags, mask, transitions, start, end)
            - log_partition(potentials, mask, transitions, start, end))


def viterbi_decode(potentials: tf.Tensor, mask: Optional[tf.Tensor], transitions: tf.Tensor, start: tf.Tensor,
                   end: tf.Tensor, pad_tag: int = 0) -> Tuple[tf.Tensor, tf.Tensor]:
    """Best tag paths [B, T] (int32, `pad_tag` at masked tokens) and their scores [B]."""
    mask = _mask(potentials, mask)
    batch, num_tags = tf.shape(potentials)[0], tf.shape(potentials)[2]
    identity = tf.tile(tf.range(num_tags)[None, :], [batch, 1])  # backpointers of a skipped step

    def forward(state, inputs):
        delta, started, _ = state
        valid, emit = inputs
        candidates = delta[:, :, None] + transitions  # [B, from, to]
        best = tf.where(started[:, None], tf.reduce_max(candidates, axis=1), delta)
        pointer = tf.where(started[:, None], tf.argmax(candidates, axis=1, output_type=tf.int32), identity)
        delta = tf.where(valid[:, None], best + emit, delta)
        return delta, started | valid, tf.where(valid[:, None], pointer, identity)

    init = (tf.tile(start[None, :], [batch, 1]), tf.zeros([batch], tf.bool), identity)
    deltas, started, pointers = tf.scan(forward, (_time_major(mask), _time_major(potentials)), init)
    final = deltas[-1] + end
    last = tf.argmax(final, axis=1, output_type=tf.int32)

    def backward(tag, pointer):  # the tag one step earlier, from the step's backpointers
        return tf.gather(pointer, tag, batch_dims=1)

    earlier = tf.scan(backward, pointers[1:], last, reverse=True)  # [T-1, B]: tags at steps 0 .. T-2
    path = tf.concat([earlier, last[None, :]], axis=0)
    path = tf.where(_time_major(mask), path, tf.fill(tf.shape(path), tf.constant(pad_tag, tf.int32)))
    score = tf.where(started[-1], tf.reduce_max(final, axis=1), tf.zeros_like(final[:, 0]))
    return _time_major(path), score


class CRF(tf_keras.layers.Layer):
    """Transition scores (K x K, plus start and end) over unary potentials [B, T, K]; `call` returns the
    Viterbi tag ids [B, T] (int32), `log_likelihood` the per-sequence log-likelihood of gold tags."""

    def __init__(self, num_tags: int, pad_tag: int = 0, **kwargs):
        super().__init__(**kwargs)
        if num_tags < 1:
            raise ValueError(f"CRF: num_tags must be >= 1, got {num_tags}")
        self.num_tags, self.pad_tag = num_tags, pad_tag
        self.supports_masking = True

    def build(self, input_shape):
        if input_shape[-1] != self.num_tags:
            raise ValueError(f"CRF: potentials have {input_shape[-1]} scores per token, expected num_tags="
                             f"{self.num_tags}")
        init = tf_keras.initializers.GlorotUniform()
        self.transitions = self.add_weight(name="transitions", shape=[self.num_tags, self.num_tags],
                                           initializer=init)
        self.start = self.add_weight(name="start", shape=[self.num_tags], initializer="zeros")
        self.end = self.add_weight(name="end", shape=[self.num_tags], initializer="zeros")
        super().build(input_shape)

    def call(self, potentials, mask=None):
        path, _ = viterbi_decode(potentials, mask, self.transitions, self.start, self.end, self.pad_tag)
        return path

    def compute_mask(self, inputs, mask=None):
        return mask

    def log_likelihood(self, potentials, tags, mask=None) -> tf.Tensor:
        if not self.built:
            self.build(potentials.shape)
        return log_likelihood(potentials, tags, mask, self.transitions, self.start, self.end)

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags, "pad_tag": self.pad_tag}
