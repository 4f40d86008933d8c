"""components/lean_metrics.py gives what TFMA's own binary metrics give: its input function yields TFMA's values
(numbers, dtypes, shapes, fractional-label split, errors) on every shape of example, and real TFMA over hand-made
rows (weights, unlabelled rows, slices, fairness rates, plots) writes the same metrics and plots with the
project's lean EvalConfig as with TFMA's stock classes."""
import random

import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_specs, metric_types, metric_util

from components import lean_metrics
from helpers import tfma_rows
from pipeline import config as cfg
from pipeline import tfma_files


def _inputs(label, prediction, weight):
    return metric_types.StandardMetricInputs(labels=label, predictions=prediction, example_weights=weight)


A1 = np.array([1])
CASES = [  # (inputs, keyword arguments of the conversion)
    (_inputs(np.array(1), np.array(0.7, np.float32), np.array(1.0, np.float32)), {}),
    (_inputs(np.array([0]), np.array([0.2], np.float32), np.array([2.5], np.float32)), {}),
    (_inputs({"t": np.array([1])}, {"t": np.array([0.9], np.float32)}, {"t": np.array([0.0], np.float32)}),
     {"output_name": "t"}),
    (_inputs({"t": np.array([0.25], np.float32)}, {"m": {"t": np.array([0.4], np.float32)}},
             {"t": np.array([3.0], np.float32)}), {"model_name": "m", "output_name": "t"}),
    (_inputs({"m": {"t": A1}}, {"m": {"t": np.array([0.4])}}, {"m": {"t": np.array([0.5])}}),
     {"model_name": "m", "output_name": "t"}),
    (_inputs({"t/x": A1}, {"t/x": np.array([0.4])}, None), {"output_name": "t"}),  # TFMA's prefix matching
    (_inputs({"t": A1}, {"t": np.array([0.4])}, None), {"output_name": "t"}),  # no weight
    (_inputs(np.array([1, 0]), np.array([0.3, 0.6]), np.array([1.0])), {}),  # two values: TFMA's flattening
    (_inputs(np.array([[1]]), np.array([[0.3]]), np.array([1.0])), {}),  # rank 2: TFMA's squeeze
    (_inputs(np.array([2]), np.array([0.1, 0.2, 0.7]), np.array([1.0])),
     {"sub_key": metric_types.SubKey(class_id=2)}),
    (_inputs(np.array([b"yes"]), {"probabilities": np.array([0.3])}, None), {}),  # dict prediction
]


def _triples(function, inputs, **kwargs):
    try:
        return [tuple(np.asarray(v) for v in t) for t in function(inputs, **kwargs)]
    except ValueError as error:
        return f"ValueError: {str(error).splitlines()[0]}"


@pytest.mark.parametrize("fractional", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_lean_conversion_yields_what_tfma_yields(case, weighted, fractional):
    inputs, kwargs = CASES[case]
    kwargs = {**kwargs, "example_weighted": weighted, "fractional_labels": fractional}
    ours = _triples(lean_metrics.lean_label_prediction_weight, inputs, **kwargs)
    theirs = _triples(metric_util.to_label_prediction_example_weight, inputs, **kwargs)
    if isinstance(theirs, str):
        assert ours == theirs
        return
    assert len(ours) == len(theirs)
    for mine, tfma in zip(ours, theirs):
        for a, b in zip(mine, tfma):
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), (mine, tfma)


def test_a_label_outside_zero_one_gets_tfma_s_own_error():
    inputs = _inputs(np.array([2]), np.array([0.5], np.float32), None)
    with pytest.raises(ValueError, match="label must be within"):
        list(lean_metrics.lean_label_prediction_weight(inputs, fractional_labels=True))


RNG = random.Random(11)
ROWS = 600


def _column(make):
    return [make(i) for i in range(ROWS)]


COLUMNS = {
    "group": _column(lambda i: "abc"[i % 3]),
    "churn_label": _column(lambda i: int(RNG.random() < 0.3)),
    "churn_scores": _column(lambda i: min(max(RNG.random() ** 1.5, 0.0), 1.0)),
    "churn_weight": _column(lambda i: [0.0, 1.0, 1.0, 2.5][i % 4]),  # unlabelled rows and row weights
    "upsell_label": _column(lambda i: int(i % 7 == 0)),
    "upsell_scores": _column(lambda i: RNG.random()),
    "upsell_weight": _column(lambda i: 1.0),
}


def _stock(evaluation):
    """The same EvalConfig with TFMA's own classes in place of the lean ones."""
    for spec in evaluation.metrics_specs:
        for metric in spec.metrics:
            if metric.module == lean_metrics.__name__:
                metric.class_name, metric.module = metric.class_name[len("Lean"):], ""


@pytest.fixture(scope="module")
def config():
    return cfg.parse_config({
        "name": "hand", "data": {"train": "unused.csv"}, "features": {"group": {"type": "categorical"}},
        "tasks": {name: {"type": "binary", "label": name, "positive": "1", "thresholds": {"auc": {"min": 0.1}}}
                  for name in ("churn", "upsell")},
        "evaluation": {"slices": [["group"]], "fairness": {"thresholds": [0.3, 0.5]}}})


@pytest.fixture(scope="module")
def outputs(config, tmp_path_factory):
    return {kind: tfma_rows.evaluate(config, COLUMNS, str(tmp_path_factory.mktemp(kind)), batch_rows=25,
                                     rewrite=_stock if kind == "stock" else None) for kind in ("lean", "stock")}


def test_the_project_s_binary_metrics_run_on_the_lean_path(config):
    from components.evaluation import eval_config

    evaluation = eval_config(config)
    combiners = [c.combiner for c in metric_specs.to_computations(evaluation.metrics_specs, evaluation)
                 if isinstance(c, metric_types.MetricComputation)]
    kinds = {type(c) for c in combiners}
    assert lean_metrics._CalibrationHistogramCombiner in kinds
    assert lean_metrics._WeightedLabelsPredictionsExamplesCombiner in kinds
    bcm = [c for c in combiners if type(c).__name__ == "_BinaryConfusionMatrixCombiner"]
    assert bcm and all(c._extract_label_prediction_and_weight is lean_metrics.lean_label_prediction_weight
                       for c in bcm)


def _values(records):
    found = {}
    for record in records:
        for item in record.metric_keys_and_values if hasattr(record, "metric_keys_and_values") else \
                record.plot_keys_and_values:
            found[(tfma_files.slice_name(record.slice_key), str(item.key))] = item.value
    return found


def test_real_tfma_writes_the_same_metrics_and_plots_as_with_its_stock_classes(outputs):
    lean, stock = (_values(tfma_files.load_metrics(outputs[k])) for k in ("lean", "stock"))
    assert set(lean) == set(stock) and len(lean) >= 2 * 4 * 13  # 2 tasks x 4 slices x metrics + rates
    names = {key.split('name: "')[1].split('"')[0] for _, key in lean}
    assert {"auc", "auc_pr", "accuracy", "precision", "recall", "calibration", "example_count"} <= names
    assert any(name.startswith("fairness_indicators_metrics/false_positive_rate@") for name in names)
    for key, value in stock.items():
        assert lean[key].double_value.value == pytest.approx(value.double_value.value, rel=1e-12, abs=1e-12), key
    lean_plots, stock_plots = (_values(tfma_files.load_plots(outputs[k])) for k in ("lean", "stock"))
    assert set(lean_plots) == set(stock_plots) and lean_plots
    for key, value in stock_plots.items():  # as text: the plots hold NaN (0/0 precision), never equal as numbers
        assert str(lean_plots[key]) == str(value), key
