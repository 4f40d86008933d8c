"""The data pre-flight (`mtl validate`, and `mtl run` before anything is written): the config's files exist and
their headers and first rows hold what the config says, each problem named with its file, line, column and value.

The DataGate checks every row again inside the run; this catches what it can in a second, before anything runs.
"""
from __future__ import annotations

import dataclasses
import glob
import os
from typing import Dict, List

from pipeline.core import csvdata
from pipeline.config import (FALSE_STRINGS, TRUE_STRINGS, Config, ConfigError, Task, data_format, is_uri)


def expand_files(pattern: str) -> List[str]:
    """Files a data path names: one file, or every file a glob matches (sorted)."""
    if glob.has_magic(pattern):
        return sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    return [pattern] if os.path.isfile(pattern) else []


def check_data(config: Config) -> Dict[str, List[str]]:
    """`inspect_data`, raising ConfigError with every problem it finds; returns {split: files}."""
    result = inspect_data(config)
    if result.problems:
        raise ConfigError(result.problems)
    return result.files


@dataclasses.dataclass
class DataCheck:
    files: Dict[str, List[str]]  # split -> files
    notes: List[str]  # worth knowing, not wrong (missing-value spellings read as missing, a BOM, gzip, rows read)
    problems: List[str]  # what stops the run, naming the file, line, column and value


def inspect_data(config: Config) -> DataCheck:
    """The data pre-flight (`mtl validate`, and `mtl run` before anything is written): the files exist, CSV
    headers hold every configured column once, train and eval headers agree, and the first rows of each split
    (`csvdata.SAMPLE_ROWS`) have numbers in numeric columns and binary label values that are positive,
    negative or - per `unknown_labels` - unlabelled. The DataGate checks every row again inside the run."""
    check = DataCheck({}, [], [])
    if not config.has_thresholds:
        check.notes.append("tasks: no task has thresholds: the Evaluator will bless nothing and nothing will be "
                           "pushed; set tasks.<task>.thresholds, e.g. auc: {min: 0.7}")
    if config.schema_path and not is_uri(config.schema_path) and not os.path.isfile(config.schema_path):
        check.problems.append(f"schema: file not found: '{config.schema_path}'")
    readable = {}
    for split in ("train", "eval"):
        pattern = getattr(config.data, split)
        if pattern is None:
            continue
        if is_uri(pattern):
            check.files[split] = [pattern]
            continue
        files = expand_files(pattern)
        if not files:
            check.problems.append(f"data.{split}: no file matches '{pattern}'")
            continue
        check.files[split] = files
        if data_format(pattern) == "csv":
            try:
                if _header_problems(config, split, pattern, files, check):
                    readable[split] = files
            except (csvdata.CsvError, OSError) as err:
                check.problems.append(f"data.{split}: {_reason(err)}")
    if config.inference:
        _inference_problems(config, check)
    if len(readable) == 2 and not check.problems:
        headers = {tuple(csvdata.header(f)) for f in readable["train"] + readable["eval"]}
        if len(headers) > 1:
            check.problems.append("data: train and eval CSV files must have the same header")
    if not check.problems:
        negatives = {}
        for split, files in readable.items():
            try:
                _sample_findings(config, split, files, check, negatives)
            except (csvdata.CsvError, OSError) as err:
                check.problems.append(f"data.{split}: {_reason(err)}")
    return check


def _inference_problems(config: Config, check: DataCheck) -> None:
    """`inference.data`: its files exist and (CSV) their headers hold every feature column and `keep` column."""
    pattern = config.inference.data
    if is_uri(pattern):
        return
    files = expand_files(pattern)
    if not files:
        check.problems.append(f"inference.data: no file matches '{pattern}'")
        return
    if data_format(pattern) != "csv":
        return
    needed = [*config.column_features, *config.inference.keep]
    for file in files:
        try:
            header = csvdata.header(file)
        except (csvdata.CsvError, OSError) as err:
            check.problems.append(f"inference.data: {_reason(err)}")
            continue
        missing = [c for c in dict.fromkeys(needed) if c not in header]
        if missing:
            check.problems.append(f"inference.data: '{file}' has no column " + ", ".join(
                f"'{c}' ({'inference.keep' if c not in config.column_features else 'a model feature'})"
                for c in missing))


def _reason(err: Exception) -> str:
    if isinstance(err, OSError) and not isinstance(err, csvdata.CsvError):
        return f"cannot read '{err.filename}': {err.strerror or err}"
    return str(err)


def _header_problems(config: Config, split: str, pattern: str, files: List[str], check: DataCheck) -> bool:
    """Header checks of one split's CSV files; True when they passed."""
    before = len(check.problems)
    headers = [csvdata.header(f) for f in files]  # first: a file that is no CSV text is named as such
    if all(headers) and not any(csvdata.has_data_row(f) for f in files):
        check.problems.append(f"data.{split}: '{pattern}' has a header but no data rows"
                              + (f" (none of its {len(files)} files)" if len(files) > 1 else ""))
    for file, header in zip(files, headers):
        if not header:
            check.problems.append(f"data.{split}: '{file}' is empty (a CSV needs a header row)")
            continue
        if csvdata.is_gzip(file):
            check.notes.append(f"data.{split}: '{file}' is gzip-compressed (read decompressed)")
        if csvdata.has_bom(file):
            check.notes.append(f"data.{split}: '{file}' starts with a byte-order mark (ignored)")
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            check.problems.append(f"data.{split}: '{file}' names column(s) " + ", ".join(map(repr, repeated))
                                  + " more than once in its header")
        missing = [c for c in config.columns if c not in header]
        if missing:
            check.problems.append(f"data.{split}: '{file}' has no column " + ", ".join(
                f"'{c}' (used by {_where_used(config, c)})" for c in missing))
    return len(check.problems) == before


def _sample_findings(config: Config, split: str, files: List[str], check: DataCheck,
                     negatives: Dict[str, List[str]]) -> None:
    """Findings in the first rows of a split; `negatives` carries the negative values learned from train."""
    numeric = config.numeric_columns
    binary = {n: t for n, t in config.tasks.items() if t.type == "binary"}
    sample = csvdata.sample(files, config.columns, config.data.na_values,
                            keep_values=[t.label for t in binary.values()])
    read = f"{sample.rows} row(s)" if sample.complete else f"the first {sample.rows} rows"
    check.notes.append(f"data.{split}: read {read}" + ("" if sample.complete else
                                                       " (the run's DataGate checks every row)"))
    for column in config.columns:
        found = sample.columns.get(column)
        if found and found.spellings:
            shown = ", ".join(f"{s!r} x{n}" for s, n in found.spellings.most_common())
            check.notes.append(f"data.{split}: {column}: read as missing (data.na_values): {shown}")
    for column in dict.fromkeys(numeric):
        found = sample.columns[column]
        if found.first_text:
            path, line, cell = found.first_text
            check.problems.append(
                f"data.{split}: {column} ({_where_used(config, column)}): text in a numeric column, e.g. {cell!r} "
                f"at line {line} of '{path}' ({found.text} of {found.present} filled cells read); if it "
                "means 'missing', add it to data.na_values")
    for name, task in binary.items():
        found = sample.columns[task.label]
        if found.text:
            _binary_findings(name, task, split, found, check, negatives, sample.complete)


def _binary_findings(name: str, task: Task, split: str, found: csvdata.ColumnSample, check: DataCheck,
                     negatives: Dict[str, List[str]], complete: bool) -> None:
    roles = task.binary_roles(found.values, negatives.get(name))
    where = f"data.{split}: {task.label} (tasks.{name}.label)"
    if not roles.positive and task.positive is not None and split == "train":  # (no negative to learn)
        if complete:  # (of a sample, the positive may come later: the DataGate sees every row)
            check.problems.append(f"{where}: the positive value {task.positive!r} never occurs (values: "
                                  f"{_listed(list(found.values))}); `positive` is matched exactly, letter case "
                                  "included")
        return
    if roles.other and split == "train":  # (eval: train's problem, not said twice)
        if len(roles.other) == 1:
            negatives[name] = roles.other
        else:
            check.problems.append(f"{where}: {_listed(roles.other)} besides the positive {task.positive!r}; set "
                                  f"tasks.{name}.negative to the value(s) that mean 0 (or, if some mean "
                                  "'missing', add them to data.na_values)")
    if roles.unknown:
        path, line = found.where[roles.unknown[0]]
        expected = (f"the positive {task.positive!r} nor the negative {_listed(task.negative or negatives[name])}"
                    if task.positive is not None else "a true value (" + "/".join(TRUE_STRINGS) +
                    ") nor a false one (" + "/".join(FALSE_STRINGS) + "); set `positive`")
        text = (f"{where}: {_listed(roles.unknown)} (e.g. at line {line} of '{path}') is neither {expected}")
        if task.unknown_labels == "unlabelled":
            check.notes.append(text + "; those rows count as unlabelled (unknown_labels: unlabelled)")
        else:
            check.problems.append(text + f"; fix the cells, add the spelling to data.na_values if it means "
                                  f"'missing', or set tasks.{name}.unknown_labels: unlabelled")


def _listed(values: List[str], limit: int = 6) -> str:
    return ", ".join(repr(v) for v in values[:limit]) + (f", ... ({len(values)} values)" if len(values) > limit
                                                         else "")


def _where_used(config: Config, column: str) -> str:
    if column in config.features:
        return f"features.{column}"
    users = [f"tasks.{n}.label" for n, t in config.tasks.items() if t.label == column]
    return ", ".join(users) or "evaluation.slices"
