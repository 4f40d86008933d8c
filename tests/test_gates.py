"""DataGate's and DriftGate's decisions on real TFDV statistics, schemas and anomalies (no pipeline needed).

Statistics come from TFDV's CSV path (a Beam pipeline, ~2 s each): the module-scoped `stats` fixture computes
each distinct CSV once, so tests that read the same rows share one computation."""
import csv
import io

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components.gates import DataValidationError, check
from pipeline import config as cfg

HEADER = ("age", "city", "churned", "note")

CONTRACT = cfg.DataContract.model_validate({
    "features": {"age": {"type": "numeric"}, "city": {"type": "categorical"}},
    "tasks": {"churn": {"type": "binary", "label": "churned", "positive": "yes"}},
})


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    """stats(rows, header=HEADER): TFDV statistics of the rows written as a CSV file, computed once per distinct
    file content for the whole module (the same bytes give the same statistics); each call returns a copy."""
    folder, computed = tmp_path_factory.mktemp("csv"), {}

    def of(rows, header=HEADER) -> statistics_pb2.DatasetFeatureStatistics:
        text = io.StringIO()
        csv.writer(text).writerows([list(header), *rows])
        if text.getvalue() not in computed:
            path = folder / f"{len(computed)}.csv"
            path.write_text(text.getvalue())
            computed[text.getvalue()] = tfdv.generate_statistics_from_csv(str(path)).datasets[0]
        copy = statistics_pb2.DatasetFeatureStatistics()
        copy.CopyFrom(computed[text.getvalue()])
        return copy

    return of


def _listed(stats):
    return statistics_pb2.DatasetFeatureStatisticsList(datasets=[stats])


def _anomalies(stats, train_rows, eval_rows):
    schema = tfdv.infer_schema(_listed(stats(train_rows)))
    return schema, {"eval": tfdv.validate_statistics(_listed(stats(eval_rows)), schema)}


GOOD = [[30, "paris", "yes", "x"], [40, "rome", "no", "y"], [50, "paris", "no", "z"]] * 5


def test_clean_data_passes(stats):
    schema, anomalies = _anomalies(stats, GOOD, GOOD)
    assert check(CONTRACT, schema, anomalies) == []


def test_wrong_typed_numeric_column_blocks_and_names_the_column(stats):
    bad = GOOD + [["forty", "rome", "no", "y"]]
    schema, anomalies = _anomalies(stats, GOOD, bad)
    with pytest.raises(DataValidationError, match=r"\[eval\] age: .*(INT|BYTES|type)"):
        check(CONTRACT, schema, anomalies)


def test_unknown_label_value_blocks(stats):
    schema, anomalies = _anomalies(stats, GOOD, GOOD + [[30, "paris", "maybe", "x"]])
    with pytest.raises(DataValidationError, match=r"\[eval\] churned: .*maybe"):
        check(CONTRACT, schema, anomalies)


def test_unseen_category_and_unused_column_are_only_warnings(stats):
    eval_rows = GOOD + [[30, "oslo", "no", "brand-new-note"]]
    schema, anomalies = _anomalies(stats, GOOD, eval_rows)
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
def _blocking(contract, statistics):
    from components.gates import label_findings, number_findings

    return [str(f) for f in label_findings(contract, "train", statistics)
            + number_findings(contract, "train", statistics)]


def test_clean_labels_and_numbers_pass(stats):
    assert _blocking(CONTRACT, stats(GOOD)) == []


@pytest.mark.parametrize("rows, expected", [
    ([[30, "paris", "", "x"]] * 5, "churned: label of task 'churn' has no value in any row"),
    ([[30, "paris", "no", "x"], [40, "rome", "nope", "y"]] * 3,
     "churned: task 'churn': the positive value 'yes' never occurs (values: "),
    ([[30, "paris", "yes", "x"]] * 4, "churned: task 'churn': every labelled row is positive"),
    ([[30, "paris", "yes", "x"], ["nan", "rome", "no", "y"]] * 3, "age: 3 NaN value(s)"),
    ([[30, "paris", "yes", "x"], ["inf", "rome", "no", "y"]] * 3, "age: infinite values (range 30..inf)"),
])
def test_label_and_number_problems_are_named(stats, rows, expected):
    found = _blocking(CONTRACT, stats(rows))
    assert any(expected in f for f in found), found


def test_unlabelled_unknown_values_leaving_only_positives_block(stats):
    """`unknown_labels: unlabelled` drops the rows it cannot read; when that leaves only positives (a negative
    spelt unlike the data), there is nothing to learn: blocking, not a note."""
    raw = CONTRACT.model_dump(exclude_none=True)
    raw["tasks"]["churn"].update(negative=["no."], unknown_labels="unlabelled")
    tolerant = cfg.DataContract.model_validate(raw)
    rows = [[30, "paris", "yes", "x"], [40, "rome", "no", "y"]] * 3
    found = _blocking(tolerant, stats(rows))
    assert any("churned: task 'churn': every labelled row is positive" in f for f in found), found
    raw["tasks"]["churn"]["negative"] = ["no"]  # the same rows with the data's spelling: nothing to say
    found = _blocking(cfg.DataContract.model_validate(raw), stats(rows + [[50, "oslo", "maybe", "z"]]))
    assert len(found) == 1 and "hold 'maybe'" in found[0] and "count as unlabelled" in found[0], found


def test_numeric_binary_label_and_single_class(stats):
    numeric = cfg.DataContract.model_validate({
        "features": {"age": {"type": "numeric"}},
        "tasks": {"churn": {"type": "binary", "label": "churned", "positive": "2"},
                  "kind": {"type": "multiclass", "label": "city"}}})
    found = _blocking(numeric, stats([[30, "paris", 0, "x"], [40, "paris", 1, "y"]] * 3))
    assert "[train] churned: task 'churn': the positive value '2' never occurs (values range 0..1)" in found
    assert any(f.startswith("[train] city: task 'kind': only 1 class occurs (values: 'paris')") for f in found)
    classes = cfg.DataContract.model_validate({
        "features": {"age": {"type": "numeric"}},
        "tasks": {"kind": {"type": "multiclass", "label": "city", "classes": ["oslo", "rome"]}}})
    found = _blocking(classes, stats([[30, "paris", 0, "x"], [40, "rome", 1, "y"]] * 3))
    assert any("only 1 of the configured classes ('oslo', 'rome') occurs" in f for f in found), found


# ------------------------------------------------------------------------------------- drift and skew
def test_drift_and_skew_measured_against_bounds(stats):
    from components.gates import check_distributions

    before = stats(GOOD * 4)
    shifted = [[age + 40, "oslo" if i % 2 else city, churned, note]
               for i, (age, city, churned, note) in enumerate(GOOD * 4)]
    after = stats(shifted)
    schema = tfdv.infer_schema(_listed(before))
    validation = cfg.Validation.model_validate({"drift": {"categorical": 0.2, "numeric": 0.3},
                                                "skew": {"categorical": 0.9, "columns": {"age": 0.99}}})
    columns = ["age", "city", "churned"]
    same, report = check_distributions(validation, columns, schema, {"train": before, "eval": before},
                                       {"train": before})
    assert {(m.check, m.feature) for m in same.measurements} == ({("drift", c) for c in columns}
                                                                 | {("skew", c) for c in columns})
    assert all(m.value == pytest.approx(0) and m.passed for m in same.measurements)
    assert "| drift | age | Jensen-Shannon |" in report and same.notes == []
    assert {(m.check, m.split, m.reference_split) for m in same.measurements} == {("drift", "train", "train"),
                                                                                  ("skew", "train", "eval")}
    assert next(m for m in same.measurements if m.feature == "city").threshold == 0.2  # categorical drift bound
    assert type(same).from_json(same.to_json()) == same  # what DriftGate writes as drift.json reads back
    with pytest.raises(DataValidationError) as err:
        check_distributions(validation, columns, schema, {"train": after, "eval": after}, {"train": before})
    message = str(err.value)
    assert "drift age: Jensen-Shannon" in message and "(bound 0.3) ABOVE BOUND" in message
    assert "drift city: L-infinity 0.5" in message  # half the rows moved to a new city
    assert "churned:" not in message and "skew age" not in message  # the label did not move; train == eval
    with pytest.raises(DataValidationError, match=r"skew age: Jensen-Shannon 1.0000 \(bound 0.99\)"):
        check_distributions(validation, columns, schema, {"train": after, "eval": before}, None)
    first, report = check_distributions(validation, columns, schema, {"train": after}, None)
    assert first.measurements == [] and "no earlier run passed this gate yet" in first.notes[0]
    assert "skew: no eval split" in first.notes[1] and f"- {first.notes[1]}" in report


def test_gate_executors_import_from_their_recorded_class_paths():
    """A compiled pipeline (KFP, Airflow) names each gate's executor by class path: the path TFX records now
    and the one recorded before components/gates.py became a package both import."""
    from tfx.utils import import_utils

    from components.gates import DataGate, DriftGate

    for gate in (DataGate, DriftGate):
        executor = gate.EXECUTOR_SPEC.executor_class
        assert import_utils.import_class_by_path(gate.EXECUTOR_SPEC.class_path) is executor
        assert import_utils.import_class_by_path(f"components.gates.{executor.__name__}") is executor


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
def _split_stats(stats, train_rows, eval_rows):
    return {"train": stats(train_rows), "eval": stats(eval_rows)}


def _per_split_schema(by_split):
    """What SchemaGen does with every split (TFX types CSV columns per split): infer, then update with eval."""
    return tfdv.update_schema(tfdv.infer_schema(_listed(by_split["train"])), _listed(by_split["eval"]))


def test_column_numeric_in_train_and_text_in_eval_is_a_named_blocking_finding(stats):
    """Issue 24.1: SchemaGen deprecates the column, ExampleValidator says nothing, Transform would not see it."""
    bad_eval = GOOD[:9] + [["unknown", "rome", "no", "y"]] + GOOD[9:]
    by_split = _split_stats(stats, GOOD, bad_eval)
    schema = _per_split_schema(by_split)
    assert next(f for f in schema.feature if f.name == "age").lifecycle_stage == schema_pb2.DEPRECATED
    anomalies = {s: tfdv.validate_statistics(_listed(by_split[s]), schema) for s in by_split}
    assert not any(a.anomaly_info for a in anomalies.values())  # nothing but the DataGate would stop it
    with pytest.raises(DataValidationError) as err:
        check(CONTRACT, schema, anomalies, by_split)
    assert "[eval] age: text in a numeric column, e.g. 'unknown'; fix the cells, or list the spelling in " \
           "data.na_values if it means 'missing'" in str(err.value)
    notes = {"eval": {"age": [1, "/data/eval.csv", 11, "unknown"]}}  # ExampleGen's note names the line
    with pytest.raises(DataValidationError, match=r"\[eval\] age: text in a numeric column, e.g. 'unknown' at line "
                                                  r"11 of /data/eval.csv \(1 text cell\(s\)\)"):
        check(CONTRACT, schema, anomalies, by_split, notes)
    import pandas as pd

    as_text = pd.DataFrame([[str(r[0]), *r[1:]] for r in GOOD], columns=["age", "city", "churned", "note"])
    joint = {**by_split, "train": tfdv.generate_statistics_from_dataframe(as_text).datasets[0]}  # ExampleGen's one
    with pytest.raises(DataValidationError) as noted:  # type: train's numbers typed as text because eval has text
        check(CONTRACT, schema, anomalies, joint, notes)
    assert "[eval] age: text in a numeric column, e.g. 'unknown' at line 11" in str(noted.value)
    assert "[train] age" not in str(noted.value)  # ExampleGen noted no text in train: numbers only
    city = cfg.DataContract.model_validate({"features": {"city": {"type": "categorical"}},
                                            "tasks": {"churn": {"type": "binary", "label": "age", "positive": "30"}}})
    with pytest.raises(DataValidationError, match=r"age: the schema marks this configured column DEPRECATED \(its "
                                                  r"type differs between splits: eval: text, train: numbers\)"):
        check(city, schema, anomalies, by_split)


BINARY = {"features": {"city": {"type": "categorical"}}}


def _binary(stats, task, train_rows, eval_rows=None):
    contract = cfg.DataContract.model_validate({**BINARY, "tasks": {"churn": {"type": "binary", "label": "churned",
                                                                              **task}}})
    by_split = _split_stats(stats, train_rows, eval_rows or train_rows)
    schema = tfdv.infer_schema(_listed(by_split["train"]))
    try:
        return [str(f) for f in check(contract, schema, {}, by_split)], None
    except DataValidationError as err:
        return None, str(err)


def _rows(*labels):
    return [[30, "paris", label, "x"] for label in labels]


def test_binary_negative_comes_from_the_data_and_unknown_values_are_never_negative(stats):
    ok, _ = _binary(stats, {"positive": "yes"}, _rows("yes", " no", "no", "yes"))
    assert ok == []  # the one other value is the negative; surrounding whitespace is ignored
    _, error = _binary(stats, {"positive": "yes"}, _rows("yes", "no", "maybe", "no"))
    assert "[train] churned: task 'churn': 'no', 'maybe' besides the positive 'yes': which mean 0? Set " \
           "tasks.churn.negative to them" in error
    _, error = _binary(stats, {"positive": "yes"}, _rows("yes", "no"), _rows("yes", "no", "Yes", "Yes"))
    assert "[eval] churned: task 'churn': 2 row(s) hold 'Yes', neither the positive 'yes' nor the negative 'no' " \
           "(set tasks.churn.unknown_labels: unlabelled to train without them)" in error  # letter case counts
    _, error = _binary(stats, {"positive": "yes", "negative": ["no"]}, _rows("yes", "no", "NA"))
    assert "[train] churned: task 'churn': 1 row(s) hold 'NA', neither the positive 'yes' nor the negative 'no'" in error
    ok, _ = _binary(stats, {"positive": "yes", "negative": "no", "unknown_labels": "unlabelled"},
                    _rows("yes", "no", "NA"))
    assert ok[0] == "[train] churned: task 'churn': 1 row(s) hold 'NA', neither the positive 'yes' nor the negative " \
                    "'no'; they count as unlabelled (unknown_labels: unlabelled)" and len(ok) == 2  # warnings
    _, error = _binary(stats, {}, _rows("true", "False", "maybe"))
    assert "'maybe', neither a true value (1/true/yes/y/t) nor a false one (0/false/no/n/f)" in error


def test_numeric_binary_labels_with_positive(stats):
    ok, _ = _binary(stats, {"positive": "1"}, _rows(0, 1, 1, 0))
    assert ok == []
    _, error = _binary(stats, {"positive": "1"}, _rows(0, 1, 2))
    assert "values on both sides of the positive '1' (range 0..2): which mean 0? Set `negative`" in error
    _, error = _binary(stats, {"positive": "2", "negative": "1"}, _rows(1, 2, 3))
    assert "the value 3 is neither the positive '2' nor a negative ['1']" in error
    _, error = _binary(stats, {"positive": "1"}, _rows(0, 1, "nan", 1))
    assert "[train] churned: 1 NaN value(s); leave a cell empty" in error  # NaN would be neither 0 nor 1


# ------------------------------------------------------------------ task spaces and weight columns (issue 23)
def _spaced(where=None, weight_column=None):
    task = {"type": "binary", "label": "churned", "positive": "yes"}
    task.update({k: v for k, v in (("where", where), ("weight_column", weight_column)) if v is not None})
    return cfg.DataContract.model_validate({**CONTRACT.model_dump(exclude_none=True), "tasks": {"churn": task}})


@pytest.mark.parametrize("where, weight, rows, expected", [
    ({"column": "city", "equals": "oslo"}, None, GOOD,
     "city: task 'churn': no row is in its space (city = oslo): the column holds 'paris', 'rome'"),
    ({"column": "age", ">": 60}, None, GOOD, "age: task 'churn': no row is in its space (age > 60): values range "
                                             "30..50"),
    ({"column": "city", "gt": 1}, None, GOOD, "a range (gt/ge/lt/le) needs numbers"),
    ({"column": "zone", "equals": "a"}, None, GOOD, "zone: tasks.churn.where reads this column, which is not in"),
    (None, "age", [[-1, "paris", "yes", "x"], [2, "rome", "no", "y"]] * 3,
     "age: weight column of task 'churn': negative weights (smallest -1)"),
    (None, "age", [[0, "paris", "yes", "x"], [0, "rome", "no", "y"]] * 3,
     "age: weight column of task 'churn': every weight is 0"),
    (None, "city", GOOD, "city: weight column of task 'churn': holds text"),
])
def test_task_space_and_weight_problems_are_named(stats, where, weight, rows, expected):
    from components.gates import space_findings

    found = [str(f) for f in space_findings(_spaced(where, weight), "train", stats(rows)) if f.blocking]
    assert any(expected in f for f in found), found


def test_task_spaces_and_weights_the_data_meets_pass(stats):
    from components.gates import space_findings

    for where in ({"column": "city", "in": ["rome", "oslo"]}, {"column": "age", ">=": 50}, {"column": "age",
                                                                                           "equals": 40}):
        assert space_findings(_spaced(where, "age"), "train", stats(GOOD)) == [], where
