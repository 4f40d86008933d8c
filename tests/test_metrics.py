"""The multiclass metrics of components/metrics.py computed by real TFMA (ExtractEvaluateAndWriteResults on
hand-made rows: the project's EvalConfig with prediction columns instead of a model), against values worked
out by hand: F1 of the top-1 predicted class, macro averages over the classes present in each slice, and both
bounds of a threshold enforced."""
import math

import pytest
import tensorflow_model_analysis as tfma

from helpers import tfma_rows
from pipeline import config as cfg

# (slice, label, softmax scores, weight): rows whose winning class scores below 0.5, so that one-vs-rest at 0.5
# and the predicted class disagree. The last row of 'b' is unlabelled (weight 0) and must not count.
ROWS = [("a", 0, [.40, .35, .25], 1.0),  # predicted 0
        ("a", 0, [.45, .30, .25], 1.0),  # 0
        ("a", 1, [.30, .40, .30], 1.0),  # 1
        ("a", 1, [.44, .36, .20], 1.0),  # 0 (wrong)
        ("b", 2, [.20, .20, .60], 1.0),  # 2
        ("b", 2, [.10, .55, .35], 1.0),  # 1 (wrong)
        ("b", 0, [.70, .20, .10], 1.0),  # 0
        ("b", 0, [.10, .10, .80], 0.0),  # unlabelled
        ("c", 1, [.60, .30, .10], 1.0)]  # 0 (wrong): class 1 is never predicted in slice c


def f1(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """(metrics: slice -> name -> value, per-class: slice -> name -> [values], validation result)."""
    config = cfg.parse_config({
        "name": "hand", "data": {"train": "unused.csv"}, "features": {"group": {"type": "categorical"}},
        "tasks": {"species": {"type": "multiclass", "label": "species", "classes": ["x", "y", "z"],
                              "thresholds": {"macro_f1": {"min": 0.5}, "accuracy": {"min": 0.5, "max": 0.6}}}},
        "evaluation": {"slices": [["group"]]}})
    out = tfma_rows.evaluate(config, {"group": [r[0] for r in ROWS], "species_label": [r[1] for r in ROWS],
                                      "species_scores": [r[2] for r in ROWS],
                                      "species_weight": [r[3] for r in ROWS]}, str(tmp_path_factory.mktemp("tfma")))
    values, per_class = {}, {}
    for metrics in tfma.load_metrics(out):
        name = ",".join(k.bytes_value.decode() for k in metrics.slice_key.single_slice_keys) or "overall"
        for item in metrics.metric_keys_and_values:
            if item.value.WhichOneof("type") != "double_value":
                continue
            if item.key.HasField("sub_key"):
                per_class.setdefault(name, {}).setdefault(item.key.name, [None] * 3)[
                    item.key.sub_key.class_id.value] = item.value.double_value.value
            else:
                values.setdefault(name, {})[item.key.name] = item.value.double_value.value
    return values, per_class, tfma.load_validation_result(out)


def test_f1_is_computed_from_the_predicted_class(evaluated):
    values, per_class, _ = evaluated
    # overall, top-1: class 0 predicted for 5 rows (3 right), class 1 for 2 (1 right of 3), class 2 for 1 (of 2)
    expected = [f1(3, 2, 0), f1(1, 1, 2), f1(1, 0, 1)]
    assert per_class["overall"]["macro_f1"] == pytest.approx(expected)
    assert values["overall"]["macro_f1"] == pytest.approx(sum(expected) / 3)
    # one-vs-rest at 0.5 would give (0.4 + 0 + 2/3) / 3 = 0.36 and fail the macro_f1 >= 0.5 bar
    assert values["overall"]["macro_f1_classes"] == 3


def test_macro_averages_count_only_the_classes_present_in_the_slice(evaluated):
    values, per_class, _ = evaluated
    # slice a: no row of class 2 and none predicted as 2
    assert values["a"]["macro_f1"] == pytest.approx((f1(2, 1, 0) + f1(1, 0, 1)) / 2)
    assert values["a"]["macro_f1_classes"] == 2
    # AUC of class 0 in a: positives score .40 .45, negatives .30 .44 -> 3 of 4 pairs; class 1 separates fully
    assert values["a"]["macro_auc"] == pytest.approx((0.75 + 1.0) / 2, abs=1e-3)
    assert values["a"]["macro_auc_classes"] == 2
    # slice b: class 1 is predicted once, never a label: it counts, with F1 0; the unlabelled row does not count
    assert values["b"]["macro_f1"] == pytest.approx((1.0 + 0.0 + f1(1, 0, 1)) / 3)
    assert values["b"]["example_count"] == 3
    assert values["b"]["macro_auc"] == pytest.approx(1.0, abs=1e-3) and values["b"]["macro_auc_classes"] == 2
    # slice c: one row, class 1, predicted 0. Class 1 is never predicted there: F1 0, not TFMA's top-k 1.0
    assert per_class["c"]["macro_f1"][1] == 0.0
    assert values["c"]["macro_f1"] == 0.0 and values["c"]["macro_f1_classes"] == 2
    assert math.isnan(values["c"]["macro_auc"]) and values["c"]["macro_auc_classes"] == 0  # no class judged


def test_overall_macro_auc_is_the_mean_of_per_class_auc(evaluated):
    values, per_class, _ = evaluated
    assert per_class["overall"]["macro_auc"] == pytest.approx([12 / 15, 10.5 / 15, 1.0], abs=1e-3)
    assert values["overall"]["macro_auc"] == pytest.approx((12 / 15 + 10.5 / 15 + 1.0) / 3, abs=1e-3)


def test_thresholds_apply_min_and_max_on_the_overall_slice(evaluated):
    values, _, validation = evaluated
    assert values["overall"]["accuracy"] == pytest.approx(5 / 8)  # above the bar's max of 0.6
    failed = [(f.metric_key.name, list(s.slice_key.single_slice_keys))
              for s in validation.metric_validations_per_slice for f in s.failures]
    assert failed == [("accuracy", [])]  # macro_f1 (0.61 >= 0.5) passes; slices are never held to the bars
    assert not validation.validation_ok

