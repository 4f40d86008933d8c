"""The support-bot scenario end to end (slow): generated tickets -> the shipped configs/support.yaml through every
TFX component -> a pushed model that answers raw messages with all six tasks (the slots: entities per token)."""
import json
import os
import subprocess
import sys

import pytest

from components.datasets import support
from serving.inprocess import LocalModel

from conftest import SMALL_DATA_BARS
from helpers.served import serve_in_clean_process

pytestmark = pytest.mark.slow

MESSAGES = [
    {"message": "i want to cancel my order, i placed it yesterday", "channel": "app", "tier": "plus",
     "account_age_days": 320, "orders_90d": 2, "hour": 14},
    {"message": "someone used my card without permission!! i did not authorize this", "channel": "email",
     "tier": "free", "orders_90d": 0, "hour": 3},
    {"message": "", "tier": "free", "orders_90d": 1, "hour": 12},                                   # empty text
    {"message": "Привет, où est ma commande? 😡", "tier": "premium", "orders_90d": 1, "hour": 1},   # non-ASCII
    {"message": "zyxxy qwerty " * 400, "channel": "chat", "tier": "enterprise", "orders_90d": 9, "hour": 23},
]


def test_every_task_clears_its_bar_and_the_model_is_pushed(support_run):
    config, summary = support_run
    assert summary.verdict == "BLESSED", summary.render()
    checked = {(m.task, m.metric) for m in summary.metrics if m.passed}
    assert checked == {(task, metric) for task, bars in SMALL_DATA_BARS.items() for metric in bars}
    counts = {m.task: m.value for m in summary.metrics if m.metric == "example_count"}
    assert counts["intent"] == 800 and 200 <= counts["keywords"] <= 290  # keywords: only the annotated ~30 %
    from helpers.served import _per_class_metrics

    per_class = _per_class_metrics(config.output)
    assert {c for t, m, c in per_class if (t, m) == ("intent", "macro_f1")} == set(range(12))
    assert {c for t, m, c in per_class if (t, m) == ("keywords", "macro_auc")} == set(range(9))
    # the summary names them by class, for every task that declares classes
    assert list(summary.per_class) == ["intent", "keywords", "sentiment"]
    assert list(summary.per_class["intent"]) == config.tasks["intent"].classes
    assert set(summary.per_class["intent"][support.LONG_TAIL]) == {"auc", "f1"}
    assert list(summary.per_class["keywords"]["security"]) == ["auc"]
    assert all(0 <= v <= 1 for classes in summary.per_class.values() for m in classes.values() for v in m.values())
    assert summary.per_class["intent"]["refund_request"]["auc"] == pytest.approx(
        per_class[("intent", "macro_auc", config.tasks["intent"].classes.index("refund_request"))])
    assert "per class" in summary.render() and "unauthorized_charge" in summary.render()


def test_served_model_answers_raw_messages_with_all_six_tasks(support_run, tmp_path):
    config, summary = support_run
    requests = tmp_path / "requests.jsonl"
    requests.write_text("\n".join(json.dumps(m) for m in MESSAGES))
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mtl"), "predict", "--model-dir",
                             os.path.dirname(summary.pushed_to), "--input", str(requests)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == len(MESSAGES)
    intents, keywords = config.tasks["intent"].classes, config.tasks["keywords"].classes
    for answer in answers:
        assert set(answer) == set(config.tasks)
        intent = answer["intent"]
        assert list(intent["probabilities"]) == intents and abs(sum(intent["probabilities"].values()) - 1) < 1e-4
        assert intent["label"] == max(intent["probabilities"], key=intent["probabilities"].get)
        kw = answer["keywords"]
        assert list(kw["probabilities"]) == keywords
        assert kw["labels"] == [k for k, p in kw["probabilities"].items() if p >= 0.5]
        assert answer["sentiment"]["label"] in ("negative", "neutral", "positive")
        esc = answer["escalate"]
        assert 0 <= esc["probability"] <= 1 and esc["label"] == ("1" if esc["probability"] >= 0.5 else "0")
        assert 0 < answer["handling_minutes"]["value"] < 120
        slots = answer["slots"]
        assert len(slots["tags"]) == len(slots["tokens"]) <= config.features["message"].max_tokens
        for entity in slots["entities"]:
            assert entity["text"] == " ".join(slots["tokens"][entity["start"]:entity["end"]])
            assert entity["type"] in support.SLOTS
    assert answers[0]["intent"]["label"] == "cancel_order"
    assert answers[0]["slots"]["tokens"][:4] == ["i", "want", "to", "cancel"]
    assert {"type": "date", "text": "yesterday", "start": 9, "end": 10} in answers[0]["slots"]["entities"]
    assert answers[2]["slots"] == {"tokens": [], "tags": [], "entities": []}  # empty text: nothing to tag
    assert answers[1]["escalate"]["probability"] > answers[0]["escalate"]["probability"]


def test_served_answers_match_the_labels_of_held_out_tickets(support_run):
    config, summary = support_run
    import csv

    rows = list(csv.DictReader(open(config.data.eval, encoding="utf-8")))[:300]
    answers = LocalModel(summary.pushed_to).predict(rows, ignore_unknown=True)
    accuracy = sum(a["intent"]["label"] == r["intent"] for a, r in zip(answers, rows)) / len(rows)
    assert accuracy >= 0.75
    labelled = [(a, r) for a, r in zip(answers, rows) if r["keywords"]]
    exact = sum(a["keywords"]["labels"] == sorted(r["keywords"].split("|"), key=config.tasks["keywords"].classes.index)
                for a, r in labelled) / len(labelled)
    assert exact >= 0.3
    from components.span_metrics import span_scores

    predicted = [a["slots"]["tags"] for a in answers]
    assert span_scores([r["slot_tags"].split() for r in rows], predicted)["f1"] >= SMALL_DATA_BARS["slots"][
        "span_f1"]["min"]


def test_pushed_model_loads_in_a_tensorflow_only_process(support_run):
    config, summary = support_run
    answer = serve_in_clean_process(summary.pushed_to, config.data.eval, config, rows=10)
    assert answer["foreign_modules"] == []
    assert set(answer["outputs"]) == {*config.tasks, *(f"{t}_label" for t in config.tasks
                                                       if t not in ("handling_minutes", "slots")),
                                      "slots_tags", "slots_tokens", "slots_spans"}


def test_report_shows_the_slots_per_entity_type_and_their_confusions(support_run, tmp_path):
    from pipeline.report import write_report

    config, summary = support_run
    written = write_report(config.output_dir, out_dir=str(tmp_path / "report"))
    markdown = open(os.path.join(str(tmp_path / "report"), "report.md"), encoding="utf-8").read()
    table = markdown.split("slots per entity type")[1].split("\n\n")[1]
    types = [line.split(" | ")[0].strip("| ") for line in table.splitlines()[2:]]
    assert set(types) <= set(support.SLOTS) and {"order", "product", "date"} <= set(types)
    assert "slots: the most frequent type errors" in markdown
    assert written is not None
    frame = [m for m in summary.metrics if m.task == "slots" and m.metric == "frame_accuracy"]
    assert len(frame) == 1 and 0 < frame[0].value <= 1  # intent and every tag right
