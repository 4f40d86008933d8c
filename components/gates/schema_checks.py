"""The DataGate's checks of the schema against the config, and of ExampleValidator's anomalies: a configured
column absent or unusable, a numeric column holding text (named per split, with a cell from ExampleGen's notes),
a text column holding numbers; anomalies are blocking unless the model tolerates them (an unseen categorical
value maps to an OOV bucket; a column the config does not use does not reach the model)."""
from typing import Dict, List, Optional

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.gates.findings import Finding, feature_stats, is_number, shown
from pipeline import config as cfg

_TOLERATED_FOR_CATEGORICAL = {anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES}
_NUMERIC_TYPES = (schema_pb2.INT, schema_pb2.FLOAT)
_UNUSABLE_STAGES = (schema_pb2.DEPRECATED, schema_pb2.DISABLED, schema_pb2.PLANNED, schema_pb2.ALPHA,
                    schema_pb2.DEBUG_ONLY, schema_pb2.VALIDATION_DERIVED)  # what tfx_bsl leaves out of a spec


def schema_findings(config: cfg.DataContract, schema: schema_pb2.Schema,
                    statistics_by_split: Optional[Dict[str, statistics_pb2.DatasetFeatureStatistics]] = None,
                    notes: Optional[dict] = None) -> List[Finding]:
    """Config/schema mismatches: a configured column absent or deprecated (SchemaGen deprecates a column whose
    type differs between splits, and Transform would not see it), a numeric feature or regression label stored
    as text, a text feature stored as numbers. With the statistics and ExampleGen's notes (example_gen
    NOTES_PROPERTY), text in a numeric column is named per split with a cell, its file and line."""
    by_name = {f.name: f for f in schema.feature}
    numeric = config.numeric_columns
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
            words = [w for w in words if not is_number(w)] or words
            if not words:
                continue
            example = f"e.g. {shown(words, 3)}"
        findings.append(Finding(split, column, f"text in a numeric column, {example}; fix the cells, or list the "
                                               "spelling in data.na_values if it means 'missing'", True))
    return findings


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
    categorical = {n for n, f in config.features.items() if f.type in ("categorical", "text", "vector")}
    findings = []
    for column, info in sorted(anomalies.anomaly_info.items()):
        reasons = [(r.type, r.description or r.short_description) for r in info.reason]
        for kind, text in reasons or [(None, info.description or info.short_description)]:
            tolerated = column not in used or (column in categorical and kind in _TOLERATED_FOR_CATEGORICAL)
            findings.append(Finding(split, column, text, blocking=not tolerated))
    for reason in anomalies.dataset_anomaly_info.reason:
        findings.append(Finding(split, "<dataset>", reason.description or reason.short_description, True))
    return findings
