"""Loss weightings and gradient surgery move weights / gradients the way their papers say, checked on
constructed cases with known answers; and through the real model: learned, logged and per-task rates."""
import math

import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg
from trainer.model import build_model
from trainer.weighting import REGISTRY, build_weighting
from trainer.weighting.pcgrad import pcgrad, project_conflicting

from helpers.tiny_trainer import CONFIG, VOCABS, batch


def tasks(*specs):
    """{name: Task} from (name, type, weight) triples."""
    return {name: cfg.Task(type=kind, label=name, weight=weight) for name, kind, weight in specs}


def training(**options):
    return cfg.Training(**options)


def config_with(**training_options):
    raw = CONFIG.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["training"] = {**raw["training"], **training_options}
    return cfg.parse_config(raw)


# ----------------------------------------------------------------------------------------------- fixed
def test_fixed_uses_the_configured_weights():
    weighting = build_weighting(tasks(("a", "binary", 2.0), ("b", "regression", 0.5)), training())
    total, weights = weighting.combine({"a": tf.constant(1.0), "b": tf.constant(4.0)})
    assert float(total) == pytest.approx(2.0 * 1.0 + 0.5 * 4.0)
    assert {n: float(w) for n, w in weights.items()} == {"a": 2.0, "b": 0.5}


# ----------------------------------------------------------------------------------------- uncertainty
def test_uncertainty_converges_to_the_analytic_optimum():
    # For a fixed loss L: classification minimizes exp(-s) L + s/2 at s = log(2L); regression 0.5 exp(-s) L
    # + s/2 at s = log(L). A task with a larger loss ends with a larger log-variance and a smaller weight.
    weighting = build_weighting(tasks(("hard", "binary", 1.0), ("easy", "binary", 1.0), ("reg", "regression", 1.0)),
                                training(loss_weighting="uncertainty"))
    losses = {"hard": tf.constant(4.0), "easy": tf.constant(0.25), "reg": tf.constant(2.0)}
    optimizer = tf.keras.optimizers.SGD(learning_rate=0.1)
    for _ in range(600):
        with tf.GradientTape() as tape:
            total, _ = weighting.combine(losses)
        optimizer.apply_gradients(zip(tape.gradient(total, weighting.trainable_variables),
                                      weighting.trainable_variables))
    np.testing.assert_allclose(weighting.log_variance.numpy(), [math.log(8.0), math.log(0.5), math.log(2.0)],
                               atol=1e-3)
    weights = {n: float(w) for n, w in weighting.weights(losses).items()}
    assert weights["hard"] == pytest.approx(1 / 8, rel=1e-3) and weights["easy"] == pytest.approx(2.0, rel=1e-3)


def test_uncertainty_log_variances_are_learned_by_the_model():
    model = build_model(config_with(loss_weighting="uncertainty"), VOCABS)
    assert model.weighting.log_variance.ref() in {v.ref() for v in model.trainable_variables}
    model.fit(tf.data.Dataset.from_tensors(batch()).repeat(20), epochs=2, verbose=0)
    assert np.all(np.abs(model.weighting.log_variance.numpy()) > 1e-3)


# -------------------------------------------------------------------------------------------- gradnorm
def run_gradnorm(loss_ratios, norms, steps=300, alpha=1.5, weights=(1.0, 1.0)):
    """GradNorm on two tasks whose losses sit at loss_ratios * their first-step loss."""
    weighting = build_weighting(tasks(("a", "binary", weights[0]), ("b", "binary", weights[1])),
                                training(loss_weighting="gradnorm", gradnorm_alpha=alpha, learning_rate=0.01))
    first = {"a": tf.constant(2.0), "b": tf.constant(2.0)}
    norms = {"a": tf.constant(norms[0]), "b": tf.constant(norms[1])}
    weighting.update(first, norms)
    later = {"a": tf.constant(2.0 * loss_ratios[0]), "b": tf.constant(2.0 * loss_ratios[1])}
    for _ in range(steps):
        weighting.update(later, norms)
    return weighting.task_weights.numpy()


def test_gradnorm_raises_the_weight_of_the_task_that_learns_slowest():
    weights = run_gradnorm(loss_ratios=(1.0, 0.1), norms=(1.0, 1.0))  # a: not learning, b: learning fast
    assert weights[0] > 1.5 > 0.5 > weights[1]
    assert weights.sum() == pytest.approx(2.0, rel=1e-5)  # renormalized to the number of tasks


def test_gradnorm_with_alpha_zero_equalizes_the_weighted_gradient_norms():
    weights = run_gradnorm(loss_ratios=(1.0, 1.0), norms=(2.0, 1.0), alpha=0.0, steps=600)
    # target: w_a * 2 == w_b * 1 with w_a + w_b == 2  ->  w_a = 2/3, w_b = 4/3
    np.testing.assert_allclose(weights, [2 / 3, 4 / 3], atol=0.03)


def test_gradnorm_starts_from_the_configured_weights_renormalized():
    weighting = build_weighting(tasks(("a", "binary", 3.0), ("b", "binary", 1.0)), training(loss_weighting="gradnorm"))
    np.testing.assert_allclose(weighting.task_weights.numpy(), [1.5, 0.5])


def test_gradnorm_in_the_model_moves_the_weights_and_keeps_their_sum():
    model = build_model(config_with(loss_weighting="gradnorm"), VOCABS)
    before = model.weighting.task_weights.numpy().copy()
    history = model.fit(tf.data.Dataset.from_tensors(batch()).repeat(20), epochs=2, verbose=0).history
    after = model.weighting.task_weights.numpy()
    assert np.abs(after - before).max() > 0.01 and after.sum() == pytest.approx(len(CONFIG.tasks), rel=1e-4)
    assert history["churn_weight"][-1] != pytest.approx(history["churn_weight"][0])


# ------------------------------------------------------------------------------------------------- dwa
def test_dwa_weights_follow_the_loss_ratio_of_the_last_two_epochs():
    weighting = build_weighting(tasks(("a", "binary", 1.0), ("b", "binary", 2.0)), training(loss_weighting="dwa"))
    loss = {"a": tf.constant(1.0), "b": tf.constant(1.0)}
    assert {n: float(w) for n, w in weighting.weights(loss).items()} == {"a": 1.0, "b": 2.0}  # epochs 1, 2
    weighting.end_epoch({"a": 1.0, "b": 1.0})
    assert float(weighting.weights(loss)["a"]) == 1.0  # one epoch seen: still 1
    weighting.end_epoch({"a": 0.5, "b": 1.0})  # a halved, b flat -> b gets more weight
    ea, eb = math.exp(0.5 / 2.0), math.exp(1.0 / 2.0)
    weights = {n: float(w) for n, w in weighting.weights(loss).items()}
    assert weights["a"] == pytest.approx(2 * ea / (ea + eb)) and weights["b"] == pytest.approx(2.0 * 2 * eb / (ea + eb))


def test_dwa_in_the_model_changes_weights_from_the_third_epoch():
    model = build_model(config_with(loss_weighting="dwa"), VOCABS)
    history = model.fit(tf.data.Dataset.from_tensors(batch()).repeat(10), epochs=4, verbose=0).history
    assert history["intent_weight"][:2] == [1.0, 1.0]
    assert history["intent_weight"][2] != pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- pcgrad
def test_pcgrad_projects_away_the_conflicting_components():
    g1, g2 = np.array([1.0, 1.0]), np.array([-1.0, 0.5])  # g1 . g2 = -0.5 < 0: conflict
    result = project_conflicting(tf.constant([g1, g2], tf.float32)).numpy()
    g1_projected = g1 - (g1 @ g2) / (g2 @ g2) * g2
    g2_projected = g2 - (g2 @ g1) / (g1 @ g1) * g1
    assert g1_projected @ g2 == pytest.approx(0.0) and g2_projected @ g1 == pytest.approx(0.0)
    np.testing.assert_allclose(result, g1_projected + g2_projected, atol=1e-6)  # [-0.15, 1.95]


def test_pcgrad_leaves_agreeing_gradients_alone():
    result = project_conflicting(tf.constant([[1.0, 0.0], [1.0, 1.0]])).numpy()
    np.testing.assert_allclose(result, [2.0, 1.0])


def test_pcgrad_projects_against_the_original_gradients_in_either_order():
    g = np.array([[1.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, -1.0, 1.0]])

    def project(i, order):
        v = g[i].copy()
        for j in order:
            if v @ g[j] < 0:
                v = v - (v @ g[j]) / (g[j] @ g[j]) * g[j]
        return v
    possible = [sum(project(i, o) for i, o in zip(range(3), orders))
                for orders in __import__("itertools").product(*[[o, o[::-1]] for o in ([1, 2], [0, 2], [0, 1])])]
    for seed in range(5):
        result = project_conflicting(tf.constant(g, tf.float32), seed=seed).numpy()
        assert any(np.allclose(result, p, atol=1e-5) for p in possible), result


def test_pcgrad_densifies_sparse_and_missing_gradients():
    variables = [tf.Variable(tf.zeros([3, 2])), tf.Variable(tf.zeros([2]))]
    sparse = tf.IndexedSlices(tf.constant([[1.0, 1.0]]), tf.constant([1]), tf.constant([3, 2]))
    combined = pcgrad([[sparse, None], [None, tf.constant([1.0, 0.0])]], variables)
    np.testing.assert_allclose(combined[0].numpy(), [[0, 0], [1, 1], [0, 0]])
    np.testing.assert_allclose(combined[1].numpy(), [1.0, 0.0])


def surgery_and_plain_gradients(config):
    """(PCGrad gradients, plain gradients of the total loss) of one training step, per model variable."""
    model = build_model(config, VOCABS)
    with tf.GradientTape(persistent=True) as tape:
        losses = model._task_losses(batch(), training=True)
        total, weights = model.weighting.combine(losses)
        weighted = {n: weights[n] * losses[n] for n in losses}
    variables = model.trainable_variables
    dense = lambda gs: [tf.convert_to_tensor(g) if g is not None else tf.zeros_like(v)  # noqa: E731
                        for g, v in zip(gs, variables)]
    surgery = dense(model._surgery_gradients(tape, "pcgrad", total, weighted, variables))
    return model, surgery, dense(tape.gradient(total, variables))


def test_pcgrad_with_one_task_is_the_plain_gradient():
    raw = CONFIG.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["tasks"] = {"churn": raw["tasks"]["churn"]}
    raw["training"]["gradient_surgery"] = "pcgrad"
    model, surgery, plain = surgery_and_plain_gradients(cfg.parse_config(raw))
    assert model.shared_variables()
    for variable, a, b in zip(model.trainable_variables, surgery, plain):
        assert float(tf.norm(b)) > 0, variable.name
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7, err_msg=variable.name)


def test_pcgrad_changes_only_shared_gradients():
    model, surgery, plain = surgery_and_plain_gradients(config_with(gradient_surgery="pcgrad"))
    shared = {v.ref() for v in model.shared_variables()}
    for variable, a, b in zip(model.trainable_variables, surgery, plain):
        if variable.ref() not in shared:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7, err_msg=variable.name)
    assert any(float(tf.norm(a)) > 0 and not np.allclose(a.numpy(), b.numpy())
               for variable, a, b in zip(model.trainable_variables, surgery, plain) if variable.ref() in shared)


@pytest.mark.parametrize("weighting", sorted(REGISTRY))
def test_pcgrad_combines_with_every_weighting(weighting):
    model = build_model(config_with(loss_weighting=weighting, gradient_surgery="pcgrad"), VOCABS)
    shared = model.shared_variables()
    before = [v.numpy().copy() for v in shared]
    history = model.fit(tf.data.Dataset.from_tensors(batch()).repeat(20), epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert all(np.abs(v.numpy() - b).max() > 1e-4 for v, b in zip(shared, before))  # shared layers learn too


# ------------------------------------------------------------------------------------ per-task settings
def test_a_task_learning_rate_applies_to_that_tasks_layers_only():
    raw = CONFIG.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["tasks"]["intent"]["learning_rate"] = 1e-9  # intent's own layers practically frozen
    model = build_model(cfg.parse_config(raw), VOCABS)
    intent = model.task_variables("intent")
    others = model.task_variables("churn") + model.shared_variables()
    assert intent and {v.ref() for v in intent}.isdisjoint({v.ref() for v in others})
    before = [v.numpy().copy() for v in intent + others]
    model.fit(tf.data.Dataset.from_tensors(batch()).repeat(10), epochs=1, verbose=0)
    moved = [np.abs(v.numpy() - b).max() for v, b in zip(intent + others, before)]
    assert max(moved[:len(intent)]) < 1e-6
    assert min(m for m, v in zip(moved[len(intent):], others) if "embedding" not in v.name) > 1e-4


def test_logged_loss_is_the_prior_weighted_objective_whatever_the_weighting():
    model = build_model(config_with(loss_weighting="uncertainty"), VOCABS)
    logs = model.evaluate(tf.data.Dataset.from_tensors(batch()), verbose=0, return_dict=True)
    objective = sum(CONFIG.tasks[n].weight * logs[f"{n}_loss"] for n in CONFIG.tasks)
    assert logs["loss"] == pytest.approx(objective, rel=1e-5)
    assert logs["weighted_loss"] != pytest.approx(logs["loss"])  # weights 1/(2 s^2) etc. differ from the prior
