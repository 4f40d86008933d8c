"""The task-kind table (pipeline/core/kinds.py) is the one list of task types: the config admits exactly its kinds,
and every TensorFlow-side registry keyed by kind (heads, label transforms) and every metric / plot class the
Evaluator is told to build covers each of them."""
import importlib
import json

import pytest
import tf_keras
import tensorflow_model_analysis as tfma

from components import evaluation, metrics, transform
from pipeline import config as cfg
from pipeline.core import kinds
from trainer import heads


def test_config_admits_exactly_the_kinds():
    admitted = cfg.Task.model_fields["type"].annotation.__args__
    assert tuple(admitted) == tuple(kinds.KINDS) == cfg.TASK_TYPES


@pytest.mark.parametrize("registry", [heads.HEADS, transform.LABEL_TRANSFORMS], ids=["heads", "label_transforms"])
def test_tf_registries_cover_every_kind(registry):
    assert set(registry) == set(kinds.KINDS), "registries keyed by task kind must have one row per kind"


def _required(kind: kinds.TaskKind, classes=("a", "b", "c")) -> dict:
    """The keys a task of the kind needs besides type and label."""
    extra = {"classes": list(classes)} if "classes" in kind.keys else {}
    return {**extra, "tokens_of": "text"} if "tokens_of" in kind.keys else extra


def _task(kind: kinds.TaskKind) -> cfg.Task:
    return cfg.Task(type=kind.name, label="y", **_required(kind))


@pytest.mark.parametrize("name", list(kinds.KINDS))
def test_evaluator_builds_every_metric_and_plot_of_the_kind(name):
    """The EvalConfig of a task carries each metric and plot of its kind under its name, with a class that TFMA
    can build (its own metrics, Keras', or the project's per-class module)."""
    kind = kinds.KINDS[name]
    specs = evaluation.task_metrics_specs("t", _task(kind))
    built = {json.loads(m.config)["name"]: m for s in specs for m in s.metrics if m.config}
    assert set(built) == {*kind.metric_names, *(p.name for p in kind.plots)}
    for config in built.values():
        module = metrics if config.module == evaluation.METRICS_MODULE else None
        if config.module and config.module == kind.metrics_module:
            module = importlib.import_module(config.module)
        assert (getattr(module, config.class_name, None) if module else
                getattr(tfma.metrics, config.class_name, None) or getattr(tf_keras.metrics, config.class_name,
                                                                          None)), config.class_name


@pytest.mark.parametrize("name", list(kinds.KINDS))
def test_thresholds_accept_exactly_the_kinds_metrics(name):
    kind = kinds.KINDS[name]
    extra = _required(kind, ("a", "b"))
    for metric in kinds.METRICS.values():
        bar = {"max_rise": 0.1} if metric.direction == "lower" else {"min": 0.5}
        raw = {"type": name, "label": "y", "thresholds": {metric.name: bar}, **extra}
        if metric.name in kind.metric_names:
            cfg.Task(**raw)
        else:
            with pytest.raises(ValueError, match=f"'{metric.name}' is not a {name} metric"):
                cfg.Task(**raw)


def test_derived_metric_facts():
    assert cfg.LOWER_IS_BETTER == ("mae", "rmse", "mse")
    assert cfg.NO_DIRECTION == ("calibration",)
    assert set(cfg.PER_CLASS_METRICS) == {"macro_auc", "macro_f1"}
    assert {k.serving_method for k in kinds.KINDS.values()} == {"classify", "regress", ""}  # "": tagging
