"""ExampleGens that stream: CSV or TFRecord input -> shuffled, gzipped tf.Example TFRecords in bounded memory.

TFX's ExampleGen executors run a Beam pipeline that infers CSV column types with a side input and Reshuffles
every split before writing; the DirectRunner holds all of it in memory (+0.7 GB per 100k census rows,
bench/scale.py). On the DirectRunner these executors do the same work as plain streaming passes instead:

1. CSV only: infer each column's type as tfx_bsl does (INT, else FLOAT, else BYTES; empty cells say nothing),
   so curated schemas and TFX's own output agree.
2. Build each tf.Example exactly as TFX's CSV executor does, assign its split with TFX's own hash partition
   (the same rows land in the same split as with TFX), and append it to one of a few temporary bucket files
   chosen at random.
3. Shuffle one bucket at a time in memory and write it to the split's gzipped shards.

Memory is one bucket (~BUCKET_BYTES), whatever the input size; the output is a uniform shuffle that is the same
on every run with the same input. Other Beam runners (Dataflow, Flink, Spark) get TFX's Beam executor.
"""
from __future__ import annotations

import csv
import io
import math
import os
import random
import shutil
import struct
import tempfile
import time
from typing import Iterator, List, Optional, Sequence, Tuple

import tensorflow as tf
from absl import logging
from tfx import v1 as tfx
from tfx.components.example_gen import base_example_gen_executor, utils, write_split
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs as keys
from tfx.utils import proto_utils

BUCKET_BYTES = 64 * 2 ** 20  # records shuffled in memory at once (about)
SHARD_BYTES = 128 * 2 ** 20  # serialized bytes per output shard (about); at least one shard per core above it
CSV_GROWTH = 4  # serialized tf.Example bytes per CSV byte, to size the buckets before any are written (upper end)
PROGRESS_ROWS = 250_000
INT, FLOAT, BYTES, UNKNOWN = "INT", "FLOAT", "BYTES", "UNKNOWN"  # tfx_bsl's order: UNKNOWN < INT < FLOAT < BYTES
_RANK = {UNKNOWN: 0, INT: 1, FLOAT: 2, BYTES: 3}
_INT64 = (-2 ** 63, 2 ** 63 - 1)
_SEED = 20181010  # fixed: the same input gives the same files


class DataFileError(ValueError):
    """An input file cannot be read as the configured format; the message names the file and line."""


def runs_locally(beam_args: Optional[Sequence[str]]) -> bool:
    """True when the Beam args select the DirectRunner (the default), where streaming beats Beam."""
    runner = next((a.split("=", 1)[1] for a in reversed(beam_args or []) if a.startswith("--runner=")),
                  "DirectRunner")
    return runner in ("DirectRunner", "direct", "Direct")


# ------------------------------------------------------------------------------------------------ CSV reading
def csv_header(path: str) -> List[str]:
    """Column names as TFX reads them: the first line split at commas."""
    with fileio.open(path) as f:
        line = f.readline()
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    return line.strip().split(",")


def csv_rows(path: str, width: int) -> Iterator[Tuple[int, List[str]]]:
    """(line number, cells) for each non-blank record after the header; quoted fields may span lines.
    Raises DataFileError naming the line for a record of the wrong width or bytes that are not UTF-8."""
    with _open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.reader(text)
        try:
            next(reader, None)  # header
            for cells in reader:
                if not cells:
                    continue
                if len(cells) != width:
                    raise DataFileError(
                        f"{path}, line {reader.line_num}: {len(cells)} fields, the header has {width}"
                        + (" (an unbalanced quote?)" if any("\n" in c for c in cells) else ""))
                yield reader.line_num, cells
        except UnicodeDecodeError as err:
            raise DataFileError(f"{path}, line {_line_of_byte(path, err)}: bytes that are not UTF-8 "
                                f"({err.object[err.start:err.start + 4]!r}); save the file as UTF-8") from None
        except csv.Error as err:
            raise DataFileError(f"{path}, line {reader.line_num}: {err}") from None


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


def _open_binary(path: str):
    return open(path, "rb") if "://" not in path else io.BufferedReader(_RawFile(fileio.open(path, "rb")))


def _line_of_byte(path: str, err: UnicodeDecodeError) -> int:
    """The line holding the first byte that is not UTF-8 (found again in binary: the decoder reads ahead)."""
    with _open_binary(path) as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def value_type(cell: bytes) -> str:
    """tfx_bsl's inference for one cell: INT within int64, else FLOAT, else BYTES; empty is UNKNOWN."""
    if not cell:
        return UNKNOWN
    try:
        return INT if _INT64[0] <= int(cell) <= _INT64[1] else BYTES
    except ValueError:
        try:
            float(cell)
        except ValueError:
            return BYTES
        return FLOAT


def infer_types(files: Sequence[str], columns: Sequence[str]) -> List[str]:
    """Each column's type over every row of the files (first pass)."""
    types = [UNKNOWN] * len(columns)
    open_columns = list(range(len(columns)))  # BYTES is final: stop looking at those
    for path in files:
        for _, cells in csv_rows(path, len(columns)):
            for i in open_columns:
                cell = cells[i]
                if cell:
                    found = value_type(cell.encode())
                    if _RANK[found] > _RANK[types[i]]:
                        types[i] = found
            if any(types[i] == BYTES for i in open_columns):
                open_columns = [i for i in open_columns if types[i] != BYTES]
    return types


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


def csv_examples(files: Sequence[str], columns: Sequence[str], types: Sequence[str]) -> Iterator[bytes]:
    """Serialized tf.Examples with the features TFX's CSV executor gives each row (second pass)."""
    order = sorted(range(len(columns)), key=lambda i: columns[i].encode())
    plan = []
    for i in order:
        key = columns[i].encode()
        plan.append((i, b"\x0a" + _varint(len(key)) + key + b"\x12", _ENCODE[types[i]], _EMPTY[types[i]]))
    for path in files:
        for _, cells in csv_rows(path, len(columns)):
            entries = []
            for i, prefix, encode, empty in plan:
                cell = cells[i]
                feature = encode(cell) if cell and encode else empty
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

    def split_records(self, files: List[str], pattern: str) -> Iterator[bytes]:
        """Every serialized tf.Example of the files."""
        raise NotImplementedError

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

        scratch = _scratch_dir(examples.uri)
        rng = random.Random(_SEED)
        cores = os.cpu_count() or 1
        try:
            for index, split in enumerate(input_config.splits):
                pattern = os.path.join(base, split.pattern)
                files = sorted(fileio.glob(pattern))
                if not files:
                    raise DataFileError(f"split '{split.name}': no file matches {pattern}")
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

        payload = exec_properties.get(keys.OUTPUT_DATA_FORMAT_KEY)
        if payload:
            examples_utils.set_payload_format(examples, payload)
        file_format = exec_properties.get(keys.OUTPUT_FILE_FORMAT_KEY)
        if file_format:
            examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))


class StreamingCsvExecutor(_StreamingMixin, csv_executor.Executor):
    growth = CSV_GROWTH

    def split_records(self, files, pattern):
        columns = csv_header(files[0])
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise DataFileError(f"{files[0]}: the header names {', '.join(map(repr, repeated))} more than once")
        for path in files[1:]:
            if csv_header(path) != columns:
                raise DataFileError(f"{path}: its header differs from {files[0]} (files of one split must "
                                    f"have the same columns in the same order)")
        csv.field_size_limit(2 ** 31 - 1)  # long text cells are data, not errors
        types = infer_types(files, columns)
        logging.info("ExampleGen: column types of %s: %s", pattern, dict(zip(columns, types)))
        yield from csv_examples(files, columns, types)


class StreamingImportExecutor(_StreamingMixin, import_executor.Executor):
    growth = 1

    def split_records(self, files, pattern):
        for path in files:
            compression = "GZIP" if path.endswith(".gz") else ""
            yield from tf.data.TFRecordDataset(path, compression_type=compression).as_numpy_iterator()

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
    """TFX's CsvExampleGen with the streaming executor (same id, inputs and outputs)."""
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(StreamingCsvExecutor)


class ImportExampleGen(tfx.components.ImportExampleGen):
    """TFX's ImportExampleGen with the streaming executor (same id, inputs and outputs)."""
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(StreamingImportExecutor)
