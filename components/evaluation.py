"""TFMA EvalConfig generated from the config: per-task metrics, blessing thresholds and slices.

One ModelSpec evaluates the `scores` signature; each task output has its label key and, as example weight,
its label-presence mask (rows without a label weigh 0 and never count in that task's metrics). Thresholds
apply to the overall slice only (small slices would otherwise block a good model); slices are reported.
Tasks that declare `classes` get components/metrics.py's per-class metrics: F1 of the predicted (top-1) class
and one-vs-rest AUC per class, macro-averaged over the classes present in each slice.
"""
from __future__ import annotations

import json
from typing import Dict, List, Tuple

import tensorflow_model_analysis as tfma

from pipeline import config as cfg

SIGNATURE = "scores"
PREPROCESSING = "transform_features"

# config metric name -> (TFMA/Keras class name, metric config); the metric is reported under the config name.
METRICS: Dict[str, Dict[str, Tuple[str, dict]]] = {
    "binary": {
        "auc": ("AUC", {"num_thresholds": 10000}),
        "auc_pr": ("AUC", {"curve": "PR", "num_thresholds": 10000}),
        "accuracy": ("BinaryAccuracy", {}),
        "precision": ("Precision", {}),
        "recall": ("Recall", {}),
        "calibration": ("Calibration", {}),
    },
    "multiclass": {
        "accuracy": ("SparseCategoricalAccuracy", {}),
        "top_k_accuracy": ("SparseTopKCategoricalAccuracy", {"k": 3}),
    },
    "multilabel": {"micro_auc": ("AUC", {"num_thresholds": 10000})},
    "regression": {
        "mae": ("MeanAbsoluteError", {}),
        "rmse": ("RootMeanSquaredError", {}),
        "mse": ("MeanSquaredError", {}),
    },
}
# Computed per class and macro-averaged over the classes present in each slice, for tasks that declare
# `classes` (components/metrics.py: F1 of the top-1 predicted class, AUC of each class against the rest).
METRICS_MODULE = "components.metrics"
PER_CLASS: Dict[str, Dict[str, Tuple[str, dict]]] = {
    "multiclass": {"macro_auc": ("MacroAUC", {"num_thresholds": 1000}), "macro_f1": ("MacroF1", {})},
    "multilabel": {"macro_auc": ("MacroAUC", {"num_thresholds": 1000})},
}
# Plots for the run report (pipeline/report): reliability, ROC and precision-recall of binary scores (the
# confusion matrices at 1,000 thresholds are rebinned from the histogram the AUC already computes), confusion of
# multiclass ones.
PLOTS: Dict[str, Dict[str, Tuple[str, dict]]] = {
    "binary": {"calibration_plot": ("CalibrationPlot", {"num_buckets": 10}),
               "confusion_plot": ("ConfusionMatrixPlot", {"num_thresholds": 1000})},
    "multiclass": {"confusion_matrix_plot": ("MultiClassConfusionMatrixPlot", {})},
}
assert {k: (*METRICS[k], *PER_CLASS.get(k, {})) for k in METRICS} == cfg.TASK_METRICS, "metric tables out of sync"


def metric_threshold(metric: str, bar: cfg.Threshold) -> tfma.MetricThreshold:
    threshold = tfma.MetricThreshold()
    if bar.min is not None or bar.max is not None:
        value = threshold.value_threshold
        if bar.min is not None:
            value.lower_bound.value = bar.min
        if bar.max is not None:
            value.upper_bound.value = bar.max
    if bar.max_drop is not None:
        threshold.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
        threshold.change_threshold.absolute.value = -bar.max_drop
    if bar.max_rise is not None:
        threshold.change_threshold.direction = tfma.MetricDirection.LOWER_IS_BETTER
        threshold.change_threshold.absolute.value = bar.max_rise
    return threshold


def _metric_configs(task: cfg.Task, table: Dict[str, Tuple[str, dict]], thresholds: bool = True,
                    module: str = "", **extra) -> List[tfma.MetricConfig]:
    configs = []
    for metric, (class_name, options) in table.items():
        metric_config = tfma.MetricConfig(class_name=class_name, module=module,
                                          config=json.dumps({"name": metric, **options, **extra}))
        if thresholds and metric in task.thresholds:
            metric_config.per_slice_thresholds.add(
                slicing_specs=[tfma.SlicingSpec()], threshold=metric_threshold(metric, task.thresholds[metric]))
        configs.append(metric_config)
    return configs


def task_metrics_specs(name: str, task: cfg.Task) -> List[tfma.MetricsSpec]:
    """The task's metrics and plots; with declared classes also the per-class metrics, each reported per class
    and as its macro average over the classes present in the slice (the value thresholds apply to). A spec of
    their own: a multilabel task's micro averaging must not apply to them."""
    spec = tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount"),
                                     *_metric_configs(task, METRICS[task.type]),
                                     *_metric_configs(task, PLOTS.get(task.type, {}), thresholds=False)],
                            output_names=[name])
    if task.type == "multilabel":
        spec.aggregate.micro_average = True
    specs = [spec]
    if task.classes and task.type in PER_CLASS:
        specs.append(tfma.MetricsSpec(metrics=_metric_configs(task, PER_CLASS[task.type], module=METRICS_MODULE,
                                                              class_ids=list(range(len(task.classes)))),
                                      output_names=[name]))
    return specs


def eval_config(config: cfg.Config) -> tfma.EvalConfig:
    model_spec = tfma.ModelSpec(
        signature_name=SIGNATURE,
        preprocessing_function_names=[PREPROCESSING],
        label_keys={name: cfg.label_key(name) for name in config.tasks},
        example_weight_keys={name: cfg.mask_key(name) for name in config.tasks},
    )
    slices: List[tfma.SlicingSpec] = [tfma.SlicingSpec()]
    slices += [tfma.SlicingSpec(feature_keys=list(columns)) for columns in config.evaluation.slices]
    return tfma.EvalConfig(
        model_specs=[model_spec],
        metrics_specs=[spec for name, task in config.tasks.items() for spec in task_metrics_specs(name, task)],
        slicing_specs=slices,
        options=tfma.Options(include_default_metrics={"value": False}),
    )
