"""DataGate's decision on real TFDV statistics, schemas and anomalies (no pipeline needed)."""
import csv

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from components.gates import DataValidationError, check
from pipeline import config as cfg

CONTRACT = cfg.DataContract.model_validate({
    "features": {"age": {"type": "numeric"}, "city": {"type": "categorical"}},
    "tasks": {"churn": {"type": "binary", "label": "churned", "positive": "yes"}},
})


def _write(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["age", "city", "churned", "note"], *rows])
    return str(path)


def _anomalies(tmp_path, train_rows, eval_rows):
    train = tfdv.generate_statistics_from_csv(_write(tmp_path / "train.csv", train_rows))
    schema = tfdv.infer_schema(train)
    evaluated = tfdv.generate_statistics_from_csv(_write(tmp_path / "eval.csv", eval_rows))
    return schema, {"eval": tfdv.validate_statistics(evaluated, schema)}


GOOD = [[30, "paris", "yes", "x"], [40, "rome", "no", "y"], [50, "paris", "no", "z"]] * 5


def test_clean_data_passes(tmp_path):
    schema, anomalies = _anomalies(tmp_path, GOOD, GOOD)
    assert check(CONTRACT, schema, anomalies) == []


def test_wrong_typed_numeric_column_blocks_and_names_the_column(tmp_path):
    bad = GOOD + [["forty", "rome", "no", "y"]]
    schema, anomalies = _anomalies(tmp_path, GOOD, bad)
    with pytest.raises(DataValidationError, match=r"\[eval\] age: .*(INT|BYTES|type)"):
        check(CONTRACT, schema, anomalies)


def test_unknown_label_value_blocks(tmp_path):
    schema, anomalies = _anomalies(tmp_path, GOOD, GOOD + [[30, "paris", "maybe", "x"]])
    with pytest.raises(DataValidationError, match=r"\[eval\] churned: .*maybe"):
        check(CONTRACT, schema, anomalies)


def test_unseen_category_and_unused_column_are_only_warnings(tmp_path):
    eval_rows = GOOD + [[30, "oslo", "no", "brand-new-note"]]
    schema, anomalies = _anomalies(tmp_path, GOOD, eval_rows)
    findings = check(CONTRACT, schema, anomalies)
    assert {f.column for f in findings} == {"city", "note"}
    assert not any(f.blocking for f in findings)


def test_schema_without_configured_column_or_with_text_numeric_blocks():
    schema = schema_pb2.Schema()
    schema.feature.add(name="age", type=schema_pb2.BYTES)
    schema.feature.add(name="churned", type=schema_pb2.BYTES)
    with pytest.raises(DataValidationError) as err:
        check(CONTRACT, schema, {})
    message = str(err.value)
    assert "city: configured column is not in the data schema" in message
    assert "age: configured as numeric but the column holds text (schema type BYTES)" in message
