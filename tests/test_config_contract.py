"""The YAML config contract: defaults, every rejected config with its exact message, data pre-flight, CLI."""
import copy
import glob
import os

import pytest
import yaml
from click.testing import CliRunner

from pipeline import config as cfg
from pipeline import preflight
from pipeline.core import loading
from pipeline.cli import main

from conftest import DATA, REPO

SAMPLE = os.path.join(DATA, "census_sample")
BASE = {
    "name": "demo",
    "data": {"train": os.path.join(SAMPLE, "train.csv")},
    "features": {"age": {"type": "numeric"}, "sex": {"type": "categorical"}},
    "tasks": {"income": {"type": "binary", "label": "income", "positive": "50000+."}},
}


def with_change(path, value):
    """BASE with one key set (value None deletes it); path is dotted."""
    raw = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(last)
    else:
        node[last] = value
    return raw


def problems(raw):
    with pytest.raises(cfg.ConfigError) as err:
        cfg.parse_config(raw)
    return err.value.problems


@pytest.mark.parametrize("name", sorted(os.path.relpath(p, os.path.join(REPO, "configs")) for p in
                                         glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)))
def test_every_shipped_config_is_valid(name):
    config = cfg.load_config(os.path.join(REPO, "configs", name))
    assert config.task_order is not None and config.tasks


def test_census_config_and_defaults():
    census = cfg.load_config(os.path.join(REPO, "configs", "census.yaml"))
    assert set(census.tasks) == {"income", "never_married"} and "marital_stat" not in census.features
    config = cfg.parse_config(BASE)
    assert config.model.architecture == "shared_bottom" and config.model.shared_units == [256, 128]
    assert (config.training.epochs, config.training.batch_size, config.training.learning_rate) == (None, None, 0.001)
    assert config.model.numeric_encoding == cfg.Model().numeric_encoding and config.model.cross_layers == 0
    assert config.training.loss_weighting == "fixed" and config.data.eval_fraction == 0.2
    assert config.output_dir == os.path.join("runs", "demo")
    assert cfg.eval_hash_buckets(0.2) == (80, 20) and cfg.eval_hash_buckets(0.001) == (99, 1)


def test_every_feature_and_task_type_validates_and_contract_keeps_only_label_fields():
    raw = with_change("tasks", {
        "b": {"type": "binary", "label": "y1", "positive": "yes", "thresholds": {"auc": {"min": 0.8}}},
        "m": {"type": "multiclass", "label": "y2"},
        "k": {"type": "multilabel", "label": "y3", "separator": ";"},
        "r": {"type": "regression", "label": "y4", "weight": 0.5, "thresholds": {"mae": {"max": 5, "max_rise": 1}}},
    })
    raw["features"]["msg"] = {"type": "text", "max_tokens": 16}
    config = cfg.parse_config(raw)
    contract = cfg.data_contract(config, "v1")
    assert contract["tasks"]["b"] == {"type": "binary", "label": "y1", "positive": "yes"}
    assert contract["tasks"]["r"] == {"type": "regression", "label": "y4"}
    assert cfg.DataContract.model_validate(contract).columns == ["age", "sex", "msg", "y1", "y2", "y3", "y4"]
    keys = [key for name in config.tasks for key in (cfg.label_key(name), cfg.mask_key(name))]
    assert len(set(keys)) == len(keys)


BAD = [
    ("training.learning_rate", float("nan"), "training.learning_rate"),
    ("tasks.income.weight", float("inf"), "tasks.income.weight"),
    ("tasks.income.thresholds", {"auc": {"min": float("nan")}}, "tasks.income.thresholds.auc.min"),
    ("tasks.income.type", "multi",
     "tasks.income.type: 'multi' is not one of binary, multiclass, multilabel, regression"),
    ("features.age.type", "num", "features.age.type: 'num' is not one of numeric, categorical, text"),
    ("features.age", {"log": True}, "features.age.type: required key is missing"),
    ("trainig", {"epochs": 3}, "trainig: unknown key (check the spelling)"),
    ("features.age.lgo", True, "features.age.lgo: unknown key"),
    ("tasks.income.lable", "x", "tasks.income.lable: unknown key"),
    ("model.shared_unit", [8], "model.shared_unit: unknown key"),
    ("training.epoch", 3, "training.epoch: unknown key"),
    ("features.income", {"type": "categorical"},
     "features.income: column 'income' is the label of task 'income' and cannot also be a feature"),
    ("tasks.income.thresholds", {"mae": {"max": 1}}, "tasks.income.thresholds.mae: 'mae' is not a binary metric"),
    ("tasks.income.thresholds", {"auc": {}}, "tasks.income.thresholds.auc: a threshold needs at least one of"),
    ("tasks.income.thresholds", {"auc": {"min": 0.9, "max": 0.5}}, "min (0.9) is greater than max (0.5)"),
    ("tasks.income.thresholds", {"auc": {"max_rise": 0.1}}, "tasks.income.thresholds.auc.max_rise: auc is not "
                                                            "lower-is-better; use max_drop"),
    ("tasks.income.separator", "|", "tasks.income.separator: only multilabel tasks have a separator"),
    ("tasks.Income-2", {"type": "binary", "label": "sex"}, "tasks.Income-2: task names must match"),
    ("training.epochs", 0, "training.epochs: must be greater than 0, got 0"),
    ("tasks.income.weight", -1, "tasks.income.weight: must be greater than 0, got -1"),
    ("data.eval_fraction", 1.5, "data.eval_fraction: must be less than 1, got 1.5"),
    ("features", {}, "features: Dictionary should have at least 1 item"),
    ("data", None, "data: required key is missing"),
    ("name", "My Model", "name: 'My Model' does not match"),
    ("features.age.clip", [5, 1], "features.age.clip: must be [low, high] with low < high, got [5.0, 1.0]"),
    ("model.architecture", "moe", "model.architecture: 'moe' is not one of shared_bottom, mmoe, ple, cgc, "
                                  "cross_stitch, hierarchical"),
    ("training.loss_weighting", "magic", "training.loss_weighting: 'magic' is not one of fixed, uncertainty, "
                                         "gradnorm, dwa"),
    ("training.gradient_surgery", "cagrad", "training.gradient_surgery: 'cagrad' is not one of pcgrad"),
    ("model.experts", 4, "model.experts: only mmoe uses this option (architecture is shared_bottom)"),
    ("model.levels", 3, "model.levels: only ple uses this option (architecture is shared_bottom)"),
    ("model", {"architecture": "mmoe", "experts": 0}, "model.experts: must be greater than 0, got 0"),
    ("model", {"architecture": "cgc", "levels": 2}, "model.levels: only ple uses this option (architecture is cgc)"),
    ("training.gradnorm_alpha", 1.0, "training.gradnorm_alpha: only gradnorm uses this option (loss_weighting is "
                                     "fixed)"),
    ("training", {"loss_weighting": "gradnorm", "dwa_temperature": 2}, "training.dwa_temperature: only dwa uses"),
    ("tasks.income.learning_rate", 0, "tasks.income.learning_rate: must be greater than 0, got 0"),
    ("tasks.income.after", ["income"], "tasks.income.after: only the hierarchical and aitm architectures read `after`"),
    ("evaluation.slices", [[]], "evaluation.slices.0: a slice needs at least one column"),
    ("tasks.income.classes", ["a", "b"], "tasks.income.classes: only multiclass and multilabel tasks have classes"),
    ("tasks.m", {"type": "multiclass", "label": "sex", "thresholds": {"macro_f1": {"min": 0.5}}},
     "tasks.m.thresholds.macro_f1: per-class metrics need the task's `classes` list"),
    ("tasks.m", {"type": "multiclass", "label": "sex", "classes": ["a", "a"]}, "tasks.m.classes: values must be unique"),
    ("tasks.m", {"type": "multiclass", "label": "sex", "classes": ["a"]},
     "tasks.m.classes: a multiclass task needs at least 2 classes"),
]


def hierarchical(**afters):
    raw = with_change("model.architecture", "hierarchical")
    raw["tasks"]["married"] = {"type": "binary", "label": "marital_stat"}
    raw["tasks"]["gains"] = {"type": "regression", "label": "capital_gains"}
    for task, after in afters.items():
        raw["tasks"][task]["after"] = after
    return raw


def test_hierarchical_after_lists():
    config = cfg.parse_config(hierarchical(income=["married"], gains=["income", "married"]))
    assert config.task_order == ["married", "income", "gains"]
    assert problems(hierarchical()) == ["model.architecture: hierarchical needs at least one task with `after` "
                                        "(e.g. tasks.cvr.after: [ctr])"]
    assert problems(hierarchical(income=["income"])) == ["tasks.income.after: a task cannot come after itself"]
    assert problems(hierarchical(income=["cvr"])) == ["tasks.income.after: unknown task 'cvr'; expected one of "
                                                      "married, gains"]
    # gains is downstream of the cycle, not in it: the message names only the cycle.
    assert problems(hierarchical(income=["married"], married=["income"], gains=["income"])) == [
        "tasks: `after` forms a cycle (income -> married -> income)"]


def test_method_options_round_trip_through_the_trainer_view():
    """The Trainer re-parses a dump of the config: defaulted options must not read as set."""
    from pipeline.pipeline import trainer_view

    raw = with_change("model", {"architecture": "ple", "levels": 3})
    raw["training"] = {"loss_weighting": "dwa"}
    config = cfg.parse_config(raw)
    again = cfg.parse_config(trainer_view(config))
    assert again.model == config.model and again.training == config.training
    assert again.model.setting("levels") == 3 and again.model.setting("shared_experts") == 2
    assert again.training.setting("dwa_temperature") == 2.0


@pytest.mark.parametrize("path,value,message", BAD, ids=[b[0] + "=" + str(b[1])[:12] for b in BAD])
def test_bad_config_names_the_path(path, value, message):
    found = problems(with_change(path, value))
    assert any(message in p for p in found), found


def test_positive_on_a_multiclass_task_and_several_problems_at_once():
    raw = with_change("tasks.income", {"type": "multiclass", "label": "income", "positive": "x"})
    raw["training"] = {"epochs": -1, "batch_size": 0}
    found = problems(raw)
    assert any("tasks.income.positive: only binary tasks have a positive value" in p for p in found)
    assert any(p.startswith("training.epochs") for p in found) and any(p.startswith("training.batch_size")
                                                                       for p in found)


def test_top_level_must_be_a_mapping():
    assert problems(["a", "b"]) == ["the top level must be a mapping, got list"]


def test_load_config_file_errors(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: x\nfeatures: [unclosed\n")
    with pytest.raises(cfg.ConfigError, match=r"malformed YAML at line \d+"):
        cfg.load_config(bad_yaml)
    with pytest.raises(cfg.ConfigError, match="config file not found: .*missing.yaml"):
        cfg.load_config(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(cfg.ConfigError, match="not UTF-8"):
        cfg.load_config(binary)
    marker = tmp_path / "pwned"
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(cfg.ConfigError, match="malformed YAML"):
        cfg.load_config(unsafe)
    assert not marker.exists()
    duplicate = tmp_path / "duplicate.yaml"
    duplicate.write_text("name: a\ntraining:\n  epochs: 5\n  batch_size: 64\n  epochs: 50\n")
    with pytest.raises(cfg.ConfigError, match=r"malformed YAML at line 5, column 3: duplicate key 'epochs' "
                                              r"\(first at line 3\)"):
        cfg.load_config(duplicate)
    with pytest.raises(cfg.ConfigError, match="config path is a directory, expected a YAML file"):
        cfg.load_config(tmp_path)
    with pytest.raises(cfg.ConfigError, match="config file not found: .*a parent of it is a file"):
        cfg.load_config(binary / "config.yaml")


def test_check_data(tmp_path):
    assert preflight.check_data(cfg.parse_config(BASE))["train"] == [os.path.join(SAMPLE, "train.csv")]
    missing = cfg.parse_config(with_change("data.train", str(tmp_path / "nope*.csv")))
    with pytest.raises(cfg.ConfigError, match=r"data.train: no file matches '.*nope\*.csv'"):
        preflight.check_data(missing)
    no_feature = cfg.parse_config(with_change("features.agee", {"type": "numeric"}))
    with pytest.raises(cfg.ConfigError, match=r"has no column 'agee' \(used by features.agee\)"):
        preflight.check_data(no_feature)
    no_label = cfg.parse_config(with_change("tasks.t2", {"type": "regression", "label": "minutes"}))
    with pytest.raises(cfg.ConfigError, match=r"has no column 'minutes' \(used by tasks.t2.label\)"):
        preflight.check_data(no_label)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(cfg.ConfigError, match="is empty"):
        preflight.check_data(cfg.parse_config(with_change("data.train", str(tmp_path / "empty.csv"))))
    header = open(os.path.join(SAMPLE, "train.csv")).readline()
    for i in range(2):
        (tmp_path / f"part{i}.csv").write_text(header)
    with pytest.raises(cfg.ConfigError, match=r"part\*.csv' has a header but no data rows \(none of its 2 files\)"):
        preflight.check_data(cfg.parse_config(with_change("data.train", str(tmp_path / "part*.csv"))))
    (tmp_path / "part1.csv").write_text(open(os.path.join(SAMPLE, "train.csv")).read())
    found = preflight.check_data(cfg.parse_config(with_change("data.train", str(tmp_path / "part*.csv"))))
    assert len(found["train"]) == 2  # a shard with a header only (as Spark writes them) is fine


def test_cli_validate(tmp_path):
    runner = CliRunner()
    os.chdir(REPO)  # the sample config's data paths are relative to the repository root
    good = runner.invoke(main, ["validate", "--config", os.path.join(SAMPLE, "config.yaml")])
    assert good.exit_code == 0 and "OK" in good.output, good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndata: {train: a.csv}\nfeatures: {a: {type: numeric}}\n"
                   "tasks: {t: {type: multi, label: y}}\n")
    result = runner.invoke(main, ["validate", "--config", str(bad)])
    assert result.exit_code == 1
    assert "tasks.t.type: 'multi' is not one of" in result.output and "Traceback" not in result.output


MERGED = """\
name: merged
data: {train: train.csv}
defaults: &binary {type: binary, thresholds: {auc: {min: 0.7}}}
x-shared: &numeric {type: numeric}
features:
  age: *numeric
  wage: {<<: *numeric, log: true}
tasks:
  income: {<<: *binary, label: income, positive: "50000+."}
  married: {<<: [*binary, {label: overridden_by_the_first, positive: x}], label: marital_stat,
            thresholds: {auc: {min: 0.9}}}
"""


def test_yaml_merge_keys_are_supported_and_own_keys_override(tmp_path):
    path = tmp_path / "merged.yaml"
    path.write_text(MERGED)
    raw = yaml.load(path.read_text(), Loader=loading._UniqueKeyLoader)
    assert raw["features"]["wage"] == {"type": "numeric", "log": True}
    assert raw["tasks"]["income"] == {"type": "binary", "thresholds": {"auc": {"min": 0.7}}, "label": "income",
                                      "positive": "50000+."}
    # own keys win over merged ones; of several merged mappings the first wins (YAML 1.1 merge)
    assert raw["tasks"]["married"]["label"] == "marital_stat" and raw["tasks"]["married"]["positive"] == "x"
    assert raw["tasks"]["married"]["thresholds"] == {"auc": {"min": 0.9}}
    for anchors in ("defaults", "x-shared"):  # anchors live under keys the contract does not know
        raw.pop(anchors)
    config = cfg.parse_config(raw)
    assert config.tasks["income"].thresholds["auc"].min == 0.7 and config.features["wage"].log


@pytest.mark.parametrize("text,line,key", [
    ("a: &a {x: 1}\nb: {<<: *a, y: 2, y: 3}\n", 2, "y"),  # written twice next to a merge
    ("a: &a {x: 1}\nb: {<<: *a, <<: *a}\n", 2, "<<"),  # two merge keys in one mapping
    ("b: {<<: {x: 1, x: 2}}\n", 1, "x"),  # inside an inline mapping that is only merged
    ("a:\n  deep: &d {<<: {x: 1}, x: 2, z: 1, z: 2}\nb: {<<: *d}\n", 2, "z"),  # merged before it is built
])
def test_a_key_written_twice_is_still_refused_with_merge_keys(tmp_path, text, line, key):
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(cfg.ConfigError, match=rf"malformed YAML at line {line}, column \d+: duplicate key '{key}'"):
        cfg.load_config(path)


@pytest.mark.parametrize("tasks,message", [
    ("{<<: 5}", "line 2.*expected a mapping or list of mappings for merging"),  # a merge of a scalar
    ("{? {x: 1} : 2}", "line 2, column 11: found unhashable key"),  # a mapping as a key
    ("{? [1, 2] : 2}", "line 2, column 11: found unhashable key"),  # a list as a key
])
def test_yaml_that_cannot_be_a_mapping_is_a_named_error(tmp_path, tasks, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: x\ntasks: {tasks}\n")
    with pytest.raises(cfg.ConfigError, match=f"malformed YAML at {message}"):
        cfg.load_config(path)


OUT_OF_RANGE = [
    ("income", {"auc": {"min": 1.01}}, "tasks.income.thresholds.auc.min: 1.01 is outside the values auc can take "
                                       "([0, 1]): no model could ever pass it"),
    ("income", {"accuracy": {"max": 1.5}}, "tasks.income.thresholds.accuracy.max: 1.5 is outside the values "
                                           "accuracy can take ([0, 1]): it can never fail"),
    ("income", {"precision": {"min": -0.1}}, "thresholds.precision.min: -0.1 is outside the values precision can "
                                             "take ([0, 1]): it can never fail"),
    ("income", {"recall": {"max": -0.2}}, "thresholds.recall.max: -0.2 is outside the values recall can take "
                                          "([0, 1]): no model could ever pass it"),
    ("income", {"auc_pr": {"max_drop": 1.5}}, "thresholds.auc_pr.max_drop: 1.5 is larger than auc_pr's whole "
                                              "range ([0, 1]): it can never fail"),
    ("income", {"calibration": {"min": 0}}, "thresholds.calibration.min: 0 is outside the values calibration can "
                                            "take ((0, inf)): it can never fail"),
    ("income", {"calibration": {"max": -1}}, "thresholds.calibration.max: -1 is outside the values calibration "
                                             "can take ((0, inf)): no model could ever pass it"),
    ("minutes", {"mae": {"max": -1}}, "tasks.minutes.thresholds.mae.max: -1 is outside the values mae can take "
                                      "([0, inf)): no model could ever pass it"),
    ("minutes", {"rmse": {"min": -3}}, "thresholds.rmse.min: -3 is outside the values rmse can take ([0, inf)): "
                                       "it can never fail"),
    ("intent", {"macro_f1": {"min": 2}}, "thresholds.macro_f1.min: 2 is outside the values macro_f1 can take "
                                         "([0, 1])"),
    ("intent", {"top_k_accuracy": {"max_drop": 3}}, "thresholds.top_k_accuracy.max_drop: 3 is larger than"),
    ("tags", {"micro_auc": {"min": 1.2}}, "thresholds.micro_auc.min: 1.2 is outside"),
]
TASKS = {"minutes": {"type": "regression", "label": "capital_gains"},
         "intent": {"type": "multiclass", "label": "education", "classes": ["a", "b"]},
         "tags": {"type": "multilabel", "label": "race"}}


def with_thresholds(task, thresholds):
    raw = copy.deepcopy(BASE)
    raw["tasks"].update(copy.deepcopy(TASKS))
    raw["tasks"][task]["thresholds"] = thresholds
    return raw


@pytest.mark.parametrize("task,thresholds,message", OUT_OF_RANGE,
                         ids=[f"{t}-{metric}-{bound}" for t, b, _ in OUT_OF_RANGE for metric, bar in b.items()
                              for bound in bar])
def test_a_threshold_outside_its_metrics_range_is_refused(task, thresholds, message):
    found = problems(with_thresholds(task, thresholds))
    assert any(message in p for p in found), found


@pytest.mark.parametrize("task,thresholds", [
    ("income", {"auc": {"min": 0.0, "max": 1.0}}), ("income", {"accuracy": {"min": 1}, "auc": {"max_drop": 1}}),
    ("income", {"calibration": {"min": 0.8, "max": 1.25}}), ("minutes", {"mse": {"min": 0, "max": 1e9}}),
    ("minutes", {"mae": {"max_rise": 100}}), ("intent", {"macro_f1": {"min": 0.5, "max_drop": 0.01}}),
])
def test_thresholds_at_the_edges_of_the_range_are_accepted(task, thresholds):
    config = cfg.parse_config(with_thresholds(task, thresholds))
    assert set(config.tasks[task].thresholds) == set(thresholds)


def test_mtl_validate_refuses_an_out_of_range_threshold_in_one_line(tmp_path):
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(with_thresholds("income", {"auc": {"min": 1.01}})))
    result = CliRunner().invoke(main, ["validate", "--config", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("  - tasks.income.thresholds.auc.min: 1.01 is outside the values auc can take ([0, 1]): no model "
            "could ever pass it\n") in result.output


# ------------------------------------------------------------------ missing values and binary label values
def test_na_values_default_and_checks():
    config = cfg.parse_config(BASE)
    assert {"NA", "N/A", "NaN", "null", "None", "?"} <= set(config.data.na_values)
    assert cfg.data_contract(config)["na_values"] == config.data.na_values  # Transform/DataGate caches follow
    assert cfg.parse_config(with_change("data.na_values", [])).data.na_values == []
    assert any("data.na_values: ' NA': spellings are matched after stripping" in p
               for p in problems(with_change("data.na_values", [" NA"])))


def test_negative_and_unknown_labels_keys():
    binary = {"type": "binary", "label": "income", "positive": "50000+.", "negative": "- 50000."}
    config = cfg.parse_config(with_change("tasks.income", {**binary, "unknown_labels": "unlabelled"}))
    assert config.tasks["income"].negative == ["- 50000."]  # a value or a list
    assert cfg.data_contract(config)["tasks"]["income"]["negative"] == ["- 50000."]
    assert cfg.data_contract(config)["tasks"]["income"]["unknown_labels"] == "unlabelled"
    for change, message in [
        ({"negative": "x", "positive": None}, "tasks.income.negative: needs `positive`"),
        ({"negative": ["no", "50000+."]}, "tasks.income.negative: '50000+.' is the positive value"),
        ({"positive": " yes"}, "tasks.income.positive: ' yes': surrounding whitespace is ignored"),
        ({"unknown_labels": "negative"}, "tasks.income.unknown_labels: 'negative' is not one of error, unlabelled"),
        ({"type": "regression", "positive": None, "negative": None, "unknown_labels": "error"},
         "tasks.income.unknown_labels: only binary tasks have this key"),
    ]:
        task = {k: v for k, v in {**binary, **change}.items() if v is not None}
        assert any(message in p for p in problems(with_change("tasks.income", task))), (change, message)


def test_binary_roles_never_make_an_unknown_value_negative():
    task = cfg.Task(type="binary", label="sex", positive="male")
    roles = task.binary_roles(["male", " male", "female"])
    assert roles.positive == ["male", " male"] and roles.other == ["female"] and not roles.unknown
    roles = task.binary_roles(["male", "female", "Male", "NA"], negative=["female"])
    assert roles.negative == ["female"] and roles.unknown == ["Male", "NA"]  # letter case counts
    plain = cfg.Task(type="binary", label="churned")
    roles = plain.binary_roles(["Yes", "no", "TRUE", "f", "maybe"])
    assert roles.positive == ["Yes", "TRUE"] and roles.negative == ["no", "f"] and roles.unknown == ["maybe"]


def _csv(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return str(path)


PENGUIN = {
    "name": "p", "features": {"flipper": {"type": "numeric"}, "island": {"type": "categorical"}},
    "tasks": {"sex": {"type": "binary", "label": "sex", "positive": "male"}},
}


def _penguins(tmp_path, train, eval_rows=None, **task):
    raw = copy.deepcopy(PENGUIN)
    raw["tasks"]["sex"].update(task)
    raw["data"] = {"train": _csv(tmp_path, "train.csv", [["flipper", "island", "sex"], *train])}
    if eval_rows is not None:
        raw["data"]["eval"] = _csv(tmp_path, "eval.csv", [["flipper", "island", "sex"], *eval_rows])
    return cfg.parse_config(raw)


GOOD_ROWS = [[181, "Dream", "male"], [186, "Biscoe", "female"], ["NA", "Dream", "NA"], [195, "?", "female"]] * 3


def test_preflight_reads_missing_value_spellings_and_notes_them(tmp_path):
    checked = preflight.inspect_data(_penguins(tmp_path, GOOD_ROWS, GOOD_ROWS[:4]))
    assert checked.problems == []
    assert "data.train: flipper: read as missing (data.na_values): 'NA' x3" in checked.notes
    assert "data.train: sex: read as missing (data.na_values): 'NA' x3" in checked.notes
    assert "data.train: read 12 row(s)" in checked.notes and "data.eval: read 4 row(s)" in checked.notes


def test_preflight_names_text_in_a_numeric_column_with_line_and_value(tmp_path):
    config = _penguins(tmp_path, GOOD_ROWS, GOOD_ROWS[:2] + [["unknown", "Dream", "male"]])
    with pytest.raises(cfg.ConfigError) as err:
        preflight.check_data(config)
    assert err.value.problems == [
        f"data.eval: flipper (features.flipper): text in a numeric column, e.g. 'unknown' at line 4 of "
        f"'{tmp_path / 'eval.csv'}' (1 of 3 filled cells read); if it means 'missing', add it to data.na_values"]
    without = cfg.parse_config({**config.model_dump(by_alias=True, exclude_none=True),
                                "data": {**config.data.model_dump(exclude_none=True), "na_values": []}})
    found = preflight.inspect_data(without).problems
    assert any("data.train: flipper (features.flipper): text in a numeric column, e.g. 'NA' at line 4" in p
               for p in found), found


def test_preflight_binary_label_values(tmp_path):
    several = [[181, "Dream", "male"], [186, "Dream", "female"], [190, "Dream", "unknown"]]
    found = preflight.inspect_data(_penguins(tmp_path, several)).problems
    assert found == ["data.train: sex (tasks.sex.label): 'female', 'unknown' besides the positive 'male'; set "
                     "tasks.sex.negative to the value(s) that mean 0 (or, if some mean 'missing', add them to "
                     "data.na_values)"]
    never = preflight.inspect_data(_penguins(tmp_path, [[181, "Dream", "Male"], [186, "Dream", "female"]])).problems
    assert never == ["data.train: sex (tasks.sex.label): the positive value 'male' never occurs (values: 'Male', "
                     "'female'); `positive` is matched exactly, letter case included"]
    learned = preflight.inspect_data(_penguins(tmp_path, GOOD_ROWS, [[181, "Dream", "Male"]])).problems
    assert len(learned) == 1 and learned[0].startswith(
        f"data.eval: sex (tasks.sex.label): 'Male' (e.g. at line 2 of '{tmp_path / 'eval.csv'}') is neither the "
        "positive 'male' nor the negative 'female'")  # the negative learned from train; letter case counts
    given = _penguins(tmp_path, several, negative="female")
    assert "'unknown' (e.g. at line 4 of" in preflight.inspect_data(given).problems[0]
    tolerated = preflight.inspect_data(_penguins(tmp_path, several, negative="female", unknown_labels="unlabelled"))
    assert tolerated.problems == [] and any("those rows count as unlabelled" in n for n in tolerated.notes)


def test_preflight_reads_gzip_bom_and_spaced_headers(tmp_path):
    import gzip

    body = "flipper, island , sex\n" + "".join(f"{180 + i},Dream,{'male' if i % 2 else 'female'}\n"
                                                 for i in range(20))
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + body.encode()))
    raw = {**copy.deepcopy(PENGUIN), "data": {"train": str(tmp_path / "train.csv.gz")}}
    checked = preflight.inspect_data(cfg.parse_config(raw))
    assert checked.problems == [], checked.problems
    assert any("is gzip-compressed (read decompressed)" in n for n in checked.notes)
    assert any("starts with a byte-order mark (ignored)" in n for n in checked.notes)
    (tmp_path / "model.csv").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00binary")
    raw["data"]["train"] = str(tmp_path / "model.csv")
    assert preflight.inspect_data(cfg.parse_config(raw)).problems == [
        f"data.train: {tmp_path / 'model.csv'}, line 1: line contains NUL (a binary file? expected CSV text)"]


def test_cli_validate_prints_notes_and_problems(tmp_path):
    config = _penguins(tmp_path, GOOD_ROWS)
    path = tmp_path / "p.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config.model_dump(mode="json", by_alias=True, exclude_none=True)))
    result = CliRunner().invoke(main, ["validate", "--config", str(path)])
    assert result.exit_code == 0 and "note: data.train: flipper: read as missing (data.na_values): 'NA' x3" in \
        result.output, result.output
    _csv(tmp_path, "train.csv", [["flipper", "island", "sex"], [181, "Dream", "male"], [1, "x", "female"],
                                 ["17 cm", "Dream", "male"]])
    result = CliRunner().invoke(main, ["validate", "--config", str(path)])
    assert result.exit_code == 1 and "text in a numeric column, e.g. '17 cm' at line 4" in result.output
    assert "Traceback" not in result.output
