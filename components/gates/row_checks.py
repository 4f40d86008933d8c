"""The DataGate's row-level checks, which statistics cannot make (they relate cells, or count inside one):
- a sequence-tagging label holds exactly one BIO tag per token of its text feature (tokenized by Transform's own
  rule), so tags never silently shift against the words;
- a vector feature's cell holds exactly `size` numbers (CSV: space-separated; tf.Example: a float list).
The checks read the examples themselves, a batch at a time; each finding quotes the first rows (numbered from 1
in ExampleGen's order within the split)."""
from __future__ import annotations

import glob
import math
import os
from typing import Dict, Iterator, List

import tensorflow as tf

from components.gates.findings import Finding
from components.tokens import tokenize
from pipeline import config as cfg
from pipeline.core.tags import is_bio

SHOWN_ROWS = 3  # rows quoted per finding
BATCH = 1024


def _batches(files: List[str], columns: List[str]) -> Iterator[Dict[str, list]]:
    """{column: [per-row list of values]} of every example, a batch at a time (strings decoded)."""
    spec = {c: tf.io.VarLenFeature(tf.string) for c in columns}
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(BATCH):
        found = {}
        for column in columns:
            try:
                parsed = tf.io.parse_example(batch, {column: spec[column]})[column]
            except tf.errors.InvalidArgumentError:  # a float or int list, not bytes
                parsed = tf.io.parse_example(batch, {column: tf.io.VarLenFeature(tf.float32)})[column]
            ragged = tf.RaggedTensor.from_sparse(parsed)
            found[column] = [[v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in row]
                             for row in ragged.to_list()]
        yield found


def _tag_problem(tags: str, tokens: List[str]) -> str:
    tag_list = tags.split()
    bad = next((t for t in tag_list if not is_bio(t)), None)
    if bad is not None:
        return f"tag {bad!r} is not O, B-<type> or I-<type> (BIO/IOB2)"
    if len(tag_list) != len(tokens):
        return f"{len(tag_list)} tags for {len(tokens)} tokens {tokens[:12]}{' ...' if len(tokens) > 12 else ''}"
    return ""


def _vector_problem(values: list, size: int) -> str:
    """`values`: the cell's values (one space-separated string from CSV, or numbers)."""
    if not values:
        return ""
    if isinstance(values[0], str):
        if len(values) != 1:
            return f"{len(values)} strings; expected one cell of {size} space-separated numbers"
        parts = values[0].split()
        if not parts:
            return ""
        bad = next((p for p in parts if not _is_number(p)), None)
        if bad is not None:
            return f"{bad!r} is not a number (expected {size} space-separated numbers)"
        values = [float(p) for p in parts]
    if len(values) != size:
        return f"{len(values)} numbers; expected {size}"
    if not all(math.isfinite(v) for v in values):
        return "holds NaN or an infinite number"
    return ""


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _split_findings(split: str, files: List[str], config: cfg.DataContract) -> List[Finding]:
    tagging = {n: t for n, t in config.tasks.items() if t.type == "sequence_tagging"}
    vectors = {n: f for n, f in config.features.items() if f.type == "vector"}
    columns = sorted({c for t in tagging.values() for c in (t.label, t.tokens_of)} | set(vectors))
    bad: Dict[str, List] = {}  # check name -> [count, quoted rows]
    row = 0
    for batch in _batches(files, columns):
        tokens = {}
        for task in tagging.values():
            if task.tokens_of not in tokens:
                text = tf.constant([cell[0] if cell else "" for cell in batch[task.tokens_of]])
                tokens[task.tokens_of] = [[t.decode("utf-8", "replace") for t in r] for r in tokenize(text).to_list()]
        for i in range(len(batch[columns[0]])):
            row += 1
            problems = {name: _tag_problem(batch[t.label][i][0], tokens[t.tokens_of][i])
                        for name, t in tagging.items() if batch[t.label][i] and batch[t.label][i][0].strip()}
            problems.update({name: _vector_problem(batch[name][i], f.size) for name, f in vectors.items()})
            for name, problem in problems.items():
                if problem:
                    entry = bad.setdefault(name, [0, []])
                    entry[0] += 1
                    if len(entry[1]) < SHOWN_ROWS:
                        entry[1].append(f"row {row}: {problem}")
    findings = []
    for name, (count, shown) in sorted(bad.items()):
        if name in tagging:
            task = tagging[name]
            text = (f"task '{name}': {count} row(s) whose tags do not match the tokens of '{task.tokens_of}' (one "
                    "space-separated tag per token; tokens: lower-cased runs of letters, digits and apostrophes)")
            findings.append(Finding(split, task.label, text + ": " + "; ".join(shown), True))
        else:
            findings.append(Finding(split, name, f"vector feature of size {vectors[name].size}: {count} row(s) "
                                    "with another length or a value that is not a number: " + "; ".join(shown),
                                    True))
    return findings


def row_findings(config: cfg.DataContract, examples) -> List[Finding]:
    """Blocking findings of the row checks, per split (nothing to read without tagging tasks or vectors)."""
    if examples is None or not (any(t.type == "sequence_tagging" for t in config.tasks.values())
                                or any(f.type == "vector" for f in config.features.values())):
        return []
    findings = []
    for split_path in sorted(glob.glob(os.path.join(examples.uri, "Split-*"))):
        files = sorted(glob.glob(os.path.join(split_path, "*")))
        findings += _split_findings(os.path.basename(split_path)[len("Split-"):], files, config)
    return findings
