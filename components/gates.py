"""Custom components that stop a run before bad data reaches Transform and the trainer.

`DataGate` reads ExampleValidator's anomalies and the schema, checks the schema against the config (every
configured column present, numeric features numeric), and either passes the schema on to Transform or fails
the run with a readable list of (split, column, problem). Anomalies that the model already handles are
reported as warnings instead: unseen values of a categorical feature (they map to OOV buckets) and anything on
a column the config does not use.
"""

import json
import logging
import os
from dataclasses import dataclass
from typing import List

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

from pipeline import config as cfg

SCHEMA_FILE = "schema.pbtxt"
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


def schema_findings(config: cfg.DataContract, schema: schema_pb2.Schema) -> List[Finding]:
    """Config/schema mismatches: a configured column absent, or a numeric feature stored as text."""
    types = {f.name: f.type for f in schema.feature}
    findings = []
    for column in config.columns:
        if column not in types:
            findings.append(Finding("", column, "configured column is not in the data schema", True))
    for name, feature in config.features.items():
        if name in types and feature.type == "numeric" and types[name] not in _NUMERIC_TYPES:
            findings.append(Finding("", name, "configured as numeric but the column holds text "
                                              f"(schema type {schema_pb2.FeatureType.Name(types[name])})", True))
        if name in types and feature.type == "text" and types[name] != schema_pb2.BYTES:
            findings.append(Finding("", name, "configured as text but the column holds numbers", True))
    for task_name, task in config.tasks.items():
        if task.label in types and task.type == "regression" and types[task.label] not in _NUMERIC_TYPES:
            findings.append(Finding("", task.label, f"label of regression task '{task_name}' holds text", True))
    return findings


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


def check(config: cfg.DataContract, schema: schema_pb2.Schema, anomalies_by_split: dict) -> List[Finding]:
    """All findings; raises DataValidationError when any of them blocks the run."""
    findings = schema_findings(config, schema)
    for split, anomalies in sorted(anomalies_by_split.items()):
        findings += anomaly_findings(config, split, anomalies)
    for finding in findings:
        if not finding.blocking:
            logging.warning("data gate (tolerated): %s", finding)
    blocking = [f for f in findings if f.blocking]
    if blocking:
        raise DataValidationError(
            f"the data does not satisfy the schema/config ({len(blocking)} problem(s)); the run stops before "
            "Transform:\n" + "\n".join(f"  - {f}" for f in blocking))
    return findings


@tfx.dsl.components.component
def DataGate(  # noqa: N802 (TFX component naming)
    schema: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Schema],
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
    validated_schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
    contract_json: tfx.dsl.components.Parameter[str],
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
    findings = check(contract, schema_proto, by_split)
    io_utils.copy_file(schema_file, os.path.join(validated_schema.uri, SCHEMA_FILE), overwrite=True)
    validated_schema.set_int_custom_property("tolerated_anomalies", len(findings))
