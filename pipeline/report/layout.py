"""The report as sections of blocks (text, tables, figures), built once from ReportData and
rendered twice (HTML and Markdown), so the two files always say the same."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

from pipeline.report import plots
from pipeline.report.collect import OVERALL, ReportData

MAX_TABLE_SLICES = 100  # slices per task table (the largest by example count; Overall first)
MAX_PLOT_SLICES = 30  # bars per metric-by-slice chart
MAX_CLASSES = 30  # classes in a confusion matrix (those with the most examples)


@dataclass
class Text:
    text: str
    css: str = ""  # "good", "bad", "note", "heading"


@dataclass
class Table:
    header: List[str]
    rows: List[List[str]]
    marks: List[List[str]] = field(default_factory=list)  # per cell "", "bad" (a failed threshold, a blocking
    # finding) or "warn" (worth a look)


@dataclass
class Figure:
    name: str  # file name stem: the PNG beside report.md
    title: str
    png: bytes


Block = Union[Text, Table, Figure]


@dataclass
class Section:
    title: str
    anchor: str
    blocks: List[Block] = field(default_factory=list)


def number(value: Optional[float], digits: int = 4, whole: bool = False) -> str:
    """Fixed decimals (metrics compare at a glance); whole=True prints integral values without them (counts,
    the min/median/max of an integer column)."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if whole and float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def verdict_css(verdict: str) -> str:
    """BLESSED green; NOT BLESSED, FAILED at X and INTERRUPTED at X red; the rest (not evaluated, running) grey."""
    if verdict == "BLESSED":
        return "good"
    return "bad" if verdict.startswith(("NOT BLESSED", "FAILED", "INTERRUPTED")) else "note"


def _figure(blocks: List[Block], name: str, title: str, png: Optional[bytes]) -> None:
    if png:
        blocks.append(Figure(name, title, png))


# ------------------------------------------------------------------------------------------------ sections
def overview(report: ReportData) -> Section:
    run = report.run
    section = Section("Verdict", "verdict")
    section.blocks.append(Text(run.verdict, verdict_css(run.verdict)))
    facts = [["pipeline", run.pipeline], ["run", run.run_id],
             ["started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started))],
             ["duration", f"{run.seconds:.0f} s"],
             ["pushed", run.pushed_to if run.pushed_to and run.pushed_now else
              (f"{run.pushed_to} (cached: an earlier run's push)" if run.pushed_to else "nothing")]]
    if report.evaluation is not None:
        facts.append(["compared with", f"run {report.evaluation.baseline_run} (latest blessed model)"
                      if report.evaluation.baseline_run else "no earlier blessed model (first evaluation: "
                      "only absolute thresholds apply)"])
    section.blocks.append(Table(["", ""], facts))
    checks = report.evaluation.checks if report.evaluation is not None else run.metrics
    if checks:
        baseline = report.evaluation.baseline if report.evaluation is not None else {}
        rows, marks = [], []
        for check in checks:
            if check.metric == "example_count":
                continue
            result = {True: "pass", False: "FAIL", None: ""}[check.passed]
            rows.append([check.task, check.metric, number(check.value),
                         number(baseline.get(check.task, {}).get(check.metric)),
                         f"{check.change:+.4f}" if check.change is not None else "", check.bound, result])
            marks.append([""] * 6 + ["bad" if check.passed is False else ""])
        section.blocks.append(Table(["task", "metric", "value", "blessed model", "change", "threshold", "result"],
                                    rows, marks))
    for name, why in report.missing.items():
        section.blocks.append(Text(f"No {name} section: {why}.", "note"))
    return section


def data(report: ReportData) -> Optional[Section]:
    part = report.data
    if part is None:
        return None
    section = Section("Data", "data")
    section.blocks.append(Text("Examples per split: " + ", ".join(f"{s} {n:,}" for s, n in part.examples.items())))
    if part.findings:
        css = {"blocking": "bad", "tolerated": "warn"}
        section.blocks.append(Table(["data gate", "finding"], [[kind, text] for kind, text in part.findings],
                                    [[css[kind]] * 2 for kind, _ in part.findings]))
    elif part.gate_state in ("COMPLETE", "CACHED"):
        section.blocks.append(Text("Data gate: no anomaly, no label or number problem.", "good"))
    elif part.gate_state == "FAILED":
        section.blocks.append(Text("Data gate failed; its error is at the end of the run's log.", "bad"))
    else:
        section.blocks.append(Text("The data gate did not run in this run: its checks are not in this report.",
                                   "note"))
    main = "train" if "train" in part.features else next(iter(part.features), None)
    for split, rows in sorted(part.features.items(), key=lambda item: item[0] != main):
        shown = rows if split == main else [row for row in rows if row.notes]
        if split == main:
            section.blocks.append(Text(f"Columns of split '{split}'", "heading"))
        elif shown:
            section.blocks.append(Text(f"Columns of split '{split}' that deserve a look", "heading"))
        else:
            section.blocks.append(Text(f"Split '{split}': no column deserves a look.", "note"))
            continue
        section.blocks.append(feature_table(shown))
    train = part.features.get(main, [])
    by_name = {row.name: row for row in train}
    for task, column in part.labels.items():
        row = by_name.get(column)
        if row is not None:
            _figure(section.blocks, f"label-{task}", f"label distribution of {task}",
                    plots.label_distribution(task, column, row.top, row.histogram))
    section.blocks += drift_blocks(part.drift_report)
    return section


def feature_table(rows) -> Table:
    table = Table(["column", "role", "type", "missing", "mean", "std", "min", "median", "max", "distinct",
                   "most frequent", "look at"], [])
    for row in rows:
        n, whole = row.numbers, row.kind == "INT"
        table.rows.append([row.name, row.role, row.kind, f"{row.missing:.1%}", number(n.get("mean"), 3),
                           number(n.get("std"), 3), number(n.get("min"), 3, whole),
                           number(n.get("median"), 3, whole), number(n.get("max"), 3, whole),
                           str(row.unique) if row.unique is not None else "",
                           _short(row.top[0][0]) if row.top else "", "; ".join(row.notes)])
        table.marks.append([""] * 11 + ["warn" if row.notes else ""])
    return table


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def drift_blocks(report_md: str) -> List[Block]:
    """DriftGate's report.md (notes as '- ' lines, then a Markdown table of measurements) as blocks."""
    lines = report_md.splitlines()
    notes = [line[2:] for line in lines if line.startswith("- ")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines if line.startswith("|")]
    if not notes and not cells:
        return [Text("Drift and skew checks: off (set `validation:` in the config to turn them on).", "note")]
    blocks: List[Block] = [Text("Drift and skew checks (DriftGate)", "heading")]
    blocks += [Text(note) for note in notes]
    if len(cells) > 2:
        rows = [[c.replace("**", "") for c in row] for row in cells[2:]]
        blocks.append(Table(cells[0], rows, [[""] * (len(row) - 1) + ["bad" if row[-1] != "ok" else ""]
                                             for row in rows]))
    return blocks


def evaluation(report: ReportData) -> Optional[Section]:
    part = report.evaluation
    if part is None:
        return None
    section = Section("Evaluation", "evaluation")
    section.blocks.append(Text("Thresholds apply to the Overall slice; other slices are reported. "
                               "Rows without a label for a task do not count in that task's metrics."))
    bounds = {(c.task, c.metric): c.bound for c in part.checks if c.bound}
    tasks = list(dict.fromkeys(t for s in part.slices for t in s.values))
    if report.config is not None:
        tasks = [t for t in report.config.tasks if t in tasks]
    for task in tasks:
        slices = _largest([s for s in part.slices if s.values.get(task)], task)
        metrics = list(dict.fromkeys(m for s in slices for m in s.values.get(task, {})))
        metrics.sort(key=lambda m: (m != "example_count", (task, m) not in bounds))  # counts, thresholded, rest
        table = Table(["slice", *metrics], [])
        for entry in slices[:MAX_TABLE_SLICES]:
            values = entry.values[task]
            table.rows.append([entry.slice, *(number(values.get(m), whole=m == "example_count") for m in metrics)])
            table.marks.append(["", *("bad" if (task, m) in entry.failed else "" for m in metrics)])
        if any(bounds.get((task, m)) for m in metrics):
            table.rows.append(["threshold", *(bounds.get((task, m), "") for m in metrics)])
            table.marks.append([""] * (len(metrics) + 1))
        section.blocks.append(Text(f"{task}", "heading"))
        section.blocks.append(table)
        if len(slices) > MAX_TABLE_SLICES:
            section.blocks.append(Text(f"{len(slices) - MAX_TABLE_SLICES} smaller slices not shown (all are in "
                                       "the Evaluator's output: tfma.load_metrics).", "note"))
        for metric in metrics:
            if (task, metric) not in bounds:
                continue
            values = [(s.slice, s.values[task][metric]) for s in slices[:MAX_PLOT_SLICES]
                      if metric in s.values[task] and math.isfinite(s.values[task][metric])]
            check = next(c for c in part.checks if (c.task, c.metric) == (task, metric))
            line = _bound_value(check.bound)
            _figure(section.blocks, f"slices-{task}-{metric}", f"{task} {metric} by slice",
                    plots.metric_by_slice(task, metric, values, line))
        if task in part.per_class:
            classes = part.per_class[task]
            names = list(dict.fromkeys(m for v in classes.values() for m in v))
            section.blocks.append(Table(["class", *names], [[c, *(number(v.get(m)) for m in names)]
                                                            for c, v in classes.items()]))
        if task in part.calibration:
            _figure(section.blocks, f"calibration-{task}", f"calibration of {task}",
                    plots.calibration(task, part.calibration[task]))
        if task in part.confusion:
            classes, matrix = part.confusion[task]
            if len(classes) > MAX_CLASSES:
                keep = sorted(sorted(range(len(classes)), key=lambda i: -sum(matrix[i]))[:MAX_CLASSES])
                section.blocks.append(Text(f"Confusion matrix of the {MAX_CLASSES} classes with the most examples "
                                           f"(of {len(classes)}).", "note"))
                classes, matrix = [classes[i] for i in keep], [[matrix[i][j] for j in keep] for i in keep]
            _figure(section.blocks, f"confusion-{task}", f"confusion matrix of {task}",
                    plots.confusion(task, classes, matrix))
    return section


def _largest(slices: list, task: str) -> list:
    """Overall first, then the slices with the most examples of this task."""
    return sorted(slices, key=lambda s: (s.slice != OVERALL, -s.values[task].get("example_count", 0), s.slice))


def _bound_value(bound: str) -> Optional[float]:
    """The first absolute bound of '>= 0.75' / '<= 3, drop <= 0.01', for the threshold line."""
    for part in bound.split(","):
        words = part.split()
        if len(words) == 2 and words[0] in (">=", "<="):
            return float(words[1])
    return None


def training(report: ReportData) -> Optional[Section]:
    part = report.training
    if part is None:
        return None
    section = Section("Training", "training")
    last = part.epochs[-1] if part.epochs else {}
    section.blocks.append(Text(f"{len(part.epochs)} epochs; architecture {part.architecture or '?'}, loss "
                               f"weighting {part.loss_weighting or '?'}; last epoch loss {number(last.get('loss'))}, "
                               f"validation loss {number(last.get('val_loss'))}."))
    for task in part.tasks:
        _figure(section.blocks, f"training-{task}", f"training curves of {task}",
                plots.training_curves(task, part.epochs, list(part.tasks)))
    _figure(section.blocks, "loss-weights", "task loss weights per epoch",
            plots.loss_weights(list(part.tasks), part.epochs, part.loss_weighting))
    gates = last.get("gates") or {}
    if gates:
        _figure(section.blocks, "gate-usage", "expert gate usage", plots.gate_usage(gates))
        section.blocks.append(Table(["gate", "mean weight per expert (last epoch)"],
                                    [[name, ", ".join(number(v, 3) if not isinstance(v, list) else
                                                      "[" + ", ".join(number(x, 3) for x in v) + "]"
                                                      for v in usage)] for name, usage in gates.items()]))
    elif part.architecture in ("mmoe", "ple", "cgc", "cross_stitch"):
        section.blocks.append(Text("No gate usage recorded.", "note"))
    return section


def components(report: ReportData) -> Section:
    section = Section("Components", "components")
    rows = []
    for component in report.run.components:
        outputs = report.run.outputs.get(component.name, {})
        rows.append([component.name, component.state, f"{component.seconds:.1f}",
                     "; ".join(f"{key}: {uris[0]}" for key, uris in outputs.items() if uris)])
    section.blocks.append(Table(["component", "state", "seconds", "outputs"], rows,
                                [["", "bad" if c.state == "FAILED" else "", "", ""] for c in report.run.components]))
    return section


def build(report: ReportData) -> List[Section]:
    found = [overview(report), data(report), evaluation(report), training(report), components(report)]
    return [s for s in found if s is not None]


def figures(sections: Sequence[Section]) -> Dict[str, Figure]:
    return {b.name: b for s in sections for b in s.blocks if isinstance(b, Figure)}
