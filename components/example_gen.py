"""ExampleGens that stream: CSV or TFRecord input -> shuffled, gzipped tf.Example TFRecords in bounded memory.

TFX's ExampleGen executors run a Beam pipeline that infers CSV column types with a side input and Reshuffles
every split before writing; the DirectRunner holds all of it in memory (+0.7 GB per 100k census rows,
bench/scale.py). On the DirectRunner these executors do the same work as plain streaming passes instead:

1. CSV only (read by pipeline/core/csvdata.py, the project's one CSV reader: header names stripped, BOM dropped,
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
on every run with the same input. Other Beam runners (Dataflow, Flink, Spark) get TFX's Beam executor, reading
the CSV files with components/csv_examples.CsvToExamples (the same rules, without the DataGate notes).
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import struct
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence

import tensorflow as tf
from absl import logging
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

from components.csv_examples import (NOTES_PROPERTY, CsvToExamples, DataFileError, Reading,  # noqa: F401
                                     check_headers, csv_examples, csv_header, csv_rows, infer_types, opener,
                                     reading_config)

BUCKET_BYTES = 64 * 2 ** 20  # records shuffled in memory at once (about)
SHARD_BYTES = 128 * 2 ** 20  # serialized bytes per output shard (about); at least one shard per core above it
CSV_GROWTH = 4  # serialized tf.Example bytes per CSV byte, to size the buckets before any are written (upper end)
PROGRESS_ROWS = 250_000
_SEED = 20181010  # fixed: the same input gives the same files
INFERENCE_SPLIT = "inference"  # the rows the BulkInferrer scores (`inference.data`, pipeline/pipeline.py)
ORDERED_SPLITS = {INFERENCE_SPLIT}  # written in input order, unshuffled


def runs_locally(beam_args: Optional[Sequence[str]]) -> bool:
    """True when the Beam args select the DirectRunner (the default), where streaming beats Beam."""
    runner = next((a.split("=", 1)[1] for a in reversed(beam_args or []) if a.startswith("--runner=")),
                  "DirectRunner")
    return runner in ("DirectRunner", "direct", "Direct")


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
        names = [_shard_name(self.output_dir, s, shards) for s in range(shards)]
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


class OrderedSplitWriter:
    """The records in the order they came, straight into one gzipped TFRecord shard (rows to score keep their
    file's order: ORDERED_SPLITS); the same interface as ShuffledSplitWriter, without scratch files."""

    def __init__(self, output_dir: str):
        self.output_dir, self.records = output_dir, 0
        fileio.makedirs(output_dir)
        self._name = _shard_name(output_dir, 0, 1)
        self._writer = tf.io.TFRecordWriter(self._name, options="GZIP")

    def add(self, record: bytes) -> None:
        self._writer.write(record)
        self.records += 1

    def close(self, cores: int) -> List[str]:
        self._writer.close()
        return [self._name]


def _shard_name(output_dir: str, shard: int, shards: int) -> str:
    return os.path.join(output_dir, f"{write_split.DEFAULT_FILE_NAME}-{shard:05d}-of-{shards:05d}.gz")


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
                writers = [OrderedSplitWriter(artifact_utils.get_split_uri([examples], name)) if name in ORDERED_SPLITS
                           else ShuffledSplitWriter(artifact_utils.get_split_uri([examples], name),
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

    def GetInputSourceToExamplePTransform(self):  # noqa: N802 (TFX naming): the Beam path, same reading rules
        return CsvToExamples

    def prepare(self, files_by_split, exec_properties):
        check_headers(files_by_split)
        self._reading = Reading.from_exec_properties(exec_properties)
        self._types, self._notes = infer_types(files_by_split, self._reading)
        logging.info("ExampleGen: column types: %s", self._types)

    def split_records(self, files, pattern):
        yield from csv_examples(files, self._types, self._reading.na_values)

    def finish(self, examples):
        if self._notes:
            examples.set_string_custom_property(NOTES_PROPERTY, json.dumps(self._notes, sort_keys=True))


def _tf_reason(message: str) -> str:
    """A TF op error's own words, without the function node, device and op names around them."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", message.splitlines()[0] if message else "")
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text).strip() or "unreadable bytes"


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
                                    f"{_tf_reason(err.message)}") from None

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
