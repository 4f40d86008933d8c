"""The run's own tf.Examples read back for what statistics and TFMA do not give the report: value counts of
integer-coded categorical columns (TFDV keeps only a mean and a histogram for an INT column unless the schema
marks it categorical), and regression predictions and tagging spans of a sample of eval rows (TFMA keeps no
per-row values)."""
from __future__ import annotations

import collections
import glob
import os
from typing import Dict, List, Sequence, Tuple

from pipeline import config as cfg

MAX_COUNTED_ROWS = 1_000_000  # value counts read at most this many rows of the split
SAMPLE_ROWS = 2_000  # eval rows scored for the regression plots
BATCH = 4096


def split_files(examples_uri: str, split: str) -> List[str]:
    """The TFRecord shards of one split of an Examples artifact (ExampleGen writes Split-<name>/*.gz)."""
    return sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))


def _records(files: Sequence[str], limit: int):
    import tensorflow as tf

    compression = "GZIP" if all(f.endswith(".gz") for f in files) else ""
    return tf.data.TFRecordDataset(list(files), compression_type=compression).take(limit)


def value_counts(files: Sequence[str], columns: Sequence[str], limit: int = MAX_COUNTED_ROWS
                 ) -> Tuple[Dict[str, collections.Counter], int]:
    """({column: Counter of its int64 values}, rows read) over the first `limit` rows of the shards."""
    import numpy as np
    import tensorflow as tf

    spec = {column: tf.io.VarLenFeature(tf.int64) for column in columns}
    counts = {column: collections.Counter() for column in columns}
    rows = 0

    @tf.function
    def parse(batch):
        return {column: sparse.values for column, sparse in tf.io.parse_example(batch, spec).items()}

    for batch in _records(files, limit).batch(BATCH):
        rows += int(batch.shape[0])
        for column, values in parse(batch).items():
            found, times = np.unique(values.numpy(), return_counts=True)
            counts[column].update(dict(zip(found.tolist(), times.tolist())))
    return counts, rows


def _scored(model_dir: str, files: Sequence[str], limit: int):
    """(targets and label masks, scores) of the first `limit` rows through the exported model's own signatures
    (`transform_features`, `scores`); None without rows."""
    import tensorflow as tf

    batch = next(iter(_records(files, limit).batch(limit)), None)
    if batch is None:
        return None
    model = tf.saved_model.load(model_dir)
    return model.signatures["transform_features"](examples=batch), model.signatures["scores"](examples=batch)


def regression_sample(model_dir: str, files: Sequence[str], tasks: Sequence[str], limit: int = SAMPLE_ROWS
                      ) -> Dict[str, List[Tuple[float, float]]]:
    """{task: [(actual, predicted)]} for the labelled rows among the first `limit` rows, through the exported
    model's own signatures: `transform_features` gives the targets and label masks, `scores` the predictions."""
    import tensorflow as tf

    scored = _scored(model_dir, files, limit)
    if scored is None:
        return {}
    targets, scores = scored
    found = {}
    for task in tasks:
        actual = tf.reshape(targets[cfg.label_key(task)], [-1]).numpy()
        labelled = tf.reshape(targets[cfg.mask_key(task)], [-1]).numpy() > 0
        predicted = tf.reshape(scores[task], [-1]).numpy()
        found[task] = [(float(a), float(p)) for a, p, keep in zip(actual, predicted, labelled) if keep]
    return found


def tagging_sample(model_dir: str, files: Sequence[str], tasks: Dict[str, List[str]], limit: int = SAMPLE_ROWS,
                   confusions: int = 10) -> Dict[str, dict]:
    """Per tagging task ({task: tag names}) over the labelled rows among the first `limit` eval rows, scored by
    the exported model: span precision / recall / F1 per type (CoNLL rules) and the most frequent token-level
    type confusions (gold type, predicted type or O, tokens)."""
    import numpy as np
    import tensorflow as tf

    from pipeline.core.spans import SpanCounts, scores as span_scores

    scored = _scored(model_dir, files, limit)
    if scored is None:
        return {}
    targets, scores = scored
    found = {}
    for task, names in tasks.items():
        gold_ids = targets[cfg.label_key(task)].numpy()
        labelled = tf.reshape(targets[cfg.mask_key(task)], [-1]).numpy() > 0
        predicted_ids = np.argmax(scores[task].numpy(), axis=-1)
        counts, mixed = SpanCounts(), collections.Counter()
        for row in np.flatnonzero(labelled):
            keep = gold_ids[row] >= 0
            gold = [names[i] for i in gold_ids[row][keep]]
            predicted = [names[i] for i in predicted_ids[row][keep]]
            counts.add(gold, predicted)
            for g, p in zip(gold, predicted):
                g_type, p_type = g[2:] or "O", p[2:] or "O"
                if g_type != p_type:
                    mixed[(g_type, p_type)] += 1
        per_type = span_scores(counts)["per_type"]
        for kind, values in per_type.items():
            values["gold"] = counts.gold.get(kind, 0.0)
        found[task] = {"rows": int(labelled.sum()), "per_type": per_type,
                       "confusions": [(g, p, n) for (g, p), n in mixed.most_common(confusions)]}
    return found
