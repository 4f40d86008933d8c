"""The four-task fixture (tests/data/four_tasks) through real TFT: its config per architecture, raw rows as
tf.Examples, the `transform_output` fixture and training batches (architecture and export tests)."""
import csv
import os
import tempfile

import apache_beam as beam
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
import yaml
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.transform import preprocessing_fn
from pipeline import config as cfg
from trainer.model import split_example

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")

FIXTURE = os.path.join(DATA, "four_tasks")


SPEC = {"message": tf.string, "tier": tf.string, "account_months": tf.float32, "escalate": tf.string,
        "intent": tf.string, "keywords": tf.string, "minutes": tf.float32}


ROWS = 320


def config_for(architecture, **model):
    raw = yaml.safe_load(open(os.path.join(FIXTURE, "config.yaml")))
    raw["model"] = {**raw["model"], "architecture": architecture, **model}
    if architecture == "hierarchical":
        raw["tasks"]["escalate"]["after"] = ["intent"]  # escalation reads the intent tower
    return cfg.parse_config(raw)


def serialize(row, columns, spec=SPEC):
    feature = {}
    for name in columns:
        text = row[name]
        if text == "":
            continue
        if spec[name] == tf.float32:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(text)]))
        else:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def transform_output():
    """A real TFT transform graph of the fixture's config, analyzed on its training rows."""
    rows = list(csv.DictReader(open(os.path.join(FIXTURE, "train.csv"))))[:ROWS]
    return write_transform(cfg.data_contract(config_for("shared_bottom")), rows, SPEC), rows


def write_transform(contract, rows, spec):
    """TFTransformOutput of `preprocessing_fn(contract)` analyzed on CSV-like rows ({column: text}, '' missing)
    whose columns have the tf dtypes in `spec`."""
    feature_spec = {k: tf.io.VarLenFeature(dtype) for k, dtype in spec.items()}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec))
    raw = [{k: ([] if r[k] == "" else [float(r[k]) if spec[k] == tf.float32 else r[k].encode()]) for k in spec}
           for r in rows]
    output = tempfile.mkdtemp()
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=True):
        data = pipeline | beam.Create(raw)
        transform_fn = (data, metadata) | tft_beam.AnalyzeDataset(lambda inputs: preprocessing_fn(inputs, contract))
        _ = transform_fn | tft_beam.WriteTransformFn(output)
        _ = metadata | tft_beam.WriteMetadata(os.path.join(output, tft.TFTransformOutput.RAW_METADATA_DIR), pipeline)
    return tft.TFTransformOutput(output)


def dataset(config, tf_transform_output, rows, batch_size=32):
    """(features, targets, masks) batches: raw tf.Examples -> the TFT layer -> split, as training sees them (the
    layer runs once on all rows; the batches are slices of its output)."""
    layer = tf_transform_output.transform_features_layer()
    spec = tf_transform_output.raw_feature_spec()
    transformed = layer(tf.io.parse_example([serialize(r, SPEC) for r in rows], spec))
    return tf.data.Dataset.from_tensor_slices(split_example(config)(transformed)).batch(batch_size).cache()
