"""The one word tokenizer: Transform cuts text features with it, the DataGate checks tag counts with it and the
exported model returns the tokens it tagged with it (so all three always agree). Stock TensorFlow ops only."""
from __future__ import annotations

import tensorflow as tf

WORD_SPLIT = r"[^\p{L}\p{N}']+"  # anything but letters, digits and apostrophes separates tokens


def tokenize(text: tf.Tensor) -> tf.RaggedTensor:
    """Lower-case word tokens of a [batch] string tensor (letters, digits and apostrophes)."""
    text = tf.strings.lower(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"))
    return tf.strings.split(tf.strings.strip(tf.strings.regex_replace(text, WORD_SPLIT, " ")))


SUBWORD_N = 3  # character n-gram length of the subwords
SHAPE_MARK = "\x01"  # starts a word-shape item, so a shape never hashes alike with a 3-gram


def subwords(tokens: tf.RaggedTensor, buckets: int, per_token: int) -> tf.RaggedTensor:
    """[batch, (tokens), (<= per_token)] int64 ids in [1, buckets] (0 stays padding) of each token's word shape
    (letters -> `a`, digits -> `0`: `dh8` -> `aa0`) then its character 3-grams with boundary marks (`<dh`, `dh8`,
    `h8>`), FarmHash-bucketed like `tft.hash_strings` (fastText's subword vectors, Bojanowski et al. 2017)."""
    words = tokens.flat_values
    shape = tf.strings.regex_replace(tf.strings.regex_replace(words, r"\p{N}", "0"), r"\p{L}", "a")
    characters = tf.strings.unicode_split(tf.strings.join(["<", words, ">"]), "UTF-8", errors="replace")
    grams = tf.strings.ngrams(characters, SUBWORD_N, separator="", pad_values=None)
    items = tf.concat([tf.expand_dims(tf.strings.join([SHAPE_MARK, shape]), 1), grams], axis=1)[:, :per_token]
    ids = items.with_flat_values(tf.strings.to_hash_bucket_fast(items.flat_values, buckets) + 1)
    return tokens.with_flat_values(ids)


def text_cells(x) -> tf.Tensor:
    """[batch] strings of a [batch, 1] dense / sparse / ragged text column; a missing cell reads ''."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(tf.sparse.reset_shape(x, [x.dense_shape[0], 1]), default_value="")
    elif isinstance(x, tf.RaggedTensor):
        x = x.to_tensor(default_value="", shape=[None, 1])
    return tf.reshape(x, [-1])
