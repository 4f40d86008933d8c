"""One Evaluator output folder (TFMA's metrics, validation result and plots) read into an EvaluationPart."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from pipeline import config as cfg
from pipeline import tfma_files
from pipeline.tfma_files import slice_name  # noqa: F401 (evaluator_output.slice_name for its callers)
from pipeline.core.keys import FAIRNESS_PREFIX
from pipeline.core.names import BASELINE
from pipeline.metric_checks import fairness_metrics, per_class_metrics
from pipeline.report.parts import OVERALL, EvaluationPart, SliceMetrics


def slicing_of(slice_key) -> Tuple[str, ...]:
    """The columns a TFMA slice is cut by: () for Overall, ('race', 'sex') for a crossed slice."""
    return tuple(single.column for single in slice_key.single_slice_keys)


def read(uri: str, config: Optional[cfg.Config], part: EvaluationPart) -> EvaluationPart:
    """Every slice's candidate metrics and threshold failures, the baseline's overall values, the overall
    slice's plots (calibration, ROC/PR matrices, multiclass confusion) and per-class values."""
    tasks = config.tasks if config is not None else {}
    slices: Dict[str, SliceMetrics] = {}
    for metrics in tfma_files.load_metrics(uri):
        name = slice_name(metrics.slice_key)
        entry = slices.setdefault(name, SliceMetrics(name, slicing=slicing_of(metrics.slice_key)))
        for item in metrics.metric_keys_and_values:
            key = item.key
            if (key.HasField("sub_key") or key.is_diff or item.value.WhichOneof("type") != "double_value"
                    or key.name.startswith(FAIRNESS_PREFIX)):  # fairness indicators: a table of their own
                continue
            value = item.value.double_value.value
            if key.model_name == BASELINE:
                if name == OVERALL:
                    part.baseline.setdefault(key.output_name, {})[key.name] = value
                continue
            entry.values.setdefault(key.output_name, {})[key.name] = value
    for per_slice in tfma_files.load_validation_result(uri).metric_validations_per_slice:
        name = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            slices.setdefault(name, SliceMetrics(name, slicing=slicing_of(per_slice.slice_key))).failed.append(
                (failure.metric_key.output_name, failure.metric_key.name))
    part.slices = sorted(slices.values(), key=lambda s: (s.slice != OVERALL, s.slice))
    for plots in tfma_files.load_plots(uri):
        if plots.slice_key.single_slice_keys:
            continue
        for item in plots.plot_keys_and_values:
            key, value = item.key, item.value
            if key.model_name == BASELINE:
                continue
            if value.HasField("calibration_histogram_buckets"):
                part.calibration[key.output_name] = [
                    (b.lower_threshold_inclusive, b.upper_threshold_exclusive, b.num_weighted_examples.value,
                     b.total_weighted_label.value, b.total_weighted_refined_prediction.value)
                    for b in value.calibration_histogram_buckets.buckets]
            elif value.HasField("confusion_matrix_at_thresholds"):
                part.curves[key.output_name] = [
                    (m.threshold, m.true_positives, m.false_positives, m.true_negatives, m.false_negatives)
                    for m in value.confusion_matrix_at_thresholds.matrices]
            elif value.HasField("multi_class_confusion_matrix_at_thresholds"):
                matrices = value.multi_class_confusion_matrix_at_thresholds.matrices
                if matrices:
                    part.confusion[key.output_name] = _confusion(matrices[0], tasks.get(key.output_name))
    if config is not None:
        part.per_class = per_class_metrics(config, uri)
    part.fairness = fairness_metrics(uri)
    return part


def _confusion(matrix, task: Optional[cfg.Task]) -> Tuple[List[str], List[List[float]]]:
    """Dense [actual][predicted] counts; predicted -1 (no prediction above threshold) is left out."""
    size = max([e.actual_class_id for e in matrix.entries] + [e.predicted_class_id for e in matrix.entries] + [-1]) + 1
    classes = list(task.classes) if task is not None and task.classes else []
    classes += [f"class {i}" for i in range(len(classes), size)]  # ids beyond the known names
    dense = [[0.0] * len(classes) for _ in classes]
    for entry in matrix.entries:
        if 0 <= entry.actual_class_id < len(classes) and 0 <= entry.predicted_class_id < len(classes):
            dense[entry.actual_class_id][entry.predicted_class_id] += entry.num_weighted_examples
    return classes, dense
