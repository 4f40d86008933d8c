"""End to end with LocalDagRunner and the real TFX components on small real data (slow: minutes)."""
import csv
import json
import os

import pytest
import yaml

from click.testing import CliRunner

from pipeline.cli import main
from pipeline import config as cfg
from pipeline.pipeline import serving_dir
from pipeline.runners import local

from conftest import DATA, REPO
from helpers.served import _per_class_metrics, serve_in_clean_process  # noqa: F401

pytestmark = pytest.mark.slow


def snapshot(directory):
    """{relative path: (size, mtime)} of every file below a directory (empty if absent)."""
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, directory)] = (os.path.getsize(path), os.path.getmtime(path))
    return found


def test_census_sample_ends_blessed_and_pushed(census_run):
    config, summary = census_run
    assert summary.verdict == "BLESSED"
    states = {c.name: c.state for c in summary.components}
    for component in ("CsvExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator", "DataGate",
                      "Transform", "Trainer", "Evaluator", "Pusher"):
        assert states[component] == "COMPLETE", states
    aucs = {m.task: m.value for m in summary.metrics if m.metric == "auc"}
    assert set(aucs) == {"income", "never_married"} and all(0.75 <= v <= 1 for v in aucs.values())
    assert summary.pushed_to and summary.pushed_to.startswith(serving_dir(config, config.output))
    assert os.path.isfile(os.path.join(summary.pushed_to, "saved_model.pb"))
    assert all(name.isdigit() for name in os.listdir(serving_dir(config, config.output)))  # no staging left
    assert json.load(open(os.path.join(config.output, "summary.json")))["verdict"] == "BLESSED"


def test_fairness_indicators_per_slice_in_a_real_run(census_run):
    """`evaluation.fairness: {}` on the census sample: both binary tasks get the rates at 0.3, 0.5 and 0.7 on
    Overall and each `sex` slice, in the summary (and its JSON); they are not mixed into the judged metrics."""
    config, summary = census_run
    for task in ("income", "never_married"):
        slices = summary.fairness[task]
        assert list(slices) == ["Overall", "sex = Female", "sex = Male"], slices
        assert {f"{rate}@{t}" for rate in ("false_positive_rate", "false_negative_rate", "positive_rate")
                for t in ("0.3", "0.5", "0.7")} == set(slices["Overall"])
        assert all(0 <= v <= 1 for values in slices.values() for v in values.values())
        assert slices["Overall"]["positive_rate@0.3"] >= slices["Overall"]["positive_rate@0.7"]
    assert not any(m.metric.startswith("fairness") for m in summary.metrics)
    assert "fairness indicators of income" in summary.render()
    assert json.loads(summary.to_json())["fairness"] == summary.fairness  # summary.json carries them


def test_bulk_inferrer_scores_the_inference_file_with_the_blessed_model(census_run):
    """`inference.data`: the BulkInferrer's answers, one per row of the file in its order, are what the pushed
    model answers for the same rows in-process (`mtl predict`), with the `keep` column read back."""
    from serving.inprocess import LocalModel

    config, summary = census_run
    states = {c.name: c.state for c in summary.components}
    assert states["InferenceExampleGen"] == states["BulkInferrer"] == "COMPLETE", states
    rows = list(csv.DictReader(open(config.data.eval, encoding="utf-8")))
    assert summary.inference["rows"] == len(rows), summary.inference
    path = summary.inference["answers"]
    assert path == os.path.join(config.output, "inference", f"{summary.run_id}.jsonl")
    assert f"inference: {len(rows)} rows answered -> {path}" in summary.render()
    from pipeline.report import collect, layout

    facts = layout.overview(collect.collect(config.output, summary.run_id)).blocks[1].rows
    assert ["inference", f"{len(rows)} rows answered: {path}"] in facts  # the run report says so too
    answers = [json.loads(line) for line in open(path, encoding="utf-8")]
    assert [a.pop("marital_stat") for a in answers] == [r["marital_stat"] for r in rows]
    expected = LocalModel(summary.pushed_to).predict(rows, ignore_unknown=True)
    assert [a["income"]["label"] for a in answers] == [e["income"]["label"] for e in expected]
    for answer, local in zip(answers, expected):
        for task in ("income", "never_married"):
            assert answer[task]["probability"] == pytest.approx(local[task]["probability"], abs=1e-5)


def test_pushed_model_serves_raw_csv_rows_in_a_tensorflow_only_process(census_run):
    config, summary = census_run
    answer = serve_in_clean_process(summary.pushed_to, config.data.eval, config)
    assert answer["foreign_modules"] == []
    outputs = answer["outputs"]
    assert set(outputs) == {"income", "income_label", "never_married", "never_married_label"}
    for task in ("income", "never_married"):
        scores = [row[0] for row in outputs[task]]
        assert len(scores) == 20 and all(0.0 <= p <= 1.0 for p in scores)
        negative = {"income": "- 50000.", "never_married": "not Never married"}[task]  # the data's own value;
        positive = config.tasks[task].positive  # one vs. several listed negatives: "not <positive>"
        assert outputs[f"{task}_label"] == [positive if p >= 0.5 else negative for p in scores]
    # The model ranks: rows labelled "Never married" score higher on average than the others.
    rows = list(csv.DictReader(open(config.data.eval)))[:20]
    never = [p[0] for p, r in zip(outputs["never_married"], rows) if r["marital_stat"] == "Never married"]
    other = [p[0] for p, r in zip(outputs["never_married"], rows) if r["marital_stat"] != "Never married"]
    assert never and other and sum(never) / len(never) > sum(other) / len(other)


def test_second_run_with_impossible_threshold_is_not_blessed_and_serving_is_untouched(census_run, tmp_path):
    """Through `mtl run`: NOT BLESSED exits 3 (a CI job needs no summary.json to notice), nothing is pushed, the
    Trainer is reused; `--allow-unblessed` exits 0 on the same (cached) run."""
    config, first = census_run
    before = snapshot(serving_dir(config, config.output))
    assert before
    raw = yaml.safe_load(open(os.path.join(DATA, "census_sample/config.yaml")))
    raw["output"] = config.output
    raw["tasks"]["income"]["thresholds"] = {"auc": {"min": 0.9999}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["run", "--config", str(path)])
    assert result.exit_code == 3, result.output
    assert "verdict: NOT BLESSED" in result.output and "exit status 3: the model is NOT BLESSED" in result.output
    summary = json.load(open(os.path.join(config.output, "summary.json")))
    assert summary["verdict"] == "NOT BLESSED" and summary["pushed_to"] is None
    failed = [(m["task"], m["metric"]) for m in summary["metrics"] if m["passed"] is False]
    assert failed == [("income", "auc")]
    states = {c["name"]: c["state"] for c in summary["components"]}
    assert states["Trainer"] == "CACHED" and states["Transform"] == "CACHED", result.output  # never retrain
    assert snapshot(serving_dir(config, config.output)) == before
    allowed = CliRunner().invoke(main, ["run", "--config", str(path), "--allow-unblessed"])
    assert allowed.exit_code == 0 and "verdict: NOT BLESSED" in allowed.output, allowed.output
    assert snapshot(serving_dir(config, config.output)) == before


def test_all_four_task_types_end_to_end(four_tasks_run):
    config, summary = four_tasks_run
    assert summary.verdict == "BLESSED", summary.render()
    checked = {(m.task, m.metric) for m in summary.metrics if m.passed}
    assert checked == {("escalate", "auc"), ("intent", "accuracy"), ("intent", "macro_f1"), ("keywords", "micro_auc"),
                       ("keywords", "macro_auc"), ("minutes", "mae")}
    macro = {(m.task, m.metric) for m in summary.metrics if m.metric.startswith("macro")}
    assert macro == {(t, m + suffix) for t, m in (("intent", "macro_auc"), ("intent", "macro_f1"),
                                                  ("keywords", "macro_auc")) for suffix in ("", "_classes")}
    per_class = _per_class_metrics(config.output)
    assert {key for key in per_class if key[0] == "keywords" and key[1] == "macro_auc"} == {
        ("keywords", "macro_auc", i) for i in range(4)}
    counts = {m.task: m.value for m in summary.metrics if m.metric == "example_count"}
    eval_rows = list(csv.DictReader(open(config.data.eval)))
    # Rows without a label carry weight 0: each task counts exactly its labelled rows.
    assert counts["escalate"] == sum(1 for r in eval_rows if r["escalate"] != "")
    assert counts["keywords"] == sum(1 for r in eval_rows if r["keywords"] != "")
    # the regression task against the constant predictors, on the same eval rows the Evaluator counted
    minutes = [float(r["minutes"]) for r in eval_rows if r["minutes"] != ""]
    base = summary.training["constant_baselines"]["minutes"]
    assert base["eval_rows"] == len(minutes) and base["median_mae"] > 0 and "constant median MAE" in summary.render()
    mae = next(m.value for m in summary.metrics if (m.task, m.metric) == ("minutes", "mae"))
    assert (mae < base["median_mae"]) == ("minutes" not in summary.constant_shortfalls())
    assert "training " in summary.training["schedule"] and "epochs" in summary.training["schedule"]
    answer = serve_in_clean_process(summary.pushed_to, config.data.eval, config, rows=10)["outputs"]
    assert set(answer["intent_label"]) <= {"refund", "delivery", "account"}
    assert all(len(p) == 3 and abs(sum(p) - 1) < 1e-4 for p in answer["intent"])
    allowed = {"order", "refund", "password", "urgent"}
    assert all(set(filter(None, labels.split("|"))) <= allowed for labels in answer["keywords_label"])
    assert all(isinstance(m[0], float) and 0 < m[0] < 60 for m in answer["minutes"])
    assert "minutes_label" not in answer
    assert _distribution(config.output) == {"strategy": "MirroredStrategy", "replicas": 1}  # the CPU


def _distribution(output):
    """What the latest Trainer run recorded about tf.distribute."""
    from trainer.run import DISTRIBUTION_FILE

    runs = os.path.join(output, "tfx", "Trainer", "model_run")
    latest = sorted(os.listdir(runs), key=int)[-1]
    return json.load(open(os.path.join(runs, latest, DISTRIBUTION_FILE)))


def test_wrong_typed_column_stops_the_run_before_transform(tmp_path):
    os.chdir(REPO)
    rows = list(csv.reader(open(os.path.join(DATA, "census_sample/eval.csv"))))
    age = rows[0].index("age")
    for row in rows[1:40]:
        row[age] = "forty"
    bad_eval = tmp_path / "eval.csv"
    csv.writer(open(bad_eval, "w", newline="")).writerows(rows)
    raw = yaml.safe_load(open(os.path.join(DATA, "census_sample/config.yaml")))
    raw["data"]["eval"], raw["output"] = str(bad_eval), str(tmp_path / "run")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["run", "--config", str(config_file), "--until", "transform"])
    assert result.exit_code == 1, result.output
    assert "data.eval: age (features.age): text in a numeric column, e.g. 'forty' at line 2" in result.output
    assert "Traceback" not in result.output  # the pre-flight names it before anything runs
    assert isinstance(result.exception, SystemExit)
    assert not os.path.exists(os.path.join(tmp_path, "run", "tfx", "Transform", "transform_graph"))


# Architectures and loss weightings selected in YAML, each through Trainer -> Evaluator -> Pusher on the census
# sample (one output directory: the data half runs once, then is cached). (model, training, per-task extras)
METHODS = {
    "mmoe+gradnorm+task_lr": ({"architecture": "mmoe", "experts": 3, "expert_units": [32]},
                              {"loss_weighting": "gradnorm"}, {"income": {"learning_rate": 0.001}}),
    "ple+uncertainty+pcgrad": ({"architecture": "ple", "expert_units": [32]},
                               {"loss_weighting": "uncertainty", "gradient_surgery": "pcgrad"}, {}),
    "cgc+fixed": ({"architecture": "cgc", "expert_units": [32]}, {}, {}),
    "cross_stitch+dwa": ({"architecture": "cross_stitch", "shared_units": [32, 16]}, {"loss_weighting": "dwa"}, {}),
    "hierarchical": ({"architecture": "hierarchical", "shared_units": [32]}, {},
                     {"never_married": {"after": ["income"]}}),
}


@pytest.fixture(scope="module")
def methods_output(tmp_path_factory):
    return str(tmp_path_factory.mktemp("methods"))


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_runs_through_evaluator_and_pusher(methods_output, method):
    os.chdir(REPO)
    model, training, task_extras = METHODS[method]
    raw = yaml.safe_load(open(os.path.join(DATA, "census_sample/config.yaml")))
    raw["output"] = methods_output
    raw["model"] = {"tower_units": [16], **model}
    raw["training"].update(training)
    for task, extra in task_extras.items():
        raw["tasks"][task].update(extra)
    config = cfg.parse_config(raw)
    summary = local.run(config)
    assert summary.verdict == "BLESSED", summary.render()
    assert summary.pushed_to and os.path.isfile(os.path.join(summary.pushed_to, "saved_model.pb"))
    weights = summary.training["task_weights"]
    assert set(weights) == set(config.tasks) and all(len(w) == summary.training["epochs"] for w in weights.values())
    weighting = config.training.loss_weighting
    if weighting == "gradnorm":
        assert all(abs(a + b - 2.0) < 1e-3 for a, b in zip(weights["income"], weights["never_married"]))
        assert len(set(weights["income"])) > 1
    if weighting in ("uncertainty", "dwa"):
        assert len(set(weights["income"][2:] + weights["never_married"][2:])) > 1
    if config.model.architecture in ("mmoe", "ple", "cgc"):
        assert "income_gate" in summary.training["gates"] or "income_gate_0" in summary.training["gates"]
    assert "task weight per epoch" in summary.render()
    answer = serve_in_clean_process(summary.pushed_to, config.data.eval, config, rows=5)
    assert answer["foreign_modules"] == [] and len(answer["outputs"]["income"]) == 5
