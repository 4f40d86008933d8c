"""Every feature vocabulary in one TFT analyzer pass.

Why: `tft.vocabulary` is one analyzer per call, each with its own Beam stages (accumulate, merge, prune, order,
write, count), so a config with 32 categorical features paid 32 times that fixed cost (~2 s each on census).
Here one `tft.experimental.ptransform_analyzer` takes the values of all the features at once: each batch is
reduced in the graph to unique (feature, value) pairs with their counts, one Beam `CombinePerKey` sums them over
the dataset, and one step writes one vocabulary file per feature. Its cost barely grows with the features.

What it writes is, byte for byte, what `tft.vocabulary(x, top_k=, frequency_threshold=, vocab_filename=)`
writes (TFT 1.16, text format, frequency ordering): empty values and values holding '\\n' or '\\r' are dropped;
values seen fewer than `frequency_threshold` times are dropped; the rest is ordered by count, most frequent
first, ties by value in reverse byte order (`sorted((count, value), reverse=True)`), cut to `top_k`; an empty
vocabulary holds TFT's one dummy token. The files are assets of the transform graph under the same names,
registered like TFT's (`TFTransformOutput.vocabulary_file_by_name` / `vocabulary_size_by_name`), and the
returned deferred filenames feed `tft.apply_vocabulary` as `compute_and_apply_vocabulary` does.
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform import analyzers
from tensorflow_transform.beam import experimental as tft_beam_experimental

# (values: a string Tensor/SparseTensor/RaggedTensor of any shape, top_k, frequency_threshold)
VocabularyInput = Tuple[object, Optional[int], Optional[int]]

_DROPPED = analyzers.get_vocab_newline_characters_regex(tf.string, "text")  # '' and values with \n or \r
_EMPTY_DUMMY = analyzers.get_empy_vocabulary_dummy_value(tf.string)  # (1, token) TFT writes for no values
_TEMPORARY_CONTENT = b"TEMPORARY_ASSET_VALUE"  # the asset's content before analysis, as TFT's vocabulary has


def vocabularies(columns: Mapping[str, VocabularyInput], name: str = "vocabularies") -> Dict[str, tf.Tensor]:
    """Vocabulary key (also the file name, see `tft.vocabulary`'s `vocab_filename`) -> deferred vocabulary file
    name, for `tft.apply_vocabulary(x, deferred, num_oov_buckets=...)`. One analyzer for all the keys."""
    keys = list(columns)
    if not keys:
        return {}
    filenames = [analyzers.sanitized_vocab_filename(key) for key in keys]
    if len(set(filenames)) != len(filenames):
        raise ValueError(f"vocabulary names collide once made file names: {keys}")
    limits = []
    for key in keys:
        _, top_k, threshold = columns[key]
        if top_k is not None and top_k <= 0:
            raise ValueError(f"vocabulary {key}: top_k must be positive, got {top_k}")
        limits.append((top_k, float(threshold or 0)))
    with tf.compat.v1.name_scope(name):
        ids, values = [], []
        for index, key in enumerate(keys):
            x = columns[key][0]
            if x.dtype != tf.string:
                raise ValueError(f"vocabulary {key}: expected strings, got {x.dtype}")
            flat = tf.reshape(x.values if isinstance(x, tf.SparseTensor) else
                              x.flat_values if isinstance(x, tf.RaggedTensor) else x, [-1])
            flat = tf.boolean_mask(flat, tf.logical_not(tf.strings.regex_full_match(flat, _DROPPED)))
            values.append(flat)
            ids.append(tf.fill(tf.shape(flat, out_type=tf.int64), tf.constant(index, tf.int64)))
        ids, values = tf.concat(ids, 0), tf.concat(values, 0)
        # Batch-wise reduction to unique (feature, value) pairs: the id has no space, so the key is unambiguous.
        joined = tf.strings.join([tf.strings.as_string(ids), values], separator=" ")
        unique, index_of, counts = tf.unique_with_counts(joined, out_idx=tf.int64)
        first = tf.math.unsorted_segment_min(tf.range(tf.size(joined, out_type=tf.int64), dtype=tf.int64),
                                             index_of, tf.size(unique, out_type=tf.int64))
        outputs = tft.experimental.ptransform_analyzer(
            [tf.gather(ids, first), tf.gather(values, first), counts],
            CountAndWriteVocabularies(filenames, limits),
            output_dtypes=[tf.string] * len(keys), output_shapes=[[]] * len(keys),
            output_asset_default_values=[_TEMPORARY_CONTENT] * len(keys), name="count_and_write")
    for key, filename in zip(keys, filenames):
        # No size annotation: ptransform_analyzer (TFT 1.16) marks every output an asset once any is, so a size
        # output cannot be added; vocabulary_size_by_name then counts the file's lines, the same number.
        analyzers.register_vocab(filename, vocabulary_key=key)
    return dict(zip(keys, outputs))


class CountAndWriteVocabularies(tft_beam_experimental.PTransformAnalyzer):
    """Batches of (feature index, value, count) arrays -> one PCollection per vocabulary file path, in the order
    of `filenames`."""

    def __init__(self, filenames: List[str], limits: List[Tuple[Optional[int], float]]):
        super().__init__()
        self._filenames = list(filenames)
        self._limits = list(limits)

    def expand(self, batches):
        thresholds = [threshold for _, threshold in self._limits]
        written = (batches
                   | "Pairs" >> beam.FlatMap(_pairs)
                   | "Count" >> beam.CombinePerKey(sum)
                   | "Threshold" >> beam.Filter(lambda kv: kv[1] >= thresholds[kv[0][0]])
                   | "Gather" >> beam.combiners.ToList()
                   | "OrderAndWrite" >> beam.Map(self._write))
        return tuple(written | f"Path{i}" >> beam.Map(lambda paths, i=i: np.array(paths[i]))
                     for i in range(len(self._filenames)))

    def _write(self, counted) -> List[str]:
        per_feature: List[list] = [[] for _ in self._filenames]
        for (index, value), count in counted:
            per_feature[index].append((count, value))
        tf.io.gfile.makedirs(self.base_temp_dir)
        paths = []
        for filename, (top_k, _), entries in zip(self._filenames, self._limits, per_feature):
            entries.sort(reverse=True)  # count descending, ties by value descending: tft.vocabulary's order
            tokens = [value for _, value in entries[:top_k]] or [_EMPTY_DUMMY[1]]
            path = os.path.join(self.base_temp_dir, filename)
            with tf.io.gfile.GFile(path, "wb") as f:
                f.write(b"".join(token + b"\n" for token in tokens))
            paths.append(path)
        return paths


def _pairs(batch):
    ids, values, counts = batch
    return zip(zip(ids.tolist(), values.tolist()), counts.tolist())
