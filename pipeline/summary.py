"""End-of-run summary read back from MLMD and the Evaluator output: components, task metrics, verdict, push."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from pipeline import config as cfg
from pipeline.core.names import BASELINE, CLASS_COUNT_SUFFIX, HISTORY_FILE, is_count, logged_metric
from pipeline.core.rundir import RunDir
from pipeline.core.schedule import Schedule, shortfalls
from pipeline.files import write_atomically
from pipeline.metric_checks import (MetricCheck, fairness_columns, fairness_metrics, fairness_title, per_class_metrics,
                                    shown_value, task_metrics)
from pipeline.records import ComponentRun, list_runs

# Re-exported for the callers that know them by this module (the names live in the core, the metric reading
# in pipeline/metric_checks.py, the run records in pipeline/records.py).
__all__ = ["HISTORY_FILE", "BASELINE", "CLASS_COUNT_SUFFIX", "is_count", "logged_metric", "shown_value",
           "MetricCheck", "ComponentRun", "task_metrics", "per_class_metrics", "RunSummary", "looked_up",
           "training_history", "summarize", "write", "verdict_reason"]


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
    reason: str = ""  # why NOT BLESSED when no metric failed (verdict_reason)
    inference: Dict[str, object] = field(default_factory=dict)  # `inference.data`: answers path and rows, or why not
    fairness: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)  # task -> slice -> indicator

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
            wide = any(m.interval for m in self.metrics)  # `evaluation.confidence_intervals`
            lines += ["", "task              metric          value   " + ("95% interval        " if wide else "")
                      + "vs blessed  threshold         result"]
            for m in self.metrics:
                result = {True: "pass", False: "FAIL", None: ""}[m.passed]
                if m.change_is_noise:
                    result += " (change within the interval)"
                change = "" if m.change is None else f"{m.change:+.0f}" if is_count(m.metric) else f"{m.change:+.4f}"
                lines.append(f"{m.task:<17} {m.metric:<15} {shown_value(m.metric, m.value):>8}  "
                             + (f"{m.interval:<18}  " if wide else "")
                             + f"{change:>9}  {m.bound:<17} {result}".rstrip())
        for task, slices in self.fairness.items():
            lines += ["", f"fairness indicators of {task} (false positive / false negative rate at each threshold)"]
            names = fairness_columns(next(iter(slices.values())), ("false_positive_rate", "false_negative_rate"))
            lines.append(f"  {'slice':<30} " + " ".join(f"{fairness_title(n):>9}" for n in names))
            lines += [f"  {name[:30]:<30} " + " ".join(f"{values.get(n, float('nan')):>9.4f}" for n in names)
                      for name, values in slices.items()]
        if self.per_class:
            lines += ["", "per class (tasks that declare classes)"]
            for task, classes in self.per_class.items():
                metrics = list(dict.fromkeys(m for values in classes.values() for m in values))
                lines.append(f"  {task:<17} {'class':<22} " + " ".join(f"{m:>8}" for m in metrics))
                lines += [f"  {'':<17} {name:<22} " + " ".join(f"{values.get(m, float('nan')):>8.4f}" for m in metrics)
                          for name, values in classes.items()]
        lines += self._constant_lines()
        if self.training.get("schedule"):
            lines += ["", self.training["schedule"]]
        if self.training.get("task_weights"):
            lines += ["", f"training: {self.training['epochs']} epochs; task weight per epoch"]
            lines += [f"  {task:<17} " + " ".join(f"{w:.3f}" for w in weights)
                      for task, weights in self.training["task_weights"].items()]
            if self.training.get("gates"):
                lines.append("expert gates: mean weight per expert on eval batches, last epoch")
                lines += [f"  {gate:<17} {usage}" for gate, usage in self.training["gates"].items()]
        lines += ["", f"verdict: {self.verdict}" + (f" - {self.reason}" if self.reason else "")]
        lines.append(f"pushed: {self.pushed_to}" if self.pushed_to else "pushed: nothing (serving directory unchanged)")
        if self.inference:
            lines.append(f"inference: {self.inference['rows']} rows answered -> {self.inference['answers']}"
                         if self.inference.get("answers") else f"inference: nothing scored ({self.inference['why']})")
        return "\n".join(lines)


    def constant_shortfalls(self) -> Dict[str, str]:
        """Regression task -> warning where the model does not beat the constant median (MAE) or mean (RMSE)."""
        values = {}
        for m in self.metrics:
            values.setdefault(m.task, {})[m.metric] = m.value
        return shortfalls(self.training.get("constant_baselines") or {}, values)

    def _constant_lines(self) -> List[str]:
        baselines = self.training.get("constant_baselines") or {}
        if not baselines:
            return []
        lines = ["", "regression vs constant predictions (training median / mean, on the same eval rows)"]
        for task, base in baselines.items():
            lines.append(f"  {task:<17} constant median MAE {base['median_mae']:.4g}, constant mean RMSE "
                         f"{base['mean_rmse']:.4g}")
        lines += [f"  WARNING {task}: {text}" for task, text in self.constant_shortfalls().items()]
        return lines


NO_THRESHOLDS = ("no task has thresholds, so the Evaluator validated nothing and blessed nothing (TFX never blesses "
                 "a model without thresholds, so that a forgotten bar cannot push one); set tasks.<task>.thresholds, "
                 "e.g. auc: {min: 0.7}")


def verdict_reason(config: cfg.Config, blessed: Optional[bool], metrics: List[MetricCheck]) -> str:
    """Why a run is NOT BLESSED although no metric failed ("" otherwise)."""
    if blessed is not False or any(m.passed is False for m in metrics):
        return ""
    if not config.has_thresholds:
        return NO_THRESHOLDS
    return "TFMA's validation failed without a failing metric (a threshold's metric or slice was not computed)"


def looked_up(state: str) -> str:
    """What a Resolver node's state means: it found an earlier artifact or none yet (not a component's run)."""
    return {"NONE": "nothing yet", "COMPLETE": "found", "CACHED": "found"}.get(state, state.lower())


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
    schedule = Schedule.read(model_run_uri)
    return {"epochs": len(history),
            "schedule": f"{schedule.describe()}; {schedule.outcome()}" if schedule else "",
            "constant_baselines": schedule.constant_baselines if schedule else {},
            "task_weights": {t: [round(e.get(f"{t}_weight", float("nan")), 4) for e in history] for t in config.tasks},
            "gates": history[-1].get("gates", {})}


def summarize(config: cfg.Config, metadata_path: str) -> RunSummary:
    """Summary of the latest run recorded in the MLMD database (read by pipeline.records, as `mtl runs` reads
    every run), with the per-class metrics and training history of its Evaluator and Trainer outputs."""
    records = list_runs(metadata_path, metrics_of=["latest"])
    if not records:
        raise RuntimeError(f"no pipeline run recorded in {metadata_path}")
    record = records[0]
    summary = RunSummary(config.name, record.run_id, [c for c in record.components if c.name not in record.resolvers],
                         record.metrics, record.blessed, record.pushed_to,
                         resolvers=[c for c in record.components if c.name in record.resolvers],
                         reason=verdict_reason(config, record.blessed, record.metrics))
    model_run = record.outputs.get("Trainer", {}).get("model_run")
    if model_run:
        summary.training = training_history(config, model_run[0])
    inferred = record.outputs.get("BulkInferrer", {}).get("inference_result")
    if config.inference and inferred:
        summary.inference = {"result": inferred[0], "model": record.outputs.get("Trainer", {}).get("model", [""])[0]}
    evaluation = record.outputs.get("Evaluator", {}).get("evaluation")
    if evaluation and os.path.isdir(evaluation[0]):
        summary.per_class = per_class_metrics(config, evaluation[0])
        summary.fairness = fairness_metrics(evaluation[0])
    return summary


def write(summary: RunSummary, output_dir: str) -> str:
    path = RunDir(output_dir).summary
    write_atomically(path, summary.to_json())
    return path
