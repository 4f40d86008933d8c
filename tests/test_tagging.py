"""Sequence-tagging tasks (`type: sequence_tagging`, `tokens_of: <text feature>`) through real TFT, the trainer
and the export: tag ids aligned with the feature's tokens, misaligned rows never trained on, a joint intent +
slots model learnt with a softmax and with a CRF output, served in a process that imports only TensorFlow with
tags, tokens and entity spans, stock ops only; the config and DataGate errors that name the problem."""
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from pipeline import config as cfg
from pipeline.core import tags as tag_ids
from pipeline.core.model_contract import CONTRACT_FILE

SPEC = {"text": tf.string, "intent": tf.string, "slots": tf.string}
CITIES = [["boston"], ["denver"], ["new", "york"], ["san", "francisco"], ["dallas"]]
DAYS = [["monday"], ["friday"], ["next", "week"]]


def _sentence(rng):
    """('text', intent, 'tags'): flights or fares between two cities, sometimes on a day."""
    city = [CITIES[i] for i in rng.choice(len(CITIES), 2, replace=False)]
    words, tags = [], []

    def add(tokens, kind=None):
        words.extend(tokens)
        tags.extend(["O"] * len(tokens) if kind is None else [f"B-{kind}"] + [f"I-{kind}"] * (len(tokens) - 1))
    intent = "flight" if rng.random() < 0.5 else "fare"
    add(["show", "flights", "from"] if intent == "flight" else ["what", "is", "the", "fare", "from"])
    add(city[0], "city")
    add(["to"])
    add(city[1], "city")
    if rng.random() < 0.5:
        add(["on"])
        add(DAYS[rng.integers(len(DAYS))], "day")
    return " ".join(words), intent, " ".join(tags)


def _raw_config(subwords=0, **slots):
    return {"name": "nlu", "data": {"train": "x.csv"},
            "model": {"shared_units": [16], "tower_units": [16], "embedding_dim": 16, "min_frequency": 1},
            "features": {"text": {"type": "text", "max_tokens": 16, "subwords": subwords}},
            "tasks": {"intent": {"type": "multiclass", "label": "intent"},
                      "slots": {"type": "sequence_tagging", "label": "slots", "tokens_of": "text", **slots}},
            "training": {"learning_rate": 0.02}}


# ------------------------------------------------------------------------------------------- transform
def test_tag_ids_follow_the_type_vocabulary_and_misaligned_rows_are_unlabelled():
    from helpers.four_tasks import write_transform, serialize

    rows = [{"text": "Fly to New-York, today", "intent": "a", "slots": "O O B-city I-city B-day"},
            {"text": "to boston", "intent": "a", "slots": "O B-city"},
            {"text": "to boston now", "intent": "a", "slots": "O B-city"},  # 2 tags, 3 tokens
            {"text": "boston", "intent": "a", "slots": ""},  # no label
            {"text": "x y", "intent": "a", "slots": "O B-"}]  # 'B-' is no tag: that token never counts
    config = cfg.parse_config(_raw_config())
    output = write_transform(cfg.data_contract(config), rows, SPEC)
    types = [w.decode() for w in output.vocabulary_by_name(cfg.label_vocab_name("slots"))]
    assert types == ["city", "day"]  # most frequent first
    transformed = output.transform_features_layer()(
        tf.io.parse_example([serialize(r, SPEC, SPEC) for r in rows], output.raw_feature_spec()))
    target, mask = transformed[cfg.label_key("slots")].numpy(), transformed[cfg.mask_key("slots")].numpy()
    assert target.shape == (5, 16)
    assert target[0].tolist() == [0, 0, 1, 2, 3] + [-1] * 11  # O O B-city I-city B-day, then padding
    assert target[1].tolist()[:3] == [0, 1, -1]
    assert mask.tolist() == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert (target[2] == -1).all() and (target[3] == -1).all()
    assert target[4].tolist()[:2] == [0, -1]
    names = tag_ids.tag_names(types)
    assert names[:5] == ["O", "B-city", "I-city", "B-day", "I-day"] and len(names) == tag_ids.num_tags(2)


def test_tagging_config_errors_name_the_task_and_what_is_expected():
    raw = _raw_config()
    del raw["tasks"]["slots"]["tokens_of"]
    with pytest.raises(cfg.ConfigError, match=r"tokens_of: a sequence_tagging task names the text feature"):
        cfg.parse_config(raw)
    raw = _raw_config(tokens_of="intent_text")
    with pytest.raises(cfg.ConfigError, match=r"tasks\.slots\.tokens_of: 'intent_text' is not a feature; expected "
                                              r"a text feature of this config \(text\)"):
        cfg.parse_config(raw)
    raw = _raw_config()
    raw["tasks"]["intent"]["crf"] = True
    with pytest.raises(cfg.ConfigError, match=r"crf: only sequence_tagging tasks have a CRF output"):
        cfg.parse_config(raw)


def test_entities_follow_conll_rules_with_exclusive_ends():
    tags = ["O", "B-city", "I-city", "I-day", "B-city", "O"]
    tokens = ["to", "new", "york", "monday", "boston", "now"]
    assert tag_ids.entities(tags, tokens) == [
        {"type": "city", "text": "new york", "start": 1, "end": 3},
        {"type": "day", "text": "monday", "start": 3, "end": 4},  # an I- after another type starts a span
        {"type": "city", "text": "boston", "start": 4, "end": 5}]


# ------------------------------------------------------------------------------------- trained and served
@pytest.fixture(scope="module", params=[False, True], ids=["softmax", "crf_subwords"])
def served(request, tmp_path_factory):
    """A joint intent + slots model (softmax tags; CRF tags over word + subword embeddings) trained on synthetic
    utterances and exported: (model dir, CSV of held-out rows, the rows)."""
    from helpers.four_tasks import serialize, write_transform
    from trainer import export
    from trainer.model import Vocabularies, build_model, split_example

    rng = np.random.default_rng(3)
    rows = [dict(zip(("text", "intent", "slots"), _sentence(rng))) for _ in range(500)]
    config = cfg.parse_config(_raw_config(crf=request.param, subwords=64 if request.param else 0))
    output = write_transform(cfg.data_contract(config), rows[:400], SPEC)
    model = build_model(config, Vocabularies.from_transform_output(config, output))
    transformed = output.transform_features_layer()(
        tf.io.parse_example([serialize(r, SPEC, SPEC) for r in rows[:400]], output.raw_feature_spec()))
    data = tf.data.Dataset.from_tensor_slices(split_example(config)(transformed)).batch(32)
    history = model.fit(data, epochs=12, verbose=0)
    assert history.history["slots_token_accuracy"][-1] > 0.95
    directory = str(tmp_path_factory.mktemp("tagging") / "model")
    export.export(model, output, directory)
    csv_path = tmp_path_factory.mktemp("rows") / "rows.csv"
    with open(csv_path, "w") as f:
        f.write("text\n" + "".join(f"{r['text']}\n" for r in rows[400:]))
    return directory, str(csv_path), rows[400:]


def test_served_tagging_model_answers_tags_tokens_and_spans_from_raw_text(served):
    from components.span_metrics import span_scores
    from helpers.served import SERVE_SCRIPT

    directory, csv_path, rows = served
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, directory, csv_path, json.dumps({"text": "BYTES"}),
                             "100"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["foreign_modules"] == []
    out = answer["outputs"]
    width = 16
    tags = np.array(out["slots_tags"]).reshape(-1, width)
    tokens = np.array(out["slots_tokens"]).reshape(-1, width)
    assert tokens[0][: len(rows[0]["text"].split())].tolist() == rows[0]["text"].split()
    predicted = [[t for t, w in zip(row_tags, row_tokens) if w] for row_tags, row_tokens in zip(tags, tokens)]
    assert [len(p) for p in predicted] == [len(r["text"].split()) for r in rows[:100]], (tokens[:3], tags[:3])
    scores = span_scores([r["slots"].split() for r in rows], predicted)
    assert scores["f1"] > 0.9, scores
    for i in range(len(rows)):  # the graph's spans are the CoNLL spans of the served tags
        expected = ";".join(f"{e['type']} {e['start']} {e['end']}"
                            for e in tag_ids.entities(predicted[i], rows[i]["text"].split()))
        assert out["slots_spans"][i] == expected
    assert np.mean([label == r["intent"] for label, r in zip(out["intent_label"], rows)]) > 0.95
    contract = json.load(open(os.path.join(directory, CONTRACT_FILE)))
    assert contract["tasks"]["slots"] == {"type": "sequence_tagging", "scores": "slots", "label": "slots_tags",
                                          "classes": tag_ids.tag_names(["city", "day"]),
                                          "tokens": "slots_tokens"}
    assert "signature" in contract["tasks"]["intent"]


def test_client_answers_give_entities_with_text(served):
    from serving.contract import ModelContract as Contract

    directory, _, rows = served
    model = tf.saved_model.load(directory)
    contract = Contract.load(directory)
    outputs = model.signatures["serving_default"](
        examples=tf.constant(contract.examples([{"text": "show flights from new york to boston"}])))
    answer = contract.answers({k: v.numpy() for k, v in outputs.items()})[0]["slots"]
    assert answer["tokens"] == ["show", "flights", "from", "new", "york", "to", "boston"]
    assert answer["entities"] == [{"type": "city", "text": "new york", "start": 3, "end": 5},
                                  {"type": "city", "text": "boston", "start": 6, "end": 7}]


def test_served_tagging_model_holds_only_stock_ops(served):
    from helpers.served import assert_only_stock_ops

    assert_only_stock_ops(served[0])


# ------------------------------------------------------------------------------------------- DataGate
def test_data_gate_names_rows_whose_tags_do_not_match_their_tokens(tmp_path):
    from components.gates.row_checks import row_findings
    from helpers.four_tasks import serialize

    split = tmp_path / "Split-train"
    split.mkdir()
    rows = [{"text": "to boston", "intent": "a", "slots": "O B-city"},
            {"text": "to new york", "intent": "a", "slots": "O B-city"},
            {"text": "x", "intent": "a", "slots": ""},
            {"text": "to boston", "intent": "a", "slots": "O city"}]
    with tf.io.TFRecordWriter(str(split / "data.gz"), options="GZIP") as writer:
        for row in rows:
            writer.write(serialize(row, SPEC, SPEC))
    contract = cfg.DataContract.model_validate(cfg.data_contract(cfg.parse_config(_raw_config())))
    findings = row_findings(contract, SimpleNamespace(uri=str(tmp_path)))
    assert len(findings) == 1 and findings[0].blocking
    text = str(findings[0])
    assert text.startswith("[train] slots: task 'slots': 2 row(s) whose tags do not match the tokens of 'text'")
    assert "row 2: 2 tags for 3 tokens ['to', 'new', 'york']" in text
    assert "row 4: tag 'city' is not O, B-<type> or I-<type>" in text


def test_rest_and_grpc_answers_give_the_entities(served, tmp_path):
    """`mtl serve`'s server (TF Serving's REST and gRPC APIs) and `mtl predict --url/--grpc`: the same entities
    as the in-process model."""
    import shutil

    from serving.server import ModelServer

    directory = served[0]
    root = tmp_path / "nlu"
    shutil.copytree(directory, root / "1")
    running = ModelServer(str(root), "nlu", rest_port=0, grpc_port=0).start()
    try:
        rows = [{"text": "show flights from new york to boston on friday"}, {"text": ""}]
        mtl = os.path.join(os.path.dirname(sys.executable), "mtl")
        found = []
        for where in (["--url", f"http://127.0.0.1:{running.rest_port}"], ["--grpc", f"127.0.0.1:{running.grpc_port}"]):
            result = subprocess.run([mtl, "predict", "--model-dir", str(root), *where, "--json", json.dumps(rows)],
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr[-3000:]
            found.append([json.loads(line) for line in result.stdout.splitlines()])
    finally:
        running.stop()
    for answers in found:
        assert answers[0]["slots"]["entities"] == [
            {"type": "city", "text": "new york", "start": 3, "end": 5},
            {"type": "city", "text": "boston", "start": 6, "end": 7},
            {"type": "day", "text": "friday", "start": 8, "end": 9}]
        assert answers[1]["slots"] == {"tokens": [], "tags": [], "entities": []}
        assert answers[0]["intent"]["label"] == "flight"
