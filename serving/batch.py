"""Batch inference over a file (`mtl predict --input rows.csv --output answers.jsonl`): rows read in batches from
CSV or JSON Lines, answered by any client with `outputs(serialized)` (the model in-process, TF Serving over REST
or gRPC), written as JSON Lines (each line what `mtl predict --json` prints for that row) or CSV (one column per
answer field, `<task>.<field>`; lists and mappings as JSON text).

Every row is checked against the model's contract before its batch is sent, so a bad cell is named by file and
line (`rows.csv:14: 'age' expects a number, got 'forty'`); the output is written to a hidden file beside it and
renamed into place only when every row was answered, so a failed run leaves no half-written output.
"""
from __future__ import annotations

import csv
import io
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, TextIO

from serving.contract import ModelContract, RequestError

DEFAULT_BATCH = 256


class BatchError(ValueError):
    """The input cannot be answered as given; the message names the file and, for a row, its line."""


def is_csv(path: str) -> bool:
    return path.lower().endswith(".csv")


@dataclass
class Batch:
    """Rows to answer, the input line of each and the values of the `--keep` columns."""

    rows: List[Mapping[str, Any]] = field(default_factory=list)
    lines: List[int] = field(default_factory=list)
    kept: List[Dict[str, Any]] = field(default_factory=list)


def _csv_rows(f: TextIO, path: str, contract: ModelContract, keep: Sequence[str],
              ignore_unknown: bool) -> Iterator[tuple]:
    reader = csv.reader(f)
    header = next(reader, None)
    if not header:
        raise BatchError(f"{path}: empty, expected a header line naming the columns")
    missing = [k for k in keep if k not in header]
    if missing:
        raise BatchError(f"{path}: --keep {', '.join(map(repr, missing))}: no such column; the header has "
                         f"{', '.join(header)}")
    unknown = [c for c in header if c not in contract.features and c not in keep]
    if unknown and not ignore_unknown:
        verb = "is not a model feature" if len(unknown) == 1 else "are not model features"
        raise BatchError(f"{path}: {', '.join(map(repr, unknown))} {verb} (expected "
                         f"{', '.join(sorted(contract.features))}); --ignore-unknown drops such columns, --keep "
                         "copies columns to the output")
    features = [(i, c) for i, c in enumerate(header) if c in contract.features]
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise BatchError(f"{path}:{line}: {len(cells)} cells for {len(header)} columns")
        yield line, {c: cells[i] for i, c in features}, {k: cells[header.index(k)] for k in keep}


def _json_rows(f: TextIO, path: str, keep: Sequence[str]) -> Iterator[tuple]:
    for line, text in enumerate(f, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except RecursionError:
            raise BatchError(f"{path}:{line}: JSON nested too deeply to be a row of feature values") from None
        except ValueError as exc:
            raise BatchError(f"{path}:{line}: not valid JSON ({str(exc)[:200]})") from None
        for row in (value if isinstance(value, list) else [value]):
            if not isinstance(row, Mapping):
                raise BatchError(f"{path}:{line}: expected an object of feature values, got {type(row).__name__}")
            missing = [k for k in keep if k not in row]
            if missing:
                raise BatchError(f"{path}:{line}: --keep {', '.join(map(repr, missing))}: not in this row")
            yield line, {k: v for k, v in row.items() if k not in keep}, {k: row[k] for k in keep}


def batches(f: TextIO, path: str, contract: ModelContract, batch_size: int = DEFAULT_BATCH,
            keep: Sequence[str] = (), ignore_unknown: bool = False) -> Iterator[Batch]:
    """Rows of an open CSV or JSON Lines file in batches, each row checked against the contract (RequestError
    and format problems come out as BatchError naming `path` and the line)."""
    rows = _csv_rows(f, path, contract, keep, ignore_unknown) if is_csv(path) else _json_rows(f, path, keep)
    batch = Batch()
    for line, row, kept in rows:
        try:
            contract.example(row, line, ignore_unknown)
        except RequestError as exc:
            raise BatchError(f"{path}:{line}:{str(exc)[len(f'row {line}:'):]}") from None
        batch.rows.append(row)
        batch.lines.append(line)
        batch.kept.append(kept)
        if len(batch.rows) == batch_size:
            yield batch
            batch = Batch()
    if batch.rows:
        yield batch


def flatten(answer: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """{"income": {"label": "1", "probability": 0.8}} -> {"income.label": "1", "income.probability": 0.8}; one
    level per task (a mapping or list below it becomes JSON text)."""
    flat: Dict[str, Any] = {}
    for key, value in answer.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not prefix:
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (Mapping, list, tuple)):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


class AnswerWriter:
    """Answers to JSON Lines or CSV (by the output's name), on stdout or into a hidden file that `commit`
    renames to the output (`abort` removes it)."""

    def __init__(self, output: Optional[str], stdout: Optional[TextIO] = None):
        self.output = output
        self.csv = bool(output) and is_csv(output)
        if output in (None, "-"):
            self.partial, self.file = None, stdout
        else:
            directory = os.path.dirname(os.path.abspath(output))
            self.partial = os.path.join(directory, f".{os.path.basename(output)}.{uuid.uuid4().hex[:8]}.partial")
            self.file = io.open(self.partial, "w", encoding="utf-8", newline="")
        self._columns: Optional[List[str]] = None
        self._csv: Optional[Any] = None

    def write(self, answers: Sequence[Mapping[str, Any]], kept: Sequence[Mapping[str, Any]]) -> None:
        for answer, row in zip(answers, kept):
            record = {**row, **answer}
            if not self.csv:
                self.file.write(json.dumps(record) + "\n")
                continue
            flat = {**row, **flatten(answer)}
            if self._csv is None:
                self._columns = list(flat)
                self._csv = csv.DictWriter(self.file, fieldnames=self._columns, extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerow(flat)
        self.file.flush()

    def commit(self) -> None:
        if self.partial:
            self.file.close()
            os.replace(self.partial, self.output)

    def abort(self) -> None:
        if self.partial:
            self.file.close()
            if os.path.exists(self.partial):
                os.remove(self.partial)


def count_rows(path: str) -> Optional[int]:
    """Data lines of a file (for the progress bar; a JSON line holding a list counts once); None for stdin."""
    if path == "-":
        return None
    with open(path, "rb") as f:
        lines = sum(1 for line in f if line.strip())
    return max(lines - 1, 0) if is_csv(path) else lines


def answer_file(path: str, output: Optional[str], contract: ModelContract,
                answer: Callable[[List[Mapping[str, Any]]], List[Dict[str, Any]]], *,
                batch_size: int = DEFAULT_BATCH, keep: Sequence[str] = (), ignore_unknown: bool = False,
                stdout: Optional[TextIO] = None,
                progress: Callable[[int], None] = lambda rows: None) -> int:
    """Answers every row of `path` (CSV or JSON Lines, '-' for stdin) with `answer(rows)`, writing them to
    `output` ('-' or None: `stdout`); returns the number of rows. Raises BatchError (nothing written) on a bad file or row."""
    clash = [k for k in keep if k in contract.tasks]
    if clash:
        raise BatchError(f"--keep {', '.join(map(repr, clash))}: a task of this model has that name")
    writer = AnswerWriter(output, stdout)
    count = 0
    try:
        with (open(path, encoding="utf-8-sig", newline="") if path != "-" else _stdin()) as f:
            for batch in batches(f, path, contract, batch_size, keep, ignore_unknown):
                writer.write(answer(batch.rows), batch.kept)
                count += len(batch.rows)
                progress(len(batch.rows))
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return count


def _stdin():
    import sys

    return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="") if hasattr(sys.stdin, "buffer") \
        else sys.stdin
