"""trainer/crf.py against brute force: the log-partition and the gold-path score by enumerating every tag path
of tiny cases (so the log-likelihood is exact), Viterbi against the brute-force argmax, padding (masked steps,
anywhere in the sequence) that changes nothing, and a tf_keras tagger with the CRF layer that trains, exports
to a SavedModel of stock TensorFlow ops only and decodes the same paths after reloading without tf_keras."""
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from helpers.served import OPS_SCRIPT
from trainer import crf

K = 3


def _params(seed, k=K):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(size=s), tf.float32) for s in ([k, k], [k], [k])]


def _path_score(pot, path, trans, start, end):
    return (start[path[0]] + sum(pot[t, y] for t, y in enumerate(path)) + end[path[-1]]
            + sum(trans[a, b] for a, b in zip(path, path[1:])))


def _brute(pot, trans, start, end):
    """{path: score} over every tag path of one unmasked sequence [T, K]."""
    pot, trans, start, end = (np.asarray(x, np.float64) for x in (pot, trans, start, end))
    return {p: _path_score(pot, p, trans, start, end) for p in itertools.product(range(pot.shape[1]), repeat=len(pot))}


@pytest.mark.parametrize("length", [1, 2, 4])
def test_log_likelihood_and_viterbi_equal_brute_force(length):
    trans, start, end = _params(length)
    pot = tf.constant(np.random.default_rng(10 + length).normal(size=[3, length, K]), tf.float32)
    tags = tf.constant(np.random.default_rng(20 + length).integers(0, K, size=[3, length]), tf.int32)
    log_z = crf.log_partition(pot, None, trans, start, end).numpy()
    score = crf.sequence_score(pot, tags, None, trans, start, end).numpy()
    path, best = crf.viterbi_decode(pot, None, trans, start, end)
    for b in range(3):
        paths = _brute(pot[b], trans, start, end)
        assert log_z[b] == pytest.approx(np.logaddexp.reduce(list(paths.values())), rel=1e-5)
        assert score[b] == pytest.approx(paths[tuple(tags[b].numpy())], rel=1e-5)
        argmax = max(paths, key=paths.get)
        assert tuple(path[b].numpy()) == argmax and best[b].numpy() == pytest.approx(paths[argmax], rel=1e-5)
    ll = crf.log_likelihood(pot, tags, None, trans, start, end).numpy()
    np.testing.assert_allclose(ll, score - log_z, rtol=1e-5)
    assert np.all(ll < 0)


@pytest.mark.parametrize("valid", [[1, 1, 1, 0, 0], [0, 1, 1, 0, 1], [1, 0, 1, 0, 1], [1, 0, 0, 0, 0],
                                   [0, 0, 0, 0, 0]])
def test_masked_steps_change_nothing(valid):
    """Sequences with masked steps (junk potentials and labels there) score and decode as their valid steps."""
    trans, start, end = _params(3)
    rng = np.random.default_rng(4)
    full = rng.normal(size=[8, 5, K]).astype(np.float32) * 3
    tags = rng.integers(0, K, size=[8, 5]).astype(np.int32)
    keep = np.array(valid, bool)
    tags[:, ~keep] = -1  # padding labels
    mask = tf.constant(np.tile(keep, [8, 1]))
    path, best = crf.viterbi_decode(tf.constant(full), mask, trans, start, end, pad_tag=0)
    ll = crf.log_likelihood(tf.constant(full), tf.constant(tags), mask, trans, start, end).numpy()
    for b in range(8):
        if not keep.any():
            assert ll[b] == 0.0 and best.numpy()[b] == 0.0 and path.numpy()[b].tolist() == [0] * 5
            continue
        paths = _brute(full[b, keep], trans, start, end)
        log_z = np.logaddexp.reduce(list(paths.values()))
        assert ll[b] == pytest.approx(paths[tuple(tags[b, keep])] - log_z, rel=1e-5, abs=1e-4)
        decoded = path.numpy()[b]
        assert tuple(decoded[keep]) == max(paths, key=paths.get) and np.all(decoded[~keep] == 0)
        assert best.numpy()[b] == pytest.approx(max(paths.values()), rel=1e-5)


def _tagger(vocab=12, tags=K):
    tokens = tf_keras.Input(shape=[None], dtype=tf.int64, name="tokens")
    embedded = tf_keras.layers.Embedding(vocab, 8, mask_zero=True)(tokens)
    potentials = tf_keras.layers.Dense(tags, name="potentials")(embedded)
    layer = crf.CRF(tags, name="crf")
    decoded = layer(potentials)
    return tf_keras.Model(tokens, {"potentials": potentials, "tags": decoded}), layer


@pytest.fixture(scope="module")
def trained():
    """Tokens 1..11; tag = token % 3, except that a token after a token of tag 2 has tag 2 (a transition rule)."""
    tf_keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 12, size=[64, 7])
    tokens[:, 5:][rng.random(size=[64, 2]) < 0.5] = 0  # right padding
    tags = np.where(tokens > 0, tokens % 3, -1)
    for t in range(1, 7):
        tags[:, t] = np.where((tokens[:, t] > 0) & (tags[:, t - 1] == 2), 2, tags[:, t])
    model, layer = _tagger()
    optimizer = tf_keras.optimizers.Adam(0.1)
    losses = []
    for _ in range(60):
        with tf.GradientTape() as tape:
            out = model(tokens)
            loss = -tf.reduce_mean(layer.log_likelihood(out["potentials"], tags, tokens > 0))
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(g is not None for g in grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    return model, tokens, tags, losses


def test_the_crf_tagger_trains_and_learns_the_transition_rule(trained):
    """Per-token potentials cannot see the previous tag; the decoded paths get the rule through the transitions."""
    model, tokens, tags, losses = trained
    assert losses[-1] < 0.3 * losses[0]
    out = model(tokens)
    valid = tokens > 0
    crf_accuracy = (out["tags"].numpy()[valid] == tags[valid]).mean()
    unary_accuracy = (out["potentials"].numpy().argmax(-1)[valid] == tags[valid]).mean()
    assert crf_accuracy > 0.93 and crf_accuracy > unary_accuracy + 0.2, (crf_accuracy, unary_accuracy)
    assert np.all(out["tags"].numpy()[~valid] == 0)


RELOAD = r"""
import json, sys
import numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
tokens = tf.constant(json.loads(sys.argv[2]), tf.int64)
print(json.dumps(model.signatures["serving_default"](tokens=tokens)["tags"].numpy().tolist()))
"""


def test_export_has_only_stock_ops_and_reloads_the_same_paths(trained, tmp_path):
    model, tokens, _, _ = trained

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int64, name="tokens")])
    def serve(batch):
        return {"tags": model(batch)["tags"]}

    export = str(tmp_path / "tagger")
    tf.saved_model.save(model, export, signatures={"serving_default": serve})
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    ops = subprocess.run([sys.executable, "-c", OPS_SCRIPT, export], capture_output=True, text=True, env=env,
                         timeout=300)  # tests/helpers/served.py: every op in the stock registry, no tf_keras import
    assert ops.returncode == 0, ops.stderr[-2000:]
    found = json.loads(ops.stdout.strip().splitlines()[-1])
    assert found["unknown"] == [] and found["modules"] == [] and found["ops"] > 30, found
    result = subprocess.run([sys.executable, "-c", RELOAD, export, json.dumps(tokens[:16].tolist())],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == model(tokens[:16])["tags"].numpy().tolist()


def test_bad_configuration_is_named():
    with pytest.raises(ValueError, match="num_tags must be >= 1"):
        crf.CRF(0)
    with pytest.raises(ValueError, match="potentials have 4 scores per token, expected num_tags=3"):
        crf.CRF(3)(tf.zeros([1, 2, 4]))
