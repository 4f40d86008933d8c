"""The impression funnel (issue 23): CTR, CVR and CTCVR from single-task models, shared_bottom, MMoE, ESMM and
AITM, on generated impressions whose counterfactual conversions are known (components/datasets/funnel.py).

Data: `--rows` impressions (default 400,000, seed 7) in data/funnel-bench, half of them in eval (a rare CTCVR
needs positives: ~300 eval conversions). The pipeline's own data half (`mtl run --until transform`) runs once on
a data config of configs/funnel.yaml's features with the tasks ctr (click), cvr (conversion where click = 1),
ctcvr (conversion, all rows) and would_convert (the counterfactual, scored only, never trained); every variant
trains in memory on that output with trainer.model.build_model for the config's epochs, per training seed:

  single-task ctr       ctr over all impressions
  single-task cvr       conversion over clicked impressions only (the task space), rows filtered in memory
  single-task ctr × cvr the two above multiplied: pCTCVR = pCTR × pCVR (no training of its own)
  shared_bottom naive   ctr + ctcvr over all rows, no funnel keys (pCVR = pCTCVR / pCTR)
  shared_bottom, mmoe   ctr + cvr (where click) + ctcvr (product_of ctr, cvr)
  esmm                  the same tasks, model.architecture esmm
  aitm                  ctr, then ctcvr (after ctr) over all rows; pCVR = pCTCVR / pCTR

Metrics on the eval split (AUC, scikit-learn): CTR (all rows, click), CVR on clicked rows (conversion), CVR on the
entire space (would_convert: what a CVR model is for, ranking impressions before any click), CTCVR (all rows,
conversion); mean ± sd over seeds, and training seconds. A variant whose config does not parse (a key this
checkout does not have yet) is reported as skipped, with the error.

    python -m bench.funnel [--rows N] [--seeds 3] [--epochs N] [--only VARIANT ...]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from typing import Dict, List, Optional

import numpy as np
import yaml

from bench.common import as_dataset, finish, fit_timed, load_split, mean_std, parameter_count, table, \
    transform_dirs, write_results
from pipeline import config as cfg

CONFIG = "configs/funnel.yaml"
DATA = "data/funnel-bench"
ROOT = "runs/bench-funnel"
OUT = "bench/results/funnel.json"
EMBED = {"embedding_dim": 16}
SHARED = {"architecture": "shared_bottom", "shared_units": [256, 128], "tower_units": [64], **EMBED}
MMOE = {"architecture": "mmoe", "experts": 4, "expert_units": [128, 64], "tower_units": [64], **EMBED}
TOWERS = {"tower_units": [128, 64], **EMBED}
CTR = {"type": "binary", "label": "click"}
CVR = {"type": "binary", "label": "conversion", "where": {"column": "click", "equals": "1"}}
CTCVR = {"type": "binary", "label": "conversion"}
FUNNEL = {"ctr": CTR, "cvr": CVR, "ctcvr": {**CTCVR, "product_of": ["ctr", "cvr"]}}
# name -> {tasks, model, training changes, clicked (train on clicked rows only)}
VARIANTS = {
    "single-task ctr": {"tasks": {"ctr": CTR}, "model": SHARED},
    "single-task cvr": {"tasks": {"cvr": {"type": "binary", "label": "conversion"}}, "model": SHARED,
                        "training": {"batch_size": 128}, "clicked": True},  # ~3.5 % of the rows: smaller batches
    "shared_bottom naive": {"tasks": {"ctr": CTR, "ctcvr": CTCVR}, "model": SHARED},
    "shared_bottom": {"tasks": FUNNEL, "model": SHARED},
    "mmoe": {"tasks": FUNNEL, "model": MMOE},
    "esmm": {"tasks": FUNNEL, "model": {"architecture": "esmm", **TOWERS}},
    "aitm": {"tasks": {"ctr": CTR, "ctcvr": {**CTCVR, "after": ["ctr"]}}, "model": {"architecture": "aitm", **TOWERS}},
}
PRODUCT = "single-task ctr × cvr"
METRICS = ("ctr_auc", "cvr_auc_clicked", "cvr_auc_entire", "ctcvr_auc")
HEADERS = ("CTR AUC", "CVR AUC (clicked)", "CVR AUC (entire space)", "CTCVR AUC")


def base_raw() -> dict:
    """configs/funnel.yaml as a dict, read as YAML (its funnel keys may not parse here), on the bench data."""
    with open(CONFIG) as f:
        raw = yaml.safe_load(f)
    raw["data"] = {"train": os.path.join(DATA, "train.csv"), "eval": os.path.join(DATA, "eval.csv")}
    raw["output"] = ROOT
    return raw


def prepare_data(rows: int, eval_fraction: float = 0.5, seed: int = 7) -> dict:
    """Generate the bench data unless data/funnel-bench already holds these rows."""
    from components.datasets import funnel

    marker = os.path.join(DATA, "generated.json")
    with open(funnel.__file__, "rb") as f:  # a changed generator writes other data
        generator = hashlib.sha256(f.read()).hexdigest()[:10]
    wanted = {"rows": rows, "seed": seed, "eval_fraction": eval_fraction, "generator": generator}
    if os.path.isfile(marker):
        with open(marker) as f:
            info = json.load(f)
        if {k: info.get(k) for k in wanted} == wanted:
            return info
    print(f"generating {rows} impressions into {DATA}", flush=True)
    info = {**funnel.generate(DATA, rows=rows, seed=seed, eval_fraction=eval_fraction), **wanted}
    with open(marker, "w") as f:
        json.dump(info, f, indent=1)
    return info


def data_config(raw: dict, info: dict) -> cfg.Config:
    """The Transform's config: the features, shared_bottom, tasks ctr, cvr (where click, if this checkout parses
    it), ctcvr and would_convert; its own output folder per data and task set."""
    for cvr in (True, False):
        tasks = {"ctr": CTR, **({"cvr": CVR} if cvr else {}), "ctcvr": CTCVR,
                 "would_convert": {"type": "binary", "label": "would_convert"}}
        part = [info[k] for k in ("generator", "rows", "seed", "eval_fraction")] + [raw["features"], tasks]
        key = hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:10]
        candidate = {**raw, "tasks": tasks, "model": SHARED, "output": os.path.join(ROOT, key)}
        try:
            return cfg.parse_config(candidate)
        except cfg.ConfigError:
            if not cvr:
                raise
    raise AssertionError("unreachable")


def transformed(config: cfg.Config):
    """(TFTransformOutput, train columns, eval columns); cvr's columns from click and conversion when this
    checkout has no `where` (the task space is click = 1: rows outside it have mask 0)."""
    import tensorflow_transform as tft

    if transform_dirs(config) is None:
        from pipeline.runners import local

        print(f"running the pipeline's data half into {config.output_dir}", flush=True)
        start = time.perf_counter()
        local.run(config, until="transform")
        print(f"Transform done in {time.perf_counter() - start:.0f}s", flush=True)
    graph, examples = transform_dirs(config)
    output = tft.TFTransformOutput(graph)
    spec = output.transformed_feature_spec()
    splits = [load_split(examples, split, spec) for split in ("train", "eval")]
    for columns in splits:
        if cfg.label_key("cvr") not in columns:
            columns[cfg.label_key("cvr")] = columns[cfg.label_key("ctcvr")]
            columns[cfg.mask_key("cvr")] = columns[cfg.label_key("ctr")].astype(np.float32)
    return output, splits[0], splits[1]


def variant_config(raw: dict, spec: dict, seed: int, epochs: Optional[int]) -> cfg.Config:
    raw = json.loads(json.dumps(raw))
    raw["tasks"], raw["model"] = spec["tasks"], spec["model"]
    raw["training"] = {**raw.get("training", {}), **spec.get("training", {}), "seed": seed,
                       **({"epochs": epochs} if epochs else {})}
    return cfg.parse_config(raw)


def _auc(labels, scores, rows=None) -> Optional[float]:
    from sklearn.metrics import roc_auc_score

    labels, scores = np.asarray(labels), np.asarray(scores)
    if rows is not None:
        labels, scores = labels[rows], scores[rows]
    return float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None


def probabilities(predictions: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """pCTR, pCVR and pCTCVR from a model's outputs: given, or derived (pCVR = pCTCVR / pCTR, pCTCVR = pCTR × pCVR)."""
    p = {name: np.asarray(value)[:, 0] for name, value in predictions.items()}
    if "cvr" not in p and {"ctr", "ctcvr"} <= set(p):
        p["cvr"] = np.clip(p["ctcvr"] / np.maximum(p["ctr"], 1e-7), 0.0, 1.0)
    if "ctcvr" not in p and {"ctr", "cvr"} <= set(p):
        p["ctcvr"] = p["ctr"] * p["cvr"]
    return p


def scores(p: Dict[str, np.ndarray], test) -> Dict[str, float]:
    click, conversion = test[cfg.label_key("ctr")], test[cfg.label_key("ctcvr")]
    found = {"ctr_auc": _auc(click, p["ctr"]) if "ctr" in p else None,
             "cvr_auc_clicked": _auc(conversion, p["cvr"], click == 1) if "cvr" in p else None,
             "cvr_auc_entire": _auc(test[cfg.label_key("would_convert")], p["cvr"]) if "cvr" in p else None,
             "ctcvr_auc": _auc(conversion, p["ctcvr"]) if "ctcvr" in p else None}
    return {k: v for k, v in found.items() if v is not None}


def run_variant(config: cfg.Config, name: str, spec: dict, output, train, test):
    """Train one variant in memory; (result row, pCTR/pCVR/pCTCVR on the eval split)."""
    import tf_keras

    from trainer.model import Vocabularies, build_model

    seed = config.training.seed
    if spec.get("clicked"):
        keep = train[cfg.label_key("ctr")] == 1
        train = {key: value[keep] for key, value in train.items()}
    tf_keras.utils.set_random_seed(seed)
    model = build_model(config, Vocabularies.from_transform_output(config, output))
    fit = fit_timed(model, as_dataset(config, train, seed), config.training.epochs)
    p = probabilities(model.predict(as_dataset(config, test), verbose=0))
    rows = len(next(iter(train.values())))
    return {"variant": name, "seed": seed, "train_rows": rows, "parameters": parameter_count(model),
            "seconds": fit["seconds"], "epochs": fit["epochs"], **scores(p, test)}, p


def summarize(runs: List[dict]) -> List[List[object]]:
    by_variant: Dict[str, List[dict]] = {}
    for r in runs:
        by_variant.setdefault(r["variant"], []).append(r)
    lines = []
    for name, mine in by_variant.items():
        cells = [mean_std([r[m] for r in mine]) if all(m in r for r in mine) else "-" for m in METRICS]
        seconds = f"{np.mean([r['seconds'] for r in mine]):.0f}" if "seconds" in mine[0] else "-"
        lines.append([name, len(mine), *cells, seconds])
    return lines


def report(saved: dict) -> str:
    data = saved["data"]
    lines = [f"{data['train_rows']} train / {data['eval_rows']} eval impressions (CTR {100 * data['ctr']:.2f} %, "
             f"CVR {100 * data['cvr']:.2f} % of clicks; {data['eval_conversions']} eval conversions)", "",
             table(["variant", "seeds", *HEADERS, "train s"], summarize(saved["runs"]))]
    lines += [f"skipped {s['variant']}: " + "; ".join(p.strip(" -") for p in s["error"].splitlines()[1:])
              for s in saved["skipped"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400_000, help="impressions generated (half of them eval)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per variant")
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument("--only", nargs="*", choices=[*VARIANTS], help="variants to run (default: all)")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    info = prepare_data(args.rows)
    raw = base_raw()
    output, train, test = transformed(data_config(raw, info))
    chosen = args.only or list(VARIANTS)
    saved = {"config": CONFIG, "data": info, "runs": [], "skipped": []}
    for seed in range(args.seeds):
        single = {}
        for name in chosen:
            spec = VARIANTS[name]
            try:
                config = variant_config(raw, spec, seed, args.epochs)
            except cfg.ConfigError as error:
                if seed == 0:
                    saved["skipped"].append({"variant": name, "error": str(error)})
                    print(f"{name}: skipped, its config does not parse here:\n{error}", flush=True)
                continue
            result, p = run_variant(config, name, spec, output, train, test)
            saved["runs"].append(result)
            single[name] = p
            print(f"seed {seed} {name}: " + ", ".join(f"{m} {result[m]:.4f}" for m in METRICS if m in result)
                  + f" ({result['seconds']:.0f}s)", flush=True)
            write_results(args.out, saved)
        if {"single-task ctr", "single-task cvr"} <= set(single):
            product = {"ctr": single["single-task ctr"]["ctr"], "cvr": single["single-task cvr"]["cvr"]}
            product["ctcvr"] = product["ctr"] * product["cvr"]
            saved["runs"].append({"variant": PRODUCT, "seed": seed, **scores(product, test)})
    finish(args.out, saved, report(saved))


if __name__ == "__main__":
    main()
