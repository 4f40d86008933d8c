"""The one word tokenizer: Transform cuts text features with it, the DataGate checks tag counts with it and the
exported model returns the tokens it tagged with it (so all three always agree). Stock TensorFlow ops only."""
from __future__ import annotations

import tensorflow as tf

WORD_SPLIT = r"[^\p{L}\p{N}']+"  # anything but letters, digits and apostrophes separates tokens


def tokenize(text: tf.Tensor) -> tf.RaggedTensor:
    """Lower-case word tokens of a [batch] string tensor (letters, digits and apostrophes)."""
    text = tf.strings.lower(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"))
    return tf.strings.split(tf.strings.strip(tf.strings.regex_replace(text, WORD_SPLIT, " ")))


def text_cells(x) -> tf.Tensor:
    """[batch] strings of a [batch, 1] dense / sparse / ragged text column; a missing cell reads ''."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(tf.sparse.reset_shape(x, [x.dense_shape[0], 1]), default_value="")
    elif isinstance(x, tf.RaggedTensor):
        x = x.to_tensor(default_value="", shape=[None, 1])
    return tf.reshape(x, [-1])
