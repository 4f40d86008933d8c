"""End-of-run summary read back from MLMD and the Evaluator output: components, task metrics, verdict, push."""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

from pipeline import config as cfg

HISTORY_FILE = "history.json"  # written by the trainer under the Trainer's model_run
BASELINE = "baseline"  # TFMA's model name for the latest blessed model
CLASS_COUNT_SUFFIX = "_classes"  # components.metrics: <macro metric>_classes, the classes a macro value averages


def is_count(metric: str) -> bool:
    """Metrics that count (examples, classes): shown as whole numbers."""
    return metric == "example_count" or metric.endswith(CLASS_COUNT_SUFFIX)


def shown_value(metric: str, value: float) -> str:
    """A metric value as text: counts whole ('99762'), other values to 4 decimals."""
    if is_count(metric) and math.isfinite(value):
        return f"{value:.0f}"
    return f"{value:.4f}"


@dataclass
class ComponentRun:
    name: str
    state: str
    seconds: float


@dataclass
class MetricCheck:
    task: str
    metric: str
    value: float
    bound: str = ""  # e.g. ">= 0.90" or "drop <= 0.01"
    passed: Optional[bool] = None  # None: no threshold on this metric
    change: Optional[float] = None  # against the latest blessed model, when there is one


@dataclass
class RunSummary:
    pipeline: str
    run_id: str
    components: List[ComponentRun] = field(default_factory=list)
    metrics: List[MetricCheck] = field(default_factory=list)
    blessed: Optional[bool] = None
    pushed_to: Optional[str] = None
    training: Dict[str, object] = field(default_factory=dict)  # epochs, task weights per epoch, gate usage
    per_class: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)  # task -> class -> metric
    resolvers: List[ComponentRun] = field(default_factory=list)  # input look-ups (Resolver nodes), not components

    @property
    def verdict(self) -> str:
        return {True: "BLESSED", False: "NOT BLESSED", None: "NOT EVALUATED"}[self.blessed]

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "verdict": self.verdict}, indent=1)

    def render(self) -> str:
        lines = [f"run {self.run_id} of pipeline '{self.pipeline}'", "", "component              state     seconds"]
        lines += [f"{c.name:<22} {c.state:<9} {c.seconds:>7.1f}" for c in self.components]
        if self.resolvers:
            lines.append("inputs looked up: " + ", ".join(f"{r.name} ({looked_up(r.state)})" for r in self.resolvers))
        if self.metrics:
            lines += ["", "task              metric          value   vs blessed  threshold         result"]
            for m in self.metrics:
                result = {True: "pass", False: "FAIL", None: ""}[m.passed]
                change = "" if m.change is None else f"{m.change:+.0f}" if is_count(m.metric) else f"{m.change:+.4f}"
                lines.append(f"{m.task:<17} {m.metric:<15} {shown_value(m.metric, m.value):>8}  {change:>9}  "
                             f"{m.bound:<17} {result}".rstrip())
        if self.per_class:
            lines += ["", "per class (tasks that declare classes)"]
            for task, classes in self.per_class.items():
                metrics = list(dict.fromkeys(m for values in classes.values() for m in values))
                lines.append(f"  {task:<17} {'class':<22} " + " ".join(f"{m:>8}" for m in metrics))
                lines += [f"  {'':<17} {name:<22} " + " ".join(f"{values.get(m, float('nan')):>8.4f}" for m in metrics)
                          for name, values in classes.items()]
        if self.training.get("task_weights"):
            lines += ["", f"training: {self.training['epochs']} epochs; task weight per epoch"]
            lines += [f"  {task:<17} " + " ".join(f"{w:.3f}" for w in weights)
                      for task, weights in self.training["task_weights"].items()]
            if self.training.get("gates"):
                lines.append("expert gates: mean weight per expert on eval batches, last epoch")
                lines += [f"  {gate:<17} {usage}" for gate, usage in self.training["gates"].items()]
        lines += ["", f"verdict: {self.verdict}"]
        lines.append(f"pushed: {self.pushed_to}" if self.pushed_to else "pushed: nothing (serving directory unchanged)")
        return "\n".join(lines)


def looked_up(state: str) -> str:
    """What a Resolver node's state means: it found an earlier artifact or none yet (not a component's run)."""
    return {"NONE": "nothing yet", "COMPLETE": "found", "CACHED": "found"}.get(state, state.lower())


def _thresholds(config: cfg.Config, task: str, metric: str) -> str:
    bar = config.tasks[task].thresholds.get(metric)
    if bar is None:
        return ""
    parts = [f">= {bar.min:g}" if bar.min is not None else "", f"<= {bar.max:g}" if bar.max is not None else "",
             f"drop <= {bar.max_drop:g}" if bar.max_drop is not None else "",
             f"rise <= {bar.max_rise:g}" if bar.max_rise is not None else ""]
    return ", ".join(p for p in parts if p)


def task_metrics(config: cfg.Config, evaluation_uri: str) -> List[MetricCheck]:
    """Overall-slice metrics of each task, with threshold pass/fail from TFMA's validation result."""
    import tensorflow_model_analysis as tfma

    failed = set()
    validation = tfma.load_validation_result(evaluation_uri)
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            failed.add((failure.metric_key.output_name, failure.metric_key.name))
    checks, changes = {}, {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for item in metrics.metric_keys_and_values:
            key, task = item.key, item.key.output_name
            if (task not in config.tasks or key.model_name == BASELINE or key.HasField("sub_key")
                    or item.value.WhichOneof("type") != "double_value"):
                continue
            if key.is_diff:
                changes[(task, key.name)] = item.value.double_value.value
                continue
            bound = _thresholds(config, task, key.name)
            checks[(task, key.name)] = MetricCheck(task, key.name, item.value.double_value.value, bound,
                                                   ((task, key.name) not in failed) if bound else None)
    for key, change in changes.items():
        if key in checks:
            checks[key].change = change
    order = {name: i for i, name in enumerate(config.tasks)}
    return sorted(checks.values(), key=lambda m: (order[m.task], m.metric != "example_count", m.metric))


def per_class_metrics(config: cfg.Config, evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Overall-slice per-class values of the candidate model: task -> class name -> {auc, f1} (the per-class
    values behind macro_auc / macro_f1, components/metrics.py), for tasks that declare their classes."""
    import tensorflow_model_analysis as tfma

    found: Dict[str, Dict[str, Dict[str, float]]] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
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


def logged_metric(task: str, keys: Sequence[str], tasks: Sequence[str] = ()) -> Optional[str]:
    """The metric a task logs as '<task>_<metric>' (not its loss or weight), skipping keys of another task
    whose name extends this one ('age_group_auc' is not a metric of 'age')."""
    longer = [t for t in tasks if t != task and t.startswith(f"{task}_")]
    return next((k[len(task) + 1:] for k in keys if k.startswith(f"{task}_")
                 and k not in (f"{task}_loss", f"{task}_weight")
                 and not any(k.startswith(f"{t}_") for t in longer)), None)


def training_history(config: cfg.Config, model_run_uri: str) -> Dict[str, object]:
    """Epoch count, each task's loss weight per epoch and the last epoch's gate usage, from the Trainer's
    history.json (empty when there is none)."""
    path = os.path.join(model_run_uri, HISTORY_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        history = json.load(f)
    if not history:
        return {}
    return {"epochs": len(history),
            "task_weights": {t: [round(e.get(f"{t}_weight", float("nan")), 4) for e in history] for t in config.tasks},
            "gates": history[-1].get("gates", {})}


def summarize(config: cfg.Config, metadata_path: str) -> RunSummary:
    """Summary of the latest run recorded in the MLMD database (read by pipeline.history, as `mtl runs` reads
    every run), with the per-class metrics and training history of its Evaluator and Trainer outputs."""
    from pipeline import history

    records = history.list_runs(metadata_path, metrics_of=["latest"])
    if not records:
        raise RuntimeError(f"no pipeline run recorded in {metadata_path}")
    record = records[0]
    summary = RunSummary(config.name, record.run_id, [c for c in record.components if c.name not in record.resolvers],
                         record.metrics, record.blessed, record.pushed_to,
                         resolvers=[c for c in record.components if c.name in record.resolvers])
    model_run = record.outputs.get("Trainer", {}).get("model_run")
    if model_run:
        summary.training = training_history(config, model_run[0])
    evaluation = record.outputs.get("Evaluator", {}).get("evaluation")
    if evaluation and os.path.isdir(evaluation[0]):
        summary.per_class = per_class_metrics(config, evaluation[0])
    return summary


def write(summary: RunSummary, output_dir: str) -> str:
    from pipeline.files import write_atomically

    path = os.path.join(output_dir, "summary.json")
    write_atomically(path, summary.to_json())
    return path
