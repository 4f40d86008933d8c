"""Shared benchmark helpers: configs built from dicts, training with timing, tables and JSON results."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
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
