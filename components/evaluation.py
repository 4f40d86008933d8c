"""TFMA EvalConfig generated from the config: per-task metrics, blessing thresholds and slices.

One ModelSpec evaluates the `scores` signature; each task output has its label key and, as example weight,
its label-presence mask (rows without a label weigh 0 and never count in that task's metrics). Thresholds
apply to the overall slice only (small slices would otherwise block a good model); slices are reported.
Tasks that declare `classes` get components/metrics.py's per-class metrics: F1 of the predicted (top-1) class
and one-vs-rest AUC per class, macro-averaged over the classes present in each slice. Optional: TFMA's fairness
indicators on binary tasks (`evaluation.fairness`) and confidence intervals of every metric
(`evaluation.confidence_intervals`).
"""
from __future__ import annotations

import json
from typing import List, Optional, Sequence, Union

import tensorflow_model_analysis as tfma

from pipeline import config as cfg
from pipeline.core import kinds
from pipeline.core.keys import FAIRNESS_PREFIX, FAIRNESS_RATES

SIGNATURE = "scores"
PREPROCESSING = "transform_features"

# The metrics and plots of each task type, with their TFMA classes, come from the task-kind table
# (pipeline/core/kinds.py); per-class metrics (macro_auc, macro_f1: F1 of the top-1 predicted class, AUC of each
# class against the rest) are computed by components/metrics.py for tasks that declare `classes`, and macro-averaged
# over the classes present in each slice. The plots feed the run report (pipeline/report).
METRICS_MODULE = "components.metrics"


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


def _metric_configs(task: cfg.Task, table: Sequence[Union[kinds.Metric, kinds.Plot]], thresholds: bool = True,
                    module: str = "", **extra) -> List[tfma.MetricConfig]:
    configs = []
    for metric in table:
        metric_config = tfma.MetricConfig(class_name=metric.tfma_class, module=module,
                                          config=json.dumps({"name": metric.name, **metric.options, **extra}))
        if thresholds and metric.name in task.thresholds:
            metric_config.per_slice_thresholds.add(
                slicing_specs=[tfma.SlicingSpec()],
                threshold=metric_threshold(metric.name, task.thresholds[metric.name]))
        configs.append(metric_config)
    return configs


TFMA_RATES = {"false_positive_rate": "LeanFallOut", "false_negative_rate": "LeanMissRate",
              "positive_rate": "LeanPredictedPositiveRate"}  # keys.FAIRNESS_RATES -> TFMA's metric (lean inputs)


def fairness_configs(thresholds: Sequence[float], module: str = "") -> List[tfma.MetricConfig]:
    """The fairness indicators (the rates that differ between groups) at each decision threshold, named as the
    fairness-indicators add-on names them (`fairness_indicators_metrics/false_positive_rate@0.5`) but computed by
    TFMA's own metrics: the add-on's package would move this stack's pinned tensorflow-hub."""
    return [tfma.MetricConfig(class_name=TFMA_RATES[rate], module=module, config=json.dumps(
        {"name": f"{FAIRNESS_PREFIX}{rate}@{threshold:g}", "thresholds": [threshold]}))
        for rate in FAIRNESS_RATES for threshold in thresholds]


def task_metrics_specs(name: str, task: cfg.Task, fairness: Optional[Sequence[float]] = None
                       ) -> List[tfma.MetricsSpec]:
    """The task's metrics and plots; with declared classes also the per-class metrics, each reported per class
    and as its macro average over the classes present in the slice (the value thresholds apply to). A spec of
    their own: a multilabel task's micro averaging must not apply to them."""
    kind = kinds.kind(task.type)
    spec = tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount"),
                                     *_metric_configs(task, [m for m in kind.metrics if not m.per_class],
                                                      module=kind.metrics_module),
                                     *_metric_configs(task, kind.plots, thresholds=False, module=kind.metrics_module),
                                     *(fairness_configs(fairness, kind.metrics_module)
                                       if fairness and task.type == "binary" else [])],
                            output_names=[name])
    if kind.micro_average:
        spec.aggregate.micro_average = True
    specs = [spec]
    per_class = [m for m in kind.metrics if m.per_class]
    if task.classes and per_class:
        specs.append(tfma.MetricsSpec(metrics=_metric_configs(task, per_class, module=METRICS_MODULE,
                                                              class_ids=list(range(len(task.classes)))),
                                      output_names=[name]))
    return specs


FRAME_MODULE = "components.frame_metric"


def frame_metrics_specs(config: cfg.Config) -> List[tfma.MetricsSpec]:
    """Frame accuracy (intent and every tag right) of each tagging task with the config's first multiclass task:
    a spec without output names, so the metric sees both outputs (components/frame_metric.py)."""
    intent = next((n for n, t in config.tasks.items() if t.type == "multiclass"), None)
    tagging = [n for n, t in config.tasks.items() if kinds.kind(t.type).predicts == "tags"]
    if intent is None:
        return []
    return [tfma.MetricsSpec(metrics=[tfma.MetricConfig(
        class_name="FrameAccuracy", module=FRAME_MODULE,
        config=json.dumps({"name": "frame_accuracy", "intent": intent, "tags": name}))]) for name in tagging]


def eval_config(config: cfg.Config) -> tfma.EvalConfig:
    model_spec = tfma.ModelSpec(
        signature_name=SIGNATURE,
        preprocessing_function_names=[PREPROCESSING],
        label_keys={name: cfg.label_key(name) for name in config.tasks},
        example_weight_keys={name: cfg.mask_key(name) for name in config.tasks},
    )
    slices: List[tfma.SlicingSpec] = [tfma.SlicingSpec()]
    slices += [tfma.SlicingSpec(feature_keys=list(columns)) for columns in config.evaluation.slices]
    fairness = config.evaluation.fairness.thresholds if config.evaluation.fairness else None
    options = tfma.Options(include_default_metrics={"value": False})
    if config.evaluation.confidence_intervals:
        options.compute_confidence_intervals.value = True
        options.confidence_intervals.method = CI_METHODS[config.evaluation.confidence_intervals]
    return tfma.EvalConfig(
        model_specs=[model_spec],
        metrics_specs=[*(spec for name, task in config.tasks.items()
                         for spec in task_metrics_specs(name, task, fairness)),
                       *frame_metrics_specs(config)],
        slicing_specs=slices,
        options=options,
    )


CI_METHODS = {"jackknife": tfma.ConfidenceIntervalOptions.JACKKNIFE,
              "bootstrap": tfma.ConfidenceIntervalOptions.POISSON_BOOTSTRAP}
