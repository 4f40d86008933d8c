"""The typed records a report is built from: collect.py fills them from a run, layout.py reads them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from pipeline import config as cfg
from pipeline.core.drift_record import DriftRecord
from pipeline.metric_checks import MetricCheck
from pipeline.records import RunRecord
from pipeline.tfma_files import OVERALL  # noqa: F401 (one spelling of the unsliced slice)


@dataclass
class FeatureRow:
    """One column of one split, as TFDV's statistics describe it."""

    name: str
    kind: str  # INT / FLOAT / STRING / ...
    role: str  # the config's feature type, or "label of <task>", or "unused"
    missing: float  # fraction of examples without a value
    numbers: Dict[str, float] = field(default_factory=dict)  # mean, std, min, median, max, zeros
    unique: Optional[int] = None
    top: List[Tuple[str, float]] = field(default_factory=list)  # (value, frequency): strings, integer codes
    histogram: List[Tuple[float, float, float]] = field(default_factory=list)  # (low, high, count) for numbers
    notes: List[str] = field(default_factory=list)  # what deserves a look (mostly missing, constant, ...)
    counted_rows: int = 0  # integer-coded categorical column: the rows its value counts were read from


@dataclass
class DataPart:
    examples: Dict[str, int] = field(default_factory=dict)  # split -> number of examples
    features: Dict[str, List[FeatureRow]] = field(default_factory=dict)  # split -> rows
    findings: List[Tuple[str, str]] = field(default_factory=list)  # (blocking|tolerated, what the data gate says)
    drift: Optional[DriftRecord] = None  # DriftGate's drift.json (measured again when the gate failed)
    drift_missing: str = ""  # why there is no drift record although the gate ran ("" when none is expected)
    labels: Dict[str, str] = field(default_factory=dict)  # task -> label column
    gate_state: str = ""  # the DataGate's state in this run ("" when it did not run)


@dataclass
class SliceMetrics:
    slice: str  # "Overall" or "sex = Female"
    values: Dict[str, Dict[str, float]] = field(default_factory=dict)  # task -> metric -> value (candidate)
    failed: List[Tuple[str, str]] = field(default_factory=list)  # (task, metric) that failed a threshold here
    slicing: Tuple[str, ...] = ()  # the columns this slice is cut by (() for Overall)


@dataclass
class EvaluationPart:
    slices: List[SliceMetrics] = field(default_factory=list)  # Overall first
    checks: List[MetricCheck] = field(default_factory=list)  # overall slice: value, bound, pass, change
    baseline: Dict[str, Dict[str, float]] = field(default_factory=dict)  # task -> metric -> baseline value
    baseline_run: Optional[str] = None  # the run that trained the baseline (the last blessed model)
    calibration: Dict[str, List[Tuple[float, float, float, float, float]]] = field(default_factory=dict)
    # task -> buckets (low, high, weighted examples, sum of labels, sum of predictions), overall slice
    confusion: Dict[str, Tuple[List[str], List[List[float]]]] = field(default_factory=dict)
    # task -> (class names, matrix[actual][predicted]), overall slice, top-1 prediction
    per_class: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)
    curves: Dict[str, List[Tuple[float, float, float, float, float]]] = field(default_factory=dict)
    # binary task -> (threshold, tp, fp, tn, fn) per threshold, overall slice: ROC and precision-recall
    regression: Dict[str, List[Tuple[float, float]]] = field(default_factory=dict)
    # regression task -> (actual, predicted) of a sample of labelled eval rows, scored by the exported model
    fairness: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)
    # binary task -> slice -> fairness indicator (false_positive_rate@0.5, ...) -> value (`evaluation.fairness`)
    tagging: Dict[str, dict] = field(default_factory=dict)
    # tagging task -> {"rows", "per_type": {type: {precision, recall, f1, gold}}, "confusions": [(gold, predicted,
    # tokens)]} over a sample of labelled eval rows (pipeline/report/examples.py tagging_sample)
    notes: List[str] = field(default_factory=list)  # what could not be shown, and why


@dataclass
class TrainingPart:
    epochs: List[dict] = field(default_factory=list)  # history.json of the Trainer
    schedule: str = ""  # the Trainer's schedule.json, described (rows, batch, epochs, early stopping)
    constant_baselines: Dict[str, Dict[str, float]] = field(default_factory=dict)  # schedule.json's, per regression task
    tasks: Dict[str, str] = field(default_factory=dict)  # task -> type
    architecture: str = ""
    loss_weighting: str = ""
    kept_epoch: Optional[int] = None  # 1-based epoch whose weights the exported model has (None: unknown)
    kept_reason: str = ""  # why that epoch


@dataclass
class ReportData:
    run: RunRecord
    data: Optional[DataPart] = None
    evaluation: Optional[EvaluationPart] = None
    training: Optional[TrainingPart] = None
    missing: Dict[str, str] = field(default_factory=dict)  # part -> why it is not in the report
    config: Optional[cfg.Config] = None  # the Trainer's view of the config, when the run got that far
    inference: str = ""  # what the BulkInferrer answered (`inference.data`), when the pipeline has one
