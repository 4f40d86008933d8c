"""The support-bot MTL claim, measured: one multi-task model vs five single-task models on the same data.

Data: the training file of `configs/support.yaml` (16,000 generated tickets, seed 7, ~85 of the long-tail intent
`unauthorized_charge`) and a separate 40,000-ticket test file (seed 1007, ~200 long-tail rows, so the long-tail
recall is measured on more than a handful of rows). The pipeline's own data half (validation + Transform) runs
once on them; then every variant is trained in memory with the project's `build_model` for the config's epochs
(no early stopping: nothing is selected on the test file), for several training seeds:

  multi-task     all five tasks in one model: the config's shared_bottom; with uncertainty weighting; with
                 keywords weighted 4 (it is labelled on only 30 % of rows); an MMoE (4 experts of 64 units)
  single-task    the same network with one task, one model per task

Reported per variant (mean ± sd over seeds): intent accuracy, intent macro-F1, long-tail recall and precision
(argmax), keywords macro-AUC (9 labels, annotated rows only) and micro-AUC, sentiment accuracy, escalate AUC,
handling-minutes MAE. Then the serving cost: the multi-task model and the five single-task models exported with
the project's exporter (TFT graph inside), loaded in this process, and timed on `serving_default` for batch 1
and 64 — one call answering all tasks vs five calls (interleaved, p50/p99), plus size on disk. Over a network
(TF Serving REST/gRPC) each call adds its own round trip; see bench/serving.py for that.

    python -m bench.support [--seeds 3] [--train-rows N] [--epochs N] [--report] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import yaml
from pathlib import Path

from bench.common import finish, fit_timed, mean_std, parameter_count, table, with_changes, write_results
from pipeline import config as cfg

ROOT = "runs/bench-support"
OUT = "bench/results/support.json"
TASKS = ("intent", "keywords", "sentiment", "escalate", "handling_minutes")
LONG_TAIL = "unauthorized_charge"
MMOE = {"architecture": "mmoe", "experts": 4, "expert_units": [64], "tower_units": [32], "embedding_dim": 32}


def variants():
    """name -> {model: config or None (the config's own), tasks, training changes, task weights}."""
    fixed = {"loss_weighting": "fixed"}  # explicit: the shipped config uses uncertainty
    multi = lambda **kw: {"model": None, "tasks": TASKS, "training": fixed, "weights": {}, **kw}  # noqa: E731
    found = {"multi-task shared_bottom": multi(), "multi-task mmoe": multi(model=MMOE),
             "multi-task shared_bottom uncertainty": multi(training={"loss_weighting": "uncertainty"}),
             "multi-task shared_bottom keywords weight 4": multi(weights={"keywords": 4.0})}
    found.update({f"single-task {t}": multi(tasks=(t,)) for t in TASKS})
    return found


def prepare(config_path: str):
    """Generate the test file, run the pipeline's data half once; return (config, tf_transform_output, train, test)."""
    from components.datasets import support
    from pipeline.runners import local

    raw = yaml.safe_load(open(config_path))
    data = os.path.join(ROOT, "data")
    if not os.path.isfile(os.path.join(data, "test.csv")):
        support.generate(data, rows=20000, seed=7)  # train.csv == the config's training file
        support.write_csv(list(support.tickets(40000, seed=1007)), Path(data, "test.csv"))
    raw["data"] = {"train": os.path.join(data, "train.csv"), "eval": os.path.join(data, "test.csv")}
    raw["output"] = ROOT
    raw["training"] = {**raw.get("training", {}), "early_stopping_patience": 0}
    config = cfg.parse_config(raw)
    from bench.census import load_split, transform_dirs

    found = transform_dirs(config)
    if found is None:
        print("running the pipeline's data half on the benchmark data", flush=True)
        local.run(config, until="transform")
        found = transform_dirs(config)
    import tensorflow_transform as tft

    output = tft.TFTransformOutput(found[0])
    spec = output.transformed_feature_spec()
    widths = {cfg.label_key(n): len(t.classes or []) for n, t in config.tasks.items() if t.type == "multilabel"}
    return config, output, load_split(found[1], "train", spec, widths), load_split(found[1], "eval", spec, widths)


def metrics(config, predictions, test) -> dict:
    from bench.census import auc

    found = {}
    tasks = config.tasks
    if "intent" in predictions:
        mask = test[cfg.mask_key("intent")] > 0
        y, guess = test[cfg.label_key("intent")][mask], predictions["intent"][mask].argmax(axis=1)
        classes = tasks["intent"].classes
        tail = classes.index(LONG_TAIL)
        f1 = []
        for k in range(len(classes)):
            tp, fp = np.sum((guess == k) & (y == k)), np.sum((guess == k) & (y != k))
            fn = np.sum((guess != k) & (y == k))
            f1.append(2 * tp / max(1, 2 * tp + fp + fn))
        found.update({"intent accuracy": float(np.mean(guess == y)), "intent macro_f1": float(np.mean(f1)),
                      "long-tail recall": float(np.mean(guess[y == tail] == tail)),
                      "long-tail precision": float(np.mean(y[guess == tail] == tail)) if np.any(guess == tail)
                      else 0.0, "long-tail test rows": int(np.sum(y == tail))})
    if "keywords" in predictions:
        mask = test[cfg.mask_key("keywords")] > 0
        ids, scores = test[cfg.label_key("keywords")][mask], predictions["keywords"][mask]
        hot = np.zeros_like(scores)
        for k in range(scores.shape[1]):
            hot[:, k] = np.any(ids == k, axis=1)
        found["keywords macro_auc"] = float(np.mean([auc(hot[:, k], scores[:, k]) for k in range(scores.shape[1])]))
        found["keywords micro_auc"] = auc(hot.ravel(), scores.ravel())
    if "sentiment" in predictions:
        mask = test[cfg.mask_key("sentiment")] > 0
        found["sentiment accuracy"] = float(np.mean(
            predictions["sentiment"][mask].argmax(axis=1) == test[cfg.label_key("sentiment")][mask]))
    if "escalate" in predictions:
        found["escalate auc"] = auc(test[cfg.label_key("escalate")], predictions["escalate"][:, 0],
                                     test[cfg.mask_key("escalate")])
    if "handling_minutes" in predictions:
        mask = test[cfg.mask_key("handling_minutes")] > 0
        found["minutes mae"] = float(np.mean(np.abs(predictions["handling_minutes"][mask, 0]
                                                    - test[cfg.label_key("handling_minutes")][mask])))
    return found


def train_variant(base, name, spec, seed, tf_transform_output, train, test):
    import dataclasses

    import tf_keras

    from bench.census import as_dataset
    from trainer.model import Vocabularies, build_model, regression_label_stats

    raw = json.loads(json.dumps(base))
    for task, weight in spec["weights"].items():
        raw["tasks"][task]["weight"] = weight
    config = with_changes(raw, model=spec["model"], training={**spec["training"], "seed": seed}, tasks=spec["tasks"])
    tf_keras.utils.set_random_seed(seed)
    data = as_dataset(config, train, seed)
    vocabularies = dataclasses.replace(Vocabularies.from_transform_output(config, tf_transform_output),
                                       label_stats=regression_label_stats(config, as_dataset(config, train)))
    model = build_model(config, vocabularies)
    fit = fit_timed(model, data, config.training.epochs)
    predictions = model.predict(as_dataset(config, test), verbose=0)
    result = {"variant": name, "seed": seed, "parameters": parameter_count(model), "seconds": fit["seconds"],
              **metrics(config, predictions, test)}
    return result, model


def serving_cost(models, tf_transform_output, test_csv, reps=(300, 60)):
    """Export each model, load it back, time one multi-task call vs the single-task calls (interleaved)."""
    import csv

    import tensorflow as tf

    from serving.contract import ModelContract
    from trainer import export

    loaded, sizes = {}, {}
    for name, model in models.items():
        directory = os.path.join(ROOT, "models", name.replace(" ", "_"))
        export.export(model, tf_transform_output, directory)
        sizes[name] = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(directory) for f in fs)
        loaded[name] = (tf.saved_model.load(directory).signatures["serving_default"], ModelContract.load(directory))
    rows = list(csv.DictReader(open(test_csv, encoding="utf-8")))[:64]
    single = [n for n in models if n.startswith("single-task")]
    results = {}
    for batch, count in zip((1, 64), reps):
        batches = {n: tf.constant(c.examples(rows[:batch], ignore_unknown=True)) for n, (_, c) in loaded.items()}
        call = lambda n: loaded[n][0](examples=batches[n])  # noqa: E731
        for name in loaded:  # warm-up: first calls trace and allocate
            call(name)
        one, many = [], []
        for _ in range(count):
            start = time.perf_counter()
            call("multi-task shared_bottom")
            one.append(time.perf_counter() - start)
            start = time.perf_counter()
            for name in single:
                call(name)
            many.append(time.perf_counter() - start)
        results[batch] = {"one multi-task call": _percentiles(one),
                          f"{len(single)} single-task calls": _percentiles(many),
                          "ratio p50": statistics.median(one) / statistics.median(many)}
    return {"latency": results, "bytes": {"multi-task": sizes["multi-task shared_bottom"],
                                          "single-task total": sum(sizes[n] for n in single)}}


def _percentiles(seconds):
    ms = sorted(s * 1000 for s in seconds)
    return {"p50": ms[len(ms) // 2], "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))]}


COLUMNS = ["intent accuracy", "intent macro_f1", "long-tail recall", "long-tail precision", "keywords macro_auc",
           "keywords micro_auc", "sentiment accuracy", "escalate auc", "minutes mae"]


def report(saved) -> str:
    results = saved["results"]
    by_variant = {}
    for r in results:
        by_variant.setdefault(r["variant"], []).append(r)
    quality = []
    for name, runs in by_variant.items():
        cells = [mean_std([r[c] for r in runs]) if c in runs[0] else "" for c in COLUMNS]
        quality.append([name, *cells, runs[0]["parameters"], f"{statistics.mean(r['seconds'] for r in runs):.0f}"])
    # the five single-task models side by side, as one row
    single = {c: mean_std([r[c] for name, runs in by_variant.items() if name.startswith("single-task")
                           for r in runs if c in r]) for c in COLUMNS}
    quality.append(["five single-task models (combined)", *(single[c] for c in COLUMNS),
                    sum(runs[0]["parameters"] for n, runs in by_variant.items() if n.startswith("single-task")), ""])
    tail = saved.get("long_tail_train_rows", "?")
    lines = [f"{saved.get('train_rows', '?')} training rows ({tail} of the long-tail intent), "
             f"{len(next(iter(by_variant.values())))} training seeds; test rows with the long-tail intent: "
             f"{results[0].get('long-tail test rows', '?')}", "",
             table(["variant", *COLUMNS, "params", "train s"], quality)]
    if "serving" in saved:
        serving = saved["serving"]
        rows = []
        for batch, entry in serving["latency"].items():
            names = [k for k in entry if k != "ratio p50"]
            rows.append([batch, *(f"{entry[n]['p50']:.2f} / {entry[n]['p99']:.2f}" for n in names),
                         f"{entry['ratio p50']:.2f}"])
        lines += ["", table(["batch", *(f"{n} ms p50 / p99" for n in names), "one ÷ five (p50)"], rows),
                  f"on disk: multi-task {serving['bytes']['multi-task'] / 1e6:.1f} MB, five single-task "
                  f"{serving['bytes']['single-task total'] / 1e6:.1f} MB"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/support.yaml")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per variant")
    parser.add_argument("--train-rows", type=int, help="train on only the first N training rows (fewer long-tail "
                        "examples; the test file stays the same)")
    parser.add_argument("--epochs", type=int, help="override the config's epochs (quick checks)")
    parser.add_argument("--report", action="store_true", help="print the tables of --out and exit")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    if args.report:
        print(report(json.load(open(args.out))))
        return
    config, tf_transform_output, train, test = prepare(args.config)
    if args.train_rows:
        train = {key: value[: args.train_rows] for key, value in train.items()}
    print(f"{len(train[cfg.mask_key('intent')])} train / {len(test[cfg.mask_key('intent')])} test rows", flush=True)
    base = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    if args.epochs:
        base["training"]["epochs"] = args.epochs
    classes = config.tasks["intent"].classes
    shape = {"train_rows": len(train[cfg.mask_key("intent")]),
             "long_tail_train_rows": int(np.sum(train[cfg.label_key("intent")] == classes.index(LONG_TAIL)))}
    results, first_models = [], {}
    for seed in range(args.seeds):
        for name, spec in variants().items():
            result, model = train_variant(base, name, spec, 42 + seed, tf_transform_output, train, test)
            results.append(result)
            if seed == 0 and (name == "multi-task shared_bottom" or name.startswith("single-task")):
                first_models[name] = model
            print(f"seed {seed} {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()
                                                      if k in COLUMNS) + f" ({result['seconds']:.0f}s)", flush=True)
            write_results(args.out, {"config": args.config, **shape, "results": results})
    serving = serving_cost(first_models, tf_transform_output, config.data.eval)
    saved = {"config": args.config, **shape, "results": results, "serving": serving}
    finish(args.out, saved, report(saved))


if __name__ == "__main__":
    main()
