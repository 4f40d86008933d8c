"""Each served output belongs to its own task: the exported SavedModel (trainer/export.py, on the four-task
fixture: a binary, a multiclass, a multilabel and a regression task, two of them [B, 1]) answers every task with
the Keras model's own scores for the same rows — in `serving_default`, `scores` and each task's `classify_<task>` /
`regress_<task>` signature — and each `<task>_label` is the decode of that task's scores by the model's contract.
No pipeline run: the fixture's TFT graph (real TFT on Beam), the trainer's model (seeded random kernels: the wiring is
under test, not the fit) and export, real TensorFlow."""
import numpy as np
import pytest
import tensorflow as tf

from serving.contract import ModelContract
from helpers.four_tasks import config_for, dataset, serialize, transform_output  # noqa: F401 - a fixture
from trainer import export
from trainer.inputs import input_keys
from trainer.model import Vocabularies, build_model

ROWS = 24


@pytest.fixture(scope="module")
def exported(transform_output, tmp_path_factory):  # noqa: F811 - the imported fixture
    """(config, Keras model, loaded SavedModel, contract, serialized rows, the model's scores on those rows)."""
    tf_transform_output, rows = transform_output
    config = config_for("shared_bottom")
    model = build_model(config, Vocabularies.from_transform_output(config, tf_transform_output))
    model(next(iter(dataset(config, tf_transform_output, rows[:32])))[0], training=False)  # build the weights
    rng = np.random.default_rng(1)  # spread kernels and embeddings instead of training (the wiring is under test;
    for variable in model.trainable_weights:  # varied scores give each task's output and each label its own values)
        if len(variable.shape) >= 2:
            variable.assign(rng.normal(0.0, 0.6, variable.shape).astype(variable.dtype.as_numpy_dtype))
    directory = str(tmp_path_factory.mktemp("export") / "model")
    export.export(model, tf_transform_output, directory)
    serialized = [serialize(r, ("message", "tier", "account_months")) for r in rows[-ROWS:]]
    transformed = tf_transform_output.transform_features_layer()(
        tf.io.parse_example(serialized, tf_transform_output.raw_feature_spec()))
    expected = {k: v.numpy() for k, v in model({k: transformed[k] for k in input_keys(config)}, training=False).items()}
    return config, tf.saved_model.load(directory), ModelContract.load(directory), tf.constant(serialized), expected


def _close(served, expected, what):
    np.testing.assert_allclose(np.asarray(served), expected, rtol=1e-5, atol=1e-6, err_msg=what)


def test_the_rows_tell_the_tasks_apart(exported):
    """Guard for the tests below: the two [B, 1] outputs differ, and the labels are not all one value."""
    _, _, _, _, expected = exported
    assert expected["escalate"].shape == expected["minutes"].shape == (ROWS, 1)
    assert not np.allclose(expected["escalate"], expected["minutes"], atol=1e-3)
    assert len(set(np.argmax(expected["intent"], axis=1))) > 1
    assert 0 < np.mean(expected["escalate"] >= 0.5) < 1 and 0 < np.mean(expected["keywords"] >= 0.5) < 1


@pytest.mark.parametrize("signature", ["serving_default", "scores"])
def test_every_tasks_served_scores_are_the_models_scores_for_that_task(exported, signature):
    config, loaded, _, examples, expected = exported
    served = {k: v.numpy() for k, v in loaded.signatures[signature](examples=examples).items()}
    labels = {export.label_output(n) for n, t in config.tasks.items() if t.type != "regression"}
    assert set(served) == set(config.tasks) | (labels if signature == "serving_default" else set())
    for task in config.tasks:
        _close(served[task], expected[task], f"{signature}: output '{task}'")


def test_each_task_signature_answers_its_own_task(exported):
    config, loaded, contract, examples, expected = exported
    for name, task in config.tasks.items():
        signature = export.task_signature(name, task)
        assert contract.tasks[name].signature == signature
        out = {k: v.numpy() for k, v in loaded.signatures[signature](inputs=examples).items()}
        if task.type == "regression":
            _close(out["outputs"], expected[name][:, 0], signature)
            continue
        scores = expected[name]
        if task.type == "binary":
            scores = np.concatenate([1.0 - scores, scores], axis=1)  # TF Serving's Classify: [1 - p, p]
        _close(out["scores"], scores, f"{signature}: scores")
        classes = [[c.decode() for c in row] for row in out["classes"]]
        assert classes == [contract.tasks[name].classes] * len(classes), signature


def test_each_label_is_the_decode_of_its_own_tasks_scores(exported):
    """`<task>_label` against the contract's decode (computed in Python from the served scores: binary p >= 0.5,
    multiclass argmax, multilabel every class with p >= 0.5, `separator`-joined)."""
    config, loaded, contract, examples, _ = exported
    served = loaded.signatures["serving_default"](examples=examples)
    scores_only = {k: v.numpy() for k, v in served.items() if not k.endswith("_label")}
    decoded = contract.answers(scores_only)  # no labels given: the contract decodes the scores itself
    for name, task in config.tasks.items():
        if task.type == "regression":
            continue
        labels = [b.decode() for b in served[export.label_output(name)].numpy()]
        if task.type == "multilabel":
            want = [task.label_separator.join(d[name]["labels"]) for d in decoded]
        else:
            want = [d[name]["label"] for d in decoded]
        assert labels == want, name
