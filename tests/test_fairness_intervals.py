"""`evaluation.fairness` and `evaluation.confidence_intervals` through real TFMA (the project's EvalConfig on
hand-made rows, tests/helpers/tfma_rows.py): the fairness indicators per slice equal the rates counted by hand,
every metric gets an interval around its value, and the summary and the report show both - the report saying
when a change against the blessed model lies inside the interval."""
import random

import pytest

from helpers import tfma_rows
from pipeline import config as cfg

RNG = random.Random(5)
ROWS = []  # (group, label, score): group b's scores run higher, so its false positive rate is higher
for i in range(400):
    group = "a" if i % 2 else "b"
    label = int(RNG.random() < 0.4)
    score = min(max(RNG.gauss(0.3 + 0.35 * label + (0.15 if group == "b" else 0.0), 0.15), 0.0), 1.0)
    ROWS.append((group, label, score))


def _config(**evaluation):
    return cfg.parse_config({
        "name": "hand", "data": {"train": "unused.csv"}, "features": {"group": {"type": "categorical"}},
        "tasks": {"churn": {"type": "binary", "label": "churn", "positive": "1", "thresholds": {"auc": {"min": 0.6}}}},
        "evaluation": {"slices": [["group"]], **evaluation}})


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    config = _config(fairness={"thresholds": [0.5, 0.3]}, confidence_intervals="jackknife")
    out = tfma_rows.evaluate(config, {"group": [r[0] for r in ROWS], "churn_label": [r[1] for r in ROWS],
                                      "churn_scores": [r[2] for r in ROWS], "churn_weight": [1.0] * len(ROWS)},
                             str(tmp_path_factory.mktemp("tfma")), batch_rows=10)
    return config, out


def _rates(rows, threshold):
    negatives = [s for _, y, s in rows if y == 0]
    positives = [s for _, y, s in rows if y == 1]
    return (sum(s > threshold for s in negatives) / len(negatives),
            sum(s <= threshold for s in positives) / len(positives))


def test_fairness_indicators_per_slice_are_the_rates_counted_by_hand(evaluated):
    from pipeline.metric_checks import fairness_metrics

    config, out = evaluated
    assert config.evaluation.fairness.thresholds == [0.3, 0.5]  # sorted
    found = fairness_metrics(out)["churn"]
    assert list(found)[0] == "Overall" and set(found) == {"Overall", "group = a", "group = b"}
    for name, rows in (("Overall", ROWS), ("group = a", [r for r in ROWS if r[0] == "a"]),
                       ("group = b", [r for r in ROWS if r[0] == "b"])):
        for threshold in (0.3, 0.5):
            fpr, fnr = _rates(rows, threshold)
            assert found[name][f"false_positive_rate@{threshold}"] == pytest.approx(fpr, abs=1e-6)
            assert found[name][f"false_negative_rate@{threshold}"] == pytest.approx(fnr, abs=1e-6)
    assert found["group = b"]["false_positive_rate@0.5"] > found["group = a"]["false_positive_rate@0.5"]


def test_every_judged_metric_has_an_interval_and_the_thresholds_still_judge(evaluated):
    from pipeline.metric_checks import task_metrics

    config, out = evaluated
    checks = {m.metric: m for m in task_metrics(config, out)}
    assert not any(name.startswith("fairness") for name in checks)  # their own table, not the metric list
    auc = checks["auc"]
    assert auc.passed is True and auc.lower < auc.value < auc.upper and auc.upper - auc.lower < 0.2
    assert auc.interval == f"[{auc.lower:.4f}, {auc.upper:.4f}]"


def test_summary_and_report_show_intervals_fairness_and_noise(evaluated):
    from pipeline.metric_checks import MetricCheck, fairness_metrics, task_metrics
    from pipeline.report import collect, evaluator_output, layout
    from pipeline.summary import RunSummary

    config, out = evaluated
    checks = task_metrics(config, out)
    auc = next(m for m in checks if m.metric == "auc")
    auc.change = (auc.upper - auc.lower) / 4  # a change smaller than the interval's half-width: noise
    text = RunSummary("hand", "r", metrics=checks, fairness=fairness_metrics(out)).render()
    assert "95% interval" in text and auc.interval in text and "pass (change within the interval)" in text
    assert "fairness indicators of churn" in text and "FPR@0.3" in text and "group = b" in text
    assert MetricCheck("t", "auc", 0.9, change=0.05, lower=0.88, upper=0.92).change_is_noise is False
    assert MetricCheck("t", "auc", 0.9, change=0.05, change_lower=-0.01, change_upper=0.1).change_is_noise is True
    assert MetricCheck("t", "auc", 0.9, change=0.05).change_is_noise is None  # no intervals: not judged

    part = evaluator_output.read(out, config, collect.EvaluationPart())
    part.checks = checks
    assert "churn" in part.fairness and not any(m.startswith("fairness") for s in part.slices
                                                for m in s.values.get("churn", {}))
    blocks = layout.task_blocks("churn", part)
    table = next(b for b in blocks if isinstance(b, layout.Table) and b.header[0] == "slice")
    assert table.header == ["slice", "FPR @0.3", "FPR @0.5", "FNR @0.3", "FNR @0.5", "positive rate @0.3",
                            "positive rate @0.5", "largest gap"]
    assert [row[0] for row in table.rows] == ["Overall", "group = a", "group = b"] and table.rows[0][-1] == ""


def test_both_options_are_off_by_default_and_checked():
    from components.evaluation import eval_config

    plain = eval_config(_config())
    assert not plain.options.compute_confidence_intervals.value
    assert not any(m.class_name == "LeanFallOut" for s in plain.metrics_specs for m in s.metrics)
    with pytest.raises(cfg.ConfigError, match="strictly between 0 and 1"):
        _config(fairness={"thresholds": [0.5, 1.0]})
    with pytest.raises(cfg.ConfigError, match="confidence_intervals"):
        _config(confidence_intervals="bayes")
    assert _config(fairness={}).evaluation.fairness.thresholds == [0.3, 0.5, 0.7]
