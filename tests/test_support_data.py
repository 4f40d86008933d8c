"""The support-ticket generator: deterministic per seed, labels follow the documented rules, the curated schema
accepts what it writes, bad arguments are clear errors that write nothing."""
import csv
import os
import statistics
import subprocess
import sys

import pytest
from click.testing import CliRunner

from components.datasets import support
from pipeline.cli import main

from conftest import REPO


@pytest.fixture(scope="module")
def rows():
    return list(support.tickets(20000, seed=3))


def _read(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    support.generate(tmp_path / "a", rows=500, seed=5)
    support.generate(tmp_path / "b", rows=500, seed=5)
    support.generate(tmp_path / "c", rows=500, seed=6)
    for split in ("train", "eval"):
        assert (tmp_path / "a" / f"{split}.csv").read_bytes() == (tmp_path / "b" / f"{split}.csv").read_bytes()
        assert (tmp_path / "a" / f"{split}.csv").read_bytes() != (tmp_path / "c" / f"{split}.csv").read_bytes()


def test_same_seed_same_bytes_across_processes(tmp_path):
    """`mtl data support` in two processes whose string hashing differs (PYTHONHASHSEED) writes the same bytes:
    nothing in the generator may depend on the iteration order of a set."""
    mtl = os.path.join(os.path.dirname(sys.executable), "mtl")
    for name, hash_seed in (("a", "1"), ("b", "2")):
        subprocess.run([mtl, "data", "support", "--rows", "3000", "--seed", "5", "--out", str(tmp_path / name)],
                       check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
    for split in ("train", "eval"):
        assert (tmp_path / "a" / f"{split}.csv").read_bytes() == (tmp_path / "b" / f"{split}.csv").read_bytes()


def test_split_sizes_header_and_unique_ids(tmp_path):
    result = support.generate(tmp_path, rows=1000, seed=1, eval_fraction=0.25)
    train, evaluation = _read(tmp_path / "train.csv"), _read(tmp_path / "eval.csv")
    assert (len(train), len(evaluation)) == (750, 250) == (result["train_rows"], result["eval_rows"])
    assert list(train[0]) == list(support.COLUMNS)
    assert len({r["ticket_id"] for r in train + evaluation}) == 1000
    assert not list(tmp_path.glob(".*.tmp"))


def test_label_shares_and_partial_annotation(rows):
    n = len(rows)
    share = {name: sum(r["intent"] == name for r in rows) / n for name in support.INTENTS}
    assert set(share) == set(support.INTENTS) and len(share) == 12
    assert 0.003 <= share[support.LONG_TAIL] <= 0.008  # the long tail: ~0.5 % of rows
    assert min(v for k, v in share.items() if k != support.LONG_TAIL) >= 0.04
    assert 0.27 <= sum(r["keywords"] != "" for r in rows) / n <= 0.33  # keywords on ~30 % of rows
    assert 0.01 <= sum(r["sentiment"] == "" for r in rows) / n <= 0.03
    assert 0.02 <= sum(r["handling_minutes"] == "" for r in rows) / n <= 0.04
    assert {r["sentiment"] for r in rows} == {*support.SENTIMENTS, ""}
    keywords = {k for r in rows for k in r["keywords"].split("|") if k}
    assert keywords == set(support.KEYWORDS)
    assert {r["escalate"] for r in rows} == {"0", "1"}
    assert all(0 <= int(r["hour"]) <= 23 and int(r["orders_90d"]) >= 0 for r in rows)


def _rate(rows, condition):
    chosen = [int(r["escalate"]) for r in rows if condition(r)]
    return sum(chosen) / len(chosen)


def test_escalation_depends_on_sentiment_tier_intent_and_security_words(rows):
    assert _rate(rows, lambda r: r["sentiment"] == "negative") > 2 * _rate(rows, lambda r: r["sentiment"] == "neutral")
    assert _rate(rows, lambda r: r["tier"] == "enterprise") > 1.5 * _rate(rows, lambda r: r["tier"] == "free")
    assert _rate(rows, lambda r: r["intent"] == support.LONG_TAIL) > 0.6
    assert _rate(rows, lambda r: r["intent"] == "product_question") < 0.15
    assert _rate(rows, lambda r: "security" in r["keywords"]) > 2 * _rate(rows, lambda r: r["keywords"] != "" and
                                                                          "security" not in r["keywords"])


def test_handling_minutes_follow_intent_and_channel(rows):
    def mean(condition):
        return statistics.mean(float(r["handling_minutes"]) for r in rows if r["handling_minutes"] and condition(r))

    assert mean(lambda r: r["intent"] == support.LONG_TAIL) > 2 * mean(lambda r: r["intent"] == "order_status")
    assert mean(lambda r: r["channel"] == "phone") > 1.2 * mean(lambda r: r["channel"] == "app")
    assert all(float(r["handling_minutes"]) > 0 for r in rows if r["handling_minutes"])


def test_keywords_are_mentioned_in_the_message(rows):
    """Annotated keywords come from the words used, so the task is learnable from the text (typos aside)."""
    words = {"refund": ("refund", "money back", "reimbursement"), "invoice": ("invoice", "receipt", "bill")}
    for keyword, markers in words.items():
        annotated = [r["message"].lower() for r in rows if keyword in r["keywords"].split("|")]
        mentioned = sum(any(m in text for m in markers) for text in annotated) / len(annotated)
        assert mentioned > 0.9, (keyword, mentioned)


def test_messages_are_varied_noisy_and_sometimes_non_ascii(rows):
    messages = [r["message"] for r in rows]
    assert len(set(messages)) > 0.9 * len(messages)
    assert any(not m.isascii() for m in messages)
    assert any(m.isupper() for m in messages)
    lengths = [len(m.split()) for m in messages]
    assert min(lengths) <= 3 and max(lengths) >= 25
    # no single word gives the intent away: the most intent-specific common word still appears elsewhere
    vague = [r for r in rows if r["message"].lower().startswith(("need help with", "i have a problem with"))]
    assert len({r["intent"] for r in vague}) >= 10


def test_curated_schema_accepts_generated_data(tmp_path):
    import tensorflow_data_validation as tfdv

    support.generate(tmp_path, rows=3000, seed=99)
    schema = tfdv.load_schema_text(f"{REPO}/schema/support/schema.pbtxt")
    for split in ("train", "eval"):
        stats = tfdv.generate_statistics_from_csv(str(tmp_path / f"{split}.csv"))
        anomalies = tfdv.validate_statistics(stats, schema)
        assert dict(anomalies.anomaly_info) == {}, split


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 5}, "--rows: 5 is too few"),
    ({"eval_fraction": 1.0}, "--eval-fraction: 1.0 is not between 0 and 1"),
    ({"eval_fraction": 0.0}, "--eval-fraction: 0.0 is not between 0 and 1"),
])
def test_bad_arguments_are_clear_errors_and_write_nothing(tmp_path, kwargs, message):
    with pytest.raises(support.SupportDataError, match=message):
        support.generate(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_cli_writes_the_files_and_reports_a_file_in_the_way(tmp_path):
    result = CliRunner().invoke(main, ["data", "support", "--rows", "200", "--seed", "4", "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "160 rows" in result.output and "40 rows" in result.output
    assert len(_read(tmp_path / "d" / "train.csv")) == 160
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(main, ["data", "support", "--out", str(tmp_path / "file")])
    assert result.exit_code != 0 and "file" in result.output
    result = CliRunner().invoke(main, ["data", "support", "--rows", "3"])
    assert result.exit_code == 2 and "--rows" in result.output


def test_slot_tags_give_one_bio_tag_per_transform_token_and_mark_the_filled_slots(rows):
    import tensorflow as tf

    from components.tokens import tokenize
    from pipeline.core.tags import entities

    sample = rows[:3000]
    counts = tokenize(tf.constant([r["message"] for r in sample])).row_lengths().numpy().tolist()
    assert counts == [len(r["slot_tags"].split()) for r in sample]  # the DataGate's rule, on every row
    types = {t[2:] for r in sample for t in r["slot_tags"].split() if t != "O"}
    assert types == set(support.SLOTS)
    for row in sample:
        tokens = [t.decode() for t in tokenize(tf.constant([row["message"]]))[0].numpy()]
        for entity in entities(row["slot_tags"].split(), tokens):
            if entity["type"] == "product":  # a product filler, typos aside, is one of the listed products
                assert len(entity["text"].split()) <= 3
        tags = row["slot_tags"].split()
        for previous, tag in zip(["O"] + tags, tags):  # an I- tag only continues its own type's span
            assert not tag.startswith("I-") or previous[2:] == tag[2:]
    multi_word = [r for r in sample if "B-product I-product" in r["slot_tags"]]
    assert multi_word and all(r["slot_tags"].count("B-") >= 1 for r in multi_word)
