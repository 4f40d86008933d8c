"""The DataGate's row-level check of sequence-tagging labels: each labelled row holds exactly one BIO tag per
token of its text feature (tokenized by Transform's own rule), so tags never silently shift against the words.
Statistics cannot say this (it is a relation between two cells), so the check reads the examples themselves."""
from __future__ import annotations

import glob
import os
from typing import Iterator, List, Tuple

import tensorflow as tf

from components.gates.findings import Finding
from components.transform import tokenize
from pipeline import config as cfg

SHOWN_ROWS = 3  # misaligned rows quoted per task and split
BATCH = 1024


def _rows(files: List[str], label: str, text: str) -> Iterator[Tuple[int, str, List[str]]]:
    """(row number from 1, label cell, the text cell's tokens) of every example of a split (empty when absent),
    tokenized a batch at a time by Transform's rule."""
    spec = {label: tf.io.VarLenFeature(tf.string), text: tf.io.VarLenFeature(tf.string)}
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(BATCH)
    row = 0
    for batch in dataset:
        parsed = tf.io.parse_example(batch, spec)
        cells = [tf.sparse.to_dense(tf.sparse.reset_shape(parsed[c], [tf.shape(batch)[0], 1]), "")[:, 0]
                 for c in (label, text)]
        for tags, tokens in zip(cells[0].numpy(), tokenize(cells[1]).to_list()):
            row += 1
            yield row, tags.decode("utf-8", "replace"), [t.decode("utf-8", "replace") for t in tokens]


def _problem(tags: str, tokens: List[str]) -> str:
    tag_list = tags.split()
    bad = next((t for t in tag_list if t != "O" and not (t[:2] in ("B-", "I-") and len(t) > 2)), None)
    if bad is not None:
        return f"tag {bad!r} is not O, B-<type> or I-<type> (BIO/IOB2)"
    if len(tag_list) != len(tokens):
        return f"{len(tag_list)} tags for {len(tokens)} tokens {tokens[:12]}{' ...' if len(tokens) > 12 else ''}"
    return ""


def tag_findings(config: cfg.DataContract, examples) -> List[Finding]:
    """One blocking finding per tagging task and split with rows whose tags do not match their tokens, quoting
    the first SHOWN_ROWS (row numbers count the split's examples from 1, in ExampleGen's order)."""
    findings = []
    tagging = {n: t for n, t in config.tasks.items() if t.type == "sequence_tagging"}
    if not tagging or examples is None:
        return findings
    for split_path in sorted(glob.glob(os.path.join(examples.uri, "Split-*"))):
        split = os.path.basename(split_path)[len("Split-"):]
        files = sorted(glob.glob(os.path.join(split_path, "*")))
        for name, task in tagging.items():
            bad, shown = 0, []
            for row, tags, tokens in _rows(files, task.label, task.tokens_of):
                problem = _problem(tags, tokens) if tags.strip() else ""
                if problem:
                    bad += 1
                    if len(shown) < SHOWN_ROWS:
                        shown.append(f"row {row}: {problem}")
            if bad:
                findings.append(Finding(split, task.label, (
                    f"task '{name}': {bad} row(s) whose tags do not match the tokens of '{task.tokens_of}' (one "
                    f"space-separated tag per token; tokens: lower-cased runs of letters, digits and "
                    f"apostrophes): " + "; ".join(shown)), True))
    return findings
