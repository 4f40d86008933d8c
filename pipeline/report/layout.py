"""The report as sections of blocks (text, tables, figures), built once from ReportData and
rendered twice (HTML and Markdown), so the two files always say the same."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

from pipeline.core.drift_record import DriftRecord
from pipeline.core.names import CLASS_COUNT_SUFFIX, is_count
from pipeline.core.schedule import shortfalls
from pipeline import summary as summ
from pipeline.config import safe_name
from pipeline.report import fairness, plots
from pipeline.report.parts import OVERALL, ReportData
from pipeline.report.task_notes import task_space_note

MAX_TABLE_SLICES = 100  # slices per task table (the largest by example count; Overall first)
MAX_PLOT_SLICES = 30  # bars per metric-by-slice chart
MAX_CLASSES = 30  # classes in a confusion matrix (those with the most examples)
MIN_TRUSTED = 100  # labelled rows: a slice with fewer is marked as too small to trust
SMALL_NOTE = (f"⚠ marks slices with fewer than {MIN_TRUSTED} labelled rows: too few to trust their metrics (an "
              f"accuracy measured on {MIN_TRUSTED} rows is uncertain by up to ±0.05, one standard error; on 25 rows "
              "by ±0.10).")
MACRO_NOTE = ("macro_auc and macro_f1 average over the classes present in the slice: macro_auc over the classes "
              "with examples of the class and of other classes, macro_f1 over the classes that occur as a label or "
              "as a prediction; the _classes columns say how many. F1 is that of the predicted class (the class "
              "with the highest score), per class against the rest.")


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
    """A plot block; its file name is `safe_name(name)` (slice columns may be named '../../sex')."""
    if png:
        blocks.append(Figure(safe_name(name), title, png))


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
    if report.inference:
        facts.append(["inference", report.inference])
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
            if is_count(check.metric):
                continue
            result = {True: "pass", False: "FAIL", None: ""}[check.passed]
            change = f"{check.change:+.4f}" if check.change is not None else ""
            rows.append([check.task, check.metric, " ".join(filter(None, [number(check.value), check.interval])),
                         number(baseline.get(check.task, {}).get(check.metric)),
                         change + (" (within the interval: noise)" if check.change_is_noise else ""), check.bound,
                         result])
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
    section.blocks += drift_blocks(part.drift, part.drift_missing)
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


def drift_blocks(record: Optional[DriftRecord], missing: str = "") -> List[Block]:
    """The DriftGate's record (drift.json) as blocks: its notes, then a table of every measurement, the ones
    above their bound first (as in the gate's report.md)."""
    if missing:
        return [Text("Drift and skew checks (DriftGate)", "heading"), Text(missing, "note")]
    if record is None or record.empty:
        return [Text("Drift and skew checks: off (set `validation:` in the config to turn them on).", "note")]
    blocks: List[Block] = [Text("Drift and skew checks (DriftGate)", "heading")]
    blocks += [Text(note) for note in record.notes]
    if record.measurements:
        ordered = sorted(record.measurements, key=lambda m: (m.passed, m.check, -m.value))
        rows = [[m.check, m.feature, m.measure, f"{m.value:.4f}", f"{m.threshold:g}",
                 "ok" if m.passed else "above bound"] for m in ordered]
        blocks.append(Table(["check", "column", "measure", "value", "bound", "verdict"], rows,
                            [[""] * 5 + ["" if m.passed else "bad"] for m in ordered]))
    return blocks


def evaluation(report: ReportData) -> Optional[Section]:
    part = report.evaluation
    if part is None:
        return None
    section = Section("Evaluation", "evaluation")
    section.blocks.append(Text("Thresholds apply to the Overall slice; other slices are reported. Rows without a "
                               "label for a task do not count in that task's metrics (example_count counts the "
                               "labelled rows)."))
    bounds = {(c.task, c.metric): c.bound for c in part.checks if c.bound}
    tasks = list(dict.fromkeys(t for s in part.slices for t in s.values))
    if report.config is not None:
        tasks = [t for t in report.config.tasks if t in tasks]
    if any(m.startswith("macro_") for s in part.slices for t in s.values.values() for m in t):
        section.blocks.append(Text(MACRO_NOTE))
    small = {(s.slice, t) for s in part.slices for t, v in s.values.items() if s.slice != OVERALL
             and v.get("example_count", MIN_TRUSTED) < MIN_TRUSTED}
    if small:
        section.blocks.append(Text(SMALL_NOTE, "note"))
    for task in tasks:
        section.blocks.append(Text(f"{task}", "heading"))
        slices = _largest([s for s in part.slices if s.values.get(task)], task)
        overall = [s for s in slices if s.slice == OVERALL]
        if report.config is not None and task in report.config.tasks:
            described = task_space_note(report.config.tasks[task], overall[0].values[task] if overall else {})
            if described:
                section.blocks.append(Text(described))
        for slicing in _slicings(slices, report.config.evaluation.slices if report.config is not None else ()):
            cut = [s for s in slices if s.slice != OVERALL and _slicing(s) == slicing]
            section.blocks += slice_blocks(task, slicing, overall + cut[:MAX_TABLE_SLICES], bounds, small)
            if len(cut) > MAX_TABLE_SLICES:
                section.blocks.append(Text(f"{len(cut) - MAX_TABLE_SLICES} smaller slices by {' × '.join(slicing)} "
                                           "not shown (all are in the Evaluator's output: tfma.load_metrics).",
                                           "note"))
        section.blocks += task_blocks(task, part)
    section.blocks += [Text(note, "note") for note in part.notes]
    return section


def _slicing(entry) -> tuple:
    """The columns a slice is cut by; from its name when the record does not say (hand-made records)."""
    if entry.slicing or entry.slice == OVERALL:
        return tuple(entry.slicing)
    return tuple(part.split(" = ", 1)[0] for part in entry.slice.split(", "))


def _slicings(slices: list, configured: Sequence[Sequence[str]] = ()) -> List[tuple]:
    """Each slicing once, in the config's order (else by name); [()] (the Overall slice alone) when none."""
    order = {tuple(sorted(columns)): i for i, columns in enumerate(configured)}  # TFMA may sort crossed columns
    found = sorted(set(_slicing(s) for s in slices if s.slice != OVERALL),
                   key=lambda c: (order.get(tuple(sorted(c)), len(order)), c))
    return found or [()]


def slice_blocks(task: str, slicing: tuple, slices: list, bounds: Dict, small: set) -> List[Block]:
    """One slicing's table of a task (Overall first, then its slices by size; the threshold row last) and a
    chart per thresholded metric."""
    metrics = list(dict.fromkeys(m for s in slices for m in s.values.get(task, {})))
    first = {m: i for i, m in enumerate(metrics)}

    def order(metric):  # counts, thresholded, the rest; a macro value's class count right after it
        base = metric.removesuffix(CLASS_COUNT_SUFFIX)
        base = base if base in first else metric
        return base != "example_count", (task, base) not in bounds, first[base], metric != base

    metrics.sort(key=order)
    blocks: List[Block] = [Text(f"{task} by {' × '.join(slicing)}" if slicing else f"{task} (no slices configured)")]
    table = Table(["slice", *metrics], [])
    for entry in slices:
        values = entry.values[task]
        warn = "warn" if (entry.slice, task) in small else ""
        table.rows.append([entry.slice + (" ⚠" if warn else ""),
                           *(number(values.get(m), whole=is_count(m)) for m in metrics)])
        table.marks.append([warn, *("bad" if (task, m) in entry.failed else warn if m == "example_count" else ""
                                    for m in metrics)])
    if any(bounds.get((task, m)) for m in metrics):
        table.rows.append(["threshold", *(bounds.get((task, m), "") for m in metrics)])
        table.marks.append([""] * (len(metrics) + 1))
    blocks.append(table)
    if not slicing:
        return blocks
    for metric in metrics:
        if (task, metric) not in bounds:
            continue
        values = [(s.slice, s.values[task][metric]) for s in slices[:MAX_PLOT_SLICES]
                  if metric in s.values[task] and math.isfinite(s.values[task][metric])]
        name = "-".join(("slices", task, metric, *slicing))
        _figure(blocks, name, f"{task} {metric} by {' × '.join(slicing)}",
                plots.metric_by_slice(task, metric, values, _bound_values(bounds[(task, metric)]),
                                      small={s for s, t in small if t == task}, slicing=" × ".join(slicing)))
    return blocks


MAX_TYPES = 30  # entity types listed per tagging task


def task_blocks(task: str, part) -> List[Block]:
    """The task's overall-slice tables and plots: per class, calibration, ROC and PR, confusion, regression."""
    blocks: List[Block] = []
    if task in part.per_class:
        classes = part.per_class[task]
        names = list(dict.fromkeys(m for v in classes.values() for m in v))
        blocks.append(Text(f"{task} per class (Overall; AUC of the class against the rest"
                           + (", F1 of the predicted class" if "f1" in names else "")
                           + "; nan: the class is not in the evaluation data)"))
        blocks.append(Table(["class", *names], [[c, *(number(v.get(m)) for m in names)] for c, v in classes.items()]))
    if part.fairness.get(task):
        titles, values, names = fairness.rows(part.fairness[task], MAX_TABLE_SLICES)
        blocks += [Text(fairness.NOTE), Table(["slice", *titles], [[n, *map(number, r)] for n, r in zip(names, values)])]
    if task in part.calibration:
        _figure(blocks, f"calibration-{task}", f"calibration of {task}", plots.calibration(task, part.calibration[task]))
    if task in part.curves:
        overall = next((s.values.get(task, {}) for s in part.slices if s.slice == OVERALL), {})
        _figure(blocks, f"roc-pr-{task}", f"ROC and precision-recall curves of {task}",
                plots.roc_pr(task, part.curves[task], overall.get("auc"), overall.get("auc_pr")))
    if task in part.confusion:
        classes, matrix = part.confusion[task]
        if len(classes) > MAX_CLASSES:
            keep = sorted(sorted(range(len(classes)), key=lambda i: -sum(matrix[i]))[:MAX_CLASSES])
            blocks.append(Text(f"Confusion matrix of the {MAX_CLASSES} classes with the most examples "
                               f"(of {len(classes)}).", "note"))
            classes, matrix = [classes[i] for i in keep], [[matrix[i][j] for j in keep] for i in keep]
        _figure(blocks, f"confusion-{task}", f"confusion matrix of {task}", plots.confusion(task, classes, matrix))
    if part.regression.get(task):
        _figure(blocks, f"regression-{task}", f"predicted against actual {task}",
                plots.regression(task, part.regression[task]))
    if part.tagging.get(task):
        tagging = part.tagging[task]
        blocks.append(Text(f"{task} per entity type (span precision / recall / F1 by CoNLL rules, on the "
                           f"{tagging['rows']} labelled rows of a sample of the eval split, scored by the model)"))
        per_type = sorted(tagging["per_type"].items(), key=lambda item: -item[1]["gold"])
        if len(per_type) > MAX_TYPES:
            blocks.append(Text(f"The {MAX_TYPES} types with the most gold spans (of {len(per_type)}).", "note"))
            per_type = per_type[:MAX_TYPES]
        blocks.append(Table(["type", "gold spans", "precision", "recall", "F1"],
                            [[t, number(v["gold"], whole=True), number(v["precision"]), number(v["recall"]),
                              number(v["f1"])] for t, v in per_type]))
        if tagging["confusions"]:
            blocks.append(Text(f"{task}: the most frequent type errors (tokens whose predicted tag has another "
                               "type; O: no entity)"))
            blocks.append(Table(["gold type", "predicted type", "tokens"],
                                [[g, p, str(n)] for g, p, n in tagging["confusions"]]))
    return blocks


def _largest(slices: list, task: str) -> list:
    """Overall first, then the slices with the most examples of this task."""
    return sorted(slices, key=lambda s: (s.slice != OVERALL, -s.values[task].get("example_count", 0), s.slice))


def _bound_values(bound: str) -> List[float]:
    """The absolute bounds of '>= 0.75' / '>= 0.5, <= 0.9, drop <= 0.01', for the threshold lines."""
    found = []
    for part in bound.split(","):
        words = part.split()
        if len(words) == 2 and words[0] in (">=", "<="):
            found.append(float(words[1]))
    return found


def _constant_baselines(section: Section, baselines, report: ReportData) -> None:
    """Each regression task's eval MAE / RMSE next to the constant median's / mean's, with a warning when the
    model does not beat them."""
    checks = report.evaluation.checks if report.evaluation is not None else report.run.metrics
    values = {}
    for check in checks:
        values.setdefault(check.task, {})[check.metric] = check.value
    rows = [[task, number(values.get(task, {}).get("mae")), number(base["median_mae"]),
             number(values.get(task, {}).get("rmse")), number(base["mean_rmse"]), str(int(base["eval_rows"]))]
            for task, base in baselines.items()]
    section.blocks.append(Table(["regression task", "MAE", "constant median MAE", "RMSE", "constant mean RMSE",
                                 "eval rows"], rows))
    for task, text in shortfalls(baselines, values).items():
        section.blocks.append(Text(f"{task}: {text}.", "bad"))


def training(report: ReportData) -> Optional[Section]:
    part = report.training
    if part is None:
        return None
    section = Section("Training", "training")
    last = part.epochs[-1] if part.epochs else {}
    head = (f"{len(part.epochs)} epochs; architecture {part.architecture or '?'}, loss weighting "
            f"{part.loss_weighting or '?'}. ")
    kept = next((e for i, e in enumerate(part.epochs) if e.get("epoch", i + 1) == part.kept_epoch), None)
    if kept is not None:
        head += (f"The exported model is that of epoch {part.kept_epoch} ({part.kept_reason}): loss "
                 f"{number(kept.get('loss'))}, validation loss {number(kept.get('val_loss'))}.")
    else:
        head += (f"Last epoch: loss {number(last.get('loss'))}, validation loss {number(last.get('val_loss'))} "
                 "(which epoch the exported model keeps is not known for this run).")
    if part.schedule:
        head += f" Schedule: {part.schedule}."
    section.blocks.append(Text(head))
    if part.constant_baselines:
        _constant_baselines(section, part.constant_baselines, report)
    for task in part.tasks:
        _figure(section.blocks, f"training-{task}", f"training curves of {task}",
                plots.training_curves(task, part.epochs, list(part.tasks), part.kept_epoch))
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
    rows, marks = [], []
    ran = [c for c in report.run.components if c.name not in report.run.resolvers]
    for component in ran:
        outputs = report.run.outputs.get(component.name, {})
        rows.append([component.name, component.state, f"{component.seconds:.1f}",
                     "; ".join(f"{key}: {uris[0]}" for key, uris in outputs.items() if uris)])
        marks.append(["", "bad" if component.state == "FAILED" else "", "", ""])
    section.blocks.append(Table(["component", "state", "seconds", "outputs"], rows, marks))
    looked_up = [c for c in report.run.components if c.name in report.run.resolvers]
    if looked_up:
        section.blocks.append(Text("Inputs looked up in earlier runs (Resolver nodes, not components): " + ", ".join(
            f"{c.name} ({summ.looked_up(c.state)})" for c in looked_up) + ".", "note"))
    return section


def build(report: ReportData) -> List[Section]:
    found = [overview(report), data(report), evaluation(report), training(report), components(report)]
    return [s for s in found if s is not None]


def figures(sections: Sequence[Section]) -> Dict[str, Figure]:
    return {b.name: b for s in sections for b in s.blocks if isinstance(b, Figure)}
