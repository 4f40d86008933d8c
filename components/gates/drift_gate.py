"""`DriftGate`: stops a run whose data's distribution moved beyond the configured bounds.

It compares distributions with TFDV's comparators (L-infinity distance of value frequencies for text-valued
columns, Jensen-Shannon divergence of histograms for number-valued ones): this run's training data against the
training data of the last run that passed the gate (drift), and the eval split against the training split
(skew: the eval split stands in for serving traffic). Bounds come from `validation:` in the config. It writes
every measurement twice, report.md for people and drift.json (pipeline/core/drift_record.py) for the run
report, and publishes this run's statistics as the next run's reference only when they pass."""
import json
import logging
from typing import Dict, List, Optional

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx import v1 as tfx

from components.gates import artifacts
from components.gates.artifacts import AcceptedStatistics
from components.gates.findings import DataValidationError, feature_stats
from pipeline import config as cfg
from pipeline.core.drift_record import DriftMeasurement, DriftRecord

_MEASURES = {"L_INFTY": "L-infinity", "JENSEN_SHANNON_DIVERGENCE": "Jensen-Shannon"}
_REFERENCE_SPLIT = {"drift": "train", "skew": "eval"}  # drift: the last accepted run's train split


def compare(check_name: str, schema: schema_pb2.Schema, bounds: cfg.DistributionBounds, columns: List[str],
            current: statistics_pb2.DatasetFeatureStatistics,
            reference: statistics_pb2.DatasetFeatureStatistics) -> List[DriftMeasurement]:
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
                measurements.append(DriftMeasurement(check_name, column, _MEASURES[kind], m.value, bound_of[column],
                                                     "train", _REFERENCE_SPLIT[check_name]))
    return sorted(measurements, key=lambda m: (m.check, m.feature))


def distribution_report(record: DriftRecord) -> str:
    """Markdown for people: the notes, then every measurement, the ones above their bound first."""
    lines = ["# Distribution checks", ""] + [f"- {note}" for note in record.notes] + ([""] if record.notes else [])
    if record.measurements:
        lines += ["| check | column | measure | value | bound | verdict |", "|---|---|---|---:|---:|---|"]
        for m in sorted(record.measurements, key=lambda m: (m.passed, m.check, -m.value)):
            lines.append(f"| {m.check} | {m.feature} | {m.measure} | {m.value:.4f} | {m.threshold:g} | "
                         f"{'ok' if m.passed else '**above bound**'} |")
    return "\n".join(lines) + "\n"


def measure_distributions(validation: cfg.Validation, columns: List[str], schema: schema_pb2.Schema,
                          current: Dict[str, statistics_pb2.DatasetFeatureStatistics],
                          previous: Optional[Dict[str, statistics_pb2.DatasetFeatureStatistics]]) -> DriftRecord:
    """Every drift and skew measurement the bounds ask for, with a note for each check that has no reference."""
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
    return DriftRecord(measurements, notes)


def check_distributions(validation: cfg.Validation, columns: List[str], schema: schema_pb2.Schema,
                        current: Dict[str, statistics_pb2.DatasetFeatureStatistics],
                        previous: Optional[Dict[str, statistics_pb2.DatasetFeatureStatistics]]):
    """(record, Markdown report); raises DataValidationError when a measurement is above its bound."""
    record = measure_distributions(validation, columns, schema, current, previous)
    if record.above:
        raise DataValidationError(
            f"the data's distribution moved beyond the configured bounds ({len(record.above)} column(s)); the run "
            "stops before Transform:\n" + "\n".join(f"  - {m}" for m in record.above)
            + "\n(set validation.drift/skew bounds in the config to change what is accepted)")
    return record, distribution_report(record)


@tfx.dsl.components.component
def DriftGate(  # noqa: N802 (TFX component naming)
    statistics: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleStatistics],
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
    accepted_statistics: tfx.dsl.components.OutputArtifact[AcceptedStatistics],
    validation_json: tfx.dsl.components.Parameter[str],
    previous_statistics: tfx.dsl.components.InputArtifact[AcceptedStatistics] = None,
) -> None:
    """Drift and skew checks (module docstring). Publishes this run's statistics as accepted_statistics, the
    reference of the next run's drift check, only when they pass; report.md and drift.json beside them list
    every measurement."""
    settings = json.loads(validation_json)
    validation = cfg.Validation.model_validate(settings["validation"])
    current = artifacts.load_statistics(statistics)
    previous = artifacts.load_statistics(previous_statistics) if previous_statistics is not None else None
    record, report = check_distributions(validation, settings["columns"], artifacts.load_schema(schema), current,
                                         previous)
    for m in record.measurements:
        logging.info("drift gate: %s", m)
    artifacts.write_accepted_statistics(statistics, accepted_statistics, list(current))
    artifacts.write_drift_report(accepted_statistics.uri, report, record)
