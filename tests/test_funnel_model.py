"""The funnel tasks of issue 23 through real TFT and the real trainer: task spaces (`where`) and weight columns
checked row by row in the transformed masks, ESMM's served pCTCVR equal to pCTR x pCVR with its CVR tower trained
only through the product, AITM's transfer and calibrator, both under every loss weighting."""
import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg
from trainer import export
from trainer.model import Vocabularies, build_model, split_example
from trainer.weighting import REGISTRY as WEIGHTINGS

from helpers.four_tasks import serialize, write_transform

SPEC = {"segment": tf.string, "price": tf.float32, "click": tf.string, "conversion": tf.string,
        "device": tf.string, "weight": tf.float32}
ROWS = 400


def funnel_rows(rows=ROWS, seed=3):
    """Impressions: click more likely for segment a, conversion only after a click and likelier when cheap."""
    rng = np.random.default_rng(seed)
    found = []
    for i in range(rows):
        segment = "abc"[rng.integers(3)]
        price = float(np.round(rng.lognormal(3, 1), 2))
        click = rng.random() < (0.5 if segment == "a" else 0.2)
        conversion = click and rng.random() < (0.7 if price < 20 else 0.2)
        found.append({"segment": segment, "price": str(price), "click": str(int(click)),
                      "conversion": str(int(conversion)), "device": ["app", "web", "", " tv "][i % 4],
                      "weight": ["1", "2.5", "", "0"][i % 4]})
    return found


def funnel_config(architecture="esmm", weighting="fixed", **tasks):
    raw = {"name": "funnel", "data": {"train": "train.csv", "eval": "eval.csv"},
           "features": {"segment": {"type": "categorical", "min_frequency": 1}, "price": {"type": "numeric"}},
           "tasks": {"ctr": {"type": "binary", "label": "click"},
                     "cvr": {"type": "binary", "label": "conversion", "where": {"column": "click", "equals": 1}},
                     "ctcvr": {"type": "binary", "label": "conversion", "product_of": ["ctr", "cvr"]}},
           "model": {"architecture": architecture, "shared_units": [16], "tower_units": [8]},
           "training": {"epochs": 3, "batch_size": 32, "learning_rate": 0.02, "loss_weighting": weighting}}
    if architecture == "aitm":
        raw["tasks"] = {"ctr": {"type": "binary", "label": "click"},
                        "ctcvr": {"type": "binary", "label": "conversion", "after": ["ctr"]}}
    raw["tasks"].update(tasks)
    return cfg.parse_config(raw)


@pytest.fixture(scope="module")
def transformed():
    """One TFT graph for every config below (the same label-side tasks), its output on the rows, the rows."""
    rows = funnel_rows()
    config = funnel_config(
        apps={"type": "binary", "label": "click", "where": {"column": "device", "in": ["app", "tv"]}},
        cheap={"type": "binary", "label": "conversion", "where": {"column": "price", "<": 20, ">=": 5},
               "weight_column": "weight"})
    output = write_transform(cfg.data_contract(config), rows, SPEC)
    layer = output.transform_features_layer()
    values = layer(tf.io.parse_example([serialize(r, SPEC, SPEC) for r in rows], output.raw_feature_spec()))
    return output, {k: v.numpy() for k, v in values.items() if not isinstance(v, tf.SparseTensor)}, rows


def test_masks_follow_the_task_space_and_weight_row_by_row(transformed):
    _, values, rows = transformed
    for i, row in enumerate(rows):
        assert values[cfg.mask_key("ctr")][i] == 1.0
        assert values[cfg.mask_key("cvr")][i] == (1.0 if row["click"] == "1" else 0.0), row
        assert values[cfg.mask_key("apps")][i] == (1.0 if row["device"].strip() in ("app", "tv") else 0.0), row
        price, weight = float(row["price"]), float(row["weight"] or 0)
        assert values[cfg.mask_key("cheap")][i] == pytest.approx(weight if 5 <= price < 20 else 0.0), row
        assert values[cfg.label_key("cvr")][i] == int(row["conversion"])  # the label itself is unchanged


def _fit(config, output, rows):
    vocabularies = Vocabularies.from_transform_output(config, output)
    layer = output.transform_features_layer()
    values = layer(tf.io.parse_example([serialize(r, SPEC, SPEC) for r in rows], output.raw_feature_spec()))
    data = tf.data.Dataset.from_tensor_slices(split_example(config)(values)).batch(32).cache()
    model = build_model(config, vocabularies)
    history = model.fit(data, epochs=config.training.epochs, verbose=0).history
    return model, history


def test_esmm_serves_the_product_and_trains_cvr_only_through_it(transformed, tmp_path):
    output, _, rows = transformed
    config = funnel_config("esmm")
    model, history = _fit(config, output, rows)
    assert model.trained_tasks == ["ctr", "ctcvr"]  # ESMM: CTR + CTCVR over every row
    assert history["cvr_weight"][-1] == 0.0 and history["cvr_loss"][-1] > 0  # logged, not trained
    assert history["loss"][-1] < history["loss"][0]
    export.export(model, output, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    examples = tf.constant([serialize(r, ("segment", "price"), SPEC) for r in rows[:50]])
    served = loaded.signatures["serving_default"](examples=examples)
    np.testing.assert_allclose(served["ctcvr"].numpy(), served["ctr"].numpy() * served["cvr"].numpy(), rtol=1e-5)
    assert {"classify_ctr", "classify_cvr", "classify_ctcvr"} <= set(loaded.signatures)
    classified = loaded.signatures["classify_ctcvr"](inputs=examples)
    np.testing.assert_allclose(classified["scores"].numpy()[:, 1], served["ctcvr"].numpy()[:, 0], rtol=1e-5)
    assert served["ctcvr_label"].numpy()[0] in (b"0", b"1")


def test_without_esmm_a_product_task_trains_every_factor(transformed):
    output, _, rows = transformed
    model, history = _fit(funnel_config("shared_bottom"), output, rows)
    assert model.trained_tasks == ["ctr", "cvr", "ctcvr"] and history["cvr_weight"][-1] > 0
    assert not any(layer.name.startswith("ctcvr_tower") for layer in model.layers)  # no tower of its own


def test_aitm_transfers_along_the_funnel_and_calibrates(transformed):
    output, _, rows = transformed
    config = funnel_config("aitm")
    model, history = _fit(config, output, rows)
    assert {"ctcvr_transfer", "ctcvr_ait"} <= {layer.name for layer in model.layers}
    assert len(model.losses) == 1  # the calibrator on the symbolic outputs
    assert history["loss"][-1] < history["loss"][0]
    examples = {k: v for k, v in next(iter(_batches(config, output, rows)))[0].items()}
    outputs = model(examples, training=False)
    later_above = np.mean(outputs["ctcvr"].numpy() > outputs["ctr"].numpy() + 1e-6)
    assert later_above < 0.05, later_above  # the calibrator keeps p(convert) under p(click)


def _batches(config, output, rows):
    layer = output.transform_features_layer()
    values = layer(tf.io.parse_example([serialize(r, SPEC, SPEC) for r in rows], output.raw_feature_spec()))
    return tf.data.Dataset.from_tensor_slices(split_example(config)(values)).batch(len(rows))


@pytest.mark.parametrize("architecture", ["esmm", "aitm"])
@pytest.mark.parametrize("weighting", sorted(WEIGHTINGS))
def test_funnel_architectures_train_under_every_loss_weighting(transformed, architecture, weighting):
    output, _, rows = transformed
    config = funnel_config(architecture, weighting)
    _, history = _fit(config.model_copy(update={"training": config.training.model_copy(update={"epochs": 2})}),
                      output, rows[:128])
    assert all(np.isfinite(v[-1]) for v in history.values()), history


def test_funnel_config_errors_name_the_key():
    with pytest.raises(cfg.ConfigError, match="esmm needs a task that is the product"):
        funnel_config("esmm", ctcvr={"type": "binary", "label": "conversion"})
    with pytest.raises(cfg.ConfigError, match="'cvr' is a regression task"):
        funnel_config("shared_bottom", cvr={"type": "regression", "label": "conversion"})
    with pytest.raises(cfg.ConfigError, match="give one condition"):
        funnel_config("esmm", cvr={"type": "binary", "label": "conversion", "where": {"column": "click"}})
    with pytest.raises(cfg.ConfigError, match="aitm transfers from one task"):
        funnel_config("aitm", ctcvr={"type": "binary", "label": "conversion", "after": ["ctr", "ctr2"]},
                      ctr2={"type": "binary", "label": "click"})
