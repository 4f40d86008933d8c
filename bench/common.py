"""Shared benchmark helpers: configs built from dicts, training with timing, tables and JSON results, and the
pipeline's Transform output loaded into memory (as numpy columns, batched back by row index)."""
from __future__ import annotations

import glob
import json
import os
import platform
import statistics
import time

import numpy as np
from typing import Dict, List, Sequence

import pipeline  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow, which loads only when used)
from pipeline import config as cfg


def parameter_count(model) -> int:
    """Trainable parameters of the network (task weighting state excluded)."""
    weighting = {v.ref() for v in model.weighting.trainable_variables}
    return int(sum(v.shape.num_elements() for v in model.trainable_variables if v.ref() not in weighting))


def fit_timed(model, train, epochs: int, validation=None, patience: int = 0) -> Dict[str, float]:
    """model.fit with wall time; returns {'seconds', 'epochs', 'history'}."""
    import tf_keras

    callbacks = []
    if patience and validation is not None:
        callbacks.append(tf_keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                          restore_best_weights=True))
    start = time.perf_counter()
    history = model.fit(train, validation_data=validation, epochs=epochs, verbose=0, callbacks=callbacks).history
    return {"seconds": time.perf_counter() - start, "epochs": len(history["loss"]), "history": history}


def mean_std(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def table(headers: List[str], rows: List[List[object]]) -> str:
    """A GitHub-markdown table (also readable in a terminal)."""
    text = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, text)])


def write_results(path: str, results: dict) -> None:
    import tensorflow as tf

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    meta = {"python": platform.python_version(), "tensorflow": tf.__version__, "cpus": os.cpu_count(),
            "machine": platform.machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    with open(path, "w") as f:
        json.dump({"meta": meta, **results}, f, indent=1)


def finish(path: str, saved: dict, text: str) -> None:
    """Write the results JSON and print the report table and where it went."""
    write_results(path, saved)
    print(f"\n{text}\n\nwrote {path}")


def with_changes(raw: dict, model: dict = None, training: dict = None, tasks: Sequence[str] = None) -> cfg.Config:
    """A config from a raw dict with model/training keys replaced and, optionally, only some tasks kept."""
    raw = json.loads(json.dumps(raw))
    if model is not None:
        raw["model"] = model
    if training:
        raw["training"] = {**raw.get("training", {}), **training}
    if tasks is not None:
        raw["tasks"] = {name: raw["tasks"][name] for name in tasks}
    return cfg.parse_config(raw)


# ------------------------------------------------------------- the pipeline's Transform output, in memory
def transform_dirs(config):
    """(transform_graph dir, transformed_examples dir) of the newest complete Transform run, or None."""
    root = os.path.join(config.output_dir, "tfx", "Transform")
    runs = glob.glob(os.path.join(root, "transformed_examples", "*"))
    for run in sorted(runs, key=lambda p: -int(os.path.basename(p))):
        graph = os.path.join(root, "transform_graph", os.path.basename(run))
        if glob.glob(os.path.join(run, "Split-eval", "*")) and os.path.isdir(os.path.join(graph, "transform_fn")):
            return graph, run
    return None


def load_split(examples_dir, split, feature_spec, widths=None):
    """Every transformed example of a split as {key: numpy array}. Sparse columns (multilabel targets) become
    label ids padded with -1 to `widths[key]` columns."""
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(examples_dir, f"Split-{split}", "*")))
    data = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(8192).map(
        lambda s: tf.io.parse_example(s, feature_spec))
    parts = {}
    for batch in data:
        for key, value in batch.items():
            if isinstance(value, tf.SparseTensor):
                dense = tf.sparse.to_dense(value, default_value=-1).numpy()
                value = np.full((dense.shape[0], widths[key]), -1, dtype=dense.dtype)
                value[:, : dense.shape[1]] = dense
            else:
                value = value.numpy()
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(values) for key, values in parts.items()}


def as_dataset(config, columns, shuffle_seed=None, batch_size=None):
    """Batches gathered from in-memory columns by (shuffled) row index: per-row tf.data work is one int. Batch
    size: the given one, else the config's, else the Trainer's default for this many rows."""
    from pipeline.core.schedule import default_batch_size
    import tensorflow as tf

    from trainer.model import split_example

    tensors = {key: tf.constant(value) for key, value in columns.items()}
    rows = tf.data.Dataset.range(len(next(iter(columns.values()))))
    if shuffle_seed is not None:
        rows = rows.shuffle(len(next(iter(columns.values()))), seed=shuffle_seed, reshuffle_each_iteration=True)
    gather = lambda index: {key: tf.gather(t, index) for key, t in tensors.items()}  # noqa: E731
    count = len(next(iter(columns.values())))
    batch = batch_size or config.training.batch_size or default_batch_size(count)
    return rows.batch(batch).map(gather).map(split_example(config)).prefetch(2)
