"""Custom components that stop a run before bad data reaches Transform and the trainer.

`DataGate` reads ExampleValidator's anomalies, the schema and the statistics, checks the schema against the
config (every configured column present, numeric features numeric), checks what the statistics say about the
labels (a label column with no value, a binary positive value that never occurs, a single class) and numbers
(NaN, infinity), and either passes the schema on to Transform or fails the run with a readable list of
(split, column, problem). Anomalies that the model already handles are reported as warnings instead: unseen
values of a categorical feature (they map to OOV buckets) and anything on a column the config does not use.

`DriftGate` compares distributions with TFDV's comparators (L-infinity distance of value frequencies for
text-valued columns, Jensen-Shannon divergence of histograms for number-valued ones): this run's training
data against the training data of the last run that passed the gate (drift), and the eval split against the
training split (skew: the eval split stands in for serving traffic). Bounds come from `validation:` in the
config; it writes a table of every measurement (report.md) and stops the run when one is above its bound.
"""

import glob
import json
import logging
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.csv_examples import NOTES_PROPERTY
from pipeline import config as cfg

SCHEMA_FILE = "schema.pbtxt"
STATS_FILE = "FeatureStats.pb"
REPORT_FILE = "report.md"
_TOLERATED_FOR_CATEGORICAL = {anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES}
_NUMERIC_TYPES = (schema_pb2.INT, schema_pb2.FLOAT)


class DataValidationError(RuntimeError):
    """The data violates the schema or the config; the message lists each problem."""


@dataclass(frozen=True)
class Finding:
    split: str
    column: str
    problem: str
    blocking: bool

    def __str__(self) -> str:
        where = f"[{self.split}] " if self.split else ""
        return f"{where}{self.column}: {self.problem}"


def schema_findings(config: cfg.DataContract, schema: schema_pb2.Schema,
                    statistics_by_split: Optional[Dict[str, statistics_pb2.DatasetFeatureStatistics]] = None,
                    notes: Optional[dict] = None) -> List[Finding]:
    """Config/schema mismatches: a configured column absent or deprecated (SchemaGen deprecates a column whose
    type differs between splits, and Transform would not see it), a numeric feature or regression label stored
    as text, a text feature stored as numbers. With the statistics and ExampleGen's notes (example_gen
    NOTES_PROPERTY), text in a numeric column is named per split with a cell, its file and line."""
    by_name = {f.name: f for f in schema.feature}
    numeric = [n for n, f in config.features.items() if f.type == "numeric"]
    numeric += [t.label for t in config.tasks.values() if t.type == "regression"]
    findings = []
    for column in config.columns:
        feature = by_name.get(column)
        if feature is None:
            findings.append(Finding("", column, "configured column is not in the data schema", True))
        elif feature.lifecycle_stage in _UNUSABLE_STAGES:
            text = _text_findings(column, statistics_by_split, notes) if column in numeric else []
            findings += text or [Finding("", column, "the schema marks this configured column "
                                         f"{schema_pb2.LifecycleStage.Name(feature.lifecycle_stage)} (its type "
                                         f"differs between splits: {_types_by_split(column, statistics_by_split)})"
                                         "; Transform would not see it", True)]
    types = {name: f.type for name, f in by_name.items() if f.lifecycle_stage not in _UNUSABLE_STAGES}
    for column in dict.fromkeys(numeric):
        if column not in types:
            continue
        if types[column] not in _NUMERIC_TYPES:
            role = "configured as numeric" if column in config.features else "label of a regression task"
            findings += _text_findings(column, statistics_by_split, notes) or [Finding(
                "", column, f"{role} but the column holds text (schema type "
                            f"{schema_pb2.FeatureType.Name(types[column])})", True)]
        else:  # a curated schema says numbers; ExampleGen saw text (ExampleValidator reports the type too)
            findings += _text_findings(column, None, notes)
    for name, feature in config.features.items():
        if name in types and feature.type == "text" and types[name] != schema_pb2.BYTES:
            findings.append(Finding("", name, "configured as text but the column holds numbers", True))
    return findings


_UNUSABLE_STAGES = (schema_pb2.DEPRECATED, schema_pb2.DISABLED, schema_pb2.PLANNED, schema_pb2.ALPHA,
                    schema_pb2.DEBUG_ONLY, schema_pb2.VALIDATION_DERIVED)  # what tfx_bsl leaves out of a spec


def _text_findings(column: str, statistics_by_split, notes) -> List[Finding]:
    """One finding per split whose numeric column holds text, with a cell: from ExampleGen's notes (file and
    line), else from the statistics' most frequent values. Where ExampleGen read the column (it notes every
    split with text), a split without a note holds only numbers: typed as text because another split has some."""
    findings = []
    noted = any(column in by_column for by_column in (notes or {}).values())
    for split in sorted(set(statistics_by_split or {}) | set(notes or {})):
        note = (notes or {}).get(split, {}).get(column)
        if noted and not note:
            continue
        if note:
            cells, path, line, cell = note
            example = f"e.g. {cell!r} at line {line} of {path} ({cells:g} text cell(s))"
        else:
            feature = feature_stats((statistics_by_split or {}).get(split, statistics_pb2.DatasetFeatureStatistics()),
                                    column)
            words = [b.label for b in feature.string_stats.rank_histogram.buckets] if feature is not None and \
                feature.WhichOneof("stats") == "string_stats" else []
            words = [w for w in words if not _is_number(w)] or words
            if not words:
                continue
            example = f"e.g. {_shown(words, 3)}"
        findings.append(Finding(split, column, f"text in a numeric column, {example}; fix the cells, or list the "
                                               "spelling in data.na_values if it means 'missing'", True))
    return findings


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _types_by_split(column: str, statistics_by_split) -> str:
    kinds = {"num_stats": "numbers", "string_stats": "text"}
    found = []
    for split, stats in sorted((statistics_by_split or {}).items()):
        feature = feature_stats(stats, column)
        if feature is not None:
            found.append(f"{split}: {kinds.get(feature.WhichOneof('stats'), 'no value')}")
    return ", ".join(found) or "see the statistics"


def anomaly_findings(config: cfg.DataContract, split: str, anomalies: anomalies_pb2.Anomalies) -> List[Finding]:
    """One finding per anomaly reason; blocking unless the model tolerates it (see module docstring)."""
    used = set(config.columns)
    categorical = {n for n, f in config.features.items() if f.type in ("categorical", "text")}
    findings = []
    for column, info in sorted(anomalies.anomaly_info.items()):
        reasons = [(r.type, r.description or r.short_description) for r in info.reason]
        for kind, text in reasons or [(None, info.description or info.short_description)]:
            tolerated = column not in used or (column in categorical and kind in _TOLERATED_FOR_CATEGORICAL)
            findings.append(Finding(split, column, text, blocking=not tolerated))
    for reason in anomalies.dataset_anomaly_info.reason:
        findings.append(Finding(split, "<dataset>", reason.description or reason.short_description, True))
    return findings


# ------------------------------------------------------------------------------------------ statistics
def feature_stats(stats: statistics_pb2.DatasetFeatureStatistics,
                  column: str) -> Optional[statistics_pb2.FeatureNameStatistics]:
    return next((f for f in stats.features if (list(f.path.step) or [f.name]) == [column]), None)


def _common(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind in ("num_stats", "string_stats") else \
        statistics_pb2.CommonStatistics()


def _values(feature) -> Optional[List[str]]:
    """Every distinct value of a text-valued column, when the statistics hold all of them (else None)."""
    if feature.WhichOneof("stats") != "string_stats":
        return None
    buckets = [b.label for b in feature.string_stats.rank_histogram.buckets]
    return buckets if feature.string_stats.unique <= len(buckets) else None


def _shown(values: List[str], limit: int = 6) -> str:
    return ", ".join(repr(v) for v in values[:limit]) + (", ..." if len(values) > limit else "")


def label_findings(config: cfg.DataContract, split: str, stats: statistics_pb2.DatasetFeatureStatistics,
                   negatives: Optional[Dict[str, List[str]]] = None) -> List[Finding]:
    """Labels no model can learn from: no value at all, a binary positive that never occurs (or nothing
    else occurs), a binary value that is neither positive nor negative (never counted as a negative), a
    classification label with a single class. `negatives` carries the negative value each binary task learns
    from the train split (checked first) to the other splits."""
    negatives = {} if negatives is None else negatives
    findings = []
    for name, task in config.tasks.items():
        feature = feature_stats(stats, task.label)
        if feature is None:
            continue
        common = _common(feature)
        if common.num_non_missing == 0 or common.tot_num_values == 0:  # (an empty cell: a feature with no value)
            findings.append(Finding(split, task.label, f"label of task '{name}' has no value in any row", True))
            continue
        problem, blocking = None, True
        if task.type == "binary":
            problem, blocking = _binary_problem(name, task, feature, split, negatives)
        elif task.type == "multiclass":
            problem = _multiclass_problem(task, feature)
        if problem:
            findings.append(Finding(split, task.label, f"task '{name}': {problem}", blocking))
    return findings


def _binary_problem(name: str, task: cfg.Task, feature, split: str, negatives: Dict[str, List[str]]):
    """(problem or None, blocking)."""
    if feature.WhichOneof("stats") == "string_stats":
        return _binary_text_problem(name, task, feature, split, negatives)
    if feature.WhichOneof("stats") == "num_stats":
        return _binary_number_problem(task, feature), True
    return None, True


def _binary_text_problem(name: str, task: cfg.Task, feature, split: str, negatives: Dict[str, List[str]]):
    values = _values(feature)
    tolerate = task.unknown_labels == "unlabelled"
    if values is None:  # more distinct values than the statistics list
        if tolerate and task.negative:
            return None, True
        return (f"{feature.string_stats.unique} distinct values; a binary label holds a positive and a negative "
                "value (set `positive` and `negative`, or list missing-value spellings in data.na_values)"), True
    roles = task.binary_roles(values, negatives.get(name))
    counts = {b.label: b.sample_count for b in feature.string_stats.rank_histogram.buckets}
    if not roles.positive:
        wanted = f"the positive value {task.positive!r}" if task.positive is not None else \
            "a true value (" + "/".join(cfg.TRUE_STRINGS) + "; or set `positive`)"
        return f"{wanted} never occurs (values: {_shown(values)})", True
    others = list(dict.fromkeys(v.strip() for v in roles.other))  # ' no' and 'no' are one value
    if split == "train" and len(others) > 1:
        return (f"{_shown(others)} besides the positive {task.positive!r}: which mean 0? Set "
                f"tasks.{name}.negative to them (a value or a list), or list the ones that mean 'missing' in "
                "data.na_values"), True
    if split == "train" and others:
        negatives[name] = others
    unlabelled = None
    if roles.unknown:
        rows = sum(counts.get(v, 0) for v in roles.unknown)
        negative = task.negative or negatives.get(name)
        expected = (f"the positive {task.positive!r} nor the negative {_shown(negative)}"
                    if task.positive is not None else "a true value (" + "/".join(cfg.TRUE_STRINGS) +
                    ") nor a false one (" + "/".join(cfg.FALSE_STRINGS) + "); or set `positive`")
        text = f"{rows:g} row(s) hold {_shown(roles.unknown)}, neither {expected}"
        if not tolerate:
            return text + f" (set tasks.{name}.unknown_labels: unlabelled to train without them)", True
        unlabelled = text + "; they count as unlabelled (unknown_labels: unlabelled)"
    if not roles.negative and not roles.other:  # (also when the unlabelled rows held every non-positive value)
        return f"every labelled row is positive ({_shown(values)}): nothing to tell apart", True
    if unlabelled:
        return unlabelled, False  # a note: those rows are unlabelled for this task
    return None, True


def _binary_number_problem(task: cfg.Task, feature) -> Optional[str]:
    low, high = feature.num_stats.min, feature.num_stats.max
    if task.positive is None:
        return None if low <= 0.5 < high else f"values range {low:g}..{high:g}: no row is both > 0.5 " \
                                                "(positive) and another <= 0.5 (negative)"
    try:
        positive = float(task.positive)
        negative = [float(v) for v in task.negative or []]
    except ValueError:
        return f"the positive/negative values {task.positive!r} {task.negative or ''} are not numbers, but the " \
               "column holds numbers"
    if not low <= positive <= high:
        return f"the positive value {task.positive!r} never occurs (values range {low:g}..{high:g})"
    if low == high:
        return f"every labelled row is {low:g}: nothing to tell apart"
    if not negative and low < positive < high:
        return f"values on both sides of the positive {task.positive!r} (range {low:g}..{high:g}): which mean 0? " \
               "Set `negative`"
    odd = [v for v in (low, high) if v != positive and negative and v not in negative]
    if odd and task.unknown_labels != "unlabelled":
        return f"the value {odd[0]:g} is neither the positive {task.positive!r} nor a negative {task.negative}"
    return None


def _multiclass_problem(task: cfg.Task, feature) -> Optional[str]:
    values = _values(feature)
    if values is not None:
        seen = [v for v in values if v.strip() in task.classes] if task.classes else values
        if len(seen) < 2:
            listed = f"of the configured classes ({_shown(task.classes)}) " if task.classes else "class "
            return f"only {len(seen)} {listed}occurs (values: {_shown(values)}); a classifier needs 2"
    elif feature.WhichOneof("stats") == "num_stats" and feature.num_stats.min == feature.num_stats.max:
        return f"every labelled row is {feature.num_stats.min:g}: a classifier needs 2 classes"
    return None


def number_findings(config: cfg.DataContract, split: str,
                    stats: statistics_pb2.DatasetFeatureStatistics) -> List[Finding]:
    """NaN or infinite values in numeric features and regression labels (an empty cell is the way to say
    'missing'; NaN would turn the z-score and the loss into NaN)."""
    columns = [n for n, f in config.features.items() if f.type == "numeric"]
    columns += [t.label for t in config.tasks.values() if t.type in ("regression", "binary")]
    findings = []
    for column in dict.fromkeys(columns):
        feature = feature_stats(stats, column)
        if feature is None or feature.WhichOneof("stats") != "num_stats":
            continue
        nans = max((h.num_nan for h in feature.num_stats.histograms), default=0)
        if nans:
            findings.append(Finding(split, column, f"{nans:g} NaN value(s); leave a cell empty for a missing "
                                                   "value (or list the spelling in data.na_values)", True))
        if math.isinf(feature.num_stats.min) or math.isinf(feature.num_stats.max):
            findings.append(Finding(split, column, f"infinite values (range {feature.num_stats.min:g}.."
                                                   f"{feature.num_stats.max:g})", True))
    return findings


def check(config: cfg.DataContract, schema: schema_pb2.Schema, anomalies_by_split: dict,
          statistics_by_split: Optional[Dict[str, statistics_pb2.DatasetFeatureStatistics]] = None,
          notes: Optional[dict] = None) -> List[Finding]:
    """All findings; raises DataValidationError when any of them blocks the run. notes: ExampleGen's
    {split: {column: [text cells, file, line, cell]}} of numeric columns (components.example_gen)."""
    findings = schema_findings(config, schema, statistics_by_split, notes)
    for split, anomalies in sorted(anomalies_by_split.items()):
        findings += anomaly_findings(config, split, anomalies)
    negatives = {}
    for split, stats in sorted((statistics_by_split or {}).items(), key=lambda item: item[0] != "train"):
        findings += label_findings(config, split, stats, negatives) + number_findings(config, split, stats)
    for finding in findings:
        if not finding.blocking:
            logging.warning("data gate (tolerated): %s", finding)
    blocking = [f for f in findings if f.blocking]
    if blocking:
        raise DataValidationError(
            f"the data does not satisfy the schema/config ({len(blocking)} problem(s)); the run stops before "
            "Transform:\n" + "\n".join(f"  - {f}" for f in blocking))
    return findings


def split_dir(artifact, split: str) -> str:
    """<uri>/Split-<split>, TFX's layout (artifact_utils.get_split_uri insists on a split_names property)."""
    return os.path.join(artifact.uri, f"Split-{split}")


def load_statistics(artifact) -> Dict[str, statistics_pb2.DatasetFeatureStatistics]:
    """{split: statistics} of an ExampleStatistics or AcceptedStatistics artifact."""
    names = (artifact.split_names if SPLITS in (artifact.PROPERTIES or {})
             else artifact.get_string_custom_property(SPLITS))
    return load_split_statistics(artifact.uri, artifact_utils.decode_split_names(names))


def load_split_statistics(uri: str, splits: Optional[List[str]] = None
                          ) -> Dict[str, statistics_pb2.DatasetFeatureStatistics]:
    """{split: statistics} under a statistics folder (<uri>/Split-<split>/FeatureStats.pb): the given splits
    (a missing file is an error), or, without splits, every split folder that holds a statistics file (the
    report reading back whatever a run left)."""
    if splits is None:
        found = sorted(glob.glob(os.path.join(uri, "Split-*", STATS_FILE)))
        splits = [os.path.basename(os.path.dirname(path))[len("Split-"):] for path in found]
    return {split: tfdv.load_stats_binary(os.path.join(uri, f"Split-{split}", STATS_FILE)).datasets[0]
            for split in splits}


@tfx.dsl.components.component
def DataGate(  # noqa: N802 (TFX component naming)
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
    statistics: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleStatistics],
    validated_schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
    contract_json: tfx.dsl.components.Parameter[str],
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples] = None,
) -> None:
    """Stops the run on blocking anomalies; passes the schema on to Transform otherwise.

    contract_json is `pipeline.config.data_contract(...)`, code version included, so code changes re-run it.
    """
    contract = cfg.DataContract.model_validate(json.loads(contract_json))
    schema_file = io_utils.get_only_uri_in_dir(schema.uri)
    schema_proto = tfdv.load_schema_text(schema_file)
    by_split = {}
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), "SchemaDiff.pb")
        by_split[split] = anomalies_util.load_anomalies_binary(path)
    notes = examples.get_string_custom_property(NOTES_PROPERTY) if examples is not None else ""
    findings = check(contract, schema_proto, by_split, load_statistics(statistics), json.loads(notes or "{}"))
    io_utils.copy_file(schema_file, os.path.join(validated_schema.uri, SCHEMA_FILE), overwrite=True)
    validated_schema.set_int_custom_property("tolerated_anomalies", len(findings))


# ------------------------------------------------------------------------------------------ distributions
@dataclass(frozen=True)
class Measurement:
    check: str  # drift | skew
    column: str
    measure: str  # L-infinity | Jensen-Shannon
    value: float
    bound: float

    @property
    def passed(self) -> bool:
        return self.value <= self.bound

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "ABOVE BOUND"
        return f"{self.check} {self.column}: {self.measure} {self.value:.4f} (bound {self.bound:g}) {verdict}"


_MEASURES = {"L_INFTY": "L-infinity", "JENSEN_SHANNON_DIVERGENCE": "Jensen-Shannon"}


def compare(check_name: str, schema: schema_pb2.Schema, bounds: cfg.DistributionBounds, columns: List[str],
            current: statistics_pb2.DatasetFeatureStatistics,
            reference: statistics_pb2.DatasetFeatureStatistics) -> List[Measurement]:
    """Distances between two statistics for each column with a bound, by TFDV's comparators: L-infinity for
    text-valued columns, Jensen-Shannon divergence for number-valued ones. check_name: drift (reference =
    earlier training data) or skew (current = training, reference = eval/serving data)."""
    schema = schema_pb2.Schema.FromString(schema.SerializeToString())  # a copy with comparators set
    bound_of = {}
    for column in columns:
        feature = feature_stats(current, column)
        if feature is None or feature_stats(reference, column) is None:
            continue
        number_valued = feature.WhichOneof("stats") == "num_stats"
        bound = bounds.bound(column, number_valued)
        if bound is None:
            continue
        schema_feature = next((f for f in schema.feature if f.name == column), None)
        if schema_feature is None:
            continue
        comparator = schema_feature.drift_comparator if check_name == "drift" else schema_feature.skew_comparator
        if number_valued:
            comparator.jensen_shannon_divergence.threshold = bound
        else:
            comparator.infinity_norm.threshold = bound
        bound_of[column] = bound
    if not bound_of:
        return []
    wrapped = [statistics_pb2.DatasetFeatureStatisticsList(datasets=[s]) for s in (current, reference)]
    other = {"previous_statistics" if check_name == "drift" else "serving_statistics": wrapped[1]}
    anomalies = tfdv.validate_statistics(wrapped[0], schema, **other)
    measurements = []
    for info in anomalies.drift_skew_info:
        column = ".".join(info.path.step)
        for m in list(info.drift_measurements) + list(info.skew_measurements):
            kind = type(m).Type.Name(m.type)
            if column in bound_of and kind in _MEASURES:
                measurements.append(Measurement(check_name, column, _MEASURES[kind], m.value, bound_of[column]))
    return sorted(measurements, key=lambda m: (m.check, m.column))


def distribution_report(measurements: List[Measurement], notes: List[str]) -> str:
    """Markdown: every measurement, the ones above their bound first."""
    lines = ["# Distribution checks", ""] + [f"- {note}" for note in notes] + ([""] if notes else [])
    if measurements:
        lines += ["| check | column | measure | value | bound | verdict |", "|---|---|---|---:|---:|---|"]
        for m in sorted(measurements, key=lambda m: (m.passed, m.check, -m.value)):
            lines.append(f"| {m.check} | {m.column} | {m.measure} | {m.value:.4f} | {m.bound:g} | "
                         f"{'ok' if m.passed else '**above bound**'} |")
    return "\n".join(lines) + "\n"


def measure_distributions(validation: cfg.Validation, columns: List[str], schema: schema_pb2.Schema,
                          current: Dict[str, statistics_pb2.DatasetFeatureStatistics],
                          previous: Optional[Dict[str, statistics_pb2.DatasetFeatureStatistics]]):
    """(measurements, notes): every drift and skew measurement the bounds ask for."""
    measurements, notes = [], []
    if validation.drift:
        if previous is None or "train" not in previous:
            notes.append("drift: no earlier run passed this gate yet; this run's statistics become the reference")
        else:
            measurements += compare("drift", schema, validation.drift, columns, current["train"], previous["train"])
    if validation.skew:
        if "eval" not in current:
            notes.append("skew: no eval split")
        else:
            measurements += compare("skew", schema, validation.skew, columns, current["train"], current["eval"])
    return measurements, notes


def check_distributions(validation: cfg.Validation, columns: List[str], schema: schema_pb2.Schema,
                        current: Dict[str, statistics_pb2.DatasetFeatureStatistics],
                        previous: Optional[Dict[str, statistics_pb2.DatasetFeatureStatistics]]):
    """(measurements, notes, report); raises DataValidationError (the report) when one is above its bound."""
    measurements, notes = measure_distributions(validation, columns, schema, current, previous)
    report = distribution_report(measurements, notes)
    above = [m for m in measurements if not m.passed]
    if above:
        raise DataValidationError(
            f"the data's distribution moved beyond the configured bounds ({len(above)} column(s)); the run stops "
            "before Transform:\n" + "\n".join(f"  - {m}" for m in above)
            + "\n(set validation.drift/skew bounds in the config to change what is accepted)")
    return measurements, notes, report


class AcceptedStatistics(tfx.dsl.Artifact):
    """Statistics of data that passed the DriftGate: the reference of the next run's drift check. A type of its
    own, so that a resolver on any orchestrator (KFP's matches on the type only) finds these and never
    StatisticsGen's statistics of data that was refused."""

    TYPE_NAME = "mtl.AcceptedStatistics"  # <namespace>.<Name>: what KFP v2 accepts for a custom type
    # No PROPERTIES (KFP's generic artifact schema has none): the split names are the custom property SPLITS.


SPLITS = "split_names"


@tfx.dsl.components.component
def DriftGate(  # noqa: N802 (TFX component naming)
    statistics: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleStatistics],
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
    accepted_statistics: tfx.dsl.components.OutputArtifact[AcceptedStatistics],
    validation_json: tfx.dsl.components.Parameter[str],
    previous_statistics: tfx.dsl.components.InputArtifact[AcceptedStatistics] = None,
) -> None:
    """Drift and skew checks (module docstring). Publishes this run's statistics as accepted_statistics, the
    reference of the next run's drift check, only when they pass; report.md beside them lists every
    measurement."""
    settings = json.loads(validation_json)
    validation = cfg.Validation.model_validate(settings["validation"])
    schema_proto = tfdv.load_schema_text(io_utils.get_only_uri_in_dir(schema.uri))
    current = load_statistics(statistics)
    previous = load_statistics(previous_statistics) if previous_statistics is not None else None
    measurements, notes, report = check_distributions(validation, settings["columns"], schema_proto, current,
                                                      previous)
    for m in measurements:
        logging.info("drift gate: %s", m)
    accepted_statistics.set_string_custom_property(SPLITS, statistics.split_names)
    for split in current:
        source = os.path.join(split_dir(statistics, split), STATS_FILE)
        io_utils.copy_file(source, os.path.join(split_dir(accepted_statistics, split),
                                                STATS_FILE), overwrite=True)
    io_utils.write_string_file(os.path.join(accepted_statistics.uri, REPORT_FILE), report)
