"""The gates that stop a run before bad data reaches Transform and the trainer (TFX custom components).

data_gate.py   DataGate: schema, anomalies, labels and numbers (schema_checks.py, label_checks.py)
drift_gate.py  DriftGate: drift against the last accepted run, skew of eval against train
artifacts.py   the artifact I/O both share (statistics, schema, anomalies in; their output files out)
findings.py    Finding, DataValidationError and the statistics lookups the checks share

This package's names are the gates' public interface (`from components.gates import DataGate, ...`).
`*_Executor` are re-exported too: a pipeline compiled before the split names them as components.gates.*."""
from components.gates.artifacts import (REPORT_FILE, SCHEMA_FILE, SPLITS, STATS_FILE,  # noqa: F401
                                        AcceptedStatistics, load_split_statistics, load_statistics, split_dir)
from components.gates.data_gate import DataGate, DataGate_Executor, check  # noqa: F401
from components.gates.drift_gate import (DriftGate, DriftGate_Executor, check_distributions,  # noqa: F401
                                         compare, distribution_report, measure_distributions)
from components.gates.findings import DataValidationError, Finding, feature_stats  # noqa: F401
from components.gates.label_checks import label_findings, number_findings, space_findings  # noqa: F401
from components.gates.schema_checks import anomaly_findings, schema_findings  # noqa: F401
