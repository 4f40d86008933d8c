"""Every run recorded in an output directory's MLMD database, as RunRecords: which components ran, were cached
or failed, the run's metrics against the bars it had, what it pushed, and `settings` (what each component was
configured with, as dotted keys: the Trainer's view of the config, the Evaluator's thresholds and slices, the
data contract, the drift bounds) so that two runs can be diffed. Read-only; MLMD access is pipeline/store.py.

Metrics and thresholds come from the run's own Evaluator execution (its `eval_config` exec property and its
evaluation output), never from the current config, so a run shows the bars it was held to.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from pipeline.core.rundir import RunDir
from pipeline.metric_checks import MetricBar, MetricCheck, TaskBars, judged_metrics
from pipeline.store import (STATES, HistoryError, context_type_id, json_property, open_store, outputs_of,
                            shown_id)


@dataclass
class ComponentRun:
    name: str
    state: str
    seconds: float


MODEL_HALF = ("latest_blessed_model", "Trainer", "Evaluator", "Pusher")  # nodes only a full (--until push) run has
SOURCES = ("Trainer", "Evaluator", "DataGate", "DriftGate")  # where `settings` come from, first wins on a key


@dataclass
class RunRecord:
    run_id: str  # shown_id of the pipeline_run context name
    pipeline: str
    started: float  # seconds since the epoch
    seconds: float  # run started -> its last execution's last update
    components: List[ComponentRun] = field(default_factory=list)
    metrics: List[MetricCheck] = field(default_factory=list)  # every overall-slice metric of every task
    blessed: Optional[bool] = None
    failed_at: Optional[str] = None  # the component that failed
    unfinished: Optional[str] = None  # the component still RUNNING: the run is running or was killed
    running: bool = False  # `unfinished` and the process holding the output directory is alive
    data_half_only: bool = False  # no model-half node ran (`--until transform`)
    pushed_version: Optional[str] = None
    pushed_to: Optional[str] = None
    pushed_now: bool = False  # False when the Pusher was cached (the version is an earlier run's)
    settings: Dict[str, Dict[str, object]] = field(default_factory=dict)  # source -> dotted key -> value
    resolvers: List[str] = field(default_factory=list)  # components that are Resolver nodes (not counted as run)
    notes: List[str] = field(default_factory=list)
    executions: Dict[str, int] = field(default_factory=dict)  # component -> its MLMD execution id in this run
    outputs: Dict[str, Dict[str, List[str]]] = field(default_factory=dict)  # component -> output key -> URIs

    @property
    def verdict(self) -> str:
        if self.failed_at:
            return f"FAILED at {self.failed_at}"
        if self.unfinished:
            return f"{'RUNNING' if self.running else 'INTERRUPTED'} at {self.unfinished}"
        if self.blessed is not None:
            return "BLESSED" if self.blessed else "NOT BLESSED"
        if not self.components:
            return "NO COMPONENT RAN"
        return "NOT EVALUATED (data half only)" if self.data_half_only else "NOT EVALUATED"

    @property
    def ran(self) -> List[str]:
        """Components that executed (resolvers left out)."""
        return [c.name for c in self.components if c.state in ("COMPLETE", "FAILED", "RUNNING")
                and c.name not in self.resolvers]

    @property
    def cached(self) -> List[str]:
        return [c.name for c in self.components if c.state == "CACHED"]

    @property
    def headline(self) -> List[MetricCheck]:
        """The metrics that carry thresholds."""
        return [m for m in self.metrics if m.bound]

    @property
    def pushed(self) -> str:
        if not self.pushed_version:
            return "-"
        return self.pushed_version if self.pushed_now else f"{self.pushed_version} (cached)"

    def to_dict(self, all_metrics: bool = True, settings: bool = False) -> dict:
        """JSON-ready; all_metrics=False keeps only the headline metrics, settings=True adds `settings`."""
        found = asdict(self)
        found.update(verdict=self.verdict, started_at=when(self.started), ran=self.ran, cached=self.cached)
        if not all_metrics:
            found["metrics"] = [asdict(m) for m in self.headline]
        if not settings:
            del found["settings"]
        del found["executions"], found["outputs"]
        return found


def when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def flatten(value, prefix: str = "") -> Dict[str, object]:
    """{'a': {'b': 1, 'c': [1, 2]}} -> {'a.b': 1, 'a.c': [1, 2]} (lists are values, not levels)."""
    if isinstance(value, dict):
        found: Dict[str, object] = {}
        for key, item in value.items():
            found.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: value}


def _field(message: dict, name: str, default=None):
    """A field of a proto rendered as JSON, under its proto name or its lowerCamelCase JSON name."""
    if name in message:
        return message[name]
    head, *rest = name.split("_")
    return message.get(head + "".join(part.title() for part in rest), default)


def _threshold_bars(threshold: dict) -> Dict[str, float]:
    """A TFMA MetricThreshold (as JSON) back to the config's min / max / max_drop / max_rise."""
    bars: Dict[str, float] = {}
    value = _field(threshold, "value_threshold", {})
    for proto_name, name in (("lower_bound", "min"), ("upper_bound", "max")):
        bound = _field(value, proto_name)
        if bound is not None:
            bars[name] = float(bound["value"] if isinstance(bound, dict) else bound)
    change = _field(threshold, "change_threshold", {})
    absolute = _field(change, "absolute")
    if absolute is not None:
        absolute = float(absolute["value"] if isinstance(absolute, dict) else absolute)
        if _field(change, "direction") == "LOWER_IS_BETTER":
            bars["max_rise"] = absolute
        else:
            bars["max_drop"] = -absolute
    return bars


def eval_bars(eval_config: dict) -> TaskBars:
    """The tasks of an EvalConfig (as JSON) in config order, with the bars of their overall-slice thresholds: a
    past run is judged by the bars it had, whatever the config says today."""
    bars: Dict[str, Dict[str, Dict[str, float]]] = {}
    for spec in _field(eval_config, "metrics_specs", []):
        for task in _field(spec, "output_names", []):
            metrics = bars.setdefault(task, {})
            for metric in _field(spec, "metrics", []):
                try:
                    name = json.loads(metric.get("config") or "{}").get("name")
                except json.JSONDecodeError:
                    name = None
                thresholds = [_field(metric, "threshold")] if _field(metric, "threshold") else []
                thresholds += [t.get("threshold", {}) for t in _field(metric, "per_slice_thresholds", [])
                               if not any(_field(s, "feature_keys") or _field(s, "feature_values")
                                          for s in _field(t, "slicing_specs", []))]  # the overall slice only
                for threshold in thresholds:
                    found = _threshold_bars(threshold)
                    if found:
                        metrics.setdefault(name or metric.get("class_name"), {}).update(found)
    return TaskBars({task: {metric: MetricBar(**values) for metric, values in metrics.items()}
                     for task, metrics in bars.items()})


def eval_settings(eval_config: dict) -> Tuple[List[str], Dict[str, object]]:
    """Tasks in config order, and the thresholds and slices of an EvalConfig (as JSON) as the config's dotted keys:
    tasks.<task>.thresholds.<metric>.<min|max|max_drop|max_rise>, evaluation.slices."""
    bars = eval_bars(eval_config)
    found: Dict[str, object] = {f"tasks.{task}.thresholds.{metric}.{name}": value
                                for task, metrics in bars.tasks.items() for metric, bar in metrics.items()
                                for name, value in bar.bars().items()}
    slices = [list(_field(s, "feature_keys", [])) for s in _field(eval_config, "slicing_specs", [])]
    found["evaluation.slices"] = [s for s in slices if s]
    return list(bars.tasks), found


def _read_run(store, run, node_type: Optional[int], pipeline_type: Optional[int], execution_types: Dict[int, str],
              metrics: bool) -> RunRecord:
    executions = sorted(store.get_executions_by_context(run.id), key=lambda e: (e.create_time_since_epoch, e.id))
    record = RunRecord(shown_id(run.name), "", run.create_time_since_epoch / 1000, 0.0)
    last = run.create_time_since_epoch
    for execution in executions:
        contexts = store.get_contexts_by_execution(execution.id)
        node = next((c.name for c in contexts if c.type_id == node_type), "?")
        if not record.pipeline:
            record.pipeline = next((c.name for c in contexts if c.type_id == pipeline_type), node.split(".", 1)[0])
        component = node.split(".", 1)[-1]
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
        last = max(last, execution.last_update_time_since_epoch)
        state = STATES.get(execution.last_known_state, "?")
        resolver = execution_types.get(execution.type_id, "").endswith(".Resolver")
        outputs = outputs_of(store, execution.id, internal=resolver)  # a resolver's: the artifacts it resolved
        if resolver:
            record.resolvers.append(component)
            if state == "FAILED" or (state in ("COMPLETE", "CACHED") and not outputs):
                state = "NONE"  # found nothing yet (first run; TFX records that COMPLETE, no artifact): no failure
        record.components.append(ComponentRun(component, state, seconds))
        record.executions[component] = execution.id
        record.outputs[component] = {key: [a.uri for a in found] for key, found in outputs.items()}
        if state == "FAILED" and not record.failed_at:
            record.failed_at = component
        if state in ("NEW", "RUNNING") and not record.unfinished:
            record.unfinished = component
        if component == "Trainer":
            custom = json_property(execution, "custom_config") or {}
            view = flatten(custom.get("config") or {})
            view["code_version.model"] = custom.get("code_version")
            record.settings["Trainer"] = view
        elif component == "Evaluator":
            eval_config = json_property(execution, "eval_config") or {}
            record.settings["Evaluator"] = eval_settings(eval_config)[1]
            if "blessing" in outputs:
                blessing = outputs["blessing"][0].custom_properties.get("blessed")
                record.blessed = bool(blessing and blessing.int_value)
            if metrics and "evaluation" in outputs:
                uri = outputs["evaluation"][0].uri
                if "://" not in uri and not os.path.isdir(uri):
                    record.notes.append(f"evaluation output {uri} is gone: no metrics")
                else:
                    record.metrics = judged_metrics(eval_bars(eval_config), uri)
        elif component == "Pusher":
            pushed = outputs.get("pushed_model", [None])[0]
            props = pushed.custom_properties if pushed is not None else {}
            if props.get("pushed") and props["pushed"].int_value:
                record.pushed_to = props["pushed_destination"].string_value
                record.pushed_version = (props["pushed_version"].string_value if props.get("pushed_version")
                                         else os.path.basename(record.pushed_to.rstrip("/")))
                record.pushed_now = state == "COMPLETE"
        elif component == "DataGate":
            contract = json_property(execution, "contract_json") or {}
            code = contract.pop("code_version", None)
            record.settings["DataGate"] = {**flatten(contract), "code_version.data": code}
        elif component == "DriftGate":
            drift = json_property(execution, "validation_json") or {}
            record.settings["DriftGate"] = flatten({"validation": drift.get("validation") or {}})
    record.seconds = (last - run.create_time_since_epoch) / 1000
    record.data_half_only = bool(executions) and not any(c.name in MODEL_HALF for c in record.components)
    return record


def list_runs(metadata_path: str, metrics: bool = True, metrics_of: Optional[Sequence[str]] = None
              ) -> List[RunRecord]:
    """Every pipeline run recorded in the database, newest first. metrics=False skips reading the Evaluator
    outputs (no TFMA import); metrics_of reads them only for these run ids ('latest': the newest run)."""
    store = open_store(metadata_path)
    if context_type_id(store, "pipeline_run") is None:
        return []
    runs = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: (c.create_time_since_epoch, c.id),
                  reverse=True)
    node_type, pipeline_type = context_type_id(store, "node"), context_type_id(store, "pipeline")
    execution_types = {t.id: t.name for t in store.get_execution_types()}
    wanted = None if metrics_of is None else {shown_id(runs[0].name if r == "latest" and runs else r)
                                              for r in metrics_of}
    records = [_read_run(store, run, node_type, pipeline_type, execution_types,
                         metrics and (wanted is None or shown_id(run.name) in wanted)) for run in runs]
    if records and records[0].unfinished:
        records[0].running = RunDir(os.path.dirname(os.path.abspath(metadata_path))).holder_alive()
    return records


def latest_run_id(metadata_path: str) -> Optional[str]:
    """The newest pipeline run's id, or None when there is no database or no run yet."""
    if not os.path.isfile(metadata_path):
        return None
    store = open_store(metadata_path)
    if context_type_id(store, "pipeline_run") is None:
        return None
    runs = store.get_contexts_by_type("pipeline_run")
    return shown_id(max(runs, key=lambda c: (c.create_time_since_epoch, c.id)).name) if runs else None


def pick(records: Sequence[RunRecord], which: str) -> RunRecord:
    """A run by id, by a unique prefix of its id, or `latest` / `previous` (records newest first). An id
    written with TFX's colons ('13:04:08') finds the run too."""
    if which in ("latest", "previous"):
        index = 0 if which == "latest" else 1
        if len(records) <= index:
            raise HistoryError(f"there is no {which} run: {len(records)} run(s) recorded")
        return records[index]
    which = shown_id(which)
    exact = [r for r in records if r.run_id == which]
    matches = exact or [r for r in records if r.run_id.startswith(which)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise HistoryError(f"no run {which!r}; `mtl runs` lists them (or use latest / previous)")
    raise HistoryError(f"{which!r} matches {len(matches)} runs: {', '.join(r.run_id for r in matches)}")
