"""Constant predictors of each regression task, scored on the eval rows the Evaluator scores: the training median
(the best constant under absolute error) and the training mean (the best under squared error). A model that does
not beat them has learned nothing usable about the target (issue 19: heavy-tailed targets trained with squared
error lost to the median)."""
from __future__ import annotations

from typing import Dict

import numpy as np

from pipeline import config as cfg
from pipeline.core import kinds


def _labels(config: cfg.Config, dataset, names) -> Dict[str, np.ndarray]:
    """The present labels of each task in a (features, targets, masks) dataset."""
    found = {n: [] for n in names}
    for _, targets, masks in dataset:
        for name in names:
            y = np.reshape(targets[name].numpy(), [-1]).astype(np.float64)
            found[name].append(y[np.reshape(masks[name].numpy(), [-1]) > 0])
    return {n: np.concatenate(v) if v else np.zeros(0) for n, v in found.items()}


def constant_baselines(config: cfg.Config, train, evaluation) -> Dict[str, Dict[str, float]]:
    """task -> {median, mean (of the training labels), median_mae, mean_rmse (on the eval labels), eval_rows}."""
    names = [n for n, t in config.tasks.items() if kinds.kind(t.type).predicts == "value"]
    if not names:
        return {}
    trained, evaluated = _labels(config, train, names), _labels(config, evaluation, names)
    found = {}
    for name in names:
        y, e = trained[name], evaluated[name]
        if not len(y) or not len(e):
            continue
        median, mean = float(np.median(y)), float(np.mean(y))
        found[name] = {"median": median, "mean": mean, "median_mae": float(np.mean(np.abs(e - median))),
                       "mean_rmse": float(np.sqrt(np.mean((e - mean) ** 2))), "eval_rows": int(len(e))}
    return found

