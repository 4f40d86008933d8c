"""Every run recorded in an output directory's MLMD database (`mtl runs`), and two runs side by side
(`mtl compare`). Read-only: nothing here writes to the database or the artifacts.

A run is a `pipeline_run` context; its executions say which components ran, were cached or failed. Metrics and
thresholds come from the run's own Evaluator execution (its `eval_config` exec property and its evaluation
output), never from the current config, so a run shows the bars it was held to. `settings` holds what each
component was configured with, as dotted keys (the Trainer's view of the config, the Evaluator's thresholds and
slices, the data contract, the drift bounds) so that two runs can be diffed.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Dict, List, Optional, Sequence, Tuple

from pipeline import summary as summ
from pipeline.runners.local import LOCK_FILE  # held by a run for as long as it uses the output directory
from pipeline.summary import ComponentRun, MetricCheck

MODEL_HALF = ("latest_blessed_model", "Trainer", "Evaluator", "Pusher")  # nodes only a full (--until push) run has
SOURCES = ("Trainer", "Evaluator", "DataGate", "DriftGate")  # where `settings` come from, first wins on a key


class HistoryError(RuntimeError):
    """No database, or not an MLMD database, or no such run."""


def shown_id(context_name: str) -> str:
    """A run's id as the project spells it everywhere (output, `mtl runs`, `--run-id`, report folders): the
    pipeline_run context name with ':' made '-'. LocalDagRunner names a run by its ISO start time
    ('2026-01-02T13:04:08.123456'); '2026-01-02T13-04-08.123456' is a plain folder name on every file system."""
    return context_name.replace(":", "-")


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
        found.update(verdict=self.verdict, started_at=_when(self.started), ran=self.ran, cached=self.cached)
        if not all_metrics:
            found["metrics"] = [asdict(m) for m in self.headline]
        if not settings:
            del found["settings"]
        del found["executions"], found["outputs"]
        return found


# ----------------------------------------------------------------------------------------------- reading MLMD
STATES = {1: "NEW", 2: "RUNNING", 3: "COMPLETE", 4: "FAILED", 5: "CACHED", 6: "CANCELED"}  # Execution.State


def read_only_store(metadata_path: str):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(connection)


def outputs_of(store, execution_id: int) -> Dict[str, list]:
    """{output key: [artifacts]} of one execution."""
    from ml_metadata.proto import metadata_store_pb2

    events = [e for e in store.get_events_by_execution_ids([execution_id])
              if e.type == metadata_store_pb2.Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    by_key: Dict[str, list] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        by_key.setdefault(key, []).append(artifacts[event.artifact_id])
    return by_key


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def open_store(metadata_path: str):
    """A read-only MLMD store; HistoryError when the file is missing or is not an MLMD database."""
    if not os.path.isfile(metadata_path):
        raise HistoryError(f"no ML Metadata database at {metadata_path} (no pipeline has run with this output)")
    try:
        store = read_only_store(metadata_path)
        store.get_context_types()
    except Exception as exc:  # ml_metadata raises its own errors (and RuntimeError) for a foreign file
        found = re.search(r"executing query: (.+?) query:", str(exc))  # SQLite's words, not MLMD's DDL
        reason = found.group(1) if found else str(exc)[:200]
        if "attempt to write a readonly database" in reason:  # read-only MLMD found no schema and could not add one
            reason = "an SQLite file without ML Metadata's tables: another program's database, or an empty one"
        raise HistoryError(f"{metadata_path} is not a readable ML Metadata database ({reason})") from None
    return store


def _context_type_id(store, name: str) -> Optional[int]:
    for context_type in store.get_context_types():
        if context_type.name == name:
            return context_type.id
    return None


def _json_property(execution, name: str):
    value = execution.custom_properties.get(name)
    if value is None or not value.string_value:
        return None
    try:
        return json.loads(value.string_value)
    except json.JSONDecodeError:
        return None


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
    bars = {}
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


def eval_settings(eval_config: dict) -> Tuple[List[str], Dict[str, object]]:
    """Tasks in config order, and the thresholds and slices of an EvalConfig (as JSON) as the config's dotted keys:
    tasks.<task>.thresholds.<metric>.<min|max|max_drop|max_rise>, evaluation.slices."""
    tasks: List[str] = []
    found: Dict[str, object] = {}
    for spec in _field(eval_config, "metrics_specs", []):
        for task in _field(spec, "output_names", []):
            if task not in tasks:
                tasks.append(task)
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
                    for bar, value in _threshold_bars(threshold).items():
                        found[f"tasks.{task}.thresholds.{name or metric.get('class_name')}.{bar}"] = value
    slices = [list(_field(s, "feature_keys", [])) for s in _field(eval_config, "slicing_specs", [])]
    found["evaluation.slices"] = [s for s in slices if s]
    return tasks, found


def _shim_config(tasks: List[str], settings: Dict[str, object]):
    """What summary.task_metrics reads of a Config (task order, thresholds), rebuilt from the run's own
    EvalConfig: a past run is judged by the bars it had, whatever the config says today."""
    bars: Dict[str, Dict[str, Dict[str, float]]] = {}
    for key, value in settings.items():
        parts = key.split(".")
        if len(parts) == 5 and parts[0] == "tasks" and parts[2] == "thresholds":
            bars.setdefault(parts[1], {}).setdefault(parts[3], {})[parts[4]] = value
    blank = dict.fromkeys(("min", "max", "max_drop", "max_rise"))
    return SimpleNamespace(tasks={task: SimpleNamespace(thresholds={
        metric: SimpleNamespace(**{**blank, **values}) for metric, values in bars.get(task, {}).items()})
        for task in tasks})


def _holder_alive(output_dir: str) -> bool:
    """Whether the process named in <output>/.mtl-run.lock (pipeline.runners.local) still exists. Reads the
    file only: taking the lock, even briefly, could make a starting run fail."""
    try:
        with open(os.path.join(output_dir, LOCK_FILE)) as f:
            words = f.read().replace(",", " ").split()
        pid = int(words[words.index("pid") + 1])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        if execution_types.get(execution.type_id, "").endswith(".Resolver"):
            record.resolvers.append(component)
            if state == "FAILED":
                state = "NONE"  # a resolver that found nothing yet (first run): not a failure
        record.components.append(ComponentRun(component, state, seconds))
        record.executions[component] = execution.id
        outputs = outputs_of(store, execution.id)
        record.outputs[component] = {key: [a.uri for a in found] for key, found in outputs.items()}
        if state == "FAILED" and not record.failed_at:
            record.failed_at = component
        if state in ("NEW", "RUNNING") and not record.unfinished:
            record.unfinished = component
        if component == "Trainer":
            custom = _json_property(execution, "custom_config") or {}
            view = flatten(custom.get("config") or {})
            view["code_version.model"] = custom.get("code_version")
            record.settings["Trainer"] = view
        elif component == "Evaluator":
            tasks, settings = eval_settings(_json_property(execution, "eval_config") or {})
            record.settings["Evaluator"] = settings
            if "blessing" in outputs:
                blessing = outputs["blessing"][0].custom_properties.get("blessed")
                record.blessed = bool(blessing and blessing.int_value)
            if metrics and "evaluation" in outputs:
                uri = outputs["evaluation"][0].uri
                if "://" not in uri and not os.path.isdir(uri):
                    record.notes.append(f"evaluation output {uri} is gone: no metrics")
                else:
                    record.metrics = summ.task_metrics(_shim_config(tasks, settings), uri)
        elif component == "Pusher":
            pushed = outputs.get("pushed_model", [None])[0]
            props = pushed.custom_properties if pushed is not None else {}
            if props.get("pushed") and props["pushed"].int_value:
                record.pushed_to = props["pushed_destination"].string_value
                record.pushed_version = (props["pushed_version"].string_value if props.get("pushed_version")
                                         else os.path.basename(record.pushed_to.rstrip("/")))
                record.pushed_now = state == "COMPLETE"
        elif component == "DataGate":
            contract = _json_property(execution, "contract_json") or {}
            code = contract.pop("code_version", None)
            record.settings["DataGate"] = {**flatten(contract), "code_version.data": code}
        elif component == "DriftGate":
            drift = _json_property(execution, "validation_json") or {}
            record.settings["DriftGate"] = flatten({"validation": drift.get("validation") or {}})
    record.seconds = (last - run.create_time_since_epoch) / 1000
    record.data_half_only = bool(executions) and not any(c.name in MODEL_HALF for c in record.components)
    return record


def list_runs(metadata_path: str, metrics: bool = True, metrics_of: Optional[Sequence[str]] = None
              ) -> List[RunRecord]:
    """Every pipeline run recorded in the database, newest first. metrics=False skips reading the Evaluator
    outputs (no TFMA import); metrics_of reads them only for these run ids ('latest': the newest run)."""
    store = open_store(metadata_path)
    if _context_type_id(store, "pipeline_run") is None:
        return []
    runs = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: (c.create_time_since_epoch, c.id),
                  reverse=True)
    node_type, pipeline_type = _context_type_id(store, "node"), _context_type_id(store, "pipeline")
    execution_types = {t.id: t.name for t in store.get_execution_types()}
    wanted = None if metrics_of is None else {shown_id(runs[0].name if r == "latest" and runs else r)
                                              for r in metrics_of}
    records = [_read_run(store, run, node_type, pipeline_type, execution_types,
                         metrics and (wanted is None or shown_id(run.name) in wanted)) for run in runs]
    if records and records[0].unfinished:
        records[0].running = _holder_alive(os.path.dirname(os.path.abspath(metadata_path)))
    return records


def latest_run_id(metadata_path: str) -> Optional[str]:
    """The newest pipeline run's id, or None when there is no database or no run yet."""
    if not os.path.isfile(metadata_path):
        return None
    store = open_store(metadata_path)
    if _context_type_id(store, "pipeline_run") is None:
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


# -------------------------------------------------------------------------------------------------- comparing
@dataclass
class Comparison:
    a: RunRecord
    b: RunRecord
    metrics: List[dict]  # task, metric, a, b, change, bound_a, bound_b, passed_a, passed_b
    components: List[dict]  # component, a, b (state or None when it did not run)
    config: List[dict]  # key, source, a, b: keys whose values differ
    not_compared: List[str]  # sources recorded in only one of the runs

    def to_dict(self) -> dict:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "metrics": self.metrics,
                "components": self.components, "config": self.config, "not_compared": self.not_compared}


def compare(a: RunRecord, b: RunRecord) -> Comparison:
    """Per-task metrics (B - A), component states and differing settings of two runs."""
    index_a = {(m.task, m.metric): m for m in a.metrics}
    index_b = {(m.task, m.metric): m for m in b.metrics}
    metrics = []
    for key in list(index_a) + [k for k in index_b if k not in index_a]:
        ma, mb = index_a.get(key), index_b.get(key)
        metrics.append({"task": key[0], "metric": key[1], "a": ma.value if ma else None,
                        "b": mb.value if mb else None,
                        "change": mb.value - ma.value if ma and mb else None,
                        "bound_a": ma.bound if ma else "", "bound_b": mb.bound if mb else "",
                        "passed_a": ma.passed if ma else None, "passed_b": mb.passed if mb else None})
    states_a = {c.name: c.state for c in a.components}
    states_b = {c.name: c.state for c in b.components}
    names = list(states_a) + [n for n in states_b if n not in states_a]
    components = [{"component": n, "a": states_a.get(n), "b": states_b.get(n)} for n in names]
    config, seen = [], set()
    shared = [s for s in SOURCES if s in a.settings and s in b.settings]
    for source in shared:
        sa, sb = a.settings[source], b.settings[source]
        for key in list(sa) + [k for k in sb if k not in sa]:
            if key in seen:
                continue
            seen.add(key)
            va, vb = sa.get(key), sb.get(key)
            if va != vb:
                config.append({"key": key, "source": source, "a": va, "b": vb})
    not_compared = [s for s in SOURCES if (s in a.settings) != (s in b.settings)]
    return Comparison(a, b, metrics, components, config, not_compared)


# -------------------------------------------------------------------------------------------------- rendering
def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _value(value: Optional[float], passed: Optional[bool] = None, metric: str = "") -> str:
    if value is None:
        return "-"
    text = summ.shown_value(metric, value) if metric else (
        f"{value:.0f}" if float(value).is_integer() and abs(value) >= 100 else f"{value:.4f}")
    return text + ("*" if passed is False else "")


def _table(header: Sequence[str], rows: List[Sequence[str]], right: Sequence[bool],
           groups: Optional[Sequence[Optional[str]]] = None) -> List[str]:
    """Aligned columns; `groups` (one label or None per column) adds a line above the header that names each
    run of adjacent columns sharing a label (a task over its metrics)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    spans: List[Tuple[Optional[str], List[int]]] = []
    for i, label in enumerate(groups or []):
        if spans and label is not None and spans[-1][0] == label:
            spans[-1][1].append(i)
        else:
            spans.append((label, [i]))
    for label, columns in spans:
        room = sum(widths[i] for i in columns) + 2 * (len(columns) - 1)
        if label and len(label) > room:
            widths[columns[-1]] += len(label) - room
    lines = []
    if any(groups or []):
        cells = [(label or "").ljust(sum(widths[i] for i in columns) + 2 * (len(columns) - 1))
                 for label, columns in spans]
        lines.append("  ".join(cells).rstrip())
    for row in [header, *rows]:
        cells = [str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(row, widths, right)]
        lines.append("  ".join(cells).rstrip())
    return lines


def render_runs(records: List[RunRecord], metadata_path: str) -> str:
    if not records:
        return f"no pipeline run recorded in {metadata_path}"
    columns: List[Tuple[str, str]] = []
    for record in records:
        for m in record.headline:
            if (m.task, m.metric) not in columns:
                columns.append((m.task, m.metric))
    header = ["run", "started", "took", "pipeline", "ran", "cached", "verdict", *[m for _, m in columns], "pushed"]
    groups = [None] * 7 + [task for task, _ in columns] + [None]
    rows = []
    for r in records:
        values = {(m.task, m.metric): _value(m.value, m.passed) for m in r.headline}
        rows.append([r.run_id, _when(r.started), _duration(r.seconds), r.pipeline, str(len(r.ran)),
                     str(len(r.cached)), r.verdict, *[values.get(c, "-") for c in columns], r.pushed])
    right = [False, False, True, False, True, True, False, *[True] * len(columns), False]
    lines = [f"{len(records)} run(s) in {metadata_path}, newest first", ""]
    lines += _table(header, rows, right, groups)
    if any(m.passed is False for r in records for m in r.headline):
        lines += ["", "* failed its threshold"]
    lines += [f"note: {r.run_id}: {note}" for r in records for note in r.notes]
    return "\n".join(lines)


def _show(value) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


def _state(state: Optional[str], seconds: Optional[float]) -> str:
    """Component state for the comparison: `ran 12.3s`, `cached`, `FAILED 0.1s`, `-` (not in that run)."""
    if state is None:
        return "-"
    if state == "COMPLETE":
        return f"ran {seconds or 0:.1f}s"
    if state == "FAILED":
        return f"FAILED {seconds or 0:.1f}s"
    return state.lower() if state in ("CACHED", "NONE") else state


def render_comparison(c: Comparison) -> str:
    a, b = c.a, c.b
    lines = _table(["", "run", "started", "pipeline", "verdict", "pushed"],
                   [["A", a.run_id, _when(a.started), a.pipeline, a.verdict, a.pushed],
                    ["B", b.run_id, _when(b.started), b.pipeline, b.verdict, b.pushed]], [False] * 6)
    if c.metrics:
        rows = []
        for m in c.metrics:
            bound = m["bound_a"] if m["bound_a"] == m["bound_b"] else f"{m['bound_a'] or '-'} | {m['bound_b'] or '-'}"
            change = "" if m["change"] is None else (f"{m['change']:+.0f}" if summ.is_count(m["metric"])
                                                      else f"{m['change']:+.4f}".replace("-0.0000", "+0.0000"))
            rows.append([m["task"], m["metric"], _value(m["a"], m["passed_a"], m["metric"]),
                         _value(m["b"], m["passed_b"], m["metric"]),
                         change, bound])
        lines += ["", *_table(["task", "metric", "A", "B", "B - A", "threshold"], rows,
                              [False, False, True, True, True, False])]
        if any(m["passed_a"] is False or m["passed_b"] is False for m in c.metrics):
            lines.append("* failed its threshold")
    else:
        lines += ["", "metrics: neither run was evaluated"]
    seconds_a = {x.name: x.seconds for x in a.components}
    seconds_b = {x.name: x.seconds for x in b.components}
    rows = [[x["component"], _state(x["a"], seconds_a.get(x["component"])),
             _state(x["b"], seconds_b.get(x["component"]))] for x in c.components]
    lines += ["", *_table(["component", "A", "B"], rows, [False, False, False])]
    lines.append("")
    if c.config:
        rows = [[x["key"], _show(x["a"]), _show(x["b"])] for x in c.config]
        lines.append("settings that differ (Trainer's view of the config, Evaluator thresholds and slices, data "
                     "contract, drift bounds)")
        lines += _table(["key", "A", "B"], rows, [False, False, False])
    elif any(s in a.settings and s in b.settings for s in SOURCES):
        lines.append("settings: no difference")
    if c.not_compared:
        lines.append("not compared (recorded in one run only): " + ", ".join(
            f"{s} ({'A' if s in a.settings else 'B'})" for s in c.not_compared))
    lines += [f"note: {r.run_id}: {note}" for r in (a, b) for note in r.notes]
    return "\n".join(lines)
