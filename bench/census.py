"""Census-Income (KDD), the MMoE paper's task pair (income > 50K, never married), on the official test file.

Trains single-task models and shared_bottom / mmoe / ple, each with fixed / uncertainty / gradnorm loss
weighting, plus dwa and pcgrad on shared_bottom, with the project's own trainer (trainer.model.build_model)
on the pipeline's own Transform output, in memory. Reports each task's test AUC (10,000 thresholds, as TFMA),
parameters and training time; `--throughput` measures training examples/s of every weighting relative to
`fixed` (interleaved timed epochs, median: single runs vary by a quarter on a shared machine). Training settings
are the config's (epochs, batch size, learning rate, early stopping on the eval split, as the Trainer does).

    python -m bench.census [--config configs/census.yaml] [--only NAME ...] [--throughput] [--report]

The Transform output is taken from the config's run directory; when there is none, the data half of the
pipeline runs first (`mtl run --until transform`, ~5 min on the full data).
"""
from __future__ import annotations

import argparse
import json
import os
import time

from bench.common import (as_dataset, fit_timed, load_split, parameter_count, table, transform_dirs,  # noqa: F401
                          with_changes, write_results)
from pipeline import config as cfg

TASKS = ("income", "never_married")
EXPERTS = {"expert_units": [128, 64], "tower_units": [64]}
ARCHITECTURES = {
    "shared_bottom": {"architecture": "shared_bottom", "shared_units": [256, 128], "tower_units": [64]},
    "mmoe": {"architecture": "mmoe", "experts": 4, **EXPERTS},
    "ple": {"architecture": "ple", "levels": 2, "shared_experts": 2, "task_experts": 1, **EXPERTS},
}
REFERENCES = [  # measured on this machine on the same split, or published (see README)
    ("scikit-learn HistGradientBoosting, one model per task", 0.9554, 0.9948),
    ("plain tf_keras shared-bottom script (256-128 / 64, 5 epochs)", 0.9492, 0.9947),
    ("PaddleRec MMoE reproduction (mean of runs)", 0.9447, 0.9932),
    ("goal of issue 4: one multi-task model", 0.956, 0.996),
]


def variants():
    """name -> (model config, training changes, tasks)."""
    found = {f"single_task {t}": (ARCHITECTURES["shared_bottom"], {}, (t,)) for t in TASKS}
    for architecture, model in ARCHITECTURES.items():
        for weighting in ("fixed", "uncertainty", "gradnorm"):
            found[f"{architecture} {weighting}"] = (model, {"loss_weighting": weighting}, TASKS)
    found["shared_bottom dwa"] = (ARCHITECTURES["shared_bottom"], {"loss_weighting": "dwa"}, TASKS)
    found["shared_bottom fixed+pcgrad"] = (ARCHITECTURES["shared_bottom"], {"gradient_surgery": "pcgrad"}, TASKS)
    return found


def auc(labels, scores, weights=None):
    import tf_keras

    metric = tf_keras.metrics.AUC(num_thresholds=10000)
    metric.update_state(labels, scores, sample_weight=weights)
    return float(metric.result())


def run_variant(base, name, spec, tf_transform_output, train, test):
    import tf_keras

    from trainer.model import Vocabularies, build_model

    model_config, training, tasks = spec
    config = with_changes(base, model=model_config, training=training, tasks=tasks)
    tf_keras.utils.set_random_seed(config.training.seed)
    model = build_model(config, Vocabularies.from_transform_output(config, tf_transform_output))
    fit = fit_timed(model, as_dataset(config, train, config.training.seed), config.training.epochs,
                    validation=as_dataset(config, test), patience=config.training.early_stopping_patience)
    predictions = model.predict(as_dataset(config, test), verbose=0)
    aucs = {t: auc(test[cfg.label_key(t)], predictions[t][:, 0], test[cfg.mask_key(t)]) for t in tasks}
    rows = len(next(iter(train.values())))
    weights = {t: [round(w, 4) for w in fit["history"][f"{t}_weight"]] for t in tasks}
    return {"variant": name, "auc": aucs, "parameters": parameter_count(model), "seconds": fit["seconds"],
            "epochs": fit["epochs"], "examples_per_second": rows * fit["epochs"] / fit["seconds"],
            "task_weights": weights}


def warm_up(base, tf_transform_output, train):
    """One untimed epoch on 20k rows: TensorFlow's one-time start-up costs would otherwise land on the first
    variant's time and skew the throughput comparison."""
    sample = {key: value[:20000] for key, value in train.items()}
    run_variant({**base, "training": {**base["training"], "epochs": 1}}, "warm-up",
                variants()["shared_bottom fixed"], tf_transform_output, sample, sample)


def throughput(base, tf_transform_output, train, rounds: int = 3, rows: int = 100_000):
    """Median training examples/s of each shared_bottom weighting: models built once, one untimed epoch each,
    then `rounds` timed epochs on `rows` rows taken round-robin, so drift on a shared machine hits all alike."""
    import statistics

    import tf_keras

    from trainer.model import Vocabularies, build_model

    sample = {key: value[:rows] for key, value in train.items()}
    runs = {}
    for name, (model_config, training, tasks) in variants().items():
        if name.startswith("shared_bottom"):
            config = with_changes(base, model=model_config, training=training, tasks=tasks)
            tf_keras.utils.set_random_seed(config.training.seed)
            model = build_model(config, Vocabularies.from_transform_output(config, tf_transform_output))
            data = as_dataset(config, sample, config.training.seed)
            fit_timed(model, data, 1)
            runs[name.split(" ", 1)[1]] = (model, data, [])
    for _ in range(rounds):
        for model, data, speeds in runs.values():
            speeds.append(rows / fit_timed(model, data, 1)["seconds"])
    return {name: {"median": statistics.median(s), "min": min(s), "max": max(s)} for name, (_, _, s) in runs.items()}


def report(results, speeds=None):
    """The AUC table (with references) and the throughput table of shared_bottom weightings."""
    lines = [table(["variant", *(f"{t} AUC" for t in TASKS), "params", "epochs", "train s"],
                   [[r["variant"], *(f"{r['auc'][t]:.4f}" if t in r["auc"] else "" for t in TASKS), r["parameters"],
                     r["epochs"], f"{r['seconds']:.0f}"] for r in results]
                   + [[f"ref: {n}", f"{a:.4f}", f"{b:.4f}", "", "", ""] for n, a, b in REFERENCES])]
    if speeds:
        fixed = speeds["fixed"]["median"]
        lines += ["", table(["shared_bottom weighting", "examples/s (median)", "min – max", "relative to fixed"],
                            [[name, f"{s['median']:.0f}", f"{s['min']:.0f} – {s['max']:.0f}",
                              f"{s['median'] / fixed:.2f}"] for name, s in speeds.items()])]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/census.yaml")
    parser.add_argument("--only", nargs="*", help="variant names to (re)run, merged into --out (default: all); "
                                                  "see --list")
    parser.add_argument("--list", action="store_true", help="print the variant names and exit")
    parser.add_argument("--report", action="store_true", help="print the tables of --out and exit")
    parser.add_argument("--throughput", action="store_true", help="only measure training throughput of each "
                        "shared_bottom weighting (interleaved epochs, median), merged into --out")
    parser.add_argument("--out", default="bench/results/census.json")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(variants()))
        return
    saved = {}
    if os.path.isfile(args.out):
        with open(args.out) as f:
            saved = json.load(f)
    if args.report:
        print(report(saved.get("results", []), saved.get("throughput")))
        return
    kept = saved.get("results", []) if args.only or args.throughput else []
    config = cfg.load_config(args.config)
    found = transform_dirs(config)
    if found is None:
        from pipeline.runners import local

        print(f"no Transform output under {config.output_dir}: running the data half first", flush=True)
        local.run(config, until="transform")
        found = transform_dirs(config)
    import tensorflow_transform as tft

    tf_transform_output = tft.TFTransformOutput(found[0])
    spec = tf_transform_output.transformed_feature_spec()
    start = time.perf_counter()
    train, test = load_split(found[1], "train", spec), load_split(found[1], "eval", spec)
    print(f"loaded {len(train[cfg.label_key(TASKS[0])])} train / {len(test[cfg.label_key(TASKS[0])])} test rows "
          f"from {found[1]} in {time.perf_counter() - start:.0f}s", flush=True)
    base = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    speeds = saved.get("throughput")
    if args.throughput:
        speeds = throughput(base, tf_transform_output, train)
        write_results(args.out, {"config": args.config, "results": kept, "throughput": speeds})
        print(report(kept, speeds))
        print(f"\nwrote {args.out}")
        return
    chosen = {n: s for n, s in variants().items() if not args.only or n in args.only}
    warm_up(base, tf_transform_output, train)
    order = list(variants())
    results = {r["variant"]: r for r in kept}
    for name, variant in chosen.items():
        result = run_variant(base, name, variant, tf_transform_output, train, test)
        results[name] = result
        print(f"{name}: AUC {result['auc']} in {result['seconds']:.0f}s ({result['epochs']} epochs)", flush=True)
        ordered = sorted(results.values(), key=lambda r: order.index(r["variant"]) if r["variant"] in order else 99)
        write_results(args.out, {"config": args.config, "results": ordered, "throughput": speeds})
    print()
    print(report(ordered, speeds))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
