"""Model inputs: the transformed-feature keys the model reads, their Keras inputs, and the encoders that turn them
into one vector (numerics by their encoding, embeddings of categories and crosses, text through its encoder,
vectors as they are), plus the optional DCN-v2 cross layers on that vector."""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import tensorflow as tf
import tf_keras

from pipeline import config as cfg
from trainer import encoders

PERIODIC_FREQUENCIES = 16  # sin/cos pairs per feature (Gorishniy et al. 2022 use 16-96)
PERIODIC_SIGMA = 1.0  # initial frequencies ~ N(0, sigma) on the z-scored value
PERIODIC_UNITS = 16  # the Dense + ReLU after the sin/cos features (their "PLR" variant)


def input_keys(config: cfg.Config) -> List[str]:
    """Transformed-feature keys the model takes: every feature, the missing indicators of numerics, then the
    subword ids of text features."""
    features = config.resolved_features
    return [*features, *(cfg.missing_key(n) for n, f in features.items()
                         if f.type == "numeric" and f.missing_indicator),
            *(cfg.subword_key(n) for n, f in features.items() if f.type == "text" and f.subwords)]


def feature_inputs(config: cfg.Config) -> Dict[str, tf_keras.Input]:
    inputs = {}
    for name, feature in config.resolved_features.items():
        if feature.type == "numeric":
            if feature.encoding == "piecewise_linear":
                inputs[name] = tf_keras.Input(shape=(feature.bins,), dtype=tf.float32, name=cfg.safe_name(name))
            elif feature.encoding == "quantile":
                inputs[name] = tf_keras.Input(shape=(), dtype=tf.int64, name=cfg.safe_name(name))
            else:
                inputs[name] = tf_keras.Input(shape=(), dtype=tf.float32, name=cfg.safe_name(name))
            if feature.missing_indicator:
                key = cfg.missing_key(name)
                inputs[key] = tf_keras.Input(shape=(), dtype=tf.float32, name=cfg.safe_name(key))
        elif feature.type in ("categorical", "cross"):
            inputs[name] = tf_keras.Input(shape=(), dtype=tf.int64, name=cfg.safe_name(name))
        elif feature.type == "vector":
            inputs[name] = tf_keras.Input(shape=(feature.size,), dtype=tf.float32, name=cfg.safe_name(name))
        else:
            inputs[name] = tf_keras.Input(shape=(feature.max_tokens,), dtype=tf.int64, name=cfg.safe_name(name))
            if feature.subwords:
                key = cfg.subword_key(name)
                inputs[key] = tf_keras.Input(shape=(feature.max_tokens, cfg.MAX_SUBWORDS), dtype=tf.int64,
                                             name=cfg.safe_name(key))
    return inputs


def embedding_dim(model_config: cfg.Model, vocabulary_size: int) -> int:
    if model_config.embedding_dim:
        return model_config.embedding_dim
    return max(2, min(64, int(round(6 * vocabulary_size ** 0.25))))


def encode(config: cfg.Config, inputs: Dict[str, tf.Tensor], feature_sizes: Dict[str, int],
           token_states: Optional[Dict[str, tf.Tensor]] = None) -> tf.Tensor:
    """One vector per row: scalar numerics and missing indicators, PLE vectors, embeddings of quantile bins,
    categories and text (its encoder's pooled vector), periodic features; then model.cross_layers cross layers.
    `token_states`, when given, receives each text feature's per-token states [B, T, H] (for tagging heads)."""
    scalars, parts = [], []
    for name, feature in config.resolved_features.items():
        safe = cfg.safe_name(name)
        if feature.type == "numeric":
            value = inputs[name]
            if feature.encoding in ("zscore", "log"):
                scalars.append(tf_keras.layers.Reshape((1,), name=f"{safe}_column")(value))
            elif feature.encoding == "piecewise_linear":
                parts.append(value)
            elif feature.encoding == "quantile":
                parts.append(tf_keras.layers.Embedding(feature.bins, embedding_dim(config.model, feature.bins),
                                                       name=f"{safe}_embedding")(value))
            else:
                parts.append(PeriodicEmbedding(name=f"{safe}_periodic")(value))
            if feature.missing_indicator:
                key = cfg.missing_key(name)
                scalars.append(tf_keras.layers.Reshape((1,), name=f"{cfg.safe_name(key)}_column")(inputs[key]))
            continue
        if feature.type == "vector":
            parts.append(inputs[name])
            continue
        size = feature_sizes[name]
        dim = embedding_dim(config.model, size)
        ids = inputs[name]
        if feature.type == "text" and feature.word_dropout:
            ids = WordDropout(feature.word_dropout, size - feature.oov_buckets, feature.oov_buckets,
                              name=f"{safe}_word_dropout")(ids)
        embedded = tf_keras.layers.Embedding(size, dim, name=f"{safe}_embedding")(ids)
        if feature.type == "text":
            if feature.subwords:
                embedded = SubwordSum(feature.subwords, dim, name=f"{safe}_subwords")(
                    [embedded, inputs[cfg.subword_key(name)]])
            states, embedded = encoders.build_encoder(feature, name=f"{safe}_encoder")([embedded, inputs[name]])
            if token_states is not None:
                token_states[name] = states
        parts.append(embedded)
    parts = scalars + parts
    encoded = parts[0] if len(parts) == 1 else tf_keras.layers.Concatenate(name="encoded")(parts)
    if config.model.cross_layers:
        encoded = CrossNetwork(config.model.cross_layers, config.model.cross_rank, name="cross")(encoded)
    return encoded


class WordDropout(tf_keras.layers.Layer):
    """In training only, each known token id (in [1, first_oov)) becomes an OOV bucket id with probability `rate`
    (bucket = id mod oov_buckets); padding and OOV ids stay. [B, T] int64 -> [B, T] int64."""

    def __init__(self, rate: float, first_oov: int, oov_buckets: int, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.first_oov, self.oov_buckets = float(rate), int(first_oov), int(oov_buckets)

    def call(self, ids, training=None):
        if not training:
            return ids
        known = (ids > 0) & (ids < self.first_oov)
        dropped = known & (tf.random.uniform(tf.shape(ids)) < self.rate)
        return tf.where(dropped, self.first_oov + ids % self.oov_buckets, ids)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "first_oov": self.first_oov,
                "oov_buckets": self.oov_buckets}


class SubwordSum(tf_keras.layers.Layer):
    """Word embedding + the mean embedding of its subword ids (fastText's word vector, Bojanowski et al. 2017):
    [B, T, D] and [B, T, S] ids (0 = padding) -> [B, T, D]. An out-of-vocabulary word shares the OOV bucket's
    embedding, so its subwords are what set it apart; a padding token (no subwords) keeps its word embedding."""

    def __init__(self, buckets: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.buckets, self.dim = int(buckets), int(dim)
        self.embedding = tf_keras.layers.Embedding(self.buckets + 1, self.dim, name="embedding")

    def call(self, inputs):
        embedded, ids = inputs
        return embedded + encoders.masked_mean(self.embedding(ids), ids, axis=2)

    def get_config(self):
        return {**super().get_config(), "buckets": self.buckets, "dim": self.dim}


class PeriodicEmbedding(tf_keras.layers.Layer):
    """Periodic encoding of one z-scored number (Gorishniy et al. 2022, §3.3, PLR): v = [sin(2 pi c x),
    cos(2 pi c x)] with learned frequencies c ~ N(0, sigma), then Dense + ReLU. [batch] -> [batch, units]."""

    def build(self, input_shape):
        self.frequencies = self.add_weight(
            name="frequencies", shape=(PERIODIC_FREQUENCIES,),
            initializer=tf_keras.initializers.RandomNormal(stddev=PERIODIC_SIGMA))
        self.dense = tf_keras.layers.Dense(PERIODIC_UNITS, activation="relu", name="dense")
        self.dense.build((None, 2 * PERIODIC_FREQUENCIES))

    def call(self, x):
        angles = 2 * math.pi * tf.reshape(x, [-1, 1]) * self.frequencies
        return self.dense(tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1))


class CrossNetwork(tf_keras.layers.Layer):
    """DCN-v2 cross layers (Wang et al., WWW 2021, eq. 1): x_{l+1} = x_0 * (W_l x_l + b_l) + x_l, with
    W_l = U_l V_l^T when `rank` is given (their low-rank variant). Explicit bounded-degree feature crosses, same
    width in and out, so any architecture sits on top unchanged."""

    def __init__(self, layers: int, rank: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        self.layers_count, self.rank = layers, rank

    def build(self, input_shape):
        width = int(input_shape[-1])
        self.steps = []
        for i in range(self.layers_count):
            if self.rank:
                steps = [tf_keras.layers.Dense(self.rank, use_bias=False, name=f"v{i}"),
                         tf_keras.layers.Dense(width, name=f"u{i}")]
                steps[0].build((None, width))
                steps[1].build((None, self.rank))
            else:
                steps = [tf_keras.layers.Dense(width, name=f"w{i}")]
                steps[0].build((None, width))
            self.steps.append(steps)

    def call(self, x0):
        x = x0
        for steps in self.steps:
            projected = x
            for step in steps:
                projected = step(projected)
            x = x0 * projected + x
        return x

    def get_config(self):
        return {**super().get_config(), "layers": self.layers_count, "rank": self.rank}
