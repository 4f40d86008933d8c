"""Custom TFMA metrics: per-class AUC / F1 and their macro average over the classes present in a slice.

TFMA's own macro aggregation averages over every configured class, so a slice without any example of a class
counts that class's AUC (or F1) as 0: a slice of a 4-class task that holds 3 of them could show a macro AUC
of 0.75 with perfect scores. These metrics average only over the classes that can be judged in the slice:

- ``MacroAUC``: per class, TFMA's ``AUC`` of the class against the rest; the macro average counts the classes
  that have both positive and negative (weighted) examples in the slice (AUC is undefined otherwise).
- ``MacroF1``: per class, TFMA's ``F1Score`` of the *predicted* class (``top_k=1``: a row is predicted as
  class c when c has its highest score), not one-vs-rest at a 0.5 probability, which misses every row whose
  winning class scores below 0.5. The macro average counts the classes that occur in the slice as a label or
  as a prediction (a class that is only predicted scores F1 0, as it should).

Each emits the per-class values under its own name with a ``class_id`` sub key (what the report and summary
show per class), the macro value under the plain name (what thresholds apply to) and ``<name>_classes``, the
number of classes averaged. The heavy part (TFMA's calibration histogram per class) is TFMA's and shared
with any other metric that needs the same one. The module is part of the installed package, so Beam workers
import it like TFMA's own metrics.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import binary_confusion_matrices, metric_types, metric_util

from pipeline.core.names import CLASS_COUNT_SUFFIX  # <name>_classes: how many classes a macro value averages


def classes_key(key: metric_types.MetricKey) -> metric_types.MetricKey:
    return key._replace(name=key.name + CLASS_COUNT_SUFFIX)


def _auc_judged(matrices) -> bool:
    """AUC of a class is defined when the slice has examples of it and of other classes."""
    return matrices.tp[0] + matrices.fn[0] > 0 and matrices.fp[0] + matrices.tn[0] > 0


def _f1_judged(matrices) -> bool:
    """F1 of a class is defined when it occurs as a label or as a top-1 prediction."""
    return matrices.tp[0] + matrices.fn[0] + matrices.fp[0] > 0


def _present_class_macro(per_class: Callable[..., tfma.metrics.Metric], judged: Callable[[object], bool],
                         top_k: Optional[int] = None, thresholds: Optional[List[float]] = None):
    """A create_computations_fn: per-class computations of `per_class(name=..., **options)` plus one derived
    computation averaging those of the classes `judged` present by the class's binary confusion matrices
    (the ones the per-class metric derives from: equal keys, so TFMA computes them once)."""

    def computations(name: str, class_ids: Sequence[int], num_thresholds: Optional[int] = None, eval_config=None,
                     model_name: str = "", output_name: str = "", sub_key=None, example_weighted: bool = False
                     ) -> metric_types.MetricComputations:
        if sub_key is not None:
            raise ValueError(f"{name}: computes its own per-class values; do not binarize its MetricsSpec")
        options = {"num_thresholds": num_thresholds} if num_thresholds else {"thresholds": thresholds}
        found: metric_types.MetricComputations = []
        values, matrices = {}, {}
        for class_id in class_ids:
            metric = per_class(name=name, top_k=top_k, **options).computations(
                eval_config=eval_config, model_names=[model_name], output_names=[output_name],
                sub_keys=[metric_types.SubKey(class_id=class_id)], example_weighted=example_weighted)
            counts = binary_confusion_matrices.binary_confusion_matrices(
                eval_config=eval_config, model_name=model_name, output_name=output_name,
                sub_key=metric_types.SubKey(class_id=class_id, top_k=top_k), example_weighted=example_weighted,
                **options)
            values[class_id], matrices[class_id] = metric[-1].keys[-1], counts[-1].keys[-1]
            found += metric + counts
        key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                     example_weighted=example_weighted)

        def result(metrics: Dict[metric_types.MetricKey, object]) -> Dict[metric_types.MetricKey, float]:
            present = [float(metrics[values[c]]) for c in class_ids if judged(metrics[matrices[c]])]
            return {key: sum(present) / len(present) if present else math.nan,
                    classes_key(key): float(len(present))}

        found.append(metric_types.DerivedMetricComputation(keys=[key, classes_key(key)], result=result))
        return found

    return computations


class MacroAUC(tfma.metrics.Metric):
    """Per-class AUC (one class against the rest) and its mean over the classes present in the slice."""

    def __init__(self, name: str = "macro_auc", class_ids: Sequence[int] = (), num_thresholds: int = 1000):
        super().__init__(metric_util.merge_per_key_computations(_present_class_macro(tfma.metrics.AUC, _auc_judged)),
                         name=name, class_ids=list(class_ids), num_thresholds=num_thresholds)


class MacroF1(tfma.metrics.Metric):
    """Per-class F1 of the top-1 predicted class and its mean over the classes present in the slice.

    top_k=1 sets every score but the highest to -inf; the threshold 0.0 then counts a row as predicted c when
    c has the highest (softmax, so positive) score. Not TFMA's top-k default of -inf: that threshold reads the
    calibration histogram, which, in a slice where no row's top class is c, counts every row as predicted c
    (F1 1.0 for a class that is never predicted); a single threshold >= 0 is counted exactly instead."""

    def __init__(self, name: str = "macro_f1", class_ids: Sequence[int] = ()):
        super().__init__(metric_util.merge_per_key_computations(_present_class_macro(
            tfma.metrics.F1Score, _f1_judged, top_k=1, thresholds=[0.0])), name=name, class_ids=list(class_ids))
