"""`DataGate`: stops a run before bad data reaches Transform and the trainer.

It reads ExampleValidator's anomalies, the schema and the statistics, runs the schema checks
(schema_checks.py) and the label and number checks (label_checks.py), and either passes the schema on to
Transform or fails the run with a readable list of (split, column, problem). Anomalies the model already
handles are logged as warnings instead."""
import json
import logging
from typing import Dict, List, Optional

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx import v1 as tfx

from components.csv_examples import NOTES_PROPERTY
from components.gates import artifacts
from components.gates.findings import DataValidationError, Finding
from components.gates.label_checks import label_findings, number_findings, space_findings
from components.gates.schema_checks import anomaly_findings, schema_findings
from components.gates.row_checks import row_findings
from pipeline import config as cfg


def check(config: cfg.DataContract, schema: schema_pb2.Schema, anomalies_by_split: dict,
          statistics_by_split: Optional[Dict[str, statistics_pb2.DatasetFeatureStatistics]] = None,
          notes: Optional[dict] = None, examples=None) -> List[Finding]:
    """All findings; raises DataValidationError when any of them blocks the run. notes: ExampleGen's
    {split: {column: [text cells, file, line, cell]}} of numeric columns (components.example_gen); examples:
    the Examples artifact, read for the row-level checks of tagging labels (row_checks.py)."""
    findings = schema_findings(config, schema, statistics_by_split, notes) + row_findings(config, examples)
    for split, anomalies in sorted(anomalies_by_split.items()):
        findings += anomaly_findings(config, split, anomalies)
    negatives = {}
    for split, stats in sorted((statistics_by_split or {}).items(), key=lambda item: item[0] != "train"):
        findings += label_findings(config, split, stats, negatives) + number_findings(config, split, stats)
        findings += space_findings(config, split, stats)
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
    statistics: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleStatistics],
    validated_schema: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Schema],
    contract_json: tfx.dsl.components.Parameter[str],
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples] = None,
) -> None:
    """Stops the run on blocking anomalies; passes the schema on to Transform otherwise.

    contract_json is `pipeline.config.data_contract(...)`, code version included, so code changes re-run it.
    """
    contract = cfg.DataContract.model_validate(json.loads(contract_json))
    notes = examples.get_string_custom_property(NOTES_PROPERTY) if examples is not None else ""
    findings = check(contract, artifacts.load_schema(schema), artifacts.load_anomalies(anomalies),
                     artifacts.load_statistics(statistics), json.loads(notes or "{}"), examples)
    artifacts.write_validated_schema(artifacts.schema_file(schema), validated_schema)
    validated_schema.set_int_custom_property("tolerated_anomalies", len(findings))
