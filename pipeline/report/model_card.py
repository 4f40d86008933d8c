"""The model card of one run: model_card.json, model_card.html (self-contained, offline) and model_card.md, written
beside the run report (pipeline/report/__init__.py write_report) and linked from it.

model_card.json follows the Model Card Toolkit's JSON schema v0.0.2 (model_card_toolkit/schema/v0.0.2/
model_card.schema.json; the toolkit itself pins TFMA < 0.42 and cannot be installed with this stack): the top-level
keys are exactly schema_version, model_details, model_parameters, quantitative_analysis and considerations, and
each record has the schema's fields. Where a multi-task run says more than the schema has fields for, the records
carry extra keys, which the schema allows below the top level: model_details.verdict / run_id / pushed_to /
failing_thresholds, performance_metric.task / metric / threshold / passed, dataset.rows / features /
label_distributions, model_parameters.loss_weighting / tasks.

The facts come from the report's ReportData (collect.py); what only people can say (owners, intended use, users,
limitations, ethical considerations, license) from the config's optional `model_card` block (ModelCardInfo).
No component reads that block, so `mtl report` without a config keeps the text of the card it wrote before.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import jinja2

from pipeline.core.config_schema import ModelCardInfo
from pipeline.core.kinds import kind
from pipeline.core.names import is_count
from pipeline.files import write_atomically
from pipeline.report.parts import OVERALL, ReportData

SCHEMA_VERSION = "0.0.2"
JSON_FILE, HTML_FILE, MARKDOWN_FILE = "model_card.json", "model_card.html", "model_card.md"
SMALL_SLICE = 100  # labelled rows: a slice with fewer is named as a limitation (as the report marks it)


@dataclass
class Owner:
    name: str
    contact: Optional[str] = None


@dataclass
class Version:
    name: str  # the pushed version number, or "not pushed"
    date: str  # the run's start, YYYY-MM-DD
    diff: Optional[str] = None  # what it was compared with


@dataclass
class ModelDetails:
    name: str
    overview: str
    verdict: str
    run_id: str
    version: Version
    documentation: Optional[str] = None
    owners: List[Owner] = field(default_factory=list)
    licenses: List[Dict[str, str]] = field(default_factory=list)  # [{"identifier": SPDX id}]
    references: List[Dict[str, str]] = field(default_factory=list)  # [{"reference": uri}]
    pushed_to: Optional[str] = None
    failing_thresholds: List[str] = field(default_factory=list)


@dataclass
class Dataset:
    name: str  # the split
    description: str
    rows: int
    features: List[Dict[str, str]] = field(default_factory=list)  # name, type (config), stored_as (TFDV kind)
    label_distributions: Dict[str, dict] = field(default_factory=dict)  # task -> {column, values | numbers}


@dataclass
class ModelParameters:
    model_architecture: str
    loss_weighting: str
    tasks: List[Dict[str, object]] = field(default_factory=list)  # name, type, label, loss weights
    data: List[Dataset] = field(default_factory=list)
    input_format: str = ""
    output_format: str = ""


@dataclass
class PerformanceMetric:
    type: str  # "<task>/<metric>"
    value: Optional[float]  # None (JSON null) where the metric is not a finite number
    slice: str  # "Overall" or "sex = Female"
    task: str = ""
    metric: str = ""
    threshold: Optional[str] = None  # the bound, Overall slice only (thresholds apply there)
    passed: Optional[bool] = None
    confidence_interval: Optional[Dict[str, float]] = None  # {lower_bound, upper_bound} (95%), Overall slice


@dataclass
class Considerations:
    users: List[Dict[str, str]] = field(default_factory=list)  # [{"description"}]
    use_cases: List[Dict[str, str]] = field(default_factory=list)
    limitations: List[Dict[str, str]] = field(default_factory=list)
    ethical_considerations: List[Dict[str, str]] = field(default_factory=list)  # [{"name", "mitigation_strategy"}]


@dataclass
class ModelCard:
    model_details: ModelDetails
    model_parameters: ModelParameters
    performance_metrics: List[PerformanceMetric] = field(default_factory=list)
    considerations: Considerations = field(default_factory=Considerations)
    schema_version: str = SCHEMA_VERSION

    def to_json(self) -> dict:
        """The schema's layout (performance metrics under quantitative_analysis), None values left out."""
        return _pruned({"schema_version": self.schema_version, "model_details": asdict(self.model_details),
                        "model_parameters": asdict(self.model_parameters),
                        "quantitative_analysis": {"performance_metrics": [asdict(m) for m in self.performance_metrics]},
                        "considerations": asdict(self.considerations)})


def _pruned(value):
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _finite(value) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _rounded(value) -> Optional[float]:
    found = _finite(value)
    return None if found is None else float(f"{found:.4g}")


# ------------------------------------------------------------------------------------------------------ build
def has_model(report: ReportData) -> bool:
    """Whether the run trained a model (only then is there a card to write)."""
    return bool(report.run.outputs.get("Trainer", {}).get("model")) and report.config is not None


def build(report: ReportData, info: Optional[ModelCardInfo] = None) -> ModelCard:
    """The card of a run that trained a model (has_model), `info` from the config's model_card block."""
    info = info or ModelCardInfo()
    metrics = performance_metrics(report)
    failing = [f"{m.task} {m.metric} = {_shown(m.value)} (needs {m.threshold})" for m in metrics if m.passed is False]
    return ModelCard(_details(report, info, failing), _parameters(report), metrics,
                     _considerations(report, info, metrics, failing))


def _shown(value: Optional[float]) -> str:
    return "nan" if value is None else f"{value:.4f}"


def _details(report: ReportData, info: ModelCardInfo, failing: List[str]) -> ModelDetails:
    run, config = report.run, report.config
    tasks = ", ".join(f"{n} ({t.type})" for n, t in config.tasks.items())
    pushed = run.pushed_to or None  # a cached Pusher: the same model, pushed by an earlier run
    if run.verdict == "BLESSED" and pushed:
        outcome = (f"BLESSED: every task passed its thresholds; pushed as version {run.pushed_version} to {pushed}"
                   + ("." if run.pushed_now else " by an earlier run (the Pusher was cached: the same model)."))
    elif run.verdict == "BLESSED":
        outcome = "BLESSED, but nothing was pushed."
    elif run.verdict == "NOT BLESSED":
        outcome = "NOT BLESSED: not pushed; " + ("failing thresholds: " + "; ".join(failing) if failing else
                                                "the Evaluator blessed nothing (see the run report)") + "."
    else:
        outcome = f"{run.verdict}: not pushed."
    baseline = report.evaluation.baseline_run if report.evaluation is not None else None
    return ModelDetails(
        name=run.pipeline, overview=f"Multi-task model '{run.pipeline}' of run {run.run_id}: {tasks}. {outcome}",
        documentation=info.overview, verdict=run.verdict, run_id=run.run_id,
        version=Version(run.pushed_version if pushed else "not pushed",
                        time.strftime("%Y-%m-%d", time.localtime(run.started)),
                        f"compared with run {baseline} (latest blessed model)" if baseline else None),
        owners=[Owner(o.name, o.contact) for o in info.owners],
        licenses=[{"identifier": info.license}] if info.license else [],
        references=[{"reference": r} for r in info.references], pushed_to=pushed, failing_thresholds=failing)


def _parameters(report: ReportData) -> ModelParameters:
    config = report.config
    settings = config.model.model_dump(mode="json", exclude_none=True)
    architecture = settings.pop("architecture")
    described = f"{architecture} (" + ", ".join(f"{k} {v}" for k, v in settings.items()) + ")"
    weighting = config.training.loss_weighting + (f" with {config.training.gradient_surgery}"
                                                  if config.training.gradient_surgery else "")
    last = report.training.epochs[-1] if report.training is not None and report.training.epochs else {}
    tasks = [{"name": n, "type": t.type, "label": t.label, "loss_weight": t.weight,
              "last_epoch_weight": _rounded(last.get(f"{n}_weight"))} for n, t in config.tasks.items()]
    inputs = ", ".join(f"{n} ({f.type})" for n, f in config.features.items())
    return ModelParameters(
        model_architecture=described, loss_weighting=weighting, tasks=[_pruned(t) for t in tasks],
        data=_datasets(report),
        input_format=f"serialized tf.Example with the raw features {inputs}",
        output_format="per task its scores under the task's name (" + ", ".join(config.tasks) + "); "
                      "signatures serving_default, scores, classify_<task> / regress_<task>")


def _datasets(report: ReportData) -> List[Dataset]:
    part, config = report.data, report.config
    if part is None:
        return []
    found = []
    for split, rows in sorted(part.examples.items(), key=lambda item: item[0] != "train"):
        by_name = {r.name: r for r in part.features.get(split, [])}
        features = [_pruned({"name": n, "type": f.type, "stored_as": by_name[n].kind if n in by_name else None})
                    for n, f in config.features.items()]
        labels = {}
        for task, column in part.labels.items():
            row = by_name.get(column)
            tagging = task in config.tasks and kind(config.tasks[task].type).predicts == "tags"
            if row is None or tagging:  # the value counts of tag sequences say nothing
                continue
            labels[task] = {"column": column}
            if row.top:
                labels[task]["values"] = [{"value": v, "count": int(c)} for v, c in row.top]
            else:
                labels[task]["numbers"] = {k: _rounded(v) for k, v in row.numbers.items()}
        found.append(Dataset(split, f"split '{split}': {rows:,} rows", rows, features, labels))
    return found


def performance_metrics(report: ReportData) -> List[PerformanceMetric]:
    """Every task's metrics on every slice the Evaluator wrote; Overall first, carrying the thresholds."""
    checks = report.evaluation.checks if report.evaluation is not None else report.run.metrics
    found = [PerformanceMetric(f"{c.task}/{c.metric}", _finite(c.value), OVERALL, c.task, c.metric,
                               c.bound or None, c.passed,
                               {"lower_bound": c.lower, "upper_bound": c.upper} if c.interval else None)
             for c in checks]
    seen = {(m.task, m.metric) for m in found}
    for entry in report.evaluation.slices if report.evaluation is not None else []:
        for task, values in entry.values.items():
            for metric, value in values.items():
                if entry.slice == OVERALL and (task, metric) in seen:
                    continue
                found.append(PerformanceMetric(f"{task}/{metric}", _finite(value), entry.slice, task, metric))
    order = list(report.config.tasks)
    return sorted(found, key=lambda m: (order.index(m.task) if m.task in order else len(order), m.slice != OVERALL))


def _considerations(report: ReportData, info: ModelCardInfo, metrics: List[PerformanceMetric],
                    failing: List[str]) -> Considerations:
    limitations = [{"description": text} for text in info.limitations]
    if failing:
        limitations.insert(0, {"description": "NOT BLESSED: failing thresholds: " + "; ".join(failing)})
    small = sorted({m.slice for m in metrics if m.slice != OVERALL and m.metric == "example_count"
                    and m.value is not None and m.value < SMALL_SLICE})
    if small:
        limitations.append({"description": f"slices with fewer than {SMALL_SLICE} labelled rows (metrics too "
                            "uncertain to trust): " + ", ".join(small)})
    limitations.append({"description": "thresholds are checked on the Overall slice only; other slices are "
                        "reported, not required to pass"})
    return Considerations(
        users=[{"description": u} for u in info.users],
        use_cases=[{"description": info.intended_use}] if info.intended_use else [],
        limitations=limitations,
        ethical_considerations=[_pruned({"name": r.name, "mitigation_strategy": r.mitigation_strategy})
                                for r in info.ethical_considerations])


# ------------------------------------------------------------------------------------------------------ files
def recorded_info(directory: str) -> Optional[ModelCardInfo]:
    """The people-written part of the card an earlier write left in `directory` (None when there is none), so
    that `mtl report`, which has no config, keeps it."""
    path = os.path.join(directory, JSON_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
        details, considerations = card.get("model_details", {}), card.get("considerations", {})
        return ModelCardInfo(
            owners=details.get("owners", []), overview=details.get("documentation"),
            license=next((lic.get("identifier") for lic in details.get("licenses", [])), None),
            references=[r["reference"] for r in details.get("references", [])],
            intended_use=next((u["description"] for u in considerations.get("use_cases", [])), None),
            users=[u["description"] for u in considerations.get("users", [])],
            limitations=[x["description"] for x in considerations.get("limitations", [])
                         if not x["description"].startswith(_GENERATED)],
            ethical_considerations=considerations.get("ethical_considerations", []))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


_GENERATED = ("NOT BLESSED: failing thresholds", f"slices with fewer than {SMALL_SLICE}", "thresholds are checked")


def write(card: ModelCard, directory: str, report_link: str = "report.html") -> Dict[str, str]:
    """model_card.json, .html and .md into `directory` (each replaced in one rename); returns their paths."""
    data = card.to_json()
    paths = {kind: os.path.join(directory, name) for kind, name in
             (("json", JSON_FILE), ("html", HTML_FILE), ("markdown", MARKDOWN_FILE))}
    write_atomically(paths["json"], json.dumps(data, indent=1, allow_nan=False) + "\n")
    view = _view(card)
    write_atomically(paths["html"], _environment().get_template("model_card.html.j2").render(
        card=view, report=report_link))
    write_atomically(paths["markdown"], markdown(view, report_link.replace(".html", ".md")))
    return paths


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _view(card: ModelCard) -> dict:
    """What the HTML and Markdown show, as plain values: metrics grouped per task."""
    by_task: Dict[str, List[list]] = {}
    for m in card.performance_metrics:
        result = {True: "pass", False: "FAIL", None: ""}[m.passed]
        value = "" if m.value is None and is_count(m.metric) else (
            f"{m.value:.0f}" if is_count(m.metric) else _shown(m.value))
        by_task.setdefault(m.task, []).append([m.slice, m.metric, value, m.threshold or "", result])
    return {"details": card.model_details, "parameters": card.model_parameters, "metrics": by_task,
            "considerations": card.considerations, "schema_version": card.schema_version}


def _md(text) -> str:
    """Markdown text: no raw HTML, pipes escaped (safe in a table cell too), one line."""
    text = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\n", " ").strip()


def _md_table(header: List[str], rows: List[list]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_md(c) or " " for c in row) + " |" for row in rows] + [""]


def markdown(view: dict, report_link: str) -> str:
    d, p, c = view["details"], view["parameters"], view["considerations"]
    lines = [f"# Model card: {_md(d.name)}", "", f"**{_md(d.verdict)}**", "", _md(d.overview), "",
             f"[Run report]({report_link})", ""]
    facts = [["run", d.run_id], ["version", d.version.name], ["date", d.version.date]]
    facts += [["compared with", d.version.diff]] if d.version.diff else []
    if d.owners:
        facts.append(["owners", ", ".join(o.name + (f" ({o.contact})" if o.contact else "") for o in d.owners)])
    facts += [["license", ", ".join(x["identifier"] for x in d.licenses)]] if d.licenses else []
    lines += _md_table(["", ""], facts)
    if d.documentation:
        lines += [_md(d.documentation), ""]
    lines += ["## Considerations", ""]
    for title, entries in (("Intended use", c.use_cases), ("Users", c.users), ("Limitations", c.limitations)):
        lines += [f"### {title}", ""] + ([f"- {_md(e['description'])}" for e in entries] or ["_not stated_"]) + [""]
    lines += ["### Ethical considerations", ""]
    lines += [f"- {_md(r['name'])}" + (f": {_md(r['mitigation_strategy'])}" if r.get("mitigation_strategy") else "")
              for r in c.ethical_considerations] or ["_not stated_"]
    lines += ["", "## Model", "", f"Architecture: {_md(p.model_architecture)}; loss weighting "
              f"{_md(p.loss_weighting)}.", ""]
    lines += _md_table(["task", "type", "label", "loss weight", "last-epoch weight"],
                       [[t["name"], t["type"], t["label"], t["loss_weight"], t.get("last_epoch_weight", "")]
                        for t in p.tasks])
    lines += [f"Input: {_md(p.input_format)}.", "", f"Output: {_md(p.output_format)}.", "", "## Training data", ""]
    for data in p.data:
        lines += [f"### {_md(data.name)}: {data.rows:,} rows", ""]
        lines += _md_table(["feature", "type", "stored as"], [[f["name"], f["type"], f.get("stored_as", "")]
                                                            for f in data.features])
        for task, dist in data.label_distributions.items():
            shown = ([f"{_md(v['value'])} ({v['count']:,})" for v in dist["values"]] if "values" in dist else
                     [f"{k} {v}" for k, v in dist.get("numbers", {}).items()])
            lines += [f"Labels of {_md(task)} (column {_md(dist['column'])}): " + ", ".join(shown), ""]
    lines += ["## Metrics", "", "Thresholds apply to the Overall slice; other slices are reported.", ""]
    for task, rows in view["metrics"].items():
        lines += [f"### {_md(task)}", ""] + _md_table(["slice", "metric", "value", "threshold", "result"], rows)
    lines += [f"_Model Card Toolkit schema v{view['schema_version']} ({JSON_FILE} beside this file)._", ""]
    return "\n".join(lines)
