"""The streaming ExampleGen executors against TFX's own Beam executors on the same input: the same examples
(types, empty cells, quoting), the same hash split, a deterministic shuffle, and named errors for bad files."""
from __future__ import annotations

import json
import os

import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.components.example_gen.import_example_gen import executor as tfx_import
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs as keys
from tfx.utils import proto_utils

from components import example_gen
from pipeline import beam

BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1", beam.LOCAL_WORKERS]  # no TFX sdist in /tmp

EDGE_CSV = (
    'id,age,score,city,note,empty,big,neg,wide,été\n'
    '1,30,1.5,"Paris, FR",plain,,1,-1,1e39,\n'
    '2,,2,Rome,"two\nlines",,99999999999999999999,-9223372036854775808,nan,\n'
    '\n'
    '3,41,,"",x y z,,3,9223372036854775807,-inf,naïve\n'
    '4,52,-0.25,Oslo,"quote ""inside""",,4,0,-1e-50,\n'
) + "".join(f"{i},{20 + i % 50},{i / 7:.3f},C{i % 13},n{i % 5},,{i},{-i * 1000},{i * 1e30},{i}\n"
            for i in range(5, 400))


def run(executor_cls, tmp_path, name, input_config, output_config=None, beam_args=BEAM):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / name)
    properties = {
        keys.INPUT_BASE_KEY: str(tmp_path / "in"),
        keys.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
        keys.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config or example_gen_pb2.Output()),
        keys.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        keys.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=beam_args, tmp_dir=str(tmp_path / "t"))
    executor_cls(context).Do({}, {keys.EXAMPLES_KEY: [examples]}, properties)
    return examples


def records(examples, split):
    directory = artifact_utils.get_split_uri([examples], split)
    out = []
    for name in sorted(os.listdir(directory)):
        out += [r.numpy() for r in tf.data.TFRecordDataset(os.path.join(directory, name), compression_type="GZIP")]
    return out


def canonical(serialized):
    return sorted(tf.train.Example.FromString(r).SerializeToString(deterministic=True) for r in serialized)


def single_split(pattern="data.csv"):
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)])


HASH_SPLIT = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
    example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=3),
    example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))


@pytest.fixture
def edge_csv(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text(EDGE_CSV)
    return tmp_path


def test_csv_matches_tfx_examples_and_hash_split(edge_csv):
    ours = run(example_gen.StreamingCsvExecutor, edge_csv, "ours", single_split(), HASH_SPLIT)
    theirs = run(tfx_csv.Executor, edge_csv, "tfx", single_split(), HASH_SPLIT)
    assert artifact_utils.decode_split_names(ours.split_names) == ["train", "eval"]
    for split in ("train", "eval"):
        assert canonical(records(ours, split)) == canonical(records(theirs, split)), split
    assert len(records(ours, "train")) + len(records(ours, "eval")) == 399
    example = next(tf.train.Example.FromString(r) for r in records(ours, "train") + records(ours, "eval")
                   if tf.train.Example.FromString(r).features.feature["id"].int64_list.value == [2])
    feature = example.features.feature
    assert feature["note"].bytes_list.value == [b"two\nlines"]
    assert feature["age"].HasField("int64_list") and not feature["age"].int64_list.value  # empty cell
    assert feature["score"].float_list.value == [2.0]  # INT promoted to FLOAT by other rows
    assert feature["big"].bytes_list.value == [b"99999999999999999999"]  # beyond int64: text, as tfx_bsl
    assert not feature["empty"].WhichOneof("kind")  # a column with no value at all
    assert feature["neg"].int64_list.value == [-2 ** 63]
    every = records(ours, "train") + records(ours, "eval")
    assert every == [tf.train.Example.FromString(r).SerializeToString(deterministic=True) for r in every]


def test_input_splits_shuffled_deterministically(edge_csv):
    (edge_csv / "in" / "eval.csv").write_text(EDGE_CSV)
    splits = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="train", pattern="data.csv"),
                                           example_gen_pb2.Input.Split(name="eval", pattern="eval.csv")])
    first = run(example_gen.StreamingCsvExecutor, edge_csv, "a", splits)
    again = run(example_gen.StreamingCsvExecutor, edge_csv, "b", splits)
    theirs = run(tfx_csv.Executor, edge_csv, "tfx", splits)
    train = records(first, "train")
    assert train == records(again, "train")  # same input, same files
    assert canonical(train) == canonical(records(theirs, "train"))
    ids = [tf.train.Example.FromString(r).features.feature["id"].int64_list.value[0] for r in train]
    assert ids != sorted(ids)  # shuffled, not in file order
    assert not [p for p in os.listdir(first.uri) if p.startswith(".shuffle")]  # scratch removed


def test_many_buckets_and_shards(edge_csv, monkeypatch):
    monkeypatch.setattr(example_gen, "BUCKET_BYTES", 2_000)
    monkeypatch.setattr(example_gen, "SHARD_BYTES", 10_000)
    ours = run(example_gen.StreamingCsvExecutor, edge_csv, "ours", single_split(), HASH_SPLIT)
    theirs = run(tfx_csv.Executor, edge_csv, "tfx", single_split(), HASH_SPLIT)
    shards = os.listdir(artifact_utils.get_split_uri([ours], "train"))
    assert len(shards) > 1 and all(s.startswith("data_tfrecord-") and s.endswith(".gz") for s in shards)
    assert canonical(records(ours, "train")) == canonical(records(theirs, "train"))


def test_tfrecord_import_matches_tfx(edge_csv):
    source = run(example_gen.StreamingCsvExecutor, edge_csv, "source", single_split())
    os.makedirs(edge_csv / "in" / "tf")
    with tf.io.TFRecordWriter(str(edge_csv / "in" / "tf" / "data.tfrecord.gz"), options="GZIP") as writer:
        for record in records(source, "single_split"):
            writer.write(record)
    ours = run(example_gen.StreamingImportExecutor, edge_csv, "ours", single_split("tf/*"), HASH_SPLIT)
    theirs = run(tfx_import.Executor, edge_csv, "tfx", single_split("tf/*"), HASH_SPLIT)
    for split in ("train", "eval"):
        assert canonical(records(ours, split)) == canonical(records(theirs, split))


def test_other_runners_get_tfx_beam_executor():
    assert example_gen.runs_locally(None) and example_gen.runs_locally(["--runner=DirectRunner"])
    assert not example_gen.runs_locally(["--runner=DataflowRunner", "--project=p"])
    assert example_gen.runs_locally(["--runner=DataflowRunner", "--runner=DirectRunner"])  # the last one wins


@pytest.mark.parametrize("content, expected", [
    (b"a,b\n1,2\n3\n", r"data.csv, line 3: 1 fields, the header has 2"),
    (b"a,b\n1,2\n3,4,5\n", r"line 3: 3 fields, the header has 2"),
    (b"a,b\n1,2\n\"3,4\n", r"line 3: 1 fields, the header has 2 \(an unbalanced quote\?\)"),
    (b"a,b\n1,2\n3,caf\xe9\n", r"data.csv, line 3: bytes that are not UTF-8"),
    (b"a,b\n", r"holds no records \(header only\?\)"),
])
def test_bad_csv_named(tmp_path, content, expected):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_bytes(content)
    with pytest.raises(example_gen.DataFileError, match=expected):
        run(example_gen.StreamingCsvExecutor, tmp_path, "ours", single_split())
    assert not (tmp_path / "ours").exists() or not os.listdir(tmp_path / "ours")  # nothing written


def test_long_text_cell_is_data(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("a,text\n1," + "w " * 3_000_000 + "\n2,short\n")
    ours = run(example_gen.StreamingCsvExecutor, tmp_path, "ours", single_split())
    values = [tf.train.Example.FromString(r).features.feature["text"].bytes_list.value[0]
              for r in records(ours, "single_split")]
    assert sorted(len(v) for v in values) == [5, 6_000_000]


def test_repeated_column_named(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(example_gen.DataFileError, match=r"data.csv: the header names 'a' more than once"):
        run(example_gen.StreamingCsvExecutor, tmp_path, "ours", single_split())


def test_remote_files_read_through_tf_filesystems():
    path = "ram://example_gen_test/data.csv"
    tf.io.gfile.makedirs("ram://example_gen_test")
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write('a,b\n1,x\n2,"y\nz"\n'.encode())
    assert example_gen.csv_header(path) == ["a", "b"]
    assert list(example_gen.csv_rows(path, 2)) == [(2, ["1", "x"]), (4, ["2", "y\nz"])]


def test_files_of_a_split_must_share_header(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1.csv").write_text("a,b\n1,2\n")
    (tmp_path / "in" / "2.csv").write_text("b,a\n1,2\n")
    with pytest.raises(example_gen.DataFileError, match=r"2.csv: its header differs from .*1.csv"):
        run(example_gen.StreamingCsvExecutor, tmp_path, "ours", single_split("*.csv"))


# ------------------------------------------------------------------ the project's reading rules (pipeline/core/csvdata.py)
def two_splits():
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="train", pattern="train.csv*"),
                                         example_gen_pb2.Input.Split(name="eval", pattern="eval.csv")])


def run_with(tmp_path, reading, splits=None):
    """The streaming executor with the `Reading` settings the pipeline passes (custom_config)."""
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "ours")
    properties = {
        keys.INPUT_BASE_KEY: str(tmp_path / "in"),
        keys.INPUT_CONFIG_KEY: proto_utils.proto_to_json(splits or two_splits()),
        keys.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Output()),
        keys.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(example_gen.reading_config(reading)),
        keys.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        keys.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM, tmp_dir=str(tmp_path / "t"))
    example_gen.StreamingCsvExecutor(context).Do({}, {keys.EXAMPLES_KEY: [examples]}, properties)
    return examples


def by_id(examples, split):
    found = {}
    for record in records(examples, split):
        feature = tf.train.Example.FromString(record).features.feature
        found[feature["id"].int64_list.value[0]] = feature
    return found


PENGUINS = ("id, flipper, sex ,island\n1,181,male,Dream\n2,NA,NA,Biscoe\n3,195, female,?\n4, N/A ,male,\n")
READING = {"na_values": ["NA", "N/A", "?"], "numeric_columns": ["flipper"], "float_columns": ["flipper"]}


def test_missing_value_spellings_are_absent_and_numbers_stay_numbers(tmp_path):
    import gzip

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train.csv.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + PENGUINS.encode()))  # BOM, gzip
    (tmp_path / "in" / "eval.csv").write_text(PENGUINS)
    examples = run_with(tmp_path, READING)
    for split in ("train", "eval"):
        rows = by_id(examples, split)
        assert rows[1]["flipper"].float_list.value == [181.0]  # a whole-number numeric column is written as FLOAT
        for row, column in [(2, "flipper"), (4, "flipper"), (2, "sex"), (3, "island"), (4, "island")]:
            kind = rows[row][column].WhichOneof("kind")
            assert kind in ("float_list", "bytes_list") and not getattr(rows[row][column], kind).value, (row, column)
        assert rows[3]["sex"].bytes_list.value == [b" female"]  # cells are data: only names are stripped
        assert set(rows[1]) == {"id", "flipper", "sex", "island"}  # header names stripped
    assert not examples.get_string_custom_property(example_gen.NOTES_PROPERTY)
    without = run_with(tmp_path, {})  # TFX's reading: 'NA' is text, the column BYTES
    assert by_id(without, "eval")[2]["flipper"].bytes_list.value == [b"NA"]


def test_one_type_per_column_for_all_splits_and_text_in_numeric_noted(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train.csv").write_text("id,flipper,code\n1,181,7\n2,190,8\n")
    (tmp_path / "in" / "eval.csv").write_text("id,flipper,code\n3,200,x7\n4,unknown,9\n5,oops,9\n")
    examples = run_with(tmp_path, READING)
    train = by_id(examples, "train")
    assert train[1]["code"].bytes_list.value == [b"7"]  # INT in train, text in eval: BYTES in both (TFX: per split)
    assert train[1]["flipper"].bytes_list.value == [b"181"]
    notes = json.loads(examples.get_string_custom_property(example_gen.NOTES_PROPERTY))
    assert notes == {"eval": {"flipper": [2, str(tmp_path / "in" / "eval.csv"), 3, "unknown"]}}


def test_header_reader_is_the_preflights(tmp_path):
    from pipeline.core import csvdata

    path = tmp_path / "data.csv"
    path.write_bytes(b'\xef\xbb\xbf age, "sex, stated" ,x\n1,2,3\n')
    assert example_gen.csv_header(str(path)) == csvdata.header(str(path)) == ["age", "sex, stated", "x"]


def test_corrupt_and_misnamed_tfrecords_are_named(edge_csv):
    source = run(example_gen.StreamingCsvExecutor, edge_csv, "source", single_split())
    os.makedirs(edge_csv / "in" / "tf")
    good = edge_csv / "in" / "tf" / "data.tfrecord"
    with tf.io.TFRecordWriter(str(good)) as writer:
        for record in records(source, "single_split"):
            writer.write(record)
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle
    good.write_bytes(bytes(data))
    with pytest.raises(example_gen.DataFileError,
                       match=r"data.tfrecord: not a readable TFRecord \(not gzip'd: its name has no .gz\) file after "
                             r"\d+ good record\(s\): .*corrupted record at \d+"):
        run(example_gen.StreamingImportExecutor, edge_csv, "ours", single_split("tf/*"))
    good.rename(edge_csv / "in" / "tf" / "data.tfrecord.gz")
    with pytest.raises(example_gen.DataFileError, match=r"data.tfrecord.gz: not a readable gzip'd TFRecord file"):
        run(example_gen.StreamingImportExecutor, edge_csv, "again", single_split("tf/*"))


def test_beam_runners_read_csv_by_the_same_rules(tmp_path):
    """Dataflow/Flink/Spark get TFX's Beam executor with components.csv_examples.CsvToExamples: the same examples
    as the streaming path (missing-value spellings, BOM, gzip, stripped header names, float numerics, one type
    per column over all splits), where TFX's own transform would read 'NA' as text and the gzip bytes as rows."""
    import gzip

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train.csv.gz").write_bytes(gzip.compress(b"\xef\xbb\xbf" + PENGUINS.encode()))
    (tmp_path / "in" / "eval.csv").write_text(PENGUINS.replace("Dream", "7", 1))  # island: INT here, BYTES in train
    streamed = run_with(tmp_path, READING)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "beam")
    properties = {
        keys.INPUT_BASE_KEY: str(tmp_path / "in"),
        keys.INPUT_CONFIG_KEY: proto_utils.proto_to_json(two_splits()),
        keys.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Output()),
        keys.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(example_gen.reading_config(READING)),
        keys.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        keys.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=BEAM, tmp_dir=str(tmp_path / "t"))
    executor = example_gen.StreamingCsvExecutor(context)
    tfx_csv.Executor.Do(executor, {}, {keys.EXAMPLES_KEY: [examples]}, properties)  # the Beam path, not streaming
    for split in ("train", "eval"):
        assert canonical(records(examples, split)) == canonical(records(streamed, split)), split
    assert by_id(examples, "eval")[1]["island"].bytes_list.value == [b"7"]
    assert by_id(examples, "train")[2]["flipper"].HasField("float_list")  # 'NA': a float with no value
