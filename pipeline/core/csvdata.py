"""The one CSV reader: header names, records with line numbers, missing cells and cell types.

The data pre-flight (`pipeline.preflight`, `mtl validate`) and the streaming ExampleGen
(`components/example_gen.py`) read CSV files only through this module, so both see the same columns and cells:

- UTF-8 text; a byte-order mark before the header is dropped (`utf-8-sig`, as Excel writes it);
- gzip-compressed files are read decompressed, recognized by their first two bytes whatever their name;
- header names are parsed as a CSV record (quotes allowed, also after a space) and stripped of surrounding
  whitespace, so the header `age, sex` names the columns `age` and `sex` (cells are not stripped: they are data);
- a record may span lines inside quotes, blank lines are skipped, every record has the header's width;
- a cell is missing when it is empty, or - when missing-value spellings are given (`data.na_values`) - when it
  is blank or its text without surrounding whitespace is one of them (exact match, letter case counts);
- a cell's type is tfx_bsl's: INT (within int64), else FLOAT, else BYTES; a missing cell says nothing.

Errors are `CsvError`s naming the file and line. No TensorFlow here: remote files come through an `opener`.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

GZIP_MAGIC = b"\x1f\x8b"
# Spellings of a missing value that R, pandas, spreadsheets and SQL exports write (an empty cell always is one).
DEFAULT_NA_VALUES = ("NA", "N/A", "n/a", "#N/A", "NaN", "nan", "null", "NULL", "None", "?")
INT, FLOAT, BYTES, UNKNOWN = "INT", "FLOAT", "BYTES", "UNKNOWN"  # tfx_bsl's order: UNKNOWN < INT < FLOAT < BYTES
RANK = {UNKNOWN: 0, INT: 1, FLOAT: 2, BYTES: 3}
INT64 = (-2 ** 63, 2 ** 63 - 1)
SAMPLE_ROWS = 10_000  # rows of each split that the pre-flight reads

Opener = Callable[[str], BinaryIO]


class CsvError(ValueError):
    """A file cannot be read as CSV; the message names the file and, where there is one, the line."""


# ------------------------------------------------------------------------------------------------ opening
@contextlib.contextmanager
def open_binary(path: str, opener: Optional[Opener] = None) -> Iterator[BinaryIO]:
    """The file's bytes, decompressed when it starts like a gzip file. opener: how to open a remote path."""
    with (opener(path) if opener else open(path, "rb")) as raw:
        buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=buffered, mode="rb") as unzipped:
                yield unzipped
        else:
            yield buffered


def is_gzip(path: str, opener: Optional[Opener] = None) -> bool:
    with (opener(path) if opener else open(path, "rb")) as raw:
        return raw.read(2) == GZIP_MAGIC


@contextlib.contextmanager
def _reader(path: str, opener: Optional[Opener], **options):
    """csv.reader over the decoded text; CsvError for what the file's bytes do not allow."""
    with open_binary(path, opener) as data:
        reader = csv.reader(io.TextIOWrapper(data, encoding="utf-8-sig", newline=""), **options)
        try:
            yield reader
        except UnicodeDecodeError as err:
            raise CsvError(f"{path}, line {_line_of_byte(path, opener)}: bytes that are not UTF-8 "
                           f"({err.object[err.start:err.start + 4]!r}); save the file as UTF-8") from None
        except csv.Error as err:
            hint = " (a binary file? expected CSV text)" if "NUL" in str(err) else ""
            raise CsvError(f"{path}, line {reader.line_num}: {err}{hint}") from None
        except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
            raise CsvError(f"{path}: a gzip file that cannot be decompressed ({err})") from None


def _line_of_byte(path: str, opener: Optional[Opener]) -> int:
    """The line holding the first byte that is not UTF-8 (found again in binary: the decoder reads ahead)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open_binary(path, opener) as f:
        for number, line in enumerate(f, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError:
                return number
    return 0


# ------------------------------------------------------------------------------------------------ reading
def header(path: str, opener: Optional[Opener] = None) -> List[str]:
    """The column names of the first record, stripped of surrounding whitespace ([] for an empty file); a name
    may be quoted after the space that follows a comma (`age, "sex, stated"`)."""
    with _reader(path, opener, skipinitialspace=True) as reader:
        names = next(reader, None)
    return [name.strip() for name in names] if names else []


def has_bom(path: str, opener: Optional[Opener] = None) -> bool:
    with open_binary(path, opener) as data:
        return data.read(3) == codecs.BOM_UTF8


def records(path: str, width: int, opener: Optional[Opener] = None,
            limit: Optional[int] = None) -> Iterator[Tuple[int, List[str]]]:
    """(line number, cells) for each non-blank record after the header (at most `limit`). Raises CsvError
    naming the line for a record of the wrong width, bytes that are not UTF-8 or a malformed file."""
    csv.field_size_limit(2 ** 31 - 1)  # long text cells are data, not errors
    count = 0
    with _reader(path, opener) as reader:
        next(reader, None)
        for cells in reader:
            if not cells:
                continue
            if len(cells) != width:
                raise CsvError(f"{path}, line {reader.line_num}: {len(cells)} fields, the header has {width}"
                               + (" (an unbalanced quote?)" if any("\n" in c for c in cells) else ""))
            yield reader.line_num, cells
            count += 1
            if limit is not None and count >= limit:
                return


def has_data_row(path: str, opener: Optional[Opener] = None) -> bool:
    """Whether a CSV holds anything but blank lines after its header."""
    with open_binary(path, opener) as data:
        data.readline()
        return any(line.strip() for line in data)


# ------------------------------------------------------------------------------------------------ cells
def missing(cell: str, na_values: Optional[frozenset]) -> bool:
    """Whether a cell is missing: empty; or, with spellings given, blank or one of them once stripped."""
    if not cell:
        return True
    if na_values is None:
        return False
    text = cell.strip()
    return not text or text in na_values


def cell_type(cell: str) -> str:
    """tfx_bsl's inference for one present cell: INT within int64, else FLOAT, else BYTES."""
    data = cell.encode()
    try:
        return INT if INT64[0] <= int(data) <= INT64[1] else BYTES
    except ValueError:
        try:
            float(data)
        except ValueError:
            return BYTES
        return FLOAT


# ------------------------------------------------------------------------------------------------ sampling
@dataclass
class ColumnSample:
    """What the first rows of a split hold in one column."""

    spellings: Counter = field(default_factory=Counter)  # missing-value spelling -> cells
    present: int = 0
    text: int = 0  # present cells that are not numbers
    first_text: Optional[Tuple[str, int, str]] = None  # (file, line, cell)
    values: Counter = field(default_factory=Counter)  # stripped value -> cells (kept columns only, capped)
    where: Dict[str, Tuple[str, int]] = field(default_factory=dict)  # kept value -> (file, line) first seen


@dataclass
class SplitSample:
    rows: int = 0
    complete: bool = True  # every row of the split was read
    columns: Dict[str, ColumnSample] = field(default_factory=dict)


def sample(files: Sequence[str], columns: Sequence[str], na_values: Sequence[str], keep_values: Sequence[str] = (),
           limit: Optional[int] = None, max_values: int = 50, opener: Optional[Opener] = None) -> SplitSample:
    """Read the first `limit` (default SAMPLE_ROWS) rows of a split's files and describe `columns`;
    `keep_values`: columns whose distinct values are counted too (up to `max_values` of them)."""
    limit = SAMPLE_ROWS if limit is None else limit
    result = SplitSample()
    spellings = frozenset(na_values)
    for path in files:
        names = header(path, opener)
        index = {name: i for i, name in enumerate(names)}
        wanted = [(c, index[c]) for c in columns if c in index]
        for name, _ in wanted:
            result.columns.setdefault(name, ColumnSample())
        for line, cells in records(path, len(names), opener, limit=limit - result.rows + 1):
            if result.rows == limit:  # one row more than the sample: the split has more
                result.complete = False
                break
            result.rows += 1
            for name, i in wanted:
                cell, column = cells[i], result.columns[name]
                if missing(cell, spellings):
                    if cell:
                        column.spellings[cell.strip() or repr(cell)] += 1
                    continue
                column.present += 1
                if cell_type(cell) == BYTES:
                    column.text += 1
                    if column.first_text is None:
                        column.first_text = (path, line, cell)
                value = cell.strip()
                if name in keep_values and (value in column.values or len(column.values) < max_values):
                    column.values[value] += 1
                    column.where.setdefault(value, (path, line))
        if not result.complete:
            break
    return result

