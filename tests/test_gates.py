"""DataGate's decision on real TFDV statistics, schemas and anomalies (no pipeline needed)."""
import csv

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

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


# ------------------------------------------------------------------ labels and numbers, from real statistics
def _stats(tmp_path, rows, name="data.csv", header=("age", "city", "churned", "note")):
    path = tmp_path / name
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([list(header), *rows])
    return tfdv.generate_statistics_from_csv(str(path)).datasets[0]


def _blocking(contract, stats):
    from components.gates import label_findings, number_findings

    return [str(f) for f in label_findings(contract, "train", stats) + number_findings(contract, "train", stats)]


def test_clean_labels_and_numbers_pass(tmp_path):
    assert _blocking(CONTRACT, _stats(tmp_path, GOOD)) == []


@pytest.mark.parametrize("rows, expected", [
    ([[30, "paris", "", "x"]] * 5, "churned: label of task 'churn' has no value in any row"),
    ([[30, "paris", "no", "x"], [40, "rome", "nope", "y"]] * 3,
     "churned: task 'churn': the positive value 'yes' never occurs (values: "),
    ([[30, "paris", "yes", "x"]] * 4, "churned: task 'churn': every labelled row is positive"),
    ([[30, "paris", "yes", "x"], ["nan", "rome", "no", "y"]] * 3, "age: 3 NaN value(s)"),
    ([[30, "paris", "yes", "x"], ["inf", "rome", "no", "y"]] * 3, "age: infinite values (range 30..inf)"),
])
def test_label_and_number_problems_are_named(tmp_path, rows, expected):
    found = _blocking(CONTRACT, _stats(tmp_path, rows))
    assert any(expected in f for f in found), found


def test_unlabelled_unknown_values_leaving_only_positives_block(tmp_path):
    """`unknown_labels: unlabelled` drops the rows it cannot read; when that leaves only positives (a negative
    spelt unlike the data), there is nothing to learn: blocking, not a note."""
    raw = CONTRACT.model_dump(exclude_none=True)
    raw["tasks"]["churn"].update(negative=["no."], unknown_labels="unlabelled")
    tolerant = cfg.DataContract.model_validate(raw)
    rows = [[30, "paris", "yes", "x"], [40, "rome", "no", "y"]] * 3
    found = _blocking(tolerant, _stats(tmp_path, rows))
    assert any("churned: task 'churn': every labelled row is positive" in f for f in found), found
    raw["tasks"]["churn"]["negative"] = ["no"]  # the same rows with the data's spelling: nothing to say
    found = _blocking(cfg.DataContract.model_validate(raw), _stats(tmp_path, rows + [[50, "oslo", "maybe", "z"]]))
    assert len(found) == 1 and "hold 'maybe'" in found[0] and "count as unlabelled" in found[0], found


def test_numeric_binary_label_and_single_class(tmp_path):
    numeric = cfg.DataContract.model_validate({
        "features": {"age": {"type": "numeric"}},
        "tasks": {"churn": {"type": "binary", "label": "churned", "positive": "2"},
                  "kind": {"type": "multiclass", "label": "city"}}})
    found = _blocking(numeric, _stats(tmp_path, [[30, "paris", 0, "x"], [40, "paris", 1, "y"]] * 3))
    assert "[train] churned: task 'churn': the positive value '2' never occurs (values range 0..1)" in found
    assert any(f.startswith("[train] city: task 'kind': only 1 class occurs (values: 'paris')") for f in found)
    classes = cfg.DataContract.model_validate({
        "features": {"age": {"type": "numeric"}},
        "tasks": {"kind": {"type": "multiclass", "label": "city", "classes": ["oslo", "rome"]}}})
    found = _blocking(classes, _stats(tmp_path, [[30, "paris", 0, "x"], [40, "rome", 1, "y"]] * 3))
    assert any("only 1 of the configured classes ('oslo', 'rome') occurs" in f for f in found), found


# ------------------------------------------------------------------------------------- drift and skew
def test_drift_and_skew_measured_against_bounds(tmp_path):
    from components.gates import check_distributions

    before = _stats(tmp_path, GOOD * 4, "before.csv")
    shifted = [[age + 40, "oslo" if i % 2 else city, churned, note]
               for i, (age, city, churned, note) in enumerate(GOOD * 4)]
    after = _stats(tmp_path, shifted, "after.csv")
    schema = tfdv.infer_schema(statistics_pb2.DatasetFeatureStatisticsList(datasets=[before]))
    validation = cfg.Validation.model_validate({"drift": {"categorical": 0.2, "numeric": 0.3},
                                                "skew": {"categorical": 0.9, "columns": {"age": 0.99}}})
    columns = ["age", "city", "churned"]
    same, notes, report = check_distributions(validation, columns, schema, {"train": before, "eval": before},
                                              {"train": before})
    assert {(m.check, m.column) for m in same} == {("drift", c) for c in columns} | {("skew", c) for c in columns}
    assert all(m.value == pytest.approx(0) for m in same) and "| drift | age | Jensen-Shannon |" in report
    with pytest.raises(DataValidationError) as err:
        check_distributions(validation, columns, schema, {"train": after, "eval": after}, {"train": before})
    message = str(err.value)
    assert "drift age: Jensen-Shannon" in message and "(bound 0.3) ABOVE BOUND" in message
    assert "drift city: L-infinity 0.5" in message  # half the rows moved to a new city
    assert "churned:" not in message and "skew age" not in message  # the label did not move; train == eval
    with pytest.raises(DataValidationError, match=r"skew age: Jensen-Shannon 1.0000 \(bound 0.99\)"):
        check_distributions(validation, columns, schema, {"train": after, "eval": before}, None)
    first, notes, _ = check_distributions(validation, columns, schema, {"train": after}, None)
    assert first == [] and "no earlier run passed this gate yet" in notes[0] and "skew: no eval split" in notes[1]


def test_distribution_bounds_validated():
    with pytest.raises(cfg.ConfigError, match=r"validation.drift: .*set at least one of categorical, numeric"):
        cfg.parse_config(_config(validation={"drift": {}}))
    with pytest.raises(cfg.ConfigError, match=r"validation.skew.columns.height: not a configured column"):
        cfg.parse_config(_config(validation={"skew": {"columns": {"height": 0.1}}}))
    with pytest.raises(cfg.ConfigError, match=r"validation.drift.numeric: must be less than or equal to 1"):
        cfg.parse_config(_config(validation={"drift": {"numeric": 2}}))


def _config(**overrides):
    raw = {"name": "t", "data": {"train": "x.csv"}, "features": {"age": {"type": "numeric"}},
           "tasks": {"churn": {"type": "binary", "label": "churned", "positive": "yes"}}}
    raw.update(overrides)
    return raw


# ------------------------------------------------------------------ columns Transform would not see, binary labels
def _split_stats(tmp_path, train_rows, eval_rows):
    return {"train": _stats(tmp_path, train_rows, "train.csv"), "eval": _stats(tmp_path, eval_rows, "eval.csv")}


def _per_split_schema(stats):
    """What SchemaGen does with every split (TFX types CSV columns per split): infer, then update with eval."""
    wrap = lambda s: statistics_pb2.DatasetFeatureStatisticsList(datasets=[s])  # noqa: E731
    return tfdv.update_schema(tfdv.infer_schema(wrap(stats["train"])), wrap(stats["eval"]))


def test_column_numeric_in_train_and_text_in_eval_is_a_named_blocking_finding(tmp_path):
    """Issue 24.1: SchemaGen deprecates the column, ExampleValidator says nothing, Transform would not see it."""
    bad_eval = GOOD[:9] + [["unknown", "rome", "no", "y"]] + GOOD[9:]
    stats = _split_stats(tmp_path, GOOD, bad_eval)
    schema = _per_split_schema(stats)
    assert next(f for f in schema.feature if f.name == "age").lifecycle_stage == schema_pb2.DEPRECATED
    anomalies = {s: tfdv.validate_statistics(statistics_pb2.DatasetFeatureStatisticsList(datasets=[stats[s]]), schema)
                 for s in stats}
    assert not any(a.anomaly_info for a in anomalies.values())  # nothing but the DataGate would stop it
    with pytest.raises(DataValidationError) as err:
        check(CONTRACT, schema, anomalies, stats)
    assert "[eval] age: text in a numeric column, e.g. 'unknown'; fix the cells, or list the spelling in " \
           "data.na_values if it means 'missing'" in str(err.value)
    notes = {"eval": {"age": [1, "/data/eval.csv", 11, "unknown"]}}  # ExampleGen's note names the line
    with pytest.raises(DataValidationError, match=r"\[eval\] age: text in a numeric column, e.g. 'unknown' at line "
                                                  r"11 of /data/eval.csv \(1 text cell\(s\)\)"):
        check(CONTRACT, schema, anomalies, stats, notes)
    import pandas as pd

    as_text = pd.DataFrame([[str(r[0]), *r[1:]] for r in GOOD], columns=["age", "city", "churned", "note"])
    joint = {**stats, "train": tfdv.generate_statistics_from_dataframe(as_text).datasets[0]}  # ExampleGen's one
    with pytest.raises(DataValidationError) as noted:  # type: train's numbers typed as text because eval has text
        check(CONTRACT, schema, anomalies, joint, notes)
    assert "[eval] age: text in a numeric column, e.g. 'unknown' at line 11" in str(noted.value)
    assert "[train] age" not in str(noted.value)  # ExampleGen noted no text in train: numbers only
    city = cfg.DataContract.model_validate({"features": {"city": {"type": "categorical"}},
                                            "tasks": {"churn": {"type": "binary", "label": "age", "positive": "30"}}})
    with pytest.raises(DataValidationError, match=r"age: the schema marks this configured column DEPRECATED \(its "
                                                  r"type differs between splits: eval: text, train: numbers\)"):
        check(city, schema, anomalies, stats)


BINARY = {"features": {"city": {"type": "categorical"}}}


def _binary(tmp_path, task, train_rows, eval_rows=None):
    contract = cfg.DataContract.model_validate({**BINARY, "tasks": {"churn": {"type": "binary", "label": "churned",
                                                                              **task}}})
    stats = _split_stats(tmp_path, train_rows, eval_rows or train_rows)
    schema = tfdv.infer_schema(statistics_pb2.DatasetFeatureStatisticsList(datasets=[stats["train"]]))
    try:
        return [str(f) for f in check(contract, schema, {}, stats)], None
    except DataValidationError as err:
        return None, str(err)


def _rows(*labels):
    return [[30, "paris", label, "x"] for label in labels]


def test_binary_negative_comes_from_the_data_and_unknown_values_are_never_negative(tmp_path):
    ok, _ = _binary(tmp_path, {"positive": "yes"}, _rows("yes", " no", "no", "yes"))
    assert ok == []  # the one other value is the negative; surrounding whitespace is ignored
    _, error = _binary(tmp_path, {"positive": "yes"}, _rows("yes", "no", "maybe", "no"))
    assert "[train] churned: task 'churn': 'no', 'maybe' besides the positive 'yes': which mean 0? Set " \
           "tasks.churn.negative to them" in error
    _, error = _binary(tmp_path, {"positive": "yes"}, _rows("yes", "no"), _rows("yes", "no", "Yes", "Yes"))
    assert "[eval] churned: task 'churn': 2 row(s) hold 'Yes', neither the positive 'yes' nor the negative 'no' " \
           "(set tasks.churn.unknown_labels: unlabelled to train without them)" in error  # letter case counts
    _, error = _binary(tmp_path, {"positive": "yes", "negative": ["no"]}, _rows("yes", "no", "NA"))
    assert "[train] churned: task 'churn': 1 row(s) hold 'NA', neither the positive 'yes' nor the negative 'no'" in error
    ok, _ = _binary(tmp_path, {"positive": "yes", "negative": "no", "unknown_labels": "unlabelled"},
                    _rows("yes", "no", "NA"))
    assert ok[0] == "[train] churned: task 'churn': 1 row(s) hold 'NA', neither the positive 'yes' nor the negative " \
                    "'no'; they count as unlabelled (unknown_labels: unlabelled)" and len(ok) == 2  # warnings
    _, error = _binary(tmp_path, {}, _rows("true", "False", "maybe"))
    assert "'maybe', neither a true value (1/true/yes/y/t) nor a false one (0/false/no/n/f)" in error


def test_numeric_binary_labels_with_positive(tmp_path):
    ok, _ = _binary(tmp_path, {"positive": "1"}, _rows(0, 1, 1, 0))
    assert ok == []
    _, error = _binary(tmp_path, {"positive": "1"}, _rows(0, 1, 2))
    assert "values on both sides of the positive '1' (range 0..2): which mean 0? Set `negative`" in error
    _, error = _binary(tmp_path, {"positive": "2", "negative": "1"}, _rows(1, 2, 3))
    assert "the value 3 is neither the positive '2' nor a negative ['1']" in error
    _, error = _binary(tmp_path, {"positive": "1"}, _rows(0, 1, "nan", 1))
    assert "[train] churned: 1 NaN value(s); leave a cell empty" in error  # NaN would be neither 0 nor 1
