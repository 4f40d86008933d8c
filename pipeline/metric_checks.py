"""Task metrics read back from an Evaluator output (TFMA's metrics and validation result): one MetricCheck per
overall-slice metric of each task, with its threshold and whether it passed, and the per-class values. The bars
a run is judged by are `TaskBars`: from the config, or rebuilt from a past run's own EvalConfig
(pipeline/records.py)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

from pipeline import tfma_files
from pipeline.core.keys import FAIRNESS_PREFIX, FAIRNESS_RATES
from pipeline.core.names import BASELINE, is_count


def shown_value(metric: str, value: float) -> str:
    """A metric value as text: counts whole ('99762'), other values to 4 decimals."""
    if is_count(metric) and math.isfinite(value):
        return f"{value:.0f}"
    return f"{value:.4f}"


@dataclass
class MetricCheck:
    task: str
    metric: str
    value: float
    bound: str = ""  # e.g. ">= 0.90" or "drop <= 0.01"
    passed: Optional[bool] = None  # None: no threshold on this metric
    change: Optional[float] = None  # against the latest blessed model, when there is one
    lower: Optional[float] = None  # 95% confidence interval (`evaluation.confidence_intervals`)
    upper: Optional[float] = None
    change_lower: Optional[float] = None  # the interval of the change against the blessed model
    change_upper: Optional[float] = None

    @property
    def interval(self) -> str:
        """'[0.9461, 0.9563]', or '' without confidence intervals."""
        if self.lower is None or self.upper is None:
            return ""
        return f"[{shown_value(self.metric, self.lower)}, {shown_value(self.metric, self.upper)}]"

    @property
    def change_is_noise(self) -> Optional[bool]:
        """Whether the change against the blessed model lies inside the interval (the change's own interval holds
        0, or without one the change is smaller than the value's half-width); None without intervals."""
        if self.change is None or is_count(self.metric):
            return None
        if self.change_lower is not None and self.change_upper is not None:
            return self.change_lower <= 0 <= self.change_upper
        if self.lower is not None and self.upper is not None:
            return abs(self.change) <= (self.upper - self.lower) / 2
        return None


@dataclass(frozen=True)
class MetricBar:
    """One metric's blessing bar (the config's `Threshold`): bounds on the value, and the change allowed against
    the latest blessed model in the metric's bad direction (max_drop: higher is better, max_rise: lower is)."""

    min: Optional[float] = None
    max: Optional[float] = None
    max_drop: Optional[float] = None
    max_rise: Optional[float] = None

    def bars(self) -> Dict[str, float]:
        """The bars that are set, by their config name (min, max, max_drop, max_rise)."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    @property
    def shown(self) -> str:
        """e.g. '>= 0.9, drop <= 0.01'."""
        words = {"min": ">= {:g}", "max": "<= {:g}", "max_drop": "drop <= {:g}", "max_rise": "rise <= {:g}"}
        return ", ".join(words[name].format(value) for name, value in self.bars().items())


@dataclass(frozen=True)
class TaskBars:
    """The tasks an evaluation is read for, in order, each with its metrics' bars (metric name -> MetricBar)."""

    tasks: Dict[str, Dict[str, MetricBar]]

    @classmethod
    def of_config(cls, config) -> "TaskBars":
        """The bars of a Config's tasks (its `thresholds`)."""
        return cls({name: {metric: MetricBar(t.min, t.max, t.max_drop, t.max_rise)
                           for metric, t in task.thresholds.items()} for name, task in config.tasks.items()})

    def bound(self, task: str, metric: str) -> str:
        bar = self.tasks[task].get(metric)
        return bar.shown if bar is not None else ""


def task_metrics(config, evaluation_uri: str) -> List[MetricCheck]:
    """Overall-slice metrics of each of a Config's tasks, judged by its thresholds (judged_metrics)."""
    return judged_metrics(TaskBars.of_config(config), evaluation_uri)


def judged_metrics(bars: TaskBars, evaluation_uri: str) -> List[MetricCheck]:
    """Overall-slice metrics of each task in `bars`, with the bar as text and pass/fail from TFMA's validation
    result."""
    failed = set()
    validation = tfma_files.load_validation_result(evaluation_uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            failed.add((failure.metric_key.output_name, failure.metric_key.name))
    checks, changes = {}, {}
    for metrics in tfma_files.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for item in metrics.metric_keys_and_values:
            key, task = item.key, item.key.output_name
            if (task not in bars.tasks or key.model_name == BASELINE or key.HasField("sub_key")
                    or item.value.WhichOneof("type") != "double_value" or key.name.startswith(FAIRNESS_PREFIX)):
                continue
            if key.is_diff:
                changes[(task, key.name)] = (item.value.double_value.value, *interval(item))
                continue
            bound = bars.bound(task, key.name)
            checks[(task, key.name)] = MetricCheck(task, key.name, item.value.double_value.value, bound,
                                                   ((task, key.name) not in failed) if bound else None,
                                                   None, *interval(item))
    for key, (change, lower, upper) in changes.items():
        if key in checks:
            checks[key].change, checks[key].change_lower, checks[key].change_upper = change, lower, upper
    order = {name: i for i, name in enumerate(bars.tasks)}
    return sorted(checks.values(), key=lambda m: (order[m.task], m.metric != "example_count", m.metric))


def interval(item) -> tuple:
    """(lower, upper) of a MetricKeyAndValue's confidence interval, (None, None) without one."""
    if not item.HasField("confidence_interval"):
        return None, None
    found = item.confidence_interval
    if found.lower_bound.WhichOneof("type") != "double_value":
        return None, None
    return found.lower_bound.double_value.value, found.upper_bound.double_value.value


def fairness_metrics(evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """TFMA's fairness indicators of the candidate model: task -> slice name -> 'false_positive_rate@0.5' -> value
    (`evaluation.fairness`), Overall first, then the slices by name."""
    found: Dict[str, Dict[str, Dict[str, float]]] = {}
    for metrics in tfma_files.load_metrics(evaluation_uri):
        name = tfma_files.slice_name(metrics.slice_key)
        for item in metrics.metric_keys_and_values:
            key = item.key
            if (not key.name.startswith(FAIRNESS_PREFIX) or key.model_name == BASELINE or key.is_diff
                    or item.value.WhichOneof("type") != "double_value"):
                continue
            found.setdefault(key.output_name, {}).setdefault(name, {})[key.name[len(FAIRNESS_PREFIX):]] = \
                item.value.double_value.value
    return {task: dict(sorted(slices.items(), key=lambda s: (s[0] != tfma_files.OVERALL, s[0])))
            for task, slices in found.items()}


def fairness_columns(values: Dict[str, float], rates=tuple(FAIRNESS_RATES)) -> List[str]:
    """The indicators among `values` of `rates`, rate by rate then threshold: false_positive_rate@0.3, ..."""
    names = [n for n in values if n.partition("@")[0] in rates]
    return sorted(names, key=lambda n: (list(FAIRNESS_RATES).index(n.partition("@")[0]),
                                        float(n.partition("@")[2] or 0)))


def fairness_title(name: str, space: str = "") -> str:
    """'false_positive_rate@0.5' -> 'FPR@0.5' (space=' ': 'FPR @0.5')."""
    rate, _, threshold = name.partition("@")
    return f"{FAIRNESS_RATES[rate]}{space}@{threshold}"


def per_class_metrics(config, evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Overall-slice per-class values of the candidate model: task -> class name -> {auc, f1} (the per-class
    values behind macro_auc / macro_f1, components/metrics.py), for tasks that declare their classes."""
    found: Dict[str, Dict[str, Dict[str, float]]] = {}
    for metrics in tfma_files.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for item in metrics.metric_keys_and_values:
            key, task = item.key, item.key.output_name
            classes = config.tasks[task].classes if task in config.tasks else None
            if (not classes or key.model_name == BASELINE or key.is_diff or not key.HasField("sub_key")
                    or not key.sub_key.HasField("class_id") or item.value.WhichOneof("type") != "double_value"):
                continue
            class_id = key.sub_key.class_id.value
            if class_id < len(classes):
                metric = key.name[len("macro_"):] if key.name.startswith("macro_") else key.name
                found.setdefault(task, {}).setdefault(classes[class_id], {})[metric] = item.value.double_value.value
    order = {name: i for i, name in enumerate(config.tasks)}
    return {task: {c: found[task][c] for c in config.tasks[task].classes if c in found[task]}
            for task in sorted(found, key=order.get)}
