"""TFMA's binary-classification metrics and plots with a lean per-example input path: same computations,
same results, a fraction of the Evaluator's time.

Where the Evaluator's time went (README, "Where the Evaluator's time goes"): TFMA feeds every example once per
slice, per task and per model to every metric combiner, and each combiner converts the example again with
``metric_util.to_label_prediction_example_weight`` — a general function (model/output look-ups through
``util.get_by_keys``, prediction-dict keys, label vocabularies, sub keys, top k, class weights, flattening)
that on census took 54 % of the Evaluator (1.44 M calls for 20,000 eval rows, with a class statement executed
inside each call). A binary task's example is the simplest case: one label, one probability, one weight.

Each Lean<Name> class here is TFMA's metric <Name> (same metric name, options, keys and derived computations, so thresholds, the
blessing, confidence intervals and every reader of the results are unchanged); only the combiners that read
examples get ``lean_label_prediction_weight``, which returns exactly what TFMA's function returns (the same
numpy values, dtypes and fractional-label split) when the example is a size-1 label, prediction and weight
found under the exact model and output names, and calls TFMA's function for anything else (sub keys, top k,
class weights, dict predictions, string labels, prefixed names, bad values and their errors). The lean
combiners keep the class names of TFMA's, so TFMA still computes a histogram shared by AUC, AUC-PR and the
confusion-matrix plot once. tests/test_lean_metrics.py checks every value against TFMA's stock metrics.
The module is part of the installed package, so Beam workers import it like TFMA's own metrics.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import (binary_confusion_matrices, calibration, calibration_histogram,
                                               confusion_matrix_metrics, metric_types, metric_util)

Triple = Tuple[np.ndarray, np.ndarray, np.ndarray]


_MISS = object()


def _exact(value: Any, key: str) -> Any:
    """TFMA's optional look-up of `key` in a dict (the value itself when it is not a dict or lacks the key),
    or _MISS where TFMA would match '<key>/...' prefixes: that case is left to TFMA."""
    if not key or not isinstance(value, dict):
        return value
    if key in value:
        return value[key]
    prefix = key + "/"
    return _MISS if any(isinstance(k, str) and k.startswith(prefix) for k in value) else value


def _size_one(value: Any) -> Optional[np.ndarray]:
    """The value as shape (1,) when it is a numeric numpy array of one element, else None."""
    if type(value) is not np.ndarray or value.size != 1 or value.ndim > 1 or value.dtype.kind not in "iuf":
        return None
    return value.reshape((1,)) if value.ndim == 0 else value


def _simple(inputs, eval_config, model_name: str, output_name: str, example_weighted: bool) -> Optional[Triple]:
    """(label, prediction, weight) as TFMA's conversion yields them for one size-1 example, or None. Kept on
    the example for the other combiners reading the same model and output (no consumer changes the arrays)."""
    cache = inputs.__dict__.setdefault("_lean_inputs", {})
    key = (model_name, output_name, example_weighted)
    if key not in cache:
        cache[key] = None if _named_keys(eval_config, model_name) else \
            _look_up(inputs, model_name, output_name, example_weighted)
    return cache[key]


def _look_up(inputs, model_name: str, output_name: str, example_weighted: bool) -> Optional[Triple]:
    label, prediction = inputs.label, inputs.prediction
    keys = [key for key in (model_name, output_name) if key]
    for key in keys:
        if not isinstance(prediction, dict) or key not in prediction:
            return None  # TFMA's required look-up: its own error or prefix matching
        prediction, label = prediction[key], _exact(label, key)
    label, prediction = _size_one(label), _size_one(prediction)
    if label is None or prediction is None:
        return None
    weight = inputs.example_weight if example_weighted else None
    for key in keys:
        weight = _exact(weight, key)
    if weight is None:
        return label, prediction, np.array([1.0])
    weight = _size_one(weight)
    if weight is None:
        return None
    return label, prediction, np.array([float(weight[0])])


def lean_label_prediction_weight(inputs: metric_types.StandardMetricInputs, eval_config=None, model_name: str = "",
                                 output_name: str = "", sub_key=None, aggregation_type=None, class_weights=None,
                                 example_weighted: bool = False, fractional_labels: bool = False,
                                 flatten: bool = True, squeeze: bool = True, allow_none: bool = False,
                                 require_single_example_weight: bool = False) -> Iterator[Triple]:
    """``metric_util.to_label_prediction_example_weight`` (same signature, same values) with a short path for
    one-label, one-prediction, one-weight examples; everything else goes to TFMA's function."""
    simple = None
    if sub_key is None and aggregation_type is None and not class_weights and flatten and squeeze:
        simple = _simple(inputs, eval_config, model_name, output_name, example_weighted)
        if simple is not None and fractional_labels and not 0.0 <= float(simple[0][0]) <= 1.0:
            simple = None  # TFMA raises its own error naming the label
    if simple is None:
        return metric_util.to_label_prediction_example_weight(
            inputs, eval_config=eval_config, model_name=model_name, output_name=output_name, sub_key=sub_key,
            aggregation_type=aggregation_type, class_weights=class_weights, example_weighted=example_weighted,
            fractional_labels=fractional_labels, flatten=flatten, squeeze=squeeze, allow_none=allow_none,
            require_single_example_weight=require_single_example_weight)
    label, prediction, weight = simple
    if not fractional_labels:
        return iter((simple,))
    # TFMA's _yield_fractional_labels: (0, p, w (1 - l)) and (1, p, w l), each only with a non-zero weight.
    split: List[Triple] = []
    for value, part in ((0, weight * (1 - label)), (1, weight * label)):
        if not math.isclose(float(part[0]), 0.0):
            split.append((np.array([value], dtype=label.dtype), prediction, part))
    return iter(split)


def _named_keys(eval_config, model_name: str) -> bool:
    """True when the model's spec names a prediction or label key (TFMA then looks values up by it)."""
    if not eval_config or not eval_config.model_specs:
        return False
    for spec in eval_config.model_specs:
        if (spec.name if len(eval_config.model_specs) > 1 else "") == model_name:
            return bool(spec.prediction_key or spec.label_key)
    return False


def _float(value) -> float:
    """float(value) as TFMA takes it, without numpy's deprecated size-1-array conversion (same number)."""
    return float(value[0]) if type(value) is np.ndarray and value.shape == (1,) else float(value)


class _CalibrationHistogramCombiner(calibration_histogram._CalibrationHistogramCombiner):  # noqa: SLF001
    """TFMA's histogram combiner (its class name, so TFMA de-duplicates it with the stock one) reading examples
    through the lean path; the body of add_input is TFMA's."""

    def add_input(self, accumulator, element):
        for label, prediction, example_weight in lean_label_prediction_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, sub_key=self._key.sub_key,
                fractional_labels=self._fractional_labels, flatten=True, aggregation_type=self._aggregation_type,
                class_weights=self._class_weights, example_weighted=self._example_weighted):
            example_weight, label, prediction = _float(example_weight), _float(label), _float(prediction)
            weighted_label, weighted_prediction = label * example_weight, prediction * example_weight
            index = self._bucket_index(prediction if self._prediction_based_bucketing else label)
            bucket = accumulator.get(index)
            if bucket is None:
                accumulator[index] = calibration_histogram.Bucket(index, weighted_label, weighted_prediction,
                                                                  example_weight)
            else:
                bucket.weighted_labels += weighted_label
                bucket.weighted_predictions += weighted_prediction
                bucket.weighted_examples += example_weight
        return accumulator


class _WeightedLabelsPredictionsExamplesCombiner(calibration._WeightedLabelsPredictionsExamplesCombiner):  # noqa
    """TFMA's weighted label / prediction / example sums (Calibration and the mean label and prediction)
    reading examples through the lean path; the body of add_input is TFMA's."""

    def add_input(self, accumulator, element):
        top_k = self._key.sub_key.top_k if self._key.sub_key else None
        for label, prediction, example_weight in lean_label_prediction_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name, sub_key=self._key.sub_key,
                aggregation_type=self._aggregation_type, class_weights=self._class_weights,
                example_weighted=self._example_weighted, allow_none=True):
            example_weight = _float(example_weight)
            accumulator.total_weighted_examples += example_weight
            if label is not None and len(label):
                if top_k is not None:
                    for i in range(top_k):
                        weighted_label = label[i] * example_weight
                else:
                    weighted_label = _float(label) * example_weight
                accumulator.total_weighted_labels += weighted_label
            if prediction is not None and len(label):
                if top_k is not None:
                    for i in range(top_k):
                        weighted_prediction = prediction[i] * example_weight
                else:
                    weighted_prediction = _float(prediction) * example_weight
                accumulator.total_weighted_predictions += weighted_prediction
        return accumulator


_LEAN_COMBINERS = {calibration_histogram._CalibrationHistogramCombiner: _CalibrationHistogramCombiner,  # noqa
                   calibration._WeightedLabelsPredictionsExamplesCombiner:  # noqa: SLF001
                       _WeightedLabelsPredictionsExamplesCombiner}


def _lean_combiner(combiner):
    """The same combiner (its state copied) reading examples through the lean path; others unchanged."""
    lean_class = _LEAN_COMBINERS.get(type(combiner))
    if lean_class is not None:
        lean = lean_class.__new__(lean_class)
        lean.__dict__.update(combiner.__dict__)
        return lean
    if type(combiner) is binary_confusion_matrices._BinaryConfusionMatrixCombiner:  # noqa: SLF001
        if combiner._extract_label_prediction_and_weight is metric_util.to_label_prediction_example_weight:
            lean = copy.copy(combiner)
            lean._extract_label_prediction_and_weight = lean_label_prediction_weight
            return lean
    return combiner


def lean_computations(computations: metric_types.MetricComputations) -> metric_types.MetricComputations:
    """The computations with each example-reading combiner TFMA's own on the lean input path."""
    return [metric_types.MetricComputation(c.keys, c.preprocessors, _lean_combiner(c.combiner))
            if isinstance(c, metric_types.MetricComputation) else c for c in computations]


def _lean(stock: type) -> type:
    """A subclass of TFMA's metric class `stock`, named Lean<name> (TFMA finds a class by its name in its own
    registry before it reads the module), whose computations use the lean combiners."""

    def computations(self, *args, **kwargs):
        return lean_computations(stock.computations(self, *args, **kwargs))

    return type(f"Lean{stock.__name__}", (stock,), {"computations": computations, "__module__": __name__,
                                           "__doc__": f"TFMA's {stock.__name__} on the lean input path."})


LeanAUC = _lean(tfma.metrics.AUC)
LeanBinaryAccuracy = _lean(tfma.metrics.BinaryAccuracy)
LeanPrecision = _lean(tfma.metrics.Precision)
LeanRecall = _lean(tfma.metrics.Recall)
LeanCalibration = _lean(tfma.metrics.Calibration)
LeanCalibrationPlot = _lean(tfma.metrics.CalibrationPlot)
LeanConfusionMatrixPlot = _lean(tfma.metrics.ConfusionMatrixPlot)
LeanFallOut = _lean(tfma.metrics.FallOut)
LeanMissRate = _lean(tfma.metrics.MissRate)
LeanPredictedPositiveRate = _lean(confusion_matrix_metrics.PredictedPositiveRate)
