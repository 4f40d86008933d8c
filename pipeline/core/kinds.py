"""The task-kind table: one record per task `type`, the facts every package reads about it.

A kind says how Transform encodes its label, what the model outputs for it, which metrics the Evaluator computes
(their TFMA classes, direction and range), which TF Serving method answers it and the shape of that answer. The
config (`tasks.X.type`, allowed keys, threshold names), the Evaluator's EvalConfig, the trainer's heads, the
export's signatures and the docs all read this table; the TensorFlow-side registries (trainer/heads.py HEADS,
components/transform.py label transforms) stay keyed by its names, and tests/test_kinds.py checks they cover
every kind. Adding a kind: a record here plus its entries in those registries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Literal, Mapping, Tuple

UNIT = (0.0, 1.0, True)  # (low, high, low_included): the values a metric can take
NON_NEGATIVE = (0.0, math.inf, True)


@dataclass(frozen=True)
class Metric:
    """One evaluated metric: reported under `name`, computed by TFMA class `tfma_class` with `options`."""

    name: str
    tfma_class: str
    options: Mapping[str, object] = field(default_factory=dict)
    direction: Literal["higher", "lower", "none"] = "higher"  # none: best at a value (bounds only, no change bar)
    range: Tuple[float, float, bool] = UNIT
    per_class: bool = False  # computed per declared class by components/metrics.py and macro-averaged


@dataclass(frozen=True)
class Plot:
    """A TFMA plot the run report draws (not a metric: no thresholds)."""

    name: str
    tfma_class: str
    options: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskKind:
    name: str
    predicts: Literal["classes", "value", "tags"]  # classes: probabilities of label values; value: a number;
    # tags: per token of a text feature, probabilities of the tags (pipeline/core/tags.py)
    label_encoding: Literal["binary", "class_id", "multi_hot", "float", "tag_ids"]  # Transform's label encoding
    metrics: Tuple[Metric, ...]
    plots: Tuple[Plot, ...] = ()
    keys: Tuple[str, ...] = ()  # task config keys only this kind (and others listing them) accepts
    micro_average: bool = False  # TFMA averages the per-class outputs into one (multilabel)
    metrics_module: str = ""  # python module of the metrics' TFMA classes, when not TFMA's own
    answer: str = ""  # what serving_default returns for the task, in words (documents the row; nothing parses it)

    @property
    def label_vocabulary(self) -> bool:
        """Transform writes the label values' vocabulary, and the model has one output per class."""
        return self.label_encoding in ("class_id", "multi_hot", "tag_ids")

    @property
    def serving_method(self) -> Literal["classify", "regress", ""]:
        """The TF Serving method of the task's own signature (classify_<task> / regress_<task>); tagging tasks
        have none (TF Serving's Classify and Regress answer one value per example): serving_default answers."""
        return {"value": "regress", "classes": "classify"}.get(self.predicts, "")

    @property
    def metric_names(self) -> Tuple[str, ...]:
        return tuple(m.name for m in self.metrics)


_ERRORS = (Metric("mae", "MeanAbsoluteError", direction="lower", range=NON_NEGATIVE),
           Metric("rmse", "RootMeanSquaredError", direction="lower", range=NON_NEGATIVE),
           Metric("mse", "MeanSquaredError", direction="lower", range=NON_NEGATIVE))

KINDS: Dict[str, TaskKind] = {kind.name: kind for kind in (
    TaskKind("binary", "classes", "binary", (
        Metric("auc", "LeanAUC", {"num_thresholds": 10000}),
        Metric("auc_pr", "LeanAUC", {"curve": "PR", "num_thresholds": 10000}),
        Metric("accuracy", "LeanBinaryAccuracy"),
        Metric("precision", "LeanPrecision"),
        Metric("recall", "LeanRecall"),
        # mean prediction / mean label: positive, best at 1.0
        Metric("calibration", "LeanCalibration", direction="none", range=(0.0, math.inf, False))),
        plots=(Plot("calibration_plot", "LeanCalibrationPlot", {"num_buckets": 10}),
               Plot("confusion_plot", "LeanConfusionMatrixPlot", {"num_thresholds": 1000})),
        keys=("positive", "negative", "unknown_labels", "product_of"),
        metrics_module="components.lean_metrics",  # TFMA's own metrics on a lean input path (same values)
        answer="probability of the positive value [B, 1]; label: the decoded value"),
    TaskKind("multiclass", "classes", "class_id", (
        Metric("accuracy", "SparseCategoricalAccuracy"),
        Metric("top_k_accuracy", "SparseTopKCategoricalAccuracy", {"k": 3}),
        Metric("macro_auc", "MacroAUC", {"num_thresholds": 1000}, per_class=True),
        Metric("macro_f1", "MacroF1", per_class=True)),
        plots=(Plot("confusion_matrix_plot", "MultiClassConfusionMatrixPlot"),),
        keys=("classes",),
        answer="softmax over the label values [B, K]; label: the most likely value"),
    TaskKind("multilabel", "classes", "multi_hot", (
        Metric("micro_auc", "AUC", {"num_thresholds": 10000}),
        Metric("macro_auc", "MacroAUC", {"num_thresholds": 1000}, per_class=True)),
        keys=("separator", "classes"), micro_average=True,
        answer="independent probability per label value [B, K]; label: values with p >= 0.5, joined"),
    TaskKind("regression", "value", "float", _ERRORS, keys=("loss", "huber_delta", "quantile"),
             answer="the predicted value in label units [B, 1]"),
    # Span metrics by CoNLL rules over the tags of labelled rows (components/span_metrics.py).
    TaskKind("sequence_tagging", "tags", "tag_ids", (
        Metric("span_f1", "SpanMetric"),
        Metric("span_precision", "SpanMetric"),
        Metric("span_recall", "SpanMetric"),
        Metric("token_accuracy", "SpanMetric")),
        keys=("tokens_of", "crf"), metrics_module="components.span_metrics",
        answer="per token the tag probabilities [B, T, K]; <task>_tags: tag per token [B, T] ('' at padding); "
               "<task>_tokens: the tokens tagged [B, T]; <task>_spans: 'type start end' of each entity, "
               "joined by ';' [B]"),
)}

TASK_TYPES: Tuple[str, ...] = tuple(KINDS)
# Metrics a task of each type is evaluated on (TFMA); threshold keys must come from the task type's row.
TASK_METRICS: Dict[str, Tuple[str, ...]] = {name: kind.metric_names for name, kind in KINDS.items()}
METRICS: Dict[str, Metric] = {m.name: m for kind in KINDS.values() for m in kind.metrics}
LOWER_IS_BETTER: Tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.direction == "lower")
NO_DIRECTION: Tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.direction == "none")
PER_CLASS_METRICS: Tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.per_class)
# The values each metric can take, (low, high, low_included): a bound outside them can never pass or never fail.
METRIC_RANGES: Dict[str, Tuple[float, float, bool]] = {n: m.range for n, m in METRICS.items()}


def _consistent():
    """A metric name means one thing across kinds (its direction, range and per-class nature)."""
    for kind in KINDS.values():
        for metric in kind.metrics:
            known = METRICS[metric.name]
            if (known.direction, known.range, known.per_class) != (metric.direction, metric.range,
                                                                   metric.per_class):
                raise AssertionError(f"metric {metric.name} differs between task kinds")


_consistent()


def kind(task_type: str) -> TaskKind:
    """The record of a task type (the config only admits TASK_TYPES, so a miss is a programming error)."""
    return KINDS[task_type]


def kinds_with_key(key: str) -> Tuple[str, ...]:
    return tuple(name for name, k in KINDS.items() if key in k.keys)
