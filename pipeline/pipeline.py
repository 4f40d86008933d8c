"""create_pipeline(config, ...) -> tfx Pipeline. Pure: builds components, runs nothing, writes nothing.

ExampleGen -> StatisticsGen -> SchemaGen | ImportSchemaGen -> ExampleValidator -> DataGate -> Transform
(the trainer, Evaluator and Pusher follow in the model half).
"""
from __future__ import annotations

import json
import os
from typing import List, Optional

from tfx import v1 as tfx

from components.gates import DataGate
from pipeline import config as cfg
from pipeline.version import code_version

PREPROCESSING_FN = "components.transform.preprocessing_fn"


def example_gen(config: cfg.Config):
    """CsvExampleGen (or ImportExampleGen for tf.Example TFRecords) with a train and an eval split."""
    patterns = {"train": os.path.abspath(config.data.train)}
    if config.data.eval:
        patterns["eval"] = os.path.abspath(config.data.eval)
    base = os.path.commonpath([os.path.dirname(p) for p in patterns.values()])
    input_config = tfx.proto.Input(splits=[
        tfx.proto.Input.Split(name=split, pattern=os.path.relpath(path, base))
        for split, path in patterns.items()])
    output_config = None
    if not config.data.eval:
        train_buckets, eval_buckets = cfg.eval_hash_buckets(config.data.eval_fraction)
        output_config = tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
            tfx.proto.SplitConfig.Split(name="train", hash_buckets=train_buckets),
            tfx.proto.SplitConfig.Split(name="eval", hash_buckets=eval_buckets)]))
    component = (tfx.components.ImportExampleGen if cfg.data_format(config.data.train) == "tfrecord"
                 else tfx.components.CsvExampleGen)
    return component(input_base=base, input_config=input_config, output_config=output_config)


def data_components(config: cfg.Config) -> List:
    """ExampleGen through Transform, wired from the config."""
    examples = example_gen(config)
    statistics = tfx.components.StatisticsGen(examples=examples.outputs["examples"])
    if config.schema_path:
        schema = tfx.components.ImportSchemaGen(schema_file=os.path.abspath(config.schema_path))
    else:
        schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
    validator = tfx.components.ExampleValidator(statistics=statistics.outputs["statistics"],
                                                schema=schema.outputs["schema"])
    contract = cfg.data_contract(config, code_version())
    gate = DataGate(schema=schema.outputs["schema"], anomalies=validator.outputs["anomalies"],
                    contract_json=json.dumps(contract, sort_keys=True))
    transform = tfx.components.Transform(
        examples=examples.outputs["examples"], schema=gate.outputs["validated_schema"],
        preprocessing_fn=PREPROCESSING_FN, custom_config=contract, force_tf_compat_v1=True, disable_statistics=True)
    return [examples, statistics, schema, validator, gate, transform]


def create_pipeline(config: cfg.Config, *, pipeline_root: str, metadata_path: Optional[str] = None,
                    beam_args: Optional[List[str]] = None, enable_cache: bool = True,
                    metadata_connection_config=None) -> tfx.dsl.Pipeline:
    """The whole pipeline for a config. Pass metadata_path (SQLite) or a metadata_connection_config."""
    if metadata_connection_config is None and metadata_path is not None:
        metadata_connection_config = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=data_components(config),
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_args if beam_args is None else beam_args),
    )
