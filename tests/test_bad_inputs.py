"""The bad-input catalogue: one case per way a config or a dataset goes wrong in practice. Every case runs the
real `mtl` command and asserts the message names the problem (key, file, line, column or task), that no
traceback reaches the user, and that nothing was pushed (or written at all, for errors found before a run).

Config cases and data pre-flight cases stop in `mtl validate` and `mtl run` before anything runs; data cases
that need a pass over the rows stop in the pipeline (ExampleGen, DataGate) before Transform; serving cases use
the census model that the e2e tests push.
"""
from __future__ import annotations

import copy
import csv
import gzip
import html
import os
import re

import pytest
import yaml
from click.testing import CliRunner

from conftest import DATA, REPO
from pipeline.cli import main

SAMPLE = os.path.join(DATA, "census_sample")
BASE = yaml.safe_load(open(os.path.join(SAMPLE, "config.yaml")))
ROWS = list(csv.reader(open(os.path.join(SAMPLE, "train.csv"))))
EVAL_ROWS = list(csv.reader(open(os.path.join(SAMPLE, "eval.csv"))))


def write_case(tmp_path, mutate=None, train=None, eval_rows=None):
    """A config (BASE changed by `mutate`) with its own copy of the data; returns (config path, output dir).
    train: rows (lists) or raw bytes for train.csv."""
    raw = copy.deepcopy(BASE)
    raw["data"] = {**raw["data"], "train": str(tmp_path / "train.csv"), "eval": str(tmp_path / "eval.csv")}
    raw["schema"] = os.path.join(REPO, raw["schema"])
    raw["output"] = str(tmp_path / "run")
    if mutate:
        mutate(raw)
    if isinstance(train, bytes):
        (tmp_path / "train.csv").write_bytes(train)
    else:
        _write(tmp_path / "train.csv", train if train is not None else ROWS[:400])
    _write(tmp_path / "eval.csv", eval_rows if eval_rows is not None else EVAL_ROWS[:200])
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path), raw["output"]


def _write(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def with_column(rows, column, value_of):
    """Rows with one column's cells replaced: value_of(index, old) for each data row."""
    index = rows[0].index(column)
    out = [list(rows[0])]
    for i, row in enumerate(rows[1:]):
        row = list(row)
        row[index] = value_of(i, row[index])
        out.append(row)
    return out


def invoke(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=True)
    assert "Traceback" not in result.output, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unhandled {type(result.exception).__name__}: {result.exception}\n{result.output}")
    return result


def assert_stopped(result, expected, output, *, wrote_nothing=False):
    assert result.exit_code != 0, result.output
    for text in ([expected] if isinstance(expected, str) else expected):
        assert text in result.output, f"expected {text!r} in:\n{result.output}"
    serving = os.path.join(output, "serving")
    assert not os.path.exists(serving) or not any(os.scandir(serving)), "something was pushed"
    if wrote_nothing:
        assert not os.path.exists(output), f"{output} was written"


def _set(path, value):
    def mutate(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _drop(path):
    def mutate(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


def _both(*mutations):
    def mutate(raw):
        for m in mutations:
            m(raw)
    return mutate


# ----------------------------------------------------------------------- config cases: `mtl validate` and `mtl run`
CONFIG_CASES = {
    "unknown top-level key": (_set(["trainig"], {"epochs": 1}), "trainig: unknown key (check the spelling)"),
    "unknown data key": (_set(["data", "evl"], "x.csv"), "data.evl: unknown key"),
    "unknown feature key": (_set(["features", "age", "tpye"], "numeric"), "features.age.tpye: unknown key"),
    "unknown task key": (_set(["tasks", "income", "treshold"], {}), "tasks.income.treshold: unknown key"),
    "unknown model key": (_set(["model", "architcture"], "mmoe"), "model.architcture: unknown key"),
    "unknown training key": (_set(["training", "epoch"], 3), "training.epoch: unknown key"),
    "unknown evaluation key": (_set(["evaluation", "slice"], []), "evaluation.slice: unknown key"),
    "unknown threshold bound": (_set(["tasks", "income", "thresholds", "auc", "mn"], 0.5),
                                "tasks.income.thresholds.auc.mn: unknown key"),
    "unknown validation key": (_set(["validation"], {"drfit": {"numeric": 0.1}}), "validation.drfit: unknown key"),
    "unknown task type": (_set(["tasks", "income", "type"], "binomial"),
                          "tasks.income.type: 'binomial' is not one of binary, multiclass, multilabel, regression"),
    "unknown feature type": (_set(["features", "age", "type"], "numerical"),
                             "features.age.type: 'numerical' is not one of numeric, categorical, text"),
    "unknown architecture": (_set(["model", "architecture"], "transformer"),
                             "model.architecture: 'transformer' is not one of"),
    "metric the task type lacks": (_both(_set(["tasks", "income", "type"], "regression"),
                                         _drop(["tasks", "income", "positive"])),
                                   "tasks.income.thresholds.auc: 'auc' is not a regression metric; expected one of"),
    "misspelt metric": (_set(["tasks", "income", "thresholds", "acu"], {"min": 0.5}),
                        "tasks.income.thresholds.acu: 'acu' is not a binary metric"),
    "label also a feature": (_set(["features", "income"], {"type": "categorical"}),
                             "features.income: column 'income' is the label of task 'income' and cannot also be "
                             "a feature"),
    "not a number": (_set(["training", "epochs"], "many"), "training.epochs: must be a valid integer"),
    "out of range": (_set(["training", "learning_rate"], -1), "training.learning_rate: must be greater than 0"),
    "name that escapes the output directory": (_set(["name"], "../../evil"), "name: '../../evil' does not match"),
    "task name that escapes": (lambda raw: raw["tasks"].update({"../x": raw["tasks"].pop("income")}),
                               "tasks.../x: task names must match"),
    "no tasks": (_set(["tasks"], {}), "tasks: "),
    "label column not in the data": (_set(["tasks", "income", "label"], "salary"),
                                     "train.csv' has no column 'salary' (used by tasks.income.label)"),
    "feature column not in the data": (_set(["features", "height"], {"type": "numeric"}),
                                       "train.csv' has no column 'height' (used by features.height)"),
    "data file not found": (_set(["data", "train"], "/nonexistent/*.csv"), "data.train: no file matches"),
    "schema file not found": (_set(["schema"], "/nonexistent/schema.pbtxt"), "schema: file not found"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_config_case(tmp_path, case):
    mutate, expected = CONFIG_CASES[case]
    config, output = write_case(tmp_path, mutate)
    assert_stopped(invoke("validate", "--config", config), expected, output, wrote_nothing=True)
    assert_stopped(invoke("run", "--config", config), expected, output, wrote_nothing=True)


def test_malformed_yaml(tmp_path):
    config, output = write_case(tmp_path)
    with open(config, "a") as f:
        f.write("training: {epochs: 3\n")
    assert_stopped(invoke("validate", "--config", config), ["malformed YAML at line", "config.yaml"], output,
                   wrote_nothing=True)


def test_yaml_python_tags_are_refused(tmp_path):
    config, output = write_case(tmp_path)
    marker = tmp_path / "pwned"
    text = open(config).read().replace("name: census-sample",
                                       f"name: !!python/object/apply:os.system ['touch {marker}']")
    open(config, "w").write(text)
    assert_stopped(invoke("validate", "--config", config), ["malformed YAML", "python/object/apply:os.system"],
                   output, wrote_nothing=True)
    assert not marker.exists()


def test_duplicate_yaml_key(tmp_path):
    config, output = write_case(tmp_path)
    text = open(config).read().replace("tasks:\n", "tasks:\n  income: {type: binary, label: income}\n", 1)
    open(config, "w").write(text)
    assert_stopped(invoke("validate", "--config", config), ["duplicate key 'income'", "line"], output,
                   wrote_nothing=True)


# ----------------------------------------------------------------------- data pre-flight: before anything runs
HEADER = ",".join(ROWS[0]).encode()
PREFLIGHT_CASES = {
    "empty CSV": (b"", "train.csv' is empty (a CSV needs a header row)"),
    "header only": (HEADER + b"\n\n", "train.csv' has a header but no data rows"),
    "repeated column": (HEADER + b",age\n" + b"1," * len(ROWS[0]) + b"1\n", "names column(s) 'age' more than once"),
}


@pytest.mark.parametrize("case", list(PREFLIGHT_CASES))
def test_preflight_case(tmp_path, case):
    content, expected = PREFLIGHT_CASES[case]
    config, output = write_case(tmp_path, train=content)
    assert_stopped(invoke("validate", "--config", config), expected, output, wrote_nothing=True)
    assert_stopped(invoke("run", "--config", config), expected, output, wrote_nothing=True)


RAGGED = b"\n".join([HEADER] + [",".join(r).encode() for r in ROWS[1:50]] + [b"1,2,3"] +
                    [",".join(r).encode() for r in ROWS[50:80]]) + b"\n"
NOT_UTF8 = b"\n".join([HEADER] + [",".join(r).encode() for r in ROWS[1:30]]
                      + [",".join(r + "\udce9" if i == ROWS[0].index("education") else r
                                  for i, r in enumerate(ROWS[30])).encode("utf-8", "surrogateescape")]  # a Latin-1 é
                      + [",".join(r).encode() for r in ROWS[31:60]]) + b"\n"

GZIPPED = gzip.compress(b"\n".join([HEADER] + [",".join(r).encode() for r in ROWS[1:400]]) + b"\n", mtime=0)
# the first rows of each split (csvdata.SAMPLE_ROWS), read before anything runs: (train, eval, expected[, mutate])
ROW_CASES = {
    "text in a numeric column": (
        with_column(ROWS[:400], "age", lambda i, v: "forty" if i % 7 == 3 else v), None,
        ["data.train: age (features.age): text in a numeric column, e.g. 'forty' at line 5 of",
         "if it means 'missing', add it to data.na_values"]),
    "column numeric in train, text in eval": (
        None, with_column(EVAL_ROWS[:200], "age", lambda i, v: "unknown" if i in (9, 30) else v),
        ["data.eval: age (features.age): text in a numeric column, e.g. 'unknown' at line 11 of",
         "(2 of 199 filled cells read)"]),
    "binary label neither positive nor negative": (  # eval: train's one other value is the negative
        None, with_column(EVAL_ROWS[:200], "income", lambda i, v: "unknown" if i == 10 else v),
        ["data.eval: income (tasks.income.label): 'unknown' (e.g. at line 12 of",
         "is neither the positive '50000+.' nor the negative '- 50000.'; fix the cells, add the spelling to "
         "data.na_values if it means 'missing', or set tasks.income.unknown_labels: unlabelled"]),
    "binary label with several other values": (  # train: which of them is the negative?
        with_column(ROWS[:400], "income", lambda i, v: "unknown" if i == 10 else v), None,
        ["data.train: income (tasks.income.label): ", "'unknown'", "besides the positive '50000+.'; set "
         "tasks.income.negative to the value(s) that mean 0"]),
    "binary positive value never occurs": (None, None, ["data.train: income (tasks.income.label): the positive "
                                                        "value '50000+' never occurs (values: "],
                                           _set(["tasks", "income", "positive"], "50000+")),
    "ragged row": (RAGGED, None, ["data.train: ", "train.csv, line 51: 3 fields, the header has"]),
    "bytes that are not UTF-8": (NOT_UTF8, None, ["data.train: ", "train.csv, line 31: bytes that are not UTF-8"]),
    "gzip'd CSV cut short": (GZIPPED[:len(GZIPPED) // 2], None,
                             ["data.train: ", "train.csv: a gzip file that cannot be decompressed"]),
    "binary file given as CSV": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" * 20, None,
                                 ["data.train: ", "train.csv, line 1: line contains NUL (a binary file? expected CSV "
                                  "text)"]),
}


@pytest.mark.parametrize("case", list(ROW_CASES))
def test_row_case(tmp_path, case):
    train, eval_rows, expected, *mutate = ROW_CASES[case]
    config, output = write_case(tmp_path, *mutate, train=train, eval_rows=eval_rows)
    assert_stopped(invoke("validate", "--config", config), expected, output, wrote_nothing=True)
    assert_stopped(invoke("run", "--config", config), expected, output, wrote_nothing=True)


def test_train_and_eval_headers_differ(tmp_path):
    eval_rows = [row[::-1] for row in EVAL_ROWS[:50]]
    config, output = write_case(tmp_path, eval_rows=eval_rows)
    assert_stopped(invoke("validate", "--config", config), "train and eval CSV files must have the same header",
                   output, wrote_nothing=True)


# ----------------------------------------------------------------------- data cases: stopped inside the pipeline
def _no_schema(raw):
    raw.pop("schema")  # inferred schema: only the gates' own checks can stop these


def _race_task(raw):
    _no_schema(raw)
    raw["features"].pop("race")
    raw["tasks"]["race"] = {"type": "multiclass", "label": "race"}


PIPELINE_CASES = {
    "NaN in a numeric column": (_both(_no_schema, _set(["data", "na_values"], [])),  # else 'nan' means missing
                                with_column(ROWS[:400], "age", lambda i, v: "nan" if i % 9 == 0 else v),
                                ["[train] age: ", "NaN value(s); leave a cell empty for a missing value"]),
    "infinity in a numeric column": (_no_schema, with_column(ROWS[:400], "capital_gains",
                                                             lambda i, v: "inf" if i == 3 else v),
                                     ["[train] capital_gains: infinite values"]),
    "label column entirely empty": (_no_schema, with_column(ROWS[:400], "income", lambda i, v: ""),
                                    ["[train] income: label of task 'income' has no value in any row"]),
    "multiclass label with one class": (_race_task, with_column(ROWS[:400], "race", lambda i, v: "White"),
                                        ["[train] race: task 'race': only 1 class occurs (values: 'White')"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(PIPELINE_CASES))
def test_pipeline_case(tmp_path, case):
    mutate, train, expected = PIPELINE_CASES[case]
    config, output = write_case(tmp_path, mutate, train=train)
    assert_stopped_in_pipeline(invoke("run", "--config", config), expected, output)


def assert_stopped_in_pipeline(result, expected, output, in_report=None):
    """Stopped by ExampleGen or the DataGate, named, before Transform; the failed run's report says why
    (`in_report`, default the first expected text)."""
    assert_stopped(result, expected, output)
    assert not os.path.exists(os.path.join(output, "tfx", "Transform", "transform_graph")), "Transform ran"
    failed = [line.split()[0] for line in result.output.splitlines() if "FAILED after" in line]
    assert failed and failed[0] in ("CsvExampleGen", "ImportExampleGen", "DataGate"), result.output
    assert result.exit_code == (4 if failed[0] == "DataGate" else 1), result.output  # a gate's stop has its own
    page = html.unescape(open(_report(result), encoding="utf-8").read())  # the failed run's report says why
    assert f'<p class="bad" id="verdict-verdict">FAILED at {failed[0]}</p>' in page
    if failed[0] == "DataGate":
        assert (in_report or expected[0]) in page and "blocking" in page


@pytest.mark.slow
def test_text_in_a_numeric_column_beyond_the_preflight_rows_stops_the_data_gate(tmp_path, monkeypatch):
    """Issue 24.1: with an inferred schema, a column numeric in train and text in some eval rows that the pre-flight
    does not read is a named, blocking DataGate finding (ExampleGen's note gives the line), never a Transform crash."""
    from pipeline.core import csvdata

    monkeypatch.setattr(csvdata, "SAMPLE_ROWS", 50)
    eval_rows = with_column(EVAL_ROWS[:200], "age", lambda i, v: "unknown" if i in (109, 150) else v)
    config, output = write_case(tmp_path, _no_schema, eval_rows=eval_rows)
    assert invoke("validate", "--config", config).exit_code == 0  # the first 50 rows are fine
    result = invoke("run", "--config", config)
    assert_stopped_in_pipeline(result,
                               ["[eval] age: text in a numeric column, e.g. 'unknown'", " at line 111 of ",
                                "eval.csv (2 text cell(s)); fix the cells, or list the spelling in data.na_values"],
                               output,  # the report recomputes the findings from the schema alone (no split, line):
                               in_report="age: configured as numeric but the column holds text (schema type BYTES)")
    assert "[train] age" not in result.output  # train holds numbers only


@pytest.mark.slow
def test_corrupt_tfrecord_is_named_by_file(tmp_path):
    """A TFRecord whose bytes were damaged: ExampleGen names the file and the good records before it."""
    import tensorflow as tf

    from components.csv_examples import csv_examples, infer_types

    config, output = write_case(tmp_path)
    files = {"train": [str(tmp_path / "train.csv")], "eval": [str(tmp_path / "eval.csv")]}
    types, _ = infer_types(files)
    for split, paths in files.items():
        with tf.io.TFRecordWriter(str(tmp_path / f"{split}.tfrecord")) as writer:
            for record in csv_examples(paths, types):
                writer.write(record)
    damaged = bytearray((tmp_path / "train.tfrecord").read_bytes())
    damaged[len(damaged) // 2:len(damaged) // 2 + 8] = b"\xff" * 8
    (tmp_path / "train.tfrecord").write_bytes(bytes(damaged))
    raw = yaml.safe_load(open(config))
    raw["data"] = {"train": str(tmp_path / "train.tfrecord"), "eval": str(tmp_path / "eval.tfrecord")}
    open(config, "w").write(yaml.safe_dump(raw))
    result = invoke("run", "--config", config)
    assert_stopped_in_pipeline(result,
                               ["train.tfrecord: not a readable TFRecord (not gzip'd: its name has no .gz) file "
                                "after ", " good record(s): corrupted record at "], output)
    assert "function_node" not in result.output and "[Op:" not in result.output  # TF's words only


@pytest.mark.slow
def test_gzipped_csv_with_a_byte_order_mark_is_data(tmp_path):
    """Excel's BOM before the header and a gzip'd file (named .csv.gz) read as the plain CSV would be."""
    config, output = write_case(tmp_path)
    raw = yaml.safe_load(open(config))
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + (tmp_path / "train.csv").read_bytes()))
    raw["data"]["train"] = str(tmp_path / "train.csv.gz")
    open(config, "w").write(yaml.safe_dump(raw))
    checked = invoke("validate", "--config", config)
    assert checked.exit_code == 0, checked.output
    assert "train.csv.gz' is gzip-compressed (read decompressed)" in checked.output
    assert "train.csv.gz' starts with a byte-order mark (ignored)" in checked.output
    result = invoke("run", "--config", config, "--until", "transform")
    assert result.exit_code == 0, result.output
    assert os.path.isdir(os.path.join(output, "tfx", "Transform", "transform_graph"))


def _report(result):
    line = next(line for line in result.output.splitlines() if line.startswith("report: "))
    assert not line.startswith("report: not written"), line
    return line.split()[1]


@pytest.mark.slow
def test_ten_megabyte_text_cell_is_data(tmp_path):
    """A 10 MB message goes through ExampleGen and Transform: tokenized and cut to max_tokens like any other."""
    four = os.path.join(DATA, "four_tasks")
    rows = list(csv.reader(open(os.path.join(four, "train.csv"))))
    rows[5][rows[0].index("message")] = "refund " * 1_500_000  # 10.5 MB
    _write(tmp_path / "train.csv", rows)
    raw = yaml.safe_load(open(os.path.join(four, "config.yaml")))
    raw["data"] = {"train": str(tmp_path / "train.csv"), "eval": os.path.join(four, "eval.csv")}
    raw["output"] = str(tmp_path / "run")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    result = invoke("run", "--config", str(tmp_path / "config.yaml"), "--until", "transform")
    assert result.exit_code == 0, result.output
    assert os.path.isdir(os.path.join(raw["output"], "tfx", "Transform", "transform_graph"))


# ----------------------------------------------------------------------- serving: the census model the e2e tests push
@pytest.mark.slow
def test_unseen_category_served_and_wrong_types_named(census_run):
    from serving.contract import RequestError
    from serving.inprocess import LocalModel

    config, summary = census_run
    model = LocalModel(summary.pushed_to)
    row = {name: value for name, value in zip(EVAL_ROWS[0], EVAL_ROWS[1]) if name in config.features}
    unseen = dict(row, education="Doctorate from Mars", sex="Unknown")
    answers = model.predict([row, unseen])
    assert all(0.0 <= a["income"]["probability"] <= 1.0 for a in answers)  # OOV bucket: an answer, not an error
    with pytest.raises(RequestError, match=r"row 0: 'age' .*number"):
        model.predict([dict(row, age="forty")])
    with pytest.raises(RequestError, match=r"row 0: 'agee' is not a model feature"):
        model.predict([dict(row, agee=30)])


# ----------------------------------------------------------------------- column names as real CSVs have them
RENAMED = {"age": "Age (years)", "capital_gains": "capital gains $", "education": "Education/level",
           "sex": "../../sex", "income": "Income class"}


@pytest.mark.slow
def test_column_names_with_spaces_symbols_and_slashes_train_and_serve(tmp_path):
    """Columns named like 'Age (years)' or '../../sex' are features, labels and slices like any other: the run is
    blessed and pushed, nothing is written outside the output directory, and the model answers rows keyed by
    the original names. One task only, as a user's first config often is (TFMA reads a one-output model's
    predictions as a bare array: the Evaluator must still score the task by name)."""
    from pipeline.config import safe_name
    from serving.inprocess import LocalModel

    def rename(raw):
        raw["features"] = {RENAMED.get(k, k): v for k, v in raw["features"].items()}
        for feature in raw["features"].values():  # crosses name the renamed columns too
            if feature["type"] == "cross":
                feature["of"] = [RENAMED.get(c, c) for c in feature["of"]]
        raw["tasks"] = {"income": dict(raw["tasks"]["income"], label=RENAMED["income"])}
        raw["evaluation"]["slices"] = [[RENAMED["sex"]]]
        raw.pop("schema")  # the curated schema names the original columns
        raw["training"]["epochs"] = 3

    header = [RENAMED.get(c, c) for c in ROWS[0]]
    config, output = write_case(tmp_path, rename, train=[header] + ROWS[1:800], eval_rows=[header] + EVAL_ROWS[1:400])
    before = set(os.listdir(tmp_path.parent))
    result = invoke("run", "--config", config)
    assert result.exit_code == 0, result.output
    assert "verdict: BLESSED" in result.output, result.output
    # the run's own progress, not TFX's logs: one line per component and per epoch; the logs are in the file
    lines = result.output.splitlines()
    assert any(line.split()[:2] == ["Transform", "done"] for line in lines), result.output
    assert any(line.split()[:2] == ["Trainer", "done"] for line in lines), result.output
    assert any(re.match(r"\s+epoch 3/3: loss [\d.]+ val_loss [\d.]+ \| income: loss [\d.]+ auc [\d.]+ \(val [\d.]+\) "
                        r"w 1.00$", line) for line in lines), result.output
    assert any(line.split()[:2] == ["income", "auc"] and line.split()[-1] == "pass"
               for line in lines), result.output  # the one task's threshold, evaluated
    assert "absl" not in result.output and "WARNING" not in result.output
    log = next(line[len("log: "):] for line in lines if line.startswith("log: "))
    assert log.startswith(os.path.join(output, "logs")) and "Component Trainer is running." in open(log).read()
    assert "Age (years)" in html.unescape(open(_report(result), encoding="utf-8").read())
    assert set(os.listdir(tmp_path.parent)) == before  # nothing escaped next to the case directory
    assets = [n for _, _, files in os.walk(os.path.join(output, "tfx", "Transform")) for n in files]
    assert f"feature_{safe_name('../../sex')}" in assets and "/" not in safe_name("../../sex")
    row = {c: v for c, v in zip(header, EVAL_ROWS[1]) if c in yaml.safe_load(open(config))["features"]}
    answer = LocalModel(os.path.join(output, "serving", BASE["name"])).predict([row])[0]
    assert 0.0 <= answer["income"]["probability"] <= 1.0


def test_safe_names_are_plain_distinct_and_stable():
    from pipeline.config import safe_name

    assert safe_name("age") == "age" and safe_name("capital_gains.log-1") == "capital_gains.log-1"
    odd = ["a b", "a_b ", "a/b", "../../etc/passwd", "Ünïcode", "", " ", "_x", "-x", "a" * 80, "a\\b", "a\x00b"]
    names = [safe_name(c) for c in odd]
    assert len(set(names)) == len(odd)  # distinct, also from each other's slugs
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", n) for n in names), names
    assert safe_name("a b") == safe_name("a b")
