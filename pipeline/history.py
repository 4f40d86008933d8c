"""`mtl runs` and `mtl compare`: every run of an output directory as a table, and two runs side by side (per-task
metrics B - A, component states, differing settings). The runs themselves are read by pipeline/records.py
(MLMD through pipeline/store.py); this module compares and renders them. Read-only.

The reading API is re-exported here (`history.list_runs`, `history.pick`, ...) for the callers that know it
by this name."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from pipeline.core.names import is_count
from pipeline.metric_checks import shown_value
from pipeline.records import (SOURCES, RunRecord, eval_settings, flatten, latest_run_id, list_runs,  # noqa: F401
                              pick, when)
from pipeline.store import HistoryError, open_store, outputs_of, read_only_store, shown_id  # noqa: F401


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
    text = shown_value(metric, value) if metric else (
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
        rows.append([r.run_id, when(r.started), _duration(r.seconds), r.pipeline, str(len(r.ran)),
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
                   [["A", a.run_id, when(a.started), a.pipeline, a.verdict, a.pushed],
                    ["B", b.run_id, when(b.started), b.pipeline, b.verdict, b.pushed]], [False] * 6)
    if c.metrics:
        rows = []
        for m in c.metrics:
            bound = m["bound_a"] if m["bound_a"] == m["bound_b"] else f"{m['bound_a'] or '-'} | {m['bound_b'] or '-'}"
            change = "" if m["change"] is None else (f"{m['change']:+.0f}" if is_count(m["metric"])
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
