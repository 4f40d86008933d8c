"""Real multi-target tabular data, task by task: per-task scikit-learn HistGradientBoosting against our single-task
models, our multi-task default (the config as it is) and a "best" multi-task candidate (issue 19, item 5).

Data sets: bench/tabular_data.py (penguins, wage, movies, loans out of pinned wheels) and census (`mtl data
census`). Our models train in memory on the pipeline's own Transform output (`mtl run --until transform`, once per
distinct data/feature section: a variant that changes the features gets its own output directory, keyed by their
hash) with trainer.model.build_model; the GBDT reads the same CSV columns. Metrics on the eval split, computed the
same way for both: binary AUC, multiclass accuracy, regression MAE and RMSE (with the train-median MAE and
train-mean RMSE as constant references). Early stopping, where the config asks for it, watches the eval split, as
the Trainer does.

    python -m bench.tabular [--dataset NAME ...] [--only VARIANT ...] [--report]

A variant is a dict of config overrides (`VARIANTS`), merged into the dataset's config; one the config does not
accept yet is reported as skipped, with the validation error.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import time

import numpy as np

from bench import tabular_data
from bench.common import as_dataset, load_split, parameter_count, table, transform_dirs, write_results
from pipeline import config as cfg

CONFIGS = {**{name: d.config for name, d in tabular_data.DATASETS.items()}, "census": "configs/census.yaml"}
OUT = "bench/results/tabular.json"
BEST = "best"  # the variant marked as our best multi-task candidate
# name -> overrides (nested dicts merged into the config; "tasks": [names] keeps only those tasks). Every dataset
# also gets "single_task <task>" = {"tasks": [task]} per task.
VARIANTS = {
    "mtl_default": {},
    # every categorical value and token keeps its own id (the default before model.min_frequency = 5)
    "mtl_min_frequency_1": {"model": {"min_frequency": 1}},
    # the Trainer's defaults when training is not configured: until converged, batch from the row count
    "mtl_converge": {"training": {"epochs": None, "batch_size": None, "early_stopping_patience": None}},
    "mtl_converge_huber": {"regression_loss": "huber",
                           "training": {"epochs": None, "batch_size": None, "early_stopping_patience": None}},
    "mtl_converge_mae": {"regression_loss": "mae",
                         "training": {"epochs": None, "batch_size": None, "early_stopping_patience": None}},
    "mtl_converge_ple": {"model": {"numeric_encoding": "piecewise_linear"},
                         "training": {"epochs": None, "batch_size": None, "early_stopping_patience": None}},
    "mtl_converge_ple_cross": {"model": {"numeric_encoding": "piecewise_linear", "cross_layers": 2},
                               "training": {"epochs": None, "batch_size": None, "early_stopping_patience": None}},
    BEST: {"model": {"architecture": "mmoe", "experts": 4, "expert_units": [256, 128], "dropout": 0.1},
           "training": {"epochs": 60, "early_stopping_patience": 6}},
}
# dataset -> variants only that dataset's columns allow (explicit crosses name its categorical features)
DATASET_VARIANTS = {
    "census": {"mtl_crosses": {"features": {
        "education_x_occupation": {"type": "cross", "of": ["education", "major_occupation_code"], "buckets": 2048},
        "worker_x_industry": {"type": "cross", "of": ["class_of_worker", "major_industry_code"], "buckets": 2048},
        "sex_x_household": {"type": "cross", "of": ["sex", "detailed_household_summary_in_household"],
                            "buckets": 512}}}},
}
METRICS = {"binary": ("auc",), "multiclass": ("accuracy",), "regression": ("mae", "rmse")}
LOWER_IS_BETTER = {"mae", "rmse"}


def merged(raw: dict, overrides: dict) -> dict:
    """raw with overrides merged in (dicts recursively, anything else replaced); "tasks" given as a list keeps
    only those tasks; "regression_loss" sets the loss of every regression task."""
    out = json.loads(json.dumps(raw))
    for key, value in overrides.items():
        if key == "regression_loss":  # every regression task trained with this loss
            for task in out["tasks"].values():
                if task.get("type") == "regression":
                    task["loss"] = value
        elif key == "tasks" and isinstance(value, list):
            out["tasks"] = {name: out["tasks"][name] for name in value}
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def variants(config: cfg.Config) -> dict:
    """Every variant of a dataset: name -> overrides, single-task models first."""
    return {**{f"single_task {t}": {"tasks": [t]} for t in config.tasks}, **VARIANTS,
            **DATASET_VARIANTS.get(config.name, {})}


def features_key(raw: dict) -> str:
    """Hash of what Transform reads (data, schema, the data contract: features with their resolved encodings):
    variants sharing it share one Transform output."""
    part = {**{k: raw.get(k) for k in ("data", "schema")}, "contract": cfg.data_contract(cfg.parse_config(raw))}
    return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------------------- metrics
def metrics(task: cfg.Task, labels, predictions) -> dict:
    """Eval metrics of one task from labelled rows: labels as the transformed targets (0/1, class index, value),
    predictions as the model outputs (P(positive), class probabilities, value)."""
    from sklearn.metrics import accuracy_score, mean_absolute_error, mean_squared_error, roc_auc_score

    if task.type == "binary":
        return {"auc": float(roc_auc_score(labels, predictions))}
    if task.type == "multiclass":
        return {"accuracy": float(accuracy_score(labels, np.argmax(predictions, axis=1)))}
    return {"mae": float(mean_absolute_error(labels, predictions)),
            "rmse": float(mean_squared_error(labels, predictions) ** 0.5)}


# ---------------------------------------------------------------------------------------------- GBDT
def gbdt(config: cfg.Config, seed: int = 0) -> dict:
    """Per task: HistGradientBoosting (300 iterations, no early stopping) on the config's feature columns of the
    raw CSVs, categoricals passed natively (ordinal codes from train, most frequent first; unseen -> missing)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    train = tabular_data.read_csv(config.data.train, config.data.na_values)
    evaluation = tabular_data.read_csv(config.data.eval, config.data.na_values)
    categorical = [feature.type == "categorical" for feature in config.features.values()]
    x_train, x_eval = tabular_data.encode_features(train, evaluation, config)
    results = {}
    for name, task in config.tasks.items():
        y_train, known_train = tabular_data.raw_labels(task, train[task.label], train[task.label])
        y_eval, known_eval = tabular_data.raw_labels(task, evaluation[task.label], train[task.label])
        if task.type == "regression":
            model = HistGradientBoostingRegressor(max_iter=300, early_stopping=False, random_state=seed,
                                                  categorical_features=categorical)
        else:
            model = HistGradientBoostingClassifier(max_iter=300, early_stopping=False, random_state=seed,
                                                   categorical_features=categorical)
        start = time.perf_counter()
        model.fit(x_train[known_train], y_train[known_train])
        seconds = time.perf_counter() - start
        if task.type == "regression":
            scores = model.predict(x_eval[known_eval])
        else:
            probabilities = model.predict_proba(x_eval[known_eval])
            if task.type == "binary":
                scores = probabilities[:, list(model.classes_).index(1)]
            else:  # columns of classes never seen in training stay 0
                scores = np.zeros((len(probabilities), len(task.classes)))
                scores[:, model.classes_.astype(int)] = probabilities
        values = {**metrics(task, y_eval[known_eval], scores), "seconds": seconds,
                  "train_rows": int(known_train.sum()), "eval_rows": int(known_eval.sum())}
        if task.type == "regression":
            kept, held = y_train[known_train], y_eval[known_eval]
            values["constant"] = {"mae": float(np.mean(np.abs(held - np.median(kept)))),
                                  "rmse": float(np.sqrt(np.mean((held - np.mean(kept)) ** 2)))}
        results[name] = values
    return results


# ----------------------------------------------------------------------------------------- our models
class Transformed:
    """Transform outputs of one dataset in memory, by features_key (the data half runs once per key)."""

    def __init__(self, name: str, base: dict):
        self.name, self.base, self.loaded = name, base, {}

    def get(self, raw: dict):
        import tensorflow_transform as tft

        key = features_key(raw)
        if key not in self.loaded:
            config = cfg.parse_config({**merged(self.base, {"features": raw["features"], "model": raw.get("model", {})}),
                                       "output": os.path.join("runs", "bench", self.name, key)})
            found = transform_dirs(config)
            if found is None:
                from pipeline.runners import local

                print(f"{self.name}: running the data half into {config.output_dir}", flush=True)
                start = time.perf_counter()
                local.run(config, until="transform")
                print(f"{self.name}: Transform done in {time.perf_counter() - start:.0f}s", flush=True)
                found = transform_dirs(config)
            output = tft.TFTransformOutput(found[0])
            spec = output.transformed_feature_spec()
            self.loaded[key] = (output, load_split(found[1], "train", spec), load_split(found[1], "eval", spec))
        return self.loaded[key]


def _fit(config: cfg.Config, model, train, evaluation) -> dict:
    """The Trainer's own schedule (pipeline/core/schedule.py: batch from the row count, early stopping on the
    eval split, learning rate on plateaus when epochs is unset): {'seconds', 'epochs', 'history'}."""
    import time

    from pipeline.core.schedule import plan
    from trainer.run import training_callbacks

    schedule = plan(config.training, len(next(iter(train.values()))))
    start = time.perf_counter()
    history = model.fit(as_dataset(config, train, config.training.seed, schedule.batch_size),
                        validation_data=as_dataset(config, evaluation, batch_size=schedule.batch_size),
                        epochs=schedule.max_epochs, callbacks=training_callbacks(schedule), verbose=0).history
    return {"seconds": time.perf_counter() - start, "epochs": len(history["loss"]), "history": history}


def label_stats(config: cfg.Config, train) -> dict:
    """(mean, std) of each regression task's labelled training targets, as trainer.model.regression_label_stats."""
    stats = {}
    for name, task in config.tasks.items():
        if task.type == "regression":
            y = train[cfg.label_key(name)][train[cfg.mask_key(name)] > 0].astype(np.float64)
            stats[name] = (float(y.mean()), float(y.std()) if y.std() > 1e-6 else 1.0)
    return stats


def run_ours(config: cfg.Config, transformed) -> dict:
    import tf_keras

    from trainer.model import Vocabularies, build_model

    output, train, evaluation = transformed
    tf_keras.utils.set_random_seed(config.training.seed)
    vocabularies = dataclasses.replace(Vocabularies.from_transform_output(config, output),
                                       label_stats=label_stats(config, train))
    model = build_model(config, vocabularies)
    fit = _fit(config, model, train, evaluation)
    predictions = model.predict(as_dataset(config, evaluation), verbose=0)
    tasks = {}
    for name, task in config.tasks.items():
        known = evaluation[cfg.mask_key(name)] > 0
        scores = predictions[name][known]
        tasks[name] = metrics(task, evaluation[cfg.label_key(name)][known],
                              scores if task.type == "multiclass" else scores[:, 0])
        tasks[name]["eval_rows"] = int(known.sum())
    rows = len(next(iter(train.values())))
    return {"tasks": tasks, "seconds": fit["seconds"], "epochs": fit["epochs"], "parameters": parameter_count(model),
            "examples_per_second": rows * fit["epochs"] / fit["seconds"]}


# ------------------------------------------------------------------------------------------------ run
def bench_dataset(name: str, only=None, save=lambda result: None) -> dict:
    """GBDT and every variant on one dataset; `save(result)` after each row (a long run keeps what it measured)."""
    info = tabular_data.prepare(name) if name in tabular_data.DATASETS else {}
    config = cfg.load_config(CONFIGS[name])
    base = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    result = {"config": CONFIGS[name], "data": info, "tasks": {t: task.type for t, task in config.tasks.items()},
              "rows": [], "skipped": []}
    if not only or "gbdt" in only:
        gbdt_results = gbdt(config)
        result["rows"].append({"variant": "gbdt", "tasks": gbdt_results,
                               "seconds": sum(r["seconds"] for r in gbdt_results.values())})
        for task, values in gbdt_results.items():
            print(f"{name} gbdt {task}: {values}", flush=True)
        save(result)
    transformed = Transformed(name, base)
    for variant, overrides in variants(config).items():
        if only and variant not in only:
            continue
        try:
            chosen = cfg.parse_config(merged(base, overrides))
        except (cfg.ConfigError, ValueError) as error:
            result["skipped"].append({"variant": variant, "overrides": overrides, "error": str(error)})
            print(f"{name} {variant}: skipped ({error})", flush=True)
            continue
        row = {"variant": variant, "overrides": overrides, "best": variant == BEST,
               **run_ours(chosen, transformed.get(merged(base, overrides)))}
        result["rows"].append(row)
        save(result)
        print(f"{name} {variant}: {row['tasks']} in {row['seconds']:.1f}s ({row['epochs']} epochs)", flush=True)
    return result


# --------------------------------------------------------------------------------------------- report
def _cell(metric: str, value, reference) -> str:
    if value is None:
        return ""
    if reference is None:
        return f"{value:.4f}"
    if metric in LOWER_IS_BETTER:
        return f"{value:.4f} ({100 * (value - reference) / reference:+.1f}%)"
    return f"{value:.4f} ({value - reference:+.4f})"


def report(name: str, result: dict) -> str:
    """One table: rows = models (+ constant references), columns = each task's metrics (gap to GBDT) + time."""
    columns = [(t, m) for t, kind in result["tasks"].items() for m in METRICS[kind]]
    gbdt_row = next((r for r in result["rows"] if r["variant"] == "gbdt"), None)
    reference = {(t, m): gbdt_row["tasks"][t][m] for t, m in columns} if gbdt_row else {}
    rows = []
    for row in sorted(result["rows"], key=lambda r: r["variant"] != "gbdt"):  # GBDT first, then as run
        label = {"gbdt": "HistGradientBoosting (per task)", BEST: "best (candidate)"}.get(row["variant"], row["variant"])
        cells = [_cell(m, row["tasks"].get(t, {}).get(m), None if row is gbdt_row else reference.get((t, m)))
                 for t, m in columns]
        speed = f"{row['examples_per_second']:.0f}" if "examples_per_second" in row else ""
        rows.append([label, *cells, f"{row['seconds']:.1f}", row.get("epochs", ""), speed])
    if gbdt_row:
        constant = [_cell(m, gbdt_row["tasks"][t].get("constant", {}).get(m if m == "rmse" else "mae")
                          if m in LOWER_IS_BETTER else None, reference.get((t, m))) for t, m in columns]
        if any(constant):
            rows.append(["constant (train median MAE / mean RMSE)", *constant, "", "", ""])
    headers = ["model", *(f"{t} {m.upper() if m in LOWER_IS_BETTER else m}" for t, m in columns),
               "train s", "epochs", "examples/s"]
    lines = [f"### {name} ({result['config']})", "", table(headers, rows)]
    for skipped in result["skipped"]:
        lines.append(f"skipped {skipped['variant']}: {skipped['error'].splitlines()[0]}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", nargs="*", choices=list(CONFIGS), help="default: every dataset")
    parser.add_argument("--only", nargs="*", help="variants to (re)run, merged into --out: gbdt, mtl_default, best, "
                                                  "'single_task <task>', or any VARIANTS name")
    parser.add_argument("--report", action="store_true", help="print the tables of --out and exit")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    saved = {}
    if os.path.isfile(args.out):
        with open(args.out) as f:
            saved = json.load(f)
    datasets = saved.get("datasets", {})
    if not args.report:
        for name in args.dataset or CONFIGS:
            before = datasets.get(name) if args.only else None

            def save(result, name=name, before=before):
                if before:  # keep the rows not rerun
                    rerun = {r["variant"] for r in result["rows"]} | {s["variant"] for s in result["skipped"]}
                    result = {**result, "rows": [r for r in before["rows"] if r["variant"] not in rerun]
                              + result["rows"]}
                datasets[name] = result
                write_results(args.out, {"datasets": datasets})

            save(bench_dataset(name, args.only, save))
    print()
    for name, result in datasets.items():
        print(report(name, result) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
