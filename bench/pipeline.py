"""What the pipeline costs next to a bare script doing the same job (`make bench-pipeline`).

The pipeline: `mtl run --no-cache` of configs/census.yaml (or --config) in a child process, per component wall
and CPU seconds and peak memory (bench/scale.py's sampler), and the Trainer's fit time (the epochs' seconds in
its history.json). The bare script, in this process: pandas reads the same train and test files, z-scores the
numeric columns (log1p first where the config says `log`), maps each categorical column to integer ids, and
fits the same shape of Keras model (an embedding per categorical, the config's shared layers and task towers,
the same optimizer, learning rate, batch size and epochs, no early stopping) and measures each task's AUC on the
test file. Printed: both walls, pipeline ÷ bare, each component ÷ the Trainer's fit time, and both AUCs.

    python -m bench.pipeline [--config configs/census.yaml] [--rows N]   (N: a subset, data/scale/<N>/)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import List

import yaml

from bench.common import table, write_results
from bench.scale import REPO, measured_run, scaled_data

OUT = os.path.join(REPO, "bench", "results", "pipeline.json")


def run_pipeline(raw: dict, output: str) -> dict:
    """`mtl run --no-cache` on a fresh output; totals, per component figures and the Trainer's fit seconds."""
    import shutil

    shutil.rmtree(output, ignore_errors=True)
    os.makedirs(output)
    raw = dict(raw, output=output)
    config_path = os.path.join(output, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(raw, f, sort_keys=False)
    wall, samples, components = measured_run(config_path, output, ["--no-cache"])
    summary = json.load(open(os.path.join(output, "summary.json")))
    history = _history(output)
    aucs = {m["task"]: m["value"] for m in summary["metrics"] if m["metric"] == "auc"}
    return {"wall_s": round(wall, 1), "cpu_s": round(samples[-1][2], 1) if samples else 0.0,
            "peak_mb": round(max((s[1] for s in samples), default=0) / 2 ** 20), "components": components,
            "fit_s": round(sum(e.get("seconds", 0.0) for e in history), 1), "epochs": len(history), "auc": aucs,
            "verdict": summary["verdict"]}


def _history(output: str) -> List[dict]:
    """The Trainer's history.json (one entry per epoch, with its seconds) of the run on `output`."""
    root = os.path.join(output, "tfx", "Trainer", "model_run")
    latest = max(os.listdir(root), key=int)
    return json.load(open(os.path.join(root, latest, "history.json")))


def bare_script(raw: dict, epochs: int) -> dict:
    """The job as a bare script: pandas, the same model shape and training settings, AUC on the test file."""
    import numpy as np
    import pandas as pd
    import tf_keras
    from sklearn.metrics import roc_auc_score

    started = time.time()
    na = raw["data"].get("na_values", [])
    train = pd.read_csv(raw["data"]["train"], keep_default_na=False, na_values=na or [""], low_memory=False)
    test = pd.read_csv(raw["data"]["eval"], keep_default_na=False, na_values=na or [""], low_memory=False)
    inputs, encoded = [], {"train": [], "test": []}
    for name, feature in raw["features"].items():
        if feature["type"] == "numeric":
            columns = [pd.to_numeric(frame[name], errors="coerce").fillna(0.0) for frame in (train, test)]
            if feature.get("log"):
                columns = [np.log1p(c.clip(lower=0)) for c in columns]
            mean, std = columns[0].mean(), columns[0].std() or 1.0
            layer = tf_keras.Input((1,), name=name)
            inputs.append((layer, layer))
            for split, column in zip(("train", "test"), columns):
                encoded[split].append(((column - mean) / std).to_numpy("float32")[:, None])
        elif feature["type"] == "categorical":
            vocabulary = {v: i + 1 for i, v in enumerate(train[name].astype(str).unique())}  # 0: unseen
            layer = tf_keras.Input((1,), name=name, dtype="int64")
            size = len(vocabulary) + 1
            embedded = tf_keras.layers.Flatten()(tf_keras.layers.Embedding(
                size, min(32, max(2, round(1.6 * size ** 0.56))))(layer))
            inputs.append((layer, embedded))
            for split, frame in (("train", train), ("test", test)):
                encoded[split].append(frame[name].astype(str).map(vocabulary).fillna(0).to_numpy("int64")[:, None])
    model_cfg, training = raw.get("model", {}), raw.get("training", {})
    x = tf_keras.layers.Concatenate()([e for _, e in inputs])
    for units in model_cfg.get("shared_units", [256, 128]):
        x = tf_keras.layers.Dense(units, activation="relu")(x)
    outputs, labels = {}, {"train": {}, "test": {}}
    for task, spec in raw["tasks"].items():
        tower = x
        for units in model_cfg.get("tower_units", [64]):
            tower = tf_keras.layers.Dense(units, activation="relu")(tower)
        outputs[task] = tf_keras.layers.Dense(1, activation="sigmoid", name=task)(tower)
        for split, frame in (("train", train), ("test", test)):
            labels[split][task] = (frame[spec["label"]].astype(str).str.strip() == str(spec["positive"]).strip()) \
                .to_numpy("float32")
    model = tf_keras.Model([i for i, _ in inputs], outputs)
    model.compile(tf_keras.optimizers.Adam(training.get("learning_rate", 0.001)),
                  {t: "binary_crossentropy" for t in outputs})
    prepared = time.time()
    model.fit(encoded["train"], labels["train"], batch_size=training.get("batch_size", 512), epochs=epochs,
              verbose=0, shuffle=True)
    fitted = time.time()
    scores = model.predict(encoded["test"], batch_size=4096, verbose=0)
    aucs = {t: float(roc_auc_score(labels["test"][t], np.asarray(scores[t]).ravel())) for t in outputs}
    return {"wall_s": round(time.time() - started, 1), "prepare_s": round(prepared - started, 1),
            "fit_s": round(fitted - prepared, 1), "auc": aucs}


def report(result: dict) -> str:
    pipe, bare = result["pipeline"], result["bare"]
    fit = pipe["fit_s"] or math.nan
    totals = table(["", "wall s", "CPU s", "peak MB", "fit s (epochs)", *(f"{t} AUC" for t in bare["auc"])], [
        ["pipeline (`mtl run --no-cache`)", pipe["wall_s"], pipe["cpu_s"], pipe["peak_mb"],
         f"{pipe['fit_s']} ({pipe['epochs']})", *(round(pipe["auc"].get(t, math.nan), 4) for t in bare["auc"])],
        ["bare script (pandas + Keras)", bare["wall_s"], "", "", f"{bare['fit_s']} ({result['epochs']})",
         *(round(v, 4) for v in bare["auc"].values())]])
    parts = table(["component", "wall s", "CPU s", "peak MB", "÷ Trainer fit"],
                  [[c["component"], c["wall_s"], c["cpu_s"], c["peak_mb"], round(c["wall_s"] / fit, 2)]
                   for c in pipe["components"] if c["wall_s"] >= 1])
    in_components = sum(c["wall_s"] for c in pipe["components"])
    return (f"{result['rows']:,} rows; pipeline ÷ bare script: {pipe['wall_s'] / bare['wall_s']:.1f} (wall), "
            f"components {in_components:.0f} s = {in_components / fit:.1f} × the Trainer's fit\n\n{totals}\n\n{parts}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=os.path.join(REPO, "configs", "census.yaml"))
    parser.add_argument("--rows", type=int, default=0, help="total rows of a census subset (0: the config's data)")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--report", action="store_true", help="only print the table of the results in --out")
    args = parser.parse_args(argv)
    if args.report:
        print(report(json.load(open(args.out))["result"]))
        return
    raw = yaml.safe_load(open(args.config))
    if args.rows:
        paths = scaled_data(args.rows)
        raw["data"] = {**raw["data"], "train": paths["train"], "eval": paths["eval"]}
    for split in ("train", "eval"):
        if not os.path.exists(raw["data"][split]):
            sys.exit(f"{raw['data'][split]} missing: run `make data` first")
    raw["data"] = {k: os.path.abspath(v) if k in ("train", "eval") else v for k, v in raw["data"].items()}
    if raw.get("schema"):
        raw["schema"] = os.path.abspath(raw["schema"])
    rows = sum(sum(1 for _ in open(raw["data"][s])) - 1 for s in ("train", "eval"))
    print(f"pipeline on {rows:,} rows ...", flush=True)
    pipe = run_pipeline(raw, os.path.join(REPO, "runs", "bench-pipeline"))
    print(f"  {pipe['wall_s']} s ({pipe['verdict']}); bare script, {pipe['epochs']} epochs ...", flush=True)
    bare = bare_script(raw, pipe["epochs"])
    result = {"rows": rows, "epochs": pipe["epochs"], "pipeline": pipe, "bare": bare,
              "load": round(os.getloadavg()[0], 1)}
    write_results(args.out, {"result": result})
    print("\n" + report(result) + f"\n\nwrote {args.out}")


if __name__ == "__main__":
    main()
