"""Text encoders: token embeddings [B, T, D] and token ids [B, T] (0 = padding) -> per-token states [B, T, H]
(what a sequence-tagging task reading the feature sees) and one pooled vector [B, H] (what sentence-level tasks
see), selected by `features.X.encoder`. Stock TensorFlow ops only, so the exported SavedModel runs in TF Serving.

- `bag` (default): the embeddings themselves as states (H = D); no word order.
- `cnn`: stacked width-3 same-padding convolutions with ReLU; each state sees 1 + 2 x layers tokens.
- `bilstm` / `bigru`: a bidirectional LSTM / GRU stack, H / 2 units per direction.
- `transformer`: a projection to H plus sinusoidal positions, then pre-norm blocks of multi-head self-attention
  and a feed-forward layer, each with a residual.

Every contextual encoder masks the padding: it is zeroed before and after each layer (cnn), skipped by the
recurrence (the RNN's `mask=`) or never attended to (transformer), and padding positions' states are zeros. So
appending padding changes neither a real token's state nor the pooled vector, the mean of the states over
real tokens (zeros for a row without any).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras

from pipeline import config as cfg


def token_mask(ids: tf.Tensor) -> tf.Tensor:
    """[B, T] bool: real tokens (id > 0)."""
    return ids > 0


def masked_mean(states: tf.Tensor, ids: tf.Tensor, axis: int = 1) -> tf.Tensor:
    """Mean of states over the real ids (id > 0) along `axis` (tokens; a token's subwords with axis=2); where
    there are none (empty text, padding) it gives zeros."""
    present = tf.cast(token_mask(ids), states.dtype)[..., None]
    return tf.math.divide_no_nan(tf.reduce_sum(states * present, axis=axis), tf.reduce_sum(present, axis=axis))


def _zero_padding(states: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
    return states * tf.cast(token_mask(ids), states.dtype)[..., None]


class BagEncoder(tf_keras.layers.Layer):
    """No context: states are the token embeddings (after `dropout` in training), pooled is their mean over real
    tokens."""

    def __init__(self, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.dropout = float(dropout)
        self.drop = tf_keras.layers.Dropout(self.dropout, name="dropout")

    def call(self, inputs, training=None):
        embedded, ids = inputs
        embedded = self.drop(embedded, training=training) if self.dropout else embedded
        return embedded, masked_mean(embedded, ids)

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout}


class _Contextual(tf_keras.layers.Layer):
    """Base of the contextual encoders: `units` (H), `layers` and `dropout` set by the config, kept in
    get_config. In training, dropout (if any) drops elements of the token embeddings going in and of the states
    coming out (Srivastava et al. 2014, as the published RNN taggers use it); serving never drops."""

    def __init__(self, units: int = 64, layers: int = 1, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.layers_count, self.dropout = int(units), int(layers), float(dropout)
        self.drop_in = tf_keras.layers.Dropout(self.dropout, name="dropout_in")
        self.drop_out = tf_keras.layers.Dropout(self.dropout, name="dropout_out")

    def call(self, inputs, training=None):
        embedded, ids = inputs
        if self.dropout:
            embedded = self.drop_in(embedded, training=training)
        states = self.contextualize(embedded, ids)
        if self.dropout:
            states = self.drop_out(states, training=training)
        states = _zero_padding(states, ids)
        return states, masked_mean(states, ids)

    def contextualize(self, embedded, ids):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "units": self.units, "layers": self.layers_count, "dropout": self.dropout}


class CNNEncoder(_Contextual):
    """Stacked Conv1D(units, 3, same padding, ReLU); padding positions are zeroed before every convolution, so
    the token next to the padding sees zeros there, as it does at the end of a text that fills max_tokens."""

    def __init__(self, units: int = 64, layers: int = 2, **kwargs):
        super().__init__(units, layers, **kwargs)
        self.convolutions = [tf_keras.layers.Conv1D(self.units, 3, padding="same", activation="relu",
                                                    name=f"conv{i}") for i in range(self.layers_count)]

    def contextualize(self, embedded, ids):
        x = embedded
        for convolution in self.convolutions:
            x = convolution(_zero_padding(x, ids))
        return x


def rnn_mask(ids: tf.Tensor) -> tf.Tensor:
    """The RNNs' `mask=`: real tokens, and always the first step. tf_keras runs a batch on its cuDNN kernel only
    when every row is right-padded (TFT's ids are) and none is fully masked, so one empty text would send the
    whole batch to the slow kernel; an empty row's one padding step is zeroed out of its states afterwards."""
    return token_mask(ids) | (tf.range(tf.shape(ids)[1]) == 0)[None, :]


class BiRNNEncoder(_Contextual):
    """Bidirectional LSTM or GRU layers (units / 2 per direction, concatenated), stacked `layers` deep. The
    token mask goes to every layer as `mask=`, so both directions skip the padding (the backward pass starts at
    the last real token); tf_keras picks its cuDNN kernel at run time where it can (see `rnn_mask`)."""

    CELLS = {"lstm": tf_keras.layers.LSTM, "gru": tf_keras.layers.GRU}

    def __init__(self, units: int = 64, layers: int = 1, cell: str = "lstm", **kwargs):
        super().__init__(units, layers, **kwargs)
        if cell not in self.CELLS or self.units % 2:
            raise ValueError(f"BiRNNEncoder needs cell in {sorted(self.CELLS)} and even units, got {cell!r}, "
                             f"{self.units}")
        self.cell = cell
        self.rnns = [tf_keras.layers.Bidirectional(self.CELLS[cell](self.units // 2, return_sequences=True),
                                                   name=f"bi{cell}{i}") for i in range(self.layers_count)]

    def contextualize(self, embedded, ids):
        mask, x = rnn_mask(ids), embedded
        for rnn in self.rnns:
            x = rnn(x, mask=mask)
        return x

    def get_config(self):
        return {**super().get_config(), "cell": self.cell}


def sinusoidal_positions(length: tf.Tensor, units: int) -> tf.Tensor:
    """[length, units] sin/cos position codes (Vaswani et al. 2017, §3.5): no weights and any length, so a text
    longer than those seen in training still gets codes, and a row's codes do not depend on its padding."""
    half = (units + 1) // 2
    frequencies = tf.constant(1.0 / np.power(10000.0, np.arange(half) / half), tf.float32)
    angles = tf.cast(tf.range(length), tf.float32)[:, None] * frequencies[None, :]
    return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)[:, :units]


class TransformerBlock(tf_keras.layers.Layer):
    """One pre-norm block: x += MHA(LN(x)) over the allowed keys, then x += FFN(LN(x)) (ReLU, 2 x units)."""

    def __init__(self, units: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        self.units, self.heads = int(units), int(heads)
        self.norm1 = tf_keras.layers.LayerNormalization(name="norm1")
        self.attention = tf_keras.layers.MultiHeadAttention(self.heads, max(1, self.units // self.heads),
                                                            name="attention")
        self.norm2 = tf_keras.layers.LayerNormalization(name="norm2")
        self.hidden = tf_keras.layers.Dense(2 * self.units, activation="relu", name="ffn_hidden")
        self.out = tf_keras.layers.Dense(self.units, name="ffn_out")

    def call(self, x, attention_mask):
        h = self.norm1(x)
        x = x + self.attention(h, h, attention_mask=attention_mask)
        return x + self.out(self.hidden(self.norm2(x)))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "heads": self.heads}


class TransformerEncoder(_Contextual):
    """Dense(units) of the embeddings + sinusoidal positions, `layers` TransformerBlocks whose attention sees
    real tokens only (key padding mask), and a final LayerNorm."""

    def __init__(self, units: int = 64, layers: int = 2, heads: int = 2, **kwargs):
        super().__init__(units, layers, **kwargs)
        self.heads = int(heads)
        self.projection = tf_keras.layers.Dense(self.units, name="projection")
        self.blocks = [TransformerBlock(self.units, self.heads, name=f"block{i}") for i in range(self.layers_count)]
        self.final_norm = tf_keras.layers.LayerNormalization(name="final_norm")

    def contextualize(self, embedded, ids):
        x = self.projection(embedded) + sinusoidal_positions(tf.shape(ids)[1], self.units)[None]
        present = token_mask(ids)
        attend = present[:, None, :] & tf.ones_like(present)[:, :, None]  # [B, query, key]: real keys only
        for block in self.blocks:
            x = block(x, attention_mask=attend)
        return self.final_norm(x)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads}


ENCODERS = {"bag": BagEncoder, "cnn": CNNEncoder, "bilstm": BiRNNEncoder, "bigru": BiRNNEncoder,
            "transformer": TransformerEncoder}


def build_encoder(feature: "cfg.TextFeature", name: str) -> tf_keras.layers.Layer:
    """The feature's encoder layer: called on [embedded, ids], returns (states, pooled)."""
    kind = getattr(feature, "encoder", None) or "bag"
    dropout = feature.setting("encoder_dropout")
    if kind == "bag":
        return BagEncoder(dropout=dropout, name=name)
    options = {"units": feature.setting("encoder_units"), "layers": feature.setting("encoder_layers"),
               "dropout": dropout}
    if kind in ("bilstm", "bigru"):
        options["cell"] = kind[2:]
    if kind == "transformer":
        options["heads"] = feature.setting("encoder_heads")
    return ENCODERS[kind](name=name, **options)
