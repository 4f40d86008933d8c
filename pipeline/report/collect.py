"""What a run report shows, read back from MLMD and the run's artifacts: nothing here draws or formats.

Every part is optional: a run stopped by the data gate has data statistics and findings but no model, a
`--until transform` run has no evaluation, a run without a baseline has no comparison. Missing parts say why.
"""
from __future__ import annotations

import glob
import json
import logging
import math
import os
from typing import Dict, List, Optional, Tuple

from pipeline import config as cfg
from pipeline import store as mlmd
from pipeline.core import drift_record, kinds, model_contract
from pipeline.core.drift_record import DriftRecord
from pipeline.core.names import HISTORY_FILE
from pipeline.core.schedule import Schedule, plan
from pipeline.core.rundir import RunDir
from pipeline.records import RunRecord, list_runs, pick
from pipeline.report import evaluator_output, examples
from pipeline.report.parts import (OVERALL, DataPart, EvaluationPart, FeatureRow, ReportData,  # noqa: F401
                                   SliceMetrics, TrainingPart)

MAX_TOP_VALUES = 10  # label values shown per task


# ------------------------------------------------------------------------------------------------------- MLMD
def _baseline_run(store, evaluator_execution: int) -> Optional[str]:
    """The pipeline_run that produced the Evaluator's baseline model (its latest blessed model)."""
    from ml_metadata.proto import metadata_store_pb2

    model = mlmd.input_artifact_id(store, evaluator_execution, "baseline_model")
    if model is None:
        return None
    producers = [e for e in store.get_events_by_artifact_ids([model]) if e.type == metadata_store_pb2.Event.OUTPUT]
    if not producers:
        return None
    return mlmd.first_run_of(store, producers[0].execution_id)


def state(record: RunRecord, component: str) -> str:
    """The component's state in this run ("" when it has no execution in it)."""
    return next((c.state for c in record.components if c.name == component), "")


def absent(record: RunRecord, component: str) -> str:
    """Why a component's output is not in the report, in words."""
    found = state(record, component)
    if found == "FAILED":
        return f"{component} failed in this run (its error is at the end of the run's log, <output>/logs/)"
    if found in ("NEW", "RUNNING"):
        return f"{component} was still running or was interrupted"
    if found:
        return f"{component} wrote no output"
    return f"{component} did not run in this run" + (" (`--until transform`)" if record.data_half_only else "")


# ------------------------------------------------------------------------------------------------------- data
def _splits(uri: str) -> Dict[str, str]:
    return {os.path.basename(path)[len("Split-"):]: path for path in sorted(glob.glob(os.path.join(uri, "Split-*")))}


def load_split_statistics(uri: str) -> dict:
    """{split: DatasetFeatureStatistics} under an ExampleStatistics or AcceptedStatistics folder (the one
    loader, components.gates.artifacts.load_split_statistics: every split that has a statistics file)."""
    from components.gates import artifacts

    return artifacts.load_split_statistics(uri)


def _schema(uri: str):
    import tensorflow_data_validation as tfdv

    files = glob.glob(os.path.join(uri, "*.pbtxt"))
    return tfdv.load_schema_text(files[0]) if files else None


def _failed_drift_record(record: RunRecord, store, current: dict, schema) -> Optional[DriftRecord]:
    """A failed DriftGate publishes nothing: measure again from its recorded inputs and parameter."""
    from components.gates import drift_gate

    execution = record.executions["DriftGate"]
    raw = mlmd.string_property(mlmd.execution(store, execution), "validation_json")
    if not raw or schema is None:
        return None
    settings = json.loads(raw)
    previous_uri = mlmd.input_uri(store, execution, "previous_statistics")
    previous = load_split_statistics(previous_uri) if previous_uri else None
    return drift_gate.measure_distributions(cfg.Validation.model_validate(settings["validation"]),
                                            settings["columns"], schema, current, previous)


def drift_part(record: RunRecord, store, current: dict, schema) -> Tuple[Optional[DriftRecord], str]:
    """(the DriftGate's measurements, why there are none): its drift.json, else measured again when it failed.
    A malformed drift.json raises DriftRecordError (file and field named)."""
    accepted = record.outputs.get("DriftGate", {}).get("accepted_statistics")
    if accepted:
        found = drift_record.read(accepted[0])
        if found is not None:
            return found, ""
        markdown = os.path.join(accepted[0], drift_record.MARKDOWN_FILE)
        if os.path.isfile(markdown):
            return None, (f"the DriftGate of this run wrote no {drift_record.DRIFT_FILE} (an older version): its "
                          f"measurements are in {markdown}")
    if state(record, "DriftGate") == "FAILED":
        return _failed_drift_record(record, store, current, schema), ""
    return None, ""


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


def _coded_columns(contract: Optional[cfg.DataContract]) -> List[str]:
    """Columns the config reads as categories: categorical features and classification labels."""
    if contract is None:
        return []
    found = [name for name, feature in contract.features.items() if feature.type == "categorical"]
    return found + [t.label for t in contract.tasks.values()
                    if kinds.kind(t.type).label_encoding in ("binary", "class_id")]


def as_categorical(row: FeatureRow, counts, rows_read: int) -> None:
    """An integer-coded categorical column described by its value counts instead of a mean and a spread."""
    present = sum(counts.values())
    row.numbers, row.histogram, row.counted_rows = {}, [], rows_read
    row.unique = len(counts)
    row.top = [(str(value), float(n)) for value, n in counts.most_common(MAX_TOP_VALUES)]
    row.notes = [n for n in row.notes if n.endswith("missing") or n == "NaN or infinity"]
    if row.unique == 1:
        row.notes.append("constant")
    elif row.top and present and row.top[0][1] / present > 0.95:
        row.notes.append(f"'{row.top[0][0]}' in {row.top[0][1] / present:.0%}")


def _count_coded_values(record: RunRecord, part: DataPart, columns: List[str]) -> None:
    """Value counts of the INT columns among `columns`, read from ExampleGen's examples of each split."""
    examples_uri = next((outputs["examples"][0] for name, outputs in record.outputs.items()
                         if name.endswith("ExampleGen") and outputs.get("examples")), None)
    for split, rows in part.features.items():
        coded = [row for row in rows if row.name in columns and row.kind == "INT"]
        files = examples.split_files(examples_uri, split) if examples_uri and coded else []
        if not files:
            continue
        try:
            counts, read = examples.value_counts(files, [row.name for row in coded])
        except Exception:  # noqa: BLE001 (the statistics still describe the column)
            logging.getLogger(__name__).debug("value counts of %s failed", split, exc_info=True)
            continue
        for row in coded:
            as_categorical(row, counts[row.name], read)
            if read < part.examples.get(split, 0):
                row.notes.append(f"values counted in the first {read:,} rows")


def data_part(record: RunRecord, store) -> Tuple[Optional[DataPart], str]:
    from components import gates

    statistics = record.outputs.get("StatisticsGen", {}).get("statistics")
    if not statistics:
        return None, absent(record, "StatisticsGen")
    if not os.path.isdir(statistics[0]):
        return None, f"the statistics {statistics[0]} are gone"
    contract = None
    if "DataGate" in record.executions:
        raw = mlmd.string_property(mlmd.execution(store, record.executions["DataGate"]), "contract_json")
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
    _count_coded_values(record, part, _coded_columns(contract))
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
    part.drift, part.drift_missing = drift_part(record, store, by_split, schema)
    return part, ""


# ------------------------------------------------------------------------------------------------- evaluation
def evaluation_part(record: RunRecord, store, config: Optional[cfg.Config]) -> Tuple[Optional[EvaluationPart], str]:
    uris = record.outputs.get("Evaluator", {}).get("evaluation")
    if not uris:
        return None, absent(record, "Evaluator")
    uri = uris[0]
    if not os.path.isdir(uri):
        return None, f"the evaluation output {uri} is gone"
    part = EvaluationPart(checks=list(record.metrics), baseline_run=_baseline_run(store, record.executions["Evaluator"]))
    evaluator_output.read(uri, config, part)
    if config is not None:
        _regression_sample(record, store, config, part)
        _tagging_sample(record, store, config, part)
    return part, ""


def _scored_sample(record: RunRecord, store, config: cfg.Config, part: EvaluationPart, predicts: str):
    """(tasks that predict `predicts`, the evaluated model's serving dir, the eval shards), or None."""
    tasks = [name for name, task in config.tasks.items() if kinds.kind(task.type).predicts == predicts]
    execution = record.executions["Evaluator"]
    model, examples_uri = mlmd.input_uri(store, execution, "model"), mlmd.input_uri(store, execution, "examples")
    if not tasks or not model or not examples_uri:
        return None
    return tasks, os.path.join(model, "Format-Serving"), examples.split_files(examples_uri, "eval")


def _regression_sample(record: RunRecord, store, config: cfg.Config, part: EvaluationPart) -> None:
    """(actual, predicted) of a sample of the eval rows the Evaluator read, scored by the evaluated model."""
    found = _scored_sample(record, store, config, part, "value")
    if found is None:
        return
    try:
        part.regression = examples.regression_sample(found[1], found[2], found[0])
    except Exception as exc:  # noqa: BLE001 (the metrics are there; the plots are an extra)
        logging.getLogger(__name__).debug("regression sample failed", exc_info=True)
        part.notes.append(f"no predicted-vs-actual plot: scoring eval rows with the model failed ({exc})")


def _tagging_sample(record: RunRecord, store, config: cfg.Config, part: EvaluationPart) -> None:
    """Per-type span scores and type confusions of each tagging task on a sample of eval rows."""
    found = _scored_sample(record, store, config, part, "tags")
    if found is None:
        return
    names = _vocabulary_classes(record, config)
    try:
        part.tagging = examples.tagging_sample(found[1], found[2], {t: names.get(t, []) for t in found[0]})
    except Exception as exc:  # noqa: BLE001 (the metrics are there; the per-type table is an extra)
        logging.getLogger(__name__).debug("tagging sample failed", exc_info=True)
        part.notes.append(f"no per-type span table: scoring eval rows with the model failed ({exc})")


def _vocabulary_classes(record: RunRecord, config: cfg.Config) -> Dict[str, List[str]]:
    """Class names of tasks that learn them from the data, from the exported model's contract."""
    models = record.outputs.get("Trainer", {}).get("model")
    if not models:
        return {}
    path = os.path.join(models[0], "Format-Serving", model_contract.CONTRACT_FILE)
    if not os.path.isfile(path):
        return {}
    return {name: list(task.classes or []) for name, task in model_contract.ContractRecord.read(path).tasks.items()}


# --------------------------------------------------------------------------------------------------- training
def trainer_config(record: RunRecord, store) -> Optional[cfg.Config]:
    if "Trainer" not in record.executions:
        return None
    raw = mlmd.string_property(mlmd.execution(store, record.executions["Trainer"]), "custom_config")
    try:
        return cfg.parse_config(json.loads(raw)["config"]) if raw else None
    except (ValueError, KeyError, cfg.ConfigError):
        return None


def kept_epoch(epochs: List[dict], patience: int, planned: int) -> Tuple[Optional[int], str]:
    """(1-based epoch, why) whose weights the Trainer exported. With early stopping on (patience > 0) the
    Trainer's EarlyStopping(val_loss, restore_best_weights=True) restores, at the end of training, the first
    epoch with the lowest validation loss, whether or not it stopped early; without it the last epoch."""
    if not epochs:
        return None, ""
    number = [e.get("epoch", i + 1) for i, e in enumerate(epochs)]
    if patience <= 0:
        return number[-1], "the last epoch (early stopping off)"
    losses = [e.get("val_loss") for e in epochs]
    if any(v is None or not math.isfinite(v) for v in losses):
        return None, ""
    best = min(range(len(losses)), key=lambda i: (losses[i], i))
    stopped = f"; training stopped early after {len(epochs)} of {planned} epochs" if len(epochs) < planned else ""
    return number[best], f"lowest validation loss, restored by early stopping with patience {patience}{stopped}"


def training_part(record: RunRecord, config: Optional[cfg.Config], output_dir: str
                  ) -> Tuple[Optional[TrainingPart], str]:
    runs = record.outputs.get("Trainer", {}).get("model_run")
    if not runs and state(record, "Trainer") == "FAILED":  # e.g. training diverged: the epochs before still tell
        runs = [os.path.join(RunDir(output_dir).pipeline_root, "Trainer", "model_run",
                             str(record.executions["Trainer"]))]
        if not os.path.isfile(os.path.join(runs[0], HISTORY_FILE)):
            return None, absent(record, "Trainer")
    if not runs:
        return None, absent(record, "Trainer")
    path = os.path.join(runs[0], HISTORY_FILE)
    if not os.path.isfile(path):
        return None, f"no training history at {path}"
    with open(path) as f:
        epochs = json.load(f)
    part = TrainingPart(epochs=epochs)
    if config is not None:
        part.tasks = {name: task.type for name, task in config.tasks.items()}
        part.architecture = config.model.architecture
        part.loss_weighting = config.training.loss_weighting
        schedule = Schedule.read(runs[0]) or plan(config.training, 0)  # runs before schedule.json: the config's
        part.kept_epoch, part.kept_reason = kept_epoch(epochs, schedule.patience, schedule.max_epochs)
        part.schedule = f"{schedule.describe()}; {schedule.outcome()}" if schedule.rows else ""
        part.constant_baselines = schedule.constant_baselines
    else:
        part.tasks = {k[:-len("_weight")]: "" for k in epochs[0] if k.endswith("_weight")} if epochs else {}
    return part, ""


# ------------------------------------------------------------------------------------------------------ entry
def collect(output_dir: str, which: str = "latest") -> ReportData:
    """Everything the report shows about one run (`which`: a run id, a unique prefix, latest or previous)."""
    metadata = RunDir(output_dir).metadata
    records = list_runs(metadata, metrics=False)
    if not records:
        raise mlmd.HistoryError(f"no pipeline run recorded in {metadata}")
    chosen = pick(records, which).run_id
    records = list_runs(metadata, metrics_of=[chosen])  # TFMA output read for this run only
    record = next(r for r in records if r.run_id == chosen)
    store = mlmd.open_store(metadata)
    report = ReportData(record)
    report.config = trainer_config(record, store)
    if report.config is not None:  # class names learnt from the data come from the exported model's contract
        learnt = {n: c for n, c in _vocabulary_classes(record, report.config).items()
                  if c and n in report.config.tasks and not report.config.tasks[n].classes}
        if learnt:
            tasks = {n: t.model_copy(update={"classes": learnt[n]}) if n in learnt else t
                     for n, t in report.config.tasks.items()}
            report.config = report.config.model_copy(update={"tasks": tasks})
    if "BulkInferrer" in record.outputs:
        answers = RunDir(output_dir).inference_for(record.run_id)
        report.inference = (f"{sum(1 for _ in open(answers, encoding='utf-8'))} rows answered: {answers}"
                            if os.path.isfile(answers) else "nothing scored (the model is not blessed)"
                            if record.blessed is False else "no answers written")
    for name, build in (("data", lambda: data_part(record, store)),
                        ("evaluation", lambda: evaluation_part(record, store, report.config)),
                        ("training", lambda: training_part(record, report.config, output_dir))):
        part, why = build()
        setattr(report, name, part)
        if part is None:
            report.missing[name] = why
    return report
