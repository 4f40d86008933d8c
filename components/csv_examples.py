"""CSV rows -> serialized tf.Examples, read by the project's one CSV reader (pipeline/core/csvdata.py): the cells
of both ExampleGen paths, the streaming one (components/example_gen.py, DirectRunner) and the Beam transform
`CsvToExamples` (Dataflow, Flink, Spark), so that every runner reads a file the same way.

- `Reading`: the config's reading settings (passed to ExampleGen as its custom_config): missing-value
  spellings, numeric columns written as FLOAT even when every value is whole, numeric columns whose text is
  noted for the DataGate (`NOTES_PROPERTY`, streaming path only).
- `infer_types`: tfx_bsl's inference (INT, else FLOAT, else BYTES; missing cells say nothing) over every split.
- `csv_examples`: the bytes TFX's CSV executor would write for each row, written directly.
"""
from __future__ import annotations

import io
import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import apache_beam as beam
from google.protobuf import json_format, struct_pb2
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs as keys
from tfx.utils import proto_utils

from pipeline.core import csvdata

INT, FLOAT, BYTES, UNKNOWN = csvdata.INT, csvdata.FLOAT, csvdata.BYTES, csvdata.UNKNOWN
_RANK = csvdata.RANK


class DataFileError(ValueError):
    """An input file cannot be read as the configured format; the message names the file and line."""


# ------------------------------------------------------------------------------------------------ CSV reading
def opener(path: str):
    """Local files through `open`, others (gs://, s3://, ...) through TF's file systems, as a binary stream."""
    return open(path, "rb") if "://" not in path else io.BufferedReader(_RawFile(fileio.open(path, "rb")))


class _RawFile(io.RawIOBase):
    """A tf.io.gfile file (gs://, s3://, ...) as a raw stream, so that io can buffer and decode it."""

    def __init__(self, gfile):
        self._gfile = gfile

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._gfile.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self):
        self._gfile.close()
        super().close()


def csv_header(path: str) -> List[str]:
    """Column names by the project's one rule (pipeline/core/csvdata.py: stripped, BOM dropped, gzip read)."""
    return _named(csvdata.header, path, opener)


def csv_rows(path: str, width: int) -> Iterator[Tuple[int, List[str]]]:
    """(line number, cells) for each non-blank record after the header; DataFileError names a bad line."""
    try:
        yield from csvdata.records(path, width, opener)
    except csvdata.CsvError as err:
        raise DataFileError(str(err)) from None


def _named(function, *args):
    try:
        return function(*args)
    except csvdata.CsvError as err:
        raise DataFileError(str(err)) from None


@dataclass
class Reading:
    """How the CSV executor reads cells (the `custom_config` that `pipeline.pipeline.example_gen` passes): the
    missing-value spellings (None: only empty cells, as TFX), the numeric columns whose whole numbers are
    written as floats (so a served model takes 217 and 217.5 alike), and the numeric columns whose first text
    cell per split is noted for the DataGate (`NOTES_PROPERTY`)."""

    na_values: Optional[frozenset] = None
    float_columns: Tuple[str, ...] = ()
    numeric_columns: Tuple[str, ...] = ()

    @classmethod
    def from_exec_properties(cls, exec_properties) -> "Reading":
        raw = exec_properties.get(keys.CUSTOM_CONFIG_KEY)
        if not raw:
            return cls()
        config = example_gen_pb2.CustomConfig()
        proto_utils.json_to_proto(raw, config)
        settings = struct_pb2.Struct()
        if not config.custom_config.Unpack(settings):
            return cls()
        data = json.loads(json_format.MessageToJson(settings))
        na_values = data.get("na_values")
        return cls(None if na_values is None else frozenset(na_values), tuple(data.get("float_columns", ())),
                   tuple(data.get("numeric_columns", ())))


def reading_config(settings: Dict[str, Any]) -> example_gen_pb2.CustomConfig:
    """The custom_config proto carrying `Reading` settings (plus anything that should re-run ExampleGen)."""
    struct = struct_pb2.Struct()
    struct.update(settings)
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


NOTES_PROPERTY = "mtl_text_in_numeric"  # Examples custom property: {split: {column: [cells, file, line, cell]}}


def infer_types(files_by_split: Dict[str, Sequence[str]], reading: Reading = Reading()):
    """Each column's type over every row of every split (one type per column for all splits, so a column is
    never INT in one split and BYTES in another), and per split the first text cell of each numeric column:
    ({column: type}, {split: {column: [text cells, file, line, cell]}})."""
    types: Dict[str, str] = {}
    notes: Dict[str, Dict[str, list]] = {}
    watched = set(reading.numeric_columns)
    for split, files in files_by_split.items():
        for path in files:
            columns = csv_header(path)
            for name in columns:
                types.setdefault(name, UNKNOWN)
            open_columns = [i for i, name in enumerate(columns) if types[name] != BYTES or name in watched]
            for line, cells in csv_rows(path, len(columns)):
                settled = False
                for i in open_columns:
                    cell = cells[i]
                    if csvdata.missing(cell, reading.na_values):
                        continue
                    found = csvdata.cell_type(cell)
                    name = columns[i]
                    if _RANK[found] > _RANK[types[name]]:
                        types[name] = found
                        settled = settled or found == BYTES
                    if found == BYTES and name in watched:
                        note = notes.setdefault(split, {}).setdefault(name, [0, path, line, cell[:200]])
                        note[0] += 1
                if settled:  # BYTES is final: stop looking at those (but keep counting text in numeric columns)
                    open_columns = [i for i in open_columns if types[columns[i]] != BYTES or columns[i] in watched]
    for name in reading.float_columns:
        if types.get(name) == INT:
            types[name] = FLOAT
    return types, notes


# tf.Example wire format, written directly: the executor took 8.8 s for 100k census rows, 30.6 s when it built
# protos in Python. The bytes equal Example.SerializeToString(deterministic=True): map entries sorted by key,
# key then value in each entry.
_SMALL = [bytes((i,)) for i in range(128)]
_EMPTY = {INT: b"\x1a\x00", FLOAT: b"\x12\x00", BYTES: b"\x0a\x00", UNKNOWN: b""}
_PACK_FLOAT = struct.Struct("<f").pack


def _varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _SMALL[n]
    if n < 0:
        n += 1 << 64  # int64 as two's complement, ten bytes
    out = bytearray()
    while n > 127:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _int_feature(cell: str) -> bytes:  # Feature{int64_list{value: [v]}}
    value = _varint(int(cell.encode()))
    return b"\x1a" + _varint(len(value) + 2) + b"\x0a" + _varint(len(value)) + value


def _float_feature(cell: str) -> bytes:  # Feature{float_list{value: [v]}} (packed float32)
    number = float(cell.encode())
    try:
        packed = _PACK_FLOAT(number)
    except OverflowError:  # beyond float32: infinity, as the protobuf conversion gives
        packed = _PACK_FLOAT(math.copysign(math.inf, number))
    return b"\x12\x06\x0a\x04" + packed


def _bytes_feature(cell: str) -> bytes:  # Feature{bytes_list{value: [b]}}
    data = cell.encode()
    inner = b"\x0a" + _varint(len(data)) + data
    return b"\x0a" + _varint(len(inner)) + inner


_ENCODE = {INT: _int_feature, FLOAT: _float_feature, BYTES: _bytes_feature, UNKNOWN: None}


def csv_examples(files: Sequence[str], types: Dict[str, str], na_values: Optional[frozenset] = None
                 ) -> Iterator[bytes]:
    """Serialized tf.Examples with the features TFX's CSV executor gives each row (second pass); a missing
    cell (csvdata.missing) is a feature of the column's type with no value."""
    for path in files:
        yield from file_examples(path, types, na_values)


def file_examples(path: str, types: Dict[str, str], na_values: Optional[frozenset] = None) -> Iterator[bytes]:
    """csv_examples of one file."""
    columns = csv_header(path)
    order = sorted(range(len(columns)), key=lambda i: columns[i].encode())
    plan = []
    for i in order:
        key, kind = columns[i].encode(), types[columns[i]]
        plan.append((i, b"\x0a" + _varint(len(key)) + key + b"\x12", _ENCODE[kind], _EMPTY[kind]))
    for _, cells in csv_rows(path, len(columns)):
        entries = []
        for i, prefix, encode, empty in plan:
            cell = cells[i]
            feature = encode(cell) if encode and not csvdata.missing(cell, na_values) else empty
            entry = prefix + _varint(len(feature)) + feature
            entries.append(b"\x0a" + _varint(len(entry)) + entry)
        features = b"".join(entries)
        yield b"\x0a" + _varint(len(features)) + features


def split_files(exec_properties) -> Dict[str, List[str]]:
    """{input split: its files} of an ExampleGen's exec properties; DataFileError for a pattern with none."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[keys.INPUT_CONFIG_KEY], input_config)
    found = {}
    for split in input_config.splits:
        pattern = f"{exec_properties[keys.INPUT_BASE_KEY].rstrip('/')}/{split.pattern}"
        found[split.name] = sorted(fileio.glob(pattern))
        if not found[split.name]:
            raise DataFileError(f"split '{split.name}': no file matches {pattern}")
    return found


def check_headers(files_by_split: Dict[str, Sequence[str]]) -> None:
    """A column named twice, or files of one split with different headers: DataFileError naming the file."""
    for files in files_by_split.values():
        columns = csv_header(files[0])
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise DataFileError(f"{files[0]}: the header names {', '.join(map(repr, repeated))} more than once")
        for path in files[1:]:
            if csv_header(path) != columns:
                raise DataFileError(f"{path}: its header differs from {files[0]} (files of one split must have "
                                    "the same columns in the same order)")


def merge_types(found: Sequence[Dict[str, str]], reading: Reading) -> Dict[str, str]:
    """One type per column from the types each file gave (the highest in tfx_bsl's order)."""
    types: Dict[str, str] = {}
    for one in found:
        for name, kind in one.items():
            if _RANK[kind] > _RANK[types.get(name, UNKNOWN)]:
                types[name] = kind
            types.setdefault(name, kind)
    for name in reading.float_columns:
        if types.get(name) == INT:
            types[name] = FLOAT
    return types


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def CsvToExamples(pipeline, exec_properties: Dict[str, Any], split_pattern: str):  # noqa: N802 (Beam naming)
    """TFX's CSV-to-examples transform for Beam runners, with this module's reading rules: one type per column
    over every input split's files (one pass per file in parallel, then merged), then the rows of this split's
    files as serialized tf.Examples. Used where the streaming executor does not run (not the DirectRunner)."""
    reading = Reading.from_exec_properties(exec_properties)
    every = split_files(exec_properties)
    check_headers(every)
    base = exec_properties[keys.INPUT_BASE_KEY].rstrip("/")
    files = sorted(fileio.glob(f"{base}/{split_pattern}"))
    per_file = Reading(reading.na_values, (), ())  # float_columns apply to the merged types
    types = beam.pvalue.AsSingleton(
        pipeline
        | "AllFiles" >> beam.Create(sorted({f for fs in every.values() for f in fs}))
        | "FileTypes" >> beam.Map(lambda path: infer_types({"": [path]}, per_file)[0])
        | "ColumnTypes" >> beam.combiners.ToList()
        | "Merge" >> beam.Map(merge_types, reading))
    return (pipeline
            | "Files" >> beam.Create(files)
            | "Reshuffle" >> beam.Reshuffle()
            | "ToExamples" >> beam.FlatMap(lambda path, kinds: file_examples(path, kinds, reading.na_values),
                                           types))
