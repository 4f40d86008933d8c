"""ATIS joint intent detection + slot filling (issue 20, item 7): intent accuracy, slot F1 (CoNLL rules) and
frame accuracy (intent and every tag right) on the 893 test utterances, for the single-task models and the joint
model per text encoder, with and without a CRF, next to the published joint models on the same test set.

The models train in memory on the pipeline's own Transform output of configs/atis.yaml (`mtl run --until
transform`, once; the encoder and the tagging head are model settings, so every variant shares it) with
trainer.model.build_model and the Trainer's schedule (early stopping on the eval split: the published dev set).
The test utterances go through the exported transform graph, as a served request would; gold tags are the CSV's
own strings, so a tag the training data never had still counts as a missed span.

    python -m bench.atis [--only VARIANT ...] [--seeds N] [--epochs N]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np

from bench.common import as_dataset, load_split, parameter_count, table, transform_dirs, write_results
from pipeline import config as cfg

CONFIG = "configs/atis.yaml"
OUT = "bench/results/atis.json"
ENCODERS = ("bag", "cnn", "bilstm", "bigru", "transformer")
# name -> (tasks kept, text encoder, crf)
VARIANTS = {"intent_only": (["intent"], "bigru", False), "slots_only": (["slots"], "bigru", False),
            **{f"joint_{e}": (["intent", "slots"], e, False) for e in ENCODERS},
            **{f"joint_{e}_crf": (["intent", "slots"], e, True) for e in ENCODERS}}
# Published figures on the same 893 test utterances (slot F1, intent accuracy, frame accuracy), as reported.
PUBLISHED = [("Goo et al. 2018, slot-gated", 95.2, 94.1, 82.6),
             ("Qin et al. 2019, Stack-Propagation", 95.9, 96.9, 86.5),
             ("Chen et al. 2019, JointBERT (pre-trained BERT)", 96.1, 97.5, 88.2)]
GOAL = {"slot_f1": 95.5, "intent_accuracy": 97.0, "frame_accuracy": 86.5}


def variant_config(raw: dict, name: str, seed: int, epochs=None) -> cfg.Config:
    tasks, encoder, crf = VARIANTS[name]
    raw = json.loads(json.dumps(raw))
    raw["tasks"] = {t: raw["tasks"][t] for t in tasks}
    text = raw["features"]["text"]
    text["encoder"] = encoder
    if encoder == "bag":  # the other encoders' width and depth do not apply
        for key in ("encoder_units", "encoder_layers", "encoder_heads"):
            text.pop(key, None)
    if "slots" in raw["tasks"]:
        raw["tasks"]["slots"]["crf"] = crf
    fixed = {"epochs": epochs, "early_stopping_patience": 0} if epochs else {}
    raw["training"] = {**raw.get("training", {}), "seed": seed, **fixed}
    return cfg.parse_config(raw)


def transformed(config: cfg.Config):
    """(TFTransformOutput, train columns, eval columns) of configs/atis.yaml's Transform run (made if absent)."""
    import tensorflow_transform as tft

    if transform_dirs(config) is None:
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "mtl"), "run", "--config", CONFIG,
                        "--until", "transform"], check=True)
    graph, examples = transform_dirs(config)
    output = tft.TFTransformOutput(graph)
    spec = output.transformed_feature_spec()
    return output, load_split(examples, "train", spec), load_split(examples, "eval", spec)


def test_rows(config: cfg.Config) -> List[Dict[str, str]]:
    with open(os.path.join(os.path.dirname(config.data.train), "test.csv"), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def transform_rows(output, rows: List[Dict[str, str]]) -> Dict[str, np.ndarray]:
    """The test rows through the transform graph, as raw tf.Examples (text and labels as strings)."""
    import tensorflow as tf

    def example(row):
        feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()])) for k, v in row.items()}
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    spec = {k: v for k, v in output.raw_feature_spec().items() if k in rows[0]}
    parsed = tf.io.parse_example([example(r) for r in rows], spec)
    return {k: v.numpy() for k, v in output.transform_features_layer()(parsed).items()
            if not isinstance(v, tf.SparseTensor)}


def scores(config, model, vocabularies, test, rows) -> Dict[str, float]:
    """Intent accuracy, slot F1 / precision / recall and frame accuracy (percent) on the test rows."""
    import tensorflow as tf

    from components.span_metrics import span_scores
    from trainer import tagging
    from trainer.inputs import input_keys

    outputs = model({k: tf.constant(test[k]) for k in input_keys(config)}, training=False)
    found, intents, tags = {}, None, None
    if "intent" in config.tasks:
        names = vocabularies.classes["intent"]
        intents = [names[i] for i in np.argmax(outputs["intent"].numpy(), axis=-1)]
        found["intent_accuracy"] = 100 * np.mean([p == r["intent"] for p, r in zip(intents, rows)])
    if "slots" in config.tasks:
        crf = model.get_layer("slots") if config.tasks["slots"].crf else None
        ids = tagging.tag_ids(outputs["slots"], tf.constant(test["text"]), crf).numpy()
        names = vocabularies.classes["slots"]
        tags = [[names[i] for i in row[: len(r["slot_tags"].split())]] for row, r in zip(ids, rows)]
        span = span_scores([r["slot_tags"].split() for r in rows], tags)
        found.update(slot_f1=100 * span["f1"], slot_precision=100 * span["precision"],
                     slot_recall=100 * span["recall"])
    if intents is not None and tags is not None:
        found["frame_accuracy"] = 100 * np.mean([i == r["intent"] and t == r["slot_tags"].split()
                                                 for i, t, r in zip(intents, tags, rows)])
    return found


def run_variant(raw, name, seed, data, rows, epochs=None) -> dict:
    import tf_keras

    from bench.tabular import _fit
    from trainer.model import Vocabularies, build_model

    output, train, evaluation, test = data
    config = variant_config(raw, name, seed, epochs)
    tf_keras.utils.set_random_seed(seed)
    vocabularies = Vocabularies.from_transform_output(config, output)
    model = build_model(config, vocabularies)
    fit = _fit(config, model, train, evaluation)
    return {"variant": name, "seed": seed, "seconds": fit["seconds"], "epochs": fit["epochs"],
            "parameters": parameter_count(model), **scores(config, model, vocabularies, test, rows)}


def summarize(runs: List[dict]) -> List[dict]:
    """Mean (and spread) per variant over its seeds."""
    found = []
    for name in VARIANTS:
        mine = [r for r in runs if r["variant"] == name]
        if not mine:
            continue
        row = {"variant": name, "seeds": len(mine), "seconds": float(np.mean([r["seconds"] for r in mine]))}
        for key in ("intent_accuracy", "slot_f1", "frame_accuracy"):
            values = [r[key] for r in mine if key in r]
            if values:
                row[key], row[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
        found.append(row)
    return found


def report(summary: List[dict]) -> str:
    def cell(row, key):
        if key not in row:
            return "-"
        return f"{row[key]:.2f}" + (f" ± {row[key + '_std']:.2f}" if row["seeds"] > 1 else "")

    lines = [[r["variant"], r["seeds"], cell(r, "slot_f1"), cell(r, "intent_accuracy"), cell(r, "frame_accuracy"),
              f"{r['seconds']:.0f}"] for r in summary]
    lines += [[f"published: {name}", "-", f"{f1:.1f}", f"{acc:.1f}", f"{frame:.1f}", "-"]
              for name, f1, acc, frame in PUBLISHED]
    lines.append(["goal (issue 20, no pre-training)", "-", f">= {GOAL['slot_f1']}", f">= {GOAL['intent_accuracy']}",
                  f">= {GOAL['frame_accuracy']}", "-"])
    return table(["model", "seeds", "slot F1", "intent acc", "frame acc", "train s"], lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), help="variants to run (default: all)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="fixed epochs instead of early stopping")
    parser.add_argument("--append", action="store_true", help="keep the other variants' runs already in " + OUT)
    args = parser.parse_args(argv)
    from components.datasets.atis import prepare

    info = prepare()
    config = cfg.load_config(CONFIG)
    raw = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    output, train, evaluation = transformed(config)
    rows = test_rows(config)
    data = (output, train, evaluation, transform_rows(output, rows))
    chosen = args.only or list(VARIANTS)
    runs = []
    if args.append and os.path.exists(OUT):
        with open(OUT) as f:
            runs = [r for r in json.load(f)["runs"] if r["variant"] not in chosen]
    for name in chosen:
        for seed in range(args.seeds):
            started = time.perf_counter()
            runs.append(run_variant(raw, name, seed, data, rows, args.epochs))
            print(f"{name} seed {seed}: {json.dumps({k: v for k, v in runs[-1].items() if k != 'variant'})} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
            write_results(OUT, {"data": info, "runs": runs, "summary": summarize(runs), "published": PUBLISHED})
    print("\n" + report(summarize(runs)) + f"\n\nwrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
