"""What a run report shows, read back from MLMD and the run's artifacts: nothing here draws or formats.

Every part is optional: a run stopped by the data gate has data statistics and findings but no model, a
`--until transform` run has no evaluation, a run without a baseline has no comparison. Missing parts say why.
"""
from __future__ import annotations

import glob
import json
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from pipeline import config as cfg
from pipeline import history
from pipeline import summary as summ

OVERALL = "Overall"
MAX_TOP_VALUES = 10  # label values shown per task


@dataclass
class FeatureRow:
    """One column of one split, as TFDV's statistics describe it."""

    name: str
    kind: str  # INT / FLOAT / STRING / ...
    role: str  # the config's feature type, or "label of <task>", or "unused"
    missing: float  # fraction of examples without a value
    numbers: Dict[str, float] = field(default_factory=dict)  # mean, std, min, median, max, zeros
    unique: Optional[int] = None
    top: List[Tuple[str, float]] = field(default_factory=list)  # (value, frequency) for strings
    histogram: List[Tuple[float, float, float]] = field(default_factory=list)  # (low, high, count) for numbers
    notes: List[str] = field(default_factory=list)  # what deserves a look (mostly missing, constant, ...)


@dataclass
class DataPart:
    examples: Dict[str, int] = field(default_factory=dict)  # split -> number of examples
    features: Dict[str, List[FeatureRow]] = field(default_factory=dict)  # split -> rows
    findings: List[Tuple[str, str]] = field(default_factory=list)  # (blocking|tolerated, what the data gate says)
    drift_report: str = ""  # DriftGate's report.md (recomputed from the statistics when the gate failed)
    labels: Dict[str, str] = field(default_factory=dict)  # task -> label column
    gate_state: str = ""  # the DataGate's state in this run ("" when it did not run)


@dataclass
class SliceMetrics:
    slice: str  # "Overall" or "sex = Female"
    values: Dict[str, Dict[str, float]] = field(default_factory=dict)  # task -> metric -> value (candidate)
    failed: List[Tuple[str, str]] = field(default_factory=list)  # (task, metric) that failed a threshold here


@dataclass
class EvaluationPart:
    slices: List[SliceMetrics] = field(default_factory=list)  # Overall first
    checks: List[summ.MetricCheck] = field(default_factory=list)  # overall slice: value, bound, pass, change
    baseline: Dict[str, Dict[str, float]] = field(default_factory=dict)  # task -> metric -> baseline value
    baseline_run: Optional[str] = None  # the run that trained the baseline (the last blessed model)
    calibration: Dict[str, List[Tuple[float, float, float, float, float]]] = field(default_factory=dict)
    # task -> buckets (low, high, weighted examples, sum of labels, sum of predictions), overall slice
    confusion: Dict[str, Tuple[List[str], List[List[float]]]] = field(default_factory=dict)
    # task -> (class names, matrix[actual][predicted]), overall slice, top-1 prediction
    per_class: Dict[str, Dict[str, Dict[str, float]]] = field(default_factory=dict)


@dataclass
class TrainingPart:
    epochs: List[dict] = field(default_factory=list)  # history.json of the Trainer
    tasks: Dict[str, str] = field(default_factory=dict)  # task -> type
    architecture: str = ""
    loss_weighting: str = ""


@dataclass
class ReportData:
    run: history.RunRecord
    data: Optional[DataPart] = None
    evaluation: Optional[EvaluationPart] = None
    training: Optional[TrainingPart] = None
    missing: Dict[str, str] = field(default_factory=dict)  # part -> why it is not in the report
    config: Optional[cfg.Config] = None  # the Trainer's view of the config, when the run got that far


# ------------------------------------------------------------------------------------------------------- MLMD
def _execution(store, execution_id: int):
    return store.get_executions_by_id([execution_id])[0]


def _property(execution, name: str) -> Optional[str]:
    value = execution.custom_properties.get(name)
    return value.string_value if value is not None and value.string_value else None


def _baseline_run(store, evaluator_execution: int) -> Optional[str]:
    """The pipeline_run that produced the Evaluator's baseline model (its latest blessed model)."""
    from ml_metadata.proto import metadata_store_pb2

    model = _input_artifact_id(store, evaluator_execution, "baseline_model")
    if model is None:
        return None
    producers = [e for e in store.get_events_by_artifact_ids([model]) if e.type == metadata_store_pb2.Event.OUTPUT]
    if not producers:
        return None
    run_type = history._context_type_id(store, "pipeline_run")
    runs = [c for c in store.get_contexts_by_execution(producers[0].execution_id) if c.type_id == run_type]
    return min(runs, key=lambda c: c.create_time_since_epoch).name if runs else None


def state(record: history.RunRecord, component: str) -> str:
    """The component's state in this run ("" when it has no execution in it)."""
    return next((c.state for c in record.components if c.name == component), "")


def absent(record: history.RunRecord, component: str) -> str:
    """Why a component's output is not in the report, in words."""
    found = state(record, component)
    if found == "FAILED":
        return f"{component} failed in this run (its error is at the end of the run's log, <output>/logs/)"
    if found in ("NEW", "RUNNING"):
        return f"{component} was still running or was interrupted"
    if found:
        return f"{component} wrote no output"
    return f"{component} did not run in this run" + (" (`--until transform`)" if record.data_half_only else "")


def _input_artifact_id(store, execution_id: int, key: str) -> Optional[int]:
    """Id of an execution's input artifact under `key` (inputs are recorded even when the execution fails)."""
    from ml_metadata.proto import metadata_store_pb2

    return next((e.artifact_id for e in store.get_events_by_execution_ids([execution_id])
                 if e.type == metadata_store_pb2.Event.INPUT and e.path.steps and e.path.steps[0].key == key), None)


def _input_uri(store, execution_id: int, key: str) -> Optional[str]:
    artifact = _input_artifact_id(store, execution_id, key)
    return store.get_artifacts_by_id([artifact])[0].uri if artifact is not None else None


# ------------------------------------------------------------------------------------------------------- data
def _splits(uri: str) -> Dict[str, str]:
    return {os.path.basename(path)[len("Split-"):]: path for path in sorted(glob.glob(os.path.join(uri, "Split-*")))}


def load_split_statistics(uri: str) -> dict:
    """{split: DatasetFeatureStatistics} under an ExampleStatistics or AcceptedStatistics folder."""
    import tensorflow_data_validation as tfdv

    from components import gates

    found = {}
    for split, path in _splits(uri).items():
        stats_file = os.path.join(path, gates.STATS_FILE)
        if os.path.isfile(stats_file):
            found[split] = tfdv.load_stats_binary(stats_file).datasets[0]
    return found


def _schema(uri: str):
    import tensorflow_data_validation as tfdv

    files = glob.glob(os.path.join(uri, "*.pbtxt"))
    return tfdv.load_schema_text(files[0]) if files else None


def _failed_drift_report(record: history.RunRecord, store, current: dict, schema) -> str:
    """A failed DriftGate publishes nothing: measure again from its recorded inputs and parameter."""
    from components import gates

    execution = record.executions["DriftGate"]
    raw = _property(_execution(store, execution), "validation_json")
    if not raw or schema is None:
        return ""
    settings = json.loads(raw)
    previous_uri = _input_uri(store, execution, "previous_statistics")
    previous = load_split_statistics(previous_uri) if previous_uri else None
    measurements, notes = gates.measure_distributions(cfg.Validation.model_validate(settings["validation"]),
                                                      settings["columns"], schema, current, previous)
    return gates.distribution_report(measurements, notes)


def _roles(contract: Optional[cfg.DataContract]) -> Dict[str, str]:
    if contract is None:
        return {}
    roles = {name: feature.type for name, feature in contract.features.items()}
    for task_name, task in contract.tasks.items():
        roles[task.label] = f"label of {task_name}" if task.label not in roles else roles[task.label]
    return roles


def feature_row(feature, role: str, examples: int) -> FeatureRow:
    """A FeatureRow from TFDV's FeatureNameStatistics."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    name = ".".join(feature.path.step) or feature.name
    kind = statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)
    which = feature.WhichOneof("stats")
    stats = getattr(feature, which) if which else None
    common = getattr(stats, "common_stats", None)
    present = common.num_non_missing if common is not None else 0
    missing = (1.0 - present / examples) if examples else 0.0
    row = FeatureRow(name, kind, role or "unused", max(0.0, missing))
    if which == "num_stats":
        row.numbers = {"mean": stats.mean, "std": stats.std_dev, "min": stats.min, "median": stats.median,
                       "max": stats.max, "zeros": (stats.num_zeros / present) if present else 0.0}
        standard = [h for h in stats.histograms if h.type == h.STANDARD]
        if standard:
            row.histogram = [(b.low_value, b.high_value, b.sample_count) for b in standard[0].buckets]
        if present and stats.num_zeros / present > 0.9:
            row.notes.append(f"{stats.num_zeros / present:.0%} zeros")
        if present and stats.min == stats.max:
            row.notes.append("constant")
        if any(not math.isfinite(v) for v in (stats.mean, stats.min, stats.max)):
            row.notes.append("NaN or infinity")
    elif which == "string_stats":
        row.unique = stats.unique
        row.top = [(v.value, v.frequency) for v in stats.top_values[:MAX_TOP_VALUES]]
        if stats.unique == 1:
            row.notes.append("constant")
        if stats.top_values and present and stats.top_values[0].frequency / present > 0.95 and stats.unique > 1:
            row.notes.append(f"'{stats.top_values[0].value}' in {stats.top_values[0].frequency / present:.0%}")
    if missing > 0.2:
        row.notes.insert(0, f"{missing:.0%} missing")
    return row


def data_part(record: history.RunRecord, store) -> Tuple[Optional[DataPart], str]:
    from components import gates

    statistics = record.outputs.get("StatisticsGen", {}).get("statistics")
    if not statistics:
        return None, absent(record, "StatisticsGen")
    if not os.path.isdir(statistics[0]):
        return None, f"the statistics {statistics[0]} are gone"
    contract = None
    if "DataGate" in record.executions:
        raw = _property(_execution(store, record.executions["DataGate"]), "contract_json")
        if raw:
            contract = cfg.DataContract.model_validate(json.loads(raw))
    part = DataPart(labels={name: task.label for name, task in (contract.tasks.items() if contract else [])},
                    gate_state=state(record, "DataGate"))
    roles = _roles(contract)
    by_split = load_split_statistics(statistics[0])
    for split, stats in by_split.items():
        part.examples[split] = int(stats.num_examples)
        rows = [feature_row(f, roles.get(".".join(f.path.step) or f.name, ""), int(stats.num_examples))
                for f in stats.features]
        order = {name: i for i, name in enumerate(roles)}
        part.features[split] = sorted(rows, key=lambda r: (order.get(r.name, len(order)), r.name))
    anomalies = record.outputs.get("ExampleValidator", {}).get("anomalies")
    schema_uri = (record.outputs.get("ImportSchemaGen") or record.outputs.get("SchemaGen") or {}).get("schema")
    schema = _schema(schema_uri[0]) if schema_uri else None
    if contract is not None and schema is not None:
        from tensorflow_data_validation.utils import anomalies_util

        findings = gates.schema_findings(contract, schema)
        for split, path in (_splits(anomalies[0]).items() if anomalies else []):
            diff = os.path.join(path, "SchemaDiff.pb")
            if os.path.isfile(diff):
                findings += gates.anomaly_findings(contract, split, anomalies_util.load_anomalies_binary(diff))
        for split, stats in sorted(by_split.items()):
            findings += gates.label_findings(contract, split, stats) + gates.number_findings(contract, split, stats)
        part.findings = [("blocking" if f.blocking else "tolerated", str(f)) for f in findings]
    accepted = record.outputs.get("DriftGate", {}).get("accepted_statistics")
    report = os.path.join(accepted[0], gates.REPORT_FILE) if accepted else ""
    if report and os.path.isfile(report):
        with open(report, encoding="utf-8") as f:
            part.drift_report = f.read()
    elif state(record, "DriftGate") == "FAILED":
        part.drift_report = _failed_drift_report(record, store, by_split, schema)
    return part, ""


# ------------------------------------------------------------------------------------------------- evaluation
def slice_name(slice_key) -> str:
    """'Overall' or 'sex = Female, race = White' from a TFMA SliceKey proto."""
    parts = []
    for single in slice_key.single_slice_keys:
        which = single.WhichOneof("kind")
        value = getattr(single, which) if which else ""
        value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        parts.append(f"{single.column} = {value:g}" if isinstance(value, float) else f"{single.column} = {value}")
    return ", ".join(parts) or OVERALL


def evaluation_part(record: history.RunRecord, store, config: Optional[cfg.Config]) -> Tuple[Optional[EvaluationPart], str]:
    import tensorflow_model_analysis as tfma

    uris = record.outputs.get("Evaluator", {}).get("evaluation")
    if not uris:
        return None, absent(record, "Evaluator")
    uri = uris[0]
    if not os.path.isdir(uri):
        return None, f"the evaluation output {uri} is gone"
    part = EvaluationPart(checks=list(record.metrics), baseline_run=_baseline_run(store, record.executions["Evaluator"]))
    tasks = config.tasks if config is not None else {}
    slices: Dict[str, SliceMetrics] = {}
    for metrics in tfma.load_metrics(uri):
        name = slice_name(metrics.slice_key)
        entry = slices.setdefault(name, SliceMetrics(name))
        for item in metrics.metric_keys_and_values:
            key = item.key
            if key.HasField("sub_key") or key.is_diff or item.value.WhichOneof("type") != "double_value":
                continue
            value = item.value.double_value.value
            if key.model_name == summ.BASELINE:
                if name == OVERALL:
                    part.baseline.setdefault(key.output_name, {})[key.name] = value
                continue
            entry.values.setdefault(key.output_name, {})[key.name] = value
    for per_slice in tfma.load_validation_result(uri).metric_validations_per_slice:
        name = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            slices.setdefault(name, SliceMetrics(name)).failed.append(
                (failure.metric_key.output_name, failure.metric_key.name))
    part.slices = sorted(slices.values(), key=lambda s: (s.slice != OVERALL, s.slice))
    for plots in tfma.load_plots(uri):
        if plots.slice_key.single_slice_keys:
            continue
        for item in plots.plot_keys_and_values:
            key, value = item.key, item.value
            if key.model_name == summ.BASELINE:
                continue
            if value.HasField("calibration_histogram_buckets"):
                part.calibration[key.output_name] = [
                    (b.lower_threshold_inclusive, b.upper_threshold_exclusive, b.num_weighted_examples.value,
                     b.total_weighted_label.value, b.total_weighted_refined_prediction.value)
                    for b in value.calibration_histogram_buckets.buckets]
            elif value.HasField("multi_class_confusion_matrix_at_thresholds"):
                matrices = value.multi_class_confusion_matrix_at_thresholds.matrices
                if matrices:
                    part.confusion[key.output_name] = _confusion(matrices[0], tasks.get(key.output_name))
    if config is not None:
        part.per_class = summ.per_class_metrics(config, uri)
    return part, ""


def _confusion(matrix, task: Optional[cfg.Task]) -> Tuple[List[str], List[List[float]]]:
    """Dense [actual][predicted] counts; predicted -1 (no prediction above threshold) is left out."""
    size = max([e.actual_class_id for e in matrix.entries] + [e.predicted_class_id for e in matrix.entries] + [-1]) + 1
    classes = list(task.classes) if task is not None and task.classes else []
    classes += [f"class {i}" for i in range(len(classes), size)]  # ids beyond the known names
    dense = [[0.0] * len(classes) for _ in classes]
    for entry in matrix.entries:
        if 0 <= entry.actual_class_id < len(classes) and 0 <= entry.predicted_class_id < len(classes):
            dense[entry.actual_class_id][entry.predicted_class_id] += entry.num_weighted_examples
    return classes, dense


def _vocabulary_classes(record: history.RunRecord, config: cfg.Config) -> Dict[str, List[str]]:
    """Class names of tasks that learn them from the data, from the exported model's contract."""
    models = record.outputs.get("Trainer", {}).get("model")
    if not models:
        return {}
    from serving.contract import CONTRACT_FILE

    path = os.path.join(models[0], "Format-Serving", CONTRACT_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        contract = json.load(f)
    return {name: list(task.get("classes") or []) for name, task in contract.get("tasks", {}).items()}


# --------------------------------------------------------------------------------------------------- training
def trainer_config(record: history.RunRecord, store) -> Optional[cfg.Config]:
    if "Trainer" not in record.executions:
        return None
    raw = _property(_execution(store, record.executions["Trainer"]), "custom_config")
    try:
        return cfg.parse_config(json.loads(raw)["config"]) if raw else None
    except (ValueError, KeyError, cfg.ConfigError):
        return None


def training_part(record: history.RunRecord, config: Optional[cfg.Config], output_dir: str
                  ) -> Tuple[Optional[TrainingPart], str]:
    runs = record.outputs.get("Trainer", {}).get("model_run")
    if not runs and state(record, "Trainer") == "FAILED":  # e.g. training diverged: the epochs before still tell
        from pipeline.runners.local import RunPaths

        runs = [os.path.join(RunPaths(output_dir).pipeline_root, "Trainer", "model_run",
                             str(record.executions["Trainer"]))]
        if not os.path.isfile(os.path.join(runs[0], summ.HISTORY_FILE)):
            return None, absent(record, "Trainer")
    if not runs:
        return None, absent(record, "Trainer")
    path = os.path.join(runs[0], summ.HISTORY_FILE)
    if not os.path.isfile(path):
        return None, f"no training history at {path}"
    with open(path) as f:
        epochs = json.load(f)
    part = TrainingPart(epochs=epochs)
    if config is not None:
        part.tasks = {name: task.type for name, task in config.tasks.items()}
        part.architecture = config.model.architecture
        part.loss_weighting = config.training.loss_weighting
    else:
        part.tasks = {k[:-len("_weight")]: "" for k in epochs[0] if k.endswith("_weight")} if epochs else {}
    return part, ""


# ------------------------------------------------------------------------------------------------------ entry
def collect(output_dir: str, which: str = "latest") -> ReportData:
    """Everything the report shows about one run (`which`: a run id, a unique prefix, latest or previous)."""
    metadata = os.path.join(output_dir, "metadata.sqlite")
    records = history.list_runs(metadata, metrics=False)
    if not records:
        raise history.HistoryError(f"no pipeline run recorded in {metadata}")
    chosen = history.pick(records, which).run_id
    records = history.list_runs(metadata, metrics_of=[chosen])  # TFMA output read for this run only
    record = next(r for r in records if r.run_id == chosen)
    store = history.open_store(metadata)
    report = ReportData(record)
    report.config = trainer_config(record, store)
    if report.config is not None:  # class names learnt from the data come from the exported model's contract
        learnt = {n: c for n, c in _vocabulary_classes(record, report.config).items()
                  if c and n in report.config.tasks and not report.config.tasks[n].classes}
        if learnt:
            tasks = {n: t.model_copy(update={"classes": learnt[n]}) if n in learnt else t
                     for n, t in report.config.tasks.items()}
            report.config = report.config.model_copy(update={"tasks": tasks})
    for name, build in (("data", lambda: data_part(record, store)),
                        ("evaluation", lambda: evaluation_part(record, store, report.config)),
                        ("training", lambda: training_part(record, report.config, output_dir))):
        part, why = build()
        setattr(report, name, part)
        if part is None:
            report.missing[name] = why
    return report
