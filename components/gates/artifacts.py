"""The gates' artifact I/O, in one place: reading the statistics, schema and anomalies artifacts that
StatisticsGen, SchemaGen and ExampleValidator write, and writing the gates' own output files (the validated
schema, the accepted statistics, the drift report and record). Also the AcceptedStatistics artifact type, whose
split names live in a custom property (SPLITS)."""
import glob
import os
from typing import Dict, List, Optional

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

from pipeline.core import drift_record

SCHEMA_FILE = "schema.pbtxt"
STATS_FILE = "FeatureStats.pb"
ANOMALIES_FILE = "SchemaDiff.pb"
REPORT_FILE = drift_record.MARKDOWN_FILE  # the DriftGate's measurements for people (drift.json: for programs)
SPLITS = "split_names"


class AcceptedStatistics(tfx.dsl.Artifact):
    """Statistics of data that passed the DriftGate: the reference of the next run's drift check. A type of its
    own, so that a resolver on any orchestrator (KFP's matches on the type only) finds these and never
    StatisticsGen's statistics of data that was refused."""

    TYPE_NAME = "mtl.AcceptedStatistics"  # <namespace>.<Name>: what KFP v2 accepts for a custom type
    # No PROPERTIES (KFP's generic artifact schema has none): the split names are the custom property SPLITS.


# ------------------------------------------------------------------------------------------------ reading
def split_dir(artifact, split: str) -> str:
    """<uri>/Split-<split>, TFX's layout (artifact_utils.get_split_uri insists on a split_names property)."""
    return os.path.join(artifact.uri, f"Split-{split}")


def split_names(artifact) -> List[str]:
    """The splits of an ExampleStatistics (property) or AcceptedStatistics (custom property) artifact."""
    names = (artifact.split_names if SPLITS in (artifact.PROPERTIES or {})
             else artifact.get_string_custom_property(SPLITS))
    return artifact_utils.decode_split_names(names)


def load_statistics(artifact) -> Dict[str, statistics_pb2.DatasetFeatureStatistics]:
    """{split: statistics} of an ExampleStatistics or AcceptedStatistics artifact."""
    return load_split_statistics(artifact.uri, split_names(artifact))


def load_split_statistics(uri: str, splits: Optional[List[str]] = None
                          ) -> Dict[str, statistics_pb2.DatasetFeatureStatistics]:
    """{split: statistics} under a statistics folder (<uri>/Split-<split>/FeatureStats.pb): the given splits
    (a missing file is an error), or, without splits, every split folder that holds a statistics file (the
    report reading back whatever a run left). The project's one statistics loader."""
    if splits is None:
        found = sorted(glob.glob(os.path.join(uri, "Split-*", STATS_FILE)))
        splits = [os.path.basename(os.path.dirname(path))[len("Split-"):] for path in found]
    return {split: tfdv.load_stats_binary(os.path.join(uri, f"Split-{split}", STATS_FILE)).datasets[0]
            for split in splits}


def schema_file(artifact) -> str:
    """The one schema file in a Schema artifact's folder."""
    return io_utils.get_only_uri_in_dir(artifact.uri)


def load_schema(artifact) -> schema_pb2.Schema:
    return tfdv.load_schema_text(schema_file(artifact))


def load_anomalies(artifact) -> Dict[str, anomalies_pb2.Anomalies]:
    """{split: anomalies} of ExampleValidator's ExampleAnomalies artifact."""
    return {split: anomalies_util.load_anomalies_binary(
                os.path.join(artifact_utils.get_split_uri([artifact], split), ANOMALIES_FILE))
            for split in artifact_utils.decode_split_names(artifact.split_names)}


# ------------------------------------------------------------------------------------------------ writing
def write_validated_schema(source_file: str, validated_schema) -> None:
    """The DataGate's output: the schema it checked, passed on to Transform unchanged."""
    io_utils.copy_file(source_file, os.path.join(validated_schema.uri, SCHEMA_FILE), overwrite=True)


def write_accepted_statistics(statistics, accepted_statistics, splits: List[str]) -> None:
    """The DriftGate's output: this run's statistics files, copied, with their split names."""
    accepted_statistics.set_string_custom_property(SPLITS, statistics.split_names)
    for split in splits:
        io_utils.copy_file(os.path.join(split_dir(statistics, split), STATS_FILE),
                           os.path.join(split_dir(accepted_statistics, split), STATS_FILE), overwrite=True)


def write_drift_report(directory: str, markdown: str, record: drift_record.DriftRecord) -> None:
    """report.md (people) and drift.json (the run report) side by side, through TFX's file system layer."""
    io_utils.write_string_file(os.path.join(directory, REPORT_FILE), markdown)
    drift_record.write(directory, record, io_utils.write_string_file)
