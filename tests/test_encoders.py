"""trainer/encoders.py with real TensorFlow: every `features.X.encoder` gives states [B, T, H] and a pooled
vector [B, H] that padding cannot change (the bidirectional RNNs' masking included); the contextual encoders
see word order and bag does not, down to a tiny task only word order decides; each exports to a SavedModel of
stock TensorFlow ops and rebuilds from its get_config. The config keys reach the layers, and misplaced ones
are refused."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from pydantic import ValidationError

from helpers.served import assert_only_stock_ops
from pipeline import config as cfg
from trainer import encoders

ALL = list(cfg.TEXT_ENCODERS)
CONTEXTUAL = [e for e in ALL if e != "bag"]
VOCAB, D, UNITS = 20, 6, 8
# Fixed "embedding table"; row 0 (padding) is not zero, as in a trained Embedding: masking has to do the work.
TABLE = np.random.default_rng(0).normal(size=[VOCAB, D]).astype(np.float32)


def layer_for(encoder, **options):
    """The encoder as build_encoder makes it from the config (bag takes no width)."""
    options = {**({} if encoder == "bag" else {"encoder_units": UNITS}), **options}
    return encoders.build_encoder(cfg.TextFeature(type="text", encoder=encoder, **options), name=f"{encoder}_enc")


def encode(layer, ids):
    ids = np.asarray(ids, np.int64)
    states, pooled = layer([tf.constant(TABLE[ids]), tf.constant(ids)])
    return states.numpy(), pooled.numpy()


def width(encoder):
    return D if encoder == "bag" else UNITS


# ------------------------------------------------------------------------------------------- config
def test_every_configured_encoder_is_built():
    assert set(encoders.ENCODERS) == set(cfg.TEXT_ENCODERS)


def test_config_keys_reach_the_layer_and_defaults_apply():
    layer = layer_for("transformer", encoder_units=12, encoder_layers=3, encoder_heads=4)
    assert isinstance(layer, encoders.TransformerEncoder)
    assert {k: layer.get_config()[k] for k in ("units", "layers", "heads")} == {"units": 12, "layers": 3, "heads": 4}
    defaults = {e: encoders.build_encoder(cfg.TextFeature(type="text", encoder=e), name=e).get_config()
                for e in CONTEXTUAL}
    assert {e: (c["units"], c["layers"]) for e, c in defaults.items()} == {
        "cnn": (64, 2), "bilstm": (64, 1), "bigru": (64, 1), "transformer": (64, 2)}
    assert (defaults["bilstm"]["cell"], defaults["bigru"]["cell"], defaults["transformer"]["heads"]) == ("lstm", "gru", 2)
    assert type(encoders.build_encoder(cfg.TextFeature(type="text"), name="t")) is encoders.BagEncoder


@pytest.mark.parametrize("options, message", [
    ({"encoder_units": 16}, "encoder_units: only cnn, bilstm, bigru, transformer use this option"),
    ({"encoder": "cnn", "encoder_heads": 2}, "encoder_heads: only transformer uses this option"),
    ({"encoder": "bigru", "encoder_units": 15}, "give an even number, not 15"),
    ({"encoder": "rnn"}, "encoder"),
    ({"encoder": "bigru", "encoder_dropout": 1.0}, "encoder_dropout"),
])
def test_keys_that_do_not_fit_the_encoder_are_refused(options, message):
    with pytest.raises(ValidationError, match=message):
        cfg.TextFeature(type="text", **options)


# ------------------------------------------------------------------------------------- behaviour
IDS = [[3, 4, 5, 6, 7], [8, 9, 10, 0, 0], [11, 0, 0, 0, 0], [0, 0, 0, 0, 0]]  # right-padded, last row empty


@pytest.mark.parametrize("encoder", ALL)
def test_shapes_and_pooled_is_the_mean_over_real_tokens(encoder):
    states, pooled = encode(layer_for(encoder), IDS)
    assert states.shape == (4, 5, width(encoder)) and pooled.shape == (4, width(encoder))
    present = (np.asarray(IDS) > 0)[..., None]
    expected = (states * present).sum(1) / np.maximum(present.sum(1), 1)
    np.testing.assert_allclose(pooled, expected, atol=1e-5)
    assert np.all(pooled[3] == 0) and np.all(np.isfinite(states))
    if encoder != "bag":
        assert np.all(states[~present[..., 0]] == 0), "padding positions must have zero states"


@pytest.mark.parametrize("encoder", ALL)
def test_appended_padding_changes_no_real_state_nor_the_pooled_vector(encoder):
    layer = layer_for(encoder, **({"encoder_layers": 2} if encoder in ("bilstm", "bigru") else {}))
    states, pooled = encode(layer, IDS)
    longer_states, longer_pooled = encode(layer, np.pad(IDS, [(0, 0), (0, 4)]))
    real = np.asarray(IDS) > 0
    assert longer_states.shape[1] == 9
    np.testing.assert_allclose(longer_states[:, :5][real], states[real], atol=1e-5)
    np.testing.assert_allclose(longer_pooled, pooled, atol=1e-5)


@pytest.mark.parametrize("encoder", ALL)
def test_dropout_drops_in_training_only_and_keeps_padding_out(encoder):
    """encoder_dropout: inference is the undropped layer's (same weights) on every call; a training call drops
    elements (zeros appear, the rest is rescaled) yet padding states stay zero and pooled stays the mean over
    real tokens."""
    layer, plain = layer_for(encoder, encoder_dropout=0.5), layer_for(encoder)
    assert layer.get_config()["dropout"] == 0.5 and plain.get_config()["dropout"] == 0.0
    ids = np.asarray(IDS, np.int64)
    inputs = [tf.constant(TABLE[ids]), tf.constant(ids)]
    plain(inputs)
    layer(inputs)
    plain.set_weights(layer.get_weights())
    expected = plain(inputs, training=True)[0].numpy()  # no dropout configured: training changes nothing
    for _ in range(2):
        np.testing.assert_allclose(layer(inputs, training=False)[0].numpy(), expected, atol=1e-6)
    tf_keras.utils.set_random_seed(1)
    states, pooled = (t.numpy() for t in layer(inputs, training=True))
    real = ids > 0
    assert np.mean(states[real] == 0) > 0.2, "training must drop elements"
    assert not np.allclose(states[real], expected[real], atol=1e-3)
    assert np.all(states[~real] == 0) or encoder == "bag"
    present = real[..., None]
    np.testing.assert_allclose(pooled, (states * present).sum(1) / np.maximum(present.sum(1), 1), atol=1e-5)


def test_rnn_mask_keeps_batches_with_empty_texts_on_the_cudnn_kernel():
    """tf_keras' own test for its cuDNN kernel (private module): right padding and no fully masked row."""
    from tf_keras.src.layers.rnn import gru_lstm_utils

    ids = tf.constant(IDS, tf.int64)
    assert not bool(gru_lstm_utils.is_cudnn_supported_inputs(encoders.token_mask(ids), False, None))
    assert bool(gru_lstm_utils.is_cudnn_supported_inputs(encoders.rnn_mask(ids), False, None))
    np.testing.assert_array_equal(encoders.rnn_mask(ids).numpy()[:3], np.asarray(IDS)[:3] > 0)


@pytest.mark.parametrize("encoder", ALL)
def test_contextual_states_see_word_order_and_bag_does_not(encoder):
    """The same tokens permuted: each token's state (compared token by token) and the pooled vector move for a
    contextual encoder and stay put for bag."""
    layer = layer_for(encoder)
    ids = np.array([[3, 4, 5, 6, 7], [8, 9, 10, 12, 0]])
    order = np.array([[4, 2, 0, 3, 1], [3, 0, 2, 1, 4]])  # the second keeps its padding last
    permuted = np.take_along_axis(ids, order, axis=1)
    states, pooled = encode(layer, ids)
    p_states, p_pooled = encode(layer, permuted)
    real = permuted > 0
    token_aligned = np.take_along_axis(states, order[..., None], axis=1)
    state_moved = np.abs(p_states - token_aligned)[real].max()
    pooled_moved = np.abs(p_pooled - pooled).max(axis=1)
    if encoder == "bag":
        assert state_moved < 1e-6 and pooled_moved.max() < 1e-6
    else:
        assert state_moved > 1e-3 and pooled_moved.min() > 1e-4, (state_moved, pooled_moved)


# ------------------------------------------------------------------------------------------ learning
def order_task(rows, seed, length=6):
    """Filler tokens 3..8 with the pair "1 2" (label 1) or "2 1" (label 0) somewhere; 2..6 tokens, padded. Both
    labels have the same bag of words, so only word order tells them apart."""
    rng = np.random.default_rng(seed)
    ids, labels = np.zeros([rows, length], np.int64), rng.integers(0, 2, rows)
    for i in range(rows):
        n = rng.integers(2, length + 1)
        row = rng.integers(3, 9, n)
        at = rng.integers(0, n - 1)
        row[at:at + 2] = [1, 2] if labels[i] else [2, 1]
        ids[i, :n] = row
    return ids, labels.astype(np.float32)


@pytest.mark.parametrize("encoder", ALL)
def test_word_order_task_is_learnt_by_contextual_encoders_only(encoder):
    ids, labels = order_task(256, seed=0)
    test_ids, test_labels = order_task(512, seed=1)
    embed, encoder_layer, head = (tf_keras.layers.Embedding(9, 8), layer_for(encoder, **({} if encoder == "bag" else {"encoder_units": 16})),
                                  tf_keras.layers.Dense(1))

    def logits(x):
        return head(encoder_layer([embed(x), x])[1])[:, 0]

    logits(ids[:2])
    variables = embed.trainable_variables + encoder_layer.trainable_variables + head.trainable_variables
    optimizer = tf_keras.optimizers.Adam(0.01)

    @tf.function(autograph=False)  # AutoGraph would rewrite every tf_keras function it reaches (seconds each)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits(ids)))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    for _ in range(300):
        step()
    accuracy = float(np.mean((logits(test_ids).numpy() > 0) == test_labels))
    if encoder == "bag":
        assert accuracy < 0.6, accuracy
    else:
        assert accuracy > 0.95, accuracy


# -------------------------------------------------------------------------------------- export
def test_export_has_only_stock_ops_and_serves_the_same(tmp_path):
    """One small model with a branch per encoder (one save and one clean process instead of five)."""
    ids = tf_keras.Input([5], dtype=tf.int64, name="ids")
    outputs = {}
    for encoder in ALL:
        embedded = tf_keras.layers.Embedding(VOCAB, D, name=f"{encoder}_embedding")(ids)
        layer = layer_for(encoder, **({} if encoder == "bag" else {"encoder_layers": 1}))
        for key, value in zip(("states", "pooled"), layer([embedded, ids])):
            key = f"{encoder}_{key}"  # a named identity layer, so the signature's output keys say what they are
            outputs[key] = tf_keras.layers.Activation("linear", name=key)(value)
    model = tf_keras.Model(ids, outputs)
    export = str(tmp_path / "encoders")
    model.save(export, save_format="tf")
    assert_only_stock_ops(export)  # tests/helpers/served.py: read in a process that imports only TensorFlow
    served = tf.saved_model.load(export).signatures["serving_default"](ids=tf.constant(IDS, tf.int64))
    expected = model(np.asarray(IDS))
    assert set(served) == set(outputs)
    for key, value in expected.items():
        np.testing.assert_allclose(served[key].numpy(), value.numpy(), atol=1e-5, err_msg=key)


@pytest.mark.parametrize("encoder", CONTEXTUAL)
def test_get_config_rebuilds_the_same_layer(encoder):
    layer = layer_for(encoder, encoder_layers=3, **({"encoder_heads": 4} if encoder == "transformer" else {}))
    states, _ = encode(layer, IDS)
    clone = type(layer).from_config(layer.get_config())
    encode(clone, IDS)
    assert [w.shape for w in clone.get_weights()] == [w.shape for w in layer.get_weights()]
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(encode(clone, IDS)[0], states, atol=1e-6)


# -------------------------------------------------------------------------------------- subwords
def test_subword_sum_adds_the_mean_of_each_tokens_subword_embeddings():
    """features.X.subwords: word embedding + mean of its present subword embeddings; a token without subwords
    (padding) keeps its word embedding, and two words sharing the OOV id differ by their subwords."""
    from trainer.inputs import SubwordSum

    layer = SubwordSum(10, D, name="subwords")
    words = tf.constant(np.stack([TABLE[[1, 1, 0]]]))  # tokens 0 and 1 share a word id (the OOV bucket)
    pieces = np.zeros([1, 3, cfg.MAX_SUBWORDS], np.int64)
    pieces[0, 0, :3], pieces[0, 1, :2] = [3, 5, 7], [3, 9]
    out = layer([words, tf.constant(pieces)]).numpy()
    table = layer.embedding.get_weights()[0]
    np.testing.assert_allclose(out[0, 0], TABLE[1] + table[[3, 5, 7]].mean(0), atol=1e-6)
    np.testing.assert_allclose(out[0, 1], TABLE[1] + table[[3, 9]].mean(0), atol=1e-6)
    np.testing.assert_allclose(out[0, 2], TABLE[0], atol=1e-6)
    assert not np.allclose(out[0, 0], out[0, 1])
    clone = SubwordSum.from_config(layer.get_config())
    clone([words, tf.constant(pieces)])
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone([words, tf.constant(pieces)]).numpy(), out, atol=1e-6)


def test_word_dropout_reads_known_tokens_as_oov_in_training_only():
    from trainer.inputs import WordDropout

    layer = WordDropout(0.25, first_oov=18, oov_buckets=2, name="word_dropout")
    ids = np.tile(np.array([[0, 1, 5, 17, 18, 19]], np.int64), [4000, 1])
    np.testing.assert_array_equal(layer(tf.constant(ids)).numpy(), ids)  # serving: unchanged
    dropped = layer(tf.constant(ids), training=True).numpy()
    np.testing.assert_array_equal(dropped[:, [0, 4, 5]], ids[:, [0, 4, 5]])  # padding and OOV ids stay
    changed = dropped[:, 1:4] != ids[:, 1:4]
    assert abs(changed.mean() - 0.25) < 0.02, changed.mean()
    expected_bucket = 18 + ids[:, 1:4] % 2
    np.testing.assert_array_equal(dropped[:, 1:4][changed], expected_bucket[changed])
    assert WordDropout.from_config(layer.get_config()).get_config() == layer.get_config()


def test_encoder_keys_are_model_settings_and_subwords_a_transform_setting():
    """Changing an encoder key re-runs the Trainer only: the data contract Transform is keyed on stays the same;
    `subwords` adds a Transform output, so it changes the contract."""
    def contract(**text):
        return cfg.data_contract(cfg.parse_config({
            "name": "t", "data": {"train": "x.csv"}, "features": {"msg": {"type": "text", **text}},
            "tasks": {"y": {"type": "binary", "label": "y"}}}))
    plain = contract()
    assert contract(encoder="bigru", encoder_units=32, encoder_layers=2, encoder_dropout=0.2,
                    word_dropout=0.1) == plain
    assert contract(subwords=100) != plain


def test_subwords_default_on_for_a_text_a_tagging_task_reads():
    def resolved(tagging: bool, **text):
        tasks = {"y": {"type": "binary", "label": "y"}}
        if tagging:
            tasks["slots"] = {"type": "sequence_tagging", "label": "tags", "tokens_of": "msg"}
        config = cfg.parse_config({"name": "t", "data": {"train": "x.csv"}, "tasks": tasks,
                                   "features": {"msg": {"type": "text", **text}, "note": {"type": "text"}}})
        return {n: f.subwords for n, f in config.resolved_features.items()}
    assert resolved(False) == {"msg": 0, "note": 0}
    assert resolved(True) == {"msg": cfg.DEFAULT_SUBWORDS, "note": 0}
    assert resolved(True, subwords=0) == {"msg": 0, "note": 0}
    assert resolved(False, subwords=64) == {"msg": 64, "note": 0}
