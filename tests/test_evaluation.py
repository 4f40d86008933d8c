"""EvalConfig generated from a config: per-task metrics, label/mask keys, thresholds, classes, slices."""
import json
import os

import tensorflow_model_analysis as tfma
import yaml

from components.evaluation import eval_config, metric_threshold
from pipeline import config as cfg

from conftest import DATA

CONFIG = cfg.parse_config(yaml.safe_load(open(os.path.join(DATA, "four_tasks", "config.yaml"))))
EVAL = eval_config(CONFIG)


def specs_for(task):
    return [s for s in EVAL.metrics_specs if list(s.output_names) == [task]]


def metric_names(spec):
    return {json.loads(m.config)["name"] if m.config else m.class_name for m in spec.metrics}


def test_model_spec_reads_labels_and_masks_of_every_task():
    (spec,) = EVAL.model_specs
    assert spec.signature_name == "scores" and list(spec.preprocessing_function_names) == ["transform_features"]
    assert dict(spec.label_keys) == {t: f"{t}__target" for t in CONFIG.tasks}
    assert dict(spec.example_weight_keys) == {t: f"{t}__mask" for t in CONFIG.tasks}
    assert EVAL.options.include_default_metrics.value is False


def test_metrics_per_task_type():
    (escalate,) = specs_for("escalate")
    assert metric_names(escalate) == {"ExampleCount", "auc", "auc_pr", "accuracy", "precision", "recall",
                                      "calibration", "calibration_plot", "confusion_plot"}
    assert metric_names(specs_for("minutes")[0]) == {"ExampleCount", "mae", "rmse", "mse"}
    (keywords, per_label) = specs_for("keywords")
    assert keywords.aggregate.micro_average and metric_names(keywords) == {"ExampleCount", "micro_auc"}
    assert not per_label.HasField("aggregate") and not per_label.HasField("binarize")  # no micro average of them
    assert [(m.class_name, m.module, json.loads(m.config)) for m in per_label.metrics] == [
        ("MacroAUC", "components.metrics", {"name": "macro_auc", "num_thresholds": 1000, "class_ids": [0, 1, 2, 3]})]
    intent = specs_for("intent")
    assert metric_names(intent[0]) == {"ExampleCount", "accuracy", "top_k_accuracy", "confusion_matrix_plot"}
    assert metric_names(intent[1]) == {"macro_auc", "macro_f1"}


def test_a_threshold_keeps_both_bounds():
    threshold = metric_threshold("calibration", cfg.Threshold(min=0.9, max=1.1))
    assert threshold.value_threshold.lower_bound.value == 0.9
    assert threshold.value_threshold.upper_bound.value == 1.1
    assert not threshold.HasField("change_threshold")
    only_max = metric_threshold("mae", cfg.Threshold(max=3.0)).value_threshold
    assert only_max.HasField("upper_bound") and not only_max.HasField("lower_bound")


def test_thresholds_only_on_the_overall_slice_and_only_where_configured():
    thresholds = {}
    for spec in EVAL.metrics_specs:
        for metric in spec.metrics:
            for per_slice in metric.per_slice_thresholds:
                assert [s for s in per_slice.slicing_specs] == [tfma.SlicingSpec()]
                thresholds[(spec.output_names[0], json.loads(metric.config)["name"])] = per_slice.threshold
    assert set(thresholds) == {("escalate", "auc"), ("intent", "accuracy"), ("intent", "macro_f1"),
                               ("keywords", "micro_auc"), ("keywords", "macro_auc"), ("minutes", "mae")}
    assert thresholds[("minutes", "mae")].value_threshold.upper_bound.value == 3.0
    assert thresholds[("escalate", "auc")].value_threshold.lower_bound.value == 0.7


def test_change_thresholds_follow_metric_direction():
    raw = yaml.safe_load(open(os.path.join(DATA, "four_tasks", "config.yaml")))
    raw["tasks"]["escalate"]["thresholds"] = {"auc": {"max_drop": 0.01}}
    raw["tasks"]["minutes"]["thresholds"] = {"rmse": {"max_rise": 0.5}}
    specs = eval_config(cfg.parse_config(raw)).metrics_specs
    found = {json.loads(m.config)["name"]: m.per_slice_thresholds[0].threshold.change_threshold
             for s in specs for m in s.metrics if m.per_slice_thresholds}
    assert found["auc"].direction == tfma.MetricDirection.HIGHER_IS_BETTER and found["auc"].absolute.value == -0.01
    assert found["rmse"].direction == tfma.MetricDirection.LOWER_IS_BETTER and found["rmse"].absolute.value == 0.5


def test_slices():
    assert [list(s.feature_keys) for s in EVAL.slicing_specs] == [[], ["tier"]]
