"""ExampleGens that stream: CSV or TFRecord input -> shuffled, gzipped tf.Example TFRecords in bounded memory.

TFX's ExampleGen executors run a Beam pipeline that infers CSV column types with a side input and Reshuffles
every split before writing; the DirectRunner holds all of it in memory (+0.7 GB per 100k census rows,
bench/scale.py). On the DirectRunner these executors do the same work as plain streaming passes instead:

1. CSV only (read by pipeline/csvdata.py, the project's one CSV reader: header names stripped, BOM dropped,
   gzip'd files decompressed): infer each column's type as tfx_bsl does (INT, else FLOAT, else BYTES; missing
   cells say nothing) over the rows of every split at once, so that a column has one type in all splits.
   A cell is missing when it is empty or, with the config's `data.na_values`, one of those spellings.
   Numeric columns of the config are written as FLOAT even when every value is whole (with an inferred schema),
   so the served model takes 217 and 217.5 alike; the first text cell of a numeric column is noted on the
   Examples artifact (NOTES_PROPERTY) for the DataGate to name.
2. Build each tf.Example exactly as TFX's CSV executor does, assign its split with TFX's own hash partition
   (the same rows land in the same split as with TFX), and append it to one of a few temporary bucket files
   chosen at random.
3. Shuffle one bucket at a time in memory and write it to the split's gzipped shards.

Memory is one bucket (~BUCKET_BYTES), whatever the input size; the output is a uniform shuffle that is the same
on every run with the same input. Other Beam runners (Dataflow, Flink, Spark) get TFX's Beam executor.
"""
from __future__ import annotations

import io
import json
import math
import os
import random
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import tensorflow as tf
from absl import logging
from google.protobuf import json_format, struct_pb2
from tfx import v1 as tfx
from tfx.components.example_gen import base_example_gen_executor, utils, write_split
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs as keys
from tfx.utils import proto_utils

from pipeline import csvdata

BUCKET_BYTES = 64 * 2 ** 20  # records shuffled in memory at once (about)
SHARD_BYTES = 128 * 2 ** 20  # serialized bytes per output shard (about); at least one shard per core above it
CSV_GROWTH = 4  # serialized tf.Example bytes per CSV byte, to size the buckets before any are written (upper end)
PROGRESS_ROWS = 250_000
INT, FLOAT, BYTES, UNKNOWN = csvdata.INT, csvdata.FLOAT, csvdata.BYTES, csvdata.UNKNOWN
_RANK = csvdata.RANK
_SEED = 20181010  # fixed: the same input gives the same files


class DataFileError(ValueError):
    """An input file cannot be read as the configured format; the message names the file and line."""


def runs_locally(beam_args: Optional[Sequence[str]]) -> bool:
    """True when the Beam args select the DirectRunner (the default), where streaming beats Beam."""
    runner = next((a.split("=", 1)[1] for a in reversed(beam_args or []) if a.startswith("--runner=")),
                  "DirectRunner")
    return runner in ("DirectRunner", "direct", "Direct")


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
    """Column names by the project's one rule (pipeline/csvdata.py: stripped, BOM dropped, gzip read)."""
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


# ------------------------------------------------------------------------------------------------ shuffling
class ShuffledSplitWriter:
    """Appends serialized records to random temporary buckets, then writes each bucket shuffled to gzipped
    TFRecord shards named as TFX names them (data_tfrecord-SSSSS-of-NNNNN.gz)."""

    def __init__(self, output_dir: str, scratch_dir: str, buckets: int, rng: random.Random):
        self.output_dir, self.rng, self.records, self.bytes = output_dir, rng, 0, 0
        os.makedirs(scratch_dir, exist_ok=True)
        self._paths = [os.path.join(scratch_dir, f"bucket-{i:05d}") for i in range(max(1, buckets))]
        self._files = [open(path, "wb") for path in self._paths]

    def add(self, record: bytes) -> None:
        f = self._files[self.rng.randrange(len(self._files))]
        f.write(struct.pack("<I", len(record)))
        f.write(record)
        self.records += 1
        self.bytes += len(record)

    def close(self, cores: int) -> List[str]:
        """Write the shards; returns their paths."""
        for f in self._files:
            f.close()
        shards = 1 if self.bytes < SHARD_BYTES else min(len(self._paths),
                                                         max(cores, math.ceil(self.bytes / SHARD_BYTES)))
        fileio.makedirs(self.output_dir)
        names = [os.path.join(self.output_dir, f"{write_split.DEFAULT_FILE_NAME}-{s:05d}-of-{shards:05d}.gz")
                 for s in range(shards)]
        writers = [tf.io.TFRecordWriter(name, options="GZIP") for name in names]
        try:
            for i, path in enumerate(self._paths):
                records = list(_read_bucket(path))
                os.remove(path)
                self.rng.shuffle(records)
                writer = writers[i % shards]
                for record in records:
                    writer.write(record)
        finally:
            for writer in writers:
                writer.close()
        return names


def _read_bucket(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        data = f.read()
    offset, end = 0, len(data)
    while offset < end:
        (size,) = struct.unpack_from("<I", data, offset)
        offset += 4
        yield data[offset:offset + size]
        offset += size


# ------------------------------------------------------------------------------------------------ executors
class _StreamingMixin:
    """Do() of a streaming ExampleGen; subclasses give the records of one input split."""

    def prepare(self, files_by_split: Dict[str, List[str]], exec_properties) -> None:
        """A first look at every input split's files before any is written (CSV: the column types)."""

    def split_records(self, files: List[str], pattern: str) -> Iterator[bytes]:
        """Every serialized tf.Example of the files."""
        raise NotImplementedError

    def finish(self, examples) -> None:
        """Properties of the written Examples artifact."""

    def Do(self, input_dict, output_dict, exec_properties):
        if not runs_locally(self._beam_pipeline_args):
            return super().Do(input_dict, output_dict, exec_properties)
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[keys.INPUT_CONFIG_KEY], input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[keys.OUTPUT_CONFIG_KEY], output_config)
        split_names = utils.generate_output_split_names(input_config, output_config)
        examples = artifact_utils.get_single_instance(output_dict[keys.EXAMPLES_KEY])
        examples.split_names = artifact_utils.encode_split_names(split_names)
        base = exec_properties[keys.INPUT_BASE_KEY]
        split_config = output_config.split_config
        hash_buckets = []
        for split in split_config.splits:
            hash_buckets.append((hash_buckets[-1] if hash_buckets else 0) + split.hash_buckets)

        files_by_split = {}
        for split in input_config.splits:
            pattern = os.path.join(base, split.pattern)
            files_by_split[split.name] = sorted(fileio.glob(pattern))
            if not files_by_split[split.name]:
                raise DataFileError(f"split '{split.name}': no file matches {pattern}")
        self.prepare(files_by_split, exec_properties)
        scratch = _scratch_dir(examples.uri)
        rng = random.Random(_SEED)
        cores = os.cpu_count() or 1
        try:
            for index, split in enumerate(input_config.splits):
                pattern = os.path.join(base, split.pattern)
                files = files_by_split[split.name]
                outputs = split_names if hash_buckets else [split_names[index]]
                size = sum(fileio.stat(f).length for f in files)
                buckets = max(1, math.ceil(size * self.growth / BUCKET_BYTES))
                writers = [ShuffledSplitWriter(artifact_utils.get_split_uri([examples], name),
                                               os.path.join(scratch, name), buckets, rng) for name in outputs]
                started, count = time.time(), 0
                for record in self.split_records(files, pattern):
                    if hash_buckets:
                        key = (tf.train.Example.FromString(record)
                               if split_config.HasField("partition_feature_name") else record)
                        writer = writers[base_example_gen_executor._PartitionFn(  # TFX's own split assignment
                            key, len(hash_buckets), hash_buckets, split_config)]
                    else:
                        writer = writers[0]
                    writer.add(record)
                    count += 1
                    if count % PROGRESS_ROWS == 0:
                        logging.info("ExampleGen: %d records of %s read (%.0f s)", count, pattern,
                                     time.time() - started)
                if count == 0:
                    raise DataFileError(f"split '{split.name}': {pattern} holds no records (header only?)")
                for writer in writers:
                    shards = writer.close(cores)
                    logging.info("ExampleGen: %d records -> %s (%d shard(s))", writer.records,
                                 writer.output_dir, len(shards))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.finish(examples)

        payload = exec_properties.get(keys.OUTPUT_DATA_FORMAT_KEY)
        if payload:
            examples_utils.set_payload_format(examples, payload)
        file_format = exec_properties.get(keys.OUTPUT_FILE_FORMAT_KEY)
        if file_format:
            examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))


class StreamingCsvExecutor(_StreamingMixin, csv_executor.Executor):
    growth = CSV_GROWTH

    def prepare(self, files_by_split, exec_properties):
        for files in files_by_split.values():
            columns = csv_header(files[0])
            repeated = sorted({c for c in columns if columns.count(c) > 1})
            if repeated:
                raise DataFileError(f"{files[0]}: the header names {', '.join(map(repr, repeated))} more than "
                                    "once")
            for path in files[1:]:
                if csv_header(path) != columns:
                    raise DataFileError(f"{path}: its header differs from {files[0]} (files of one split must "
                                        f"have the same columns in the same order)")
        self._reading = Reading.from_exec_properties(exec_properties)
        self._types, self._notes = infer_types(files_by_split, self._reading)
        logging.info("ExampleGen: column types: %s", self._types)

    def split_records(self, files, pattern):
        yield from csv_examples(files, self._types, self._reading.na_values)

    def finish(self, examples):
        if self._notes:
            examples.set_string_custom_property(NOTES_PROPERTY, json.dumps(self._notes, sort_keys=True))


class StreamingImportExecutor(_StreamingMixin, import_executor.Executor):
    growth = 1

    def split_records(self, files, pattern):
        for path in files:
            compression = "GZIP" if path.endswith(".gz") else ""
            count = 0
            try:
                for record in tf.data.TFRecordDataset(path, compression_type=compression).as_numpy_iterator():
                    count += 1
                    yield record
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as err:
                kind = "gzip'd TFRecord" if compression else "TFRecord (not gzip'd: its name has no .gz)"
                raise DataFileError(f"{path}: not a readable {kind} file after {count} good record(s): "
                                    f"{err.message.splitlines()[0]}") from None

    def Do(self, input_dict, output_dict, exec_properties):
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[keys.OUTPUT_CONFIG_KEY], output_config)
        payload = exec_properties.get(keys.OUTPUT_DATA_FORMAT_KEY)
        if payload not in (None, example_gen_pb2.FORMAT_TF_EXAMPLE):  # SequenceExamples, Parquet: TFX's
            return import_executor.Executor.Do(self, input_dict, output_dict, exec_properties)
        return super().Do(input_dict, output_dict, exec_properties)


def _scratch_dir(output_uri: str) -> str:
    """Temporary buckets: beside the output when it is local (not /tmp, which may be memory), else tempdir."""
    if "://" not in output_uri:
        os.makedirs(output_uri, exist_ok=True)
        return tempfile.mkdtemp(prefix=".shuffle-", dir=output_uri)
    return tempfile.mkdtemp(prefix="mtl-shuffle-")


class CsvExampleGen(tfx.components.CsvExampleGen):
    """TFX's CsvExampleGen with the streaming executor (same id, inputs and outputs); `reading`: the `Reading`
    settings, passed as the component's custom_config (so that a change re-runs it)."""
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(StreamingCsvExecutor)

    def __init__(self, input_base: str, input_config=None, output_config=None,
                 reading: Optional[Dict[str, Any]] = None):
        FileBasedExampleGen.__init__(self, input_base=input_base, input_config=input_config,
                                     output_config=output_config,
                                     custom_config=reading_config(reading) if reading else None)


class ImportExampleGen(tfx.components.ImportExampleGen):
    """TFX's ImportExampleGen with the streaming executor (same id, inputs and outputs)."""
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(StreamingImportExecutor)
