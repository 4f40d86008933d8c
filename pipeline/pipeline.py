"""create_pipeline(config, ...) -> tfx Pipeline. Pure: builds components, runs nothing, writes nothing.

Data half: ExampleGen -> StatisticsGen -> SchemaGen | ImportSchemaGen -> ExampleValidator -> DataGate ->
DriftGate (against the statistics of the last accepted run) -> Transform. Model half: Trainer -> Evaluator
(against the latest blessed model) -> Pusher (only if blessed); with `inference.data`, an ExampleGen of those
rows -> BulkInferrer (scores them when the model is blessed).
"""
from __future__ import annotations

import json
import os
from typing import List, Optional

from tfx import v1 as tfx

from components import example_gen as streaming
from components.evaluation import eval_config
from components.gates import AcceptedStatistics, DataGate, DriftGate
from components.pusher import AtomicPusher
from pipeline import beam
from pipeline import config as cfg
from pipeline.core.keys import BULK_SIGNATURE
from pipeline.version import DATA_CODE, MODEL_CODE, code_version

PREPROCESSING_FN = "components.transform.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"
STAGES = ("transform", "push")


serving_dir = cfg.serving_dir  # defined with the other derived names, so that `mtl deploy` needs no TFX


def resolve(path: str) -> str:
    """Absolute local path; remote URIs (gs://, s3://, ...) as they are."""
    return path if cfg.is_uri(path) else os.path.abspath(path)


def _split_base(paths: List[str]) -> str:
    """The deepest directory holding every path ('/'-separated, so that it also works for URIs)."""
    parts = [p.split("/")[:-1] for p in paths]
    common = []
    for level in zip(*parts):
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return "/".join(common) or "/"


def example_gen(config: cfg.Config):
    """CsvExampleGen (or ImportExampleGen for tf.Example TFRecords) with a train and an eval split; their
    executors stream in bounded memory on the DirectRunner (components/example_gen.py)."""
    patterns = {"train": resolve(config.data.train)}
    if config.data.eval:
        patterns["eval"] = resolve(config.data.eval)
    base = _split_base(list(patterns.values()))
    input_config = tfx.proto.Input(splits=[
        tfx.proto.Input.Split(name=split, pattern=path[len(base):].lstrip("/"))
        for split, path in patterns.items()])
    output_config = None
    if not config.data.eval:
        train_buckets, eval_buckets = cfg.eval_hash_buckets(config.data.eval_fraction)
        output_config = tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
            tfx.proto.SplitConfig.Split(name="train", hash_buckets=train_buckets),
            tfx.proto.SplitConfig.Split(name="eval", hash_buckets=eval_buckets)]))
    if cfg.data_format(config.data.train) == "tfrecord":
        return streaming.ImportExampleGen(input_base=base, input_config=input_config, output_config=output_config)
    return streaming.CsvExampleGen(input_base=base, input_config=input_config, output_config=output_config,
                                   reading=reading(config))


def reading(config: cfg.Config) -> dict:
    """How ExampleGen reads the CSV cells (components.example_gen.Reading), with the code that reads them. Sorted:
    the order features are written in the YAML must not re-run ExampleGen (nor, through new examples, the rest)."""
    numeric = sorted(config.numeric_columns)
    return {"na_values": sorted(config.data.na_values), "numeric_columns": numeric,
            "float_columns": [] if config.schema_path else numeric,  # a curated schema keeps its own types
            "code_version": code_version(DATA_CODE)}


def data_components(config: cfg.Config) -> List:
    """ExampleGen through Transform, wired from the config."""
    examples = example_gen(config)
    statistics = tfx.components.StatisticsGen(examples=examples.outputs["examples"])
    if config.schema_path:
        schema = tfx.components.ImportSchemaGen(schema_file=resolve(config.schema_path))
    else:
        schema = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
    validator = tfx.components.ExampleValidator(statistics=statistics.outputs["statistics"],
                                                schema=schema.outputs["schema"])
    contract = cfg.data_contract(config, code_version(DATA_CODE))
    gate = DataGate(schema=schema.outputs["schema"], anomalies=validator.outputs["anomalies"],
                    statistics=statistics.outputs["statistics"], examples=examples.outputs["examples"],
                    contract_json=json.dumps(contract, sort_keys=True))
    previous = tfx.dsl.Resolver(  # the statistics of the last run whose data passed the DriftGate
        strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
        statistics=tfx.dsl.Channel(type=AcceptedStatistics),
    ).with_id("previous_statistics")
    drift = DriftGate(statistics=statistics.outputs["statistics"], schema=gate.outputs["validated_schema"],
                      previous_statistics=previous.outputs["statistics"],
                      validation_json=json.dumps(drift_settings(config), sort_keys=True))
    transform = tfx.components.Transform(
        examples=examples.outputs["examples"], schema=gate.outputs["validated_schema"],
        preprocessing_fn=PREPROCESSING_FN, custom_config=contract, force_tf_compat_v1=True, disable_statistics=True)
    transform.add_upstream_node(drift)  # no Transform (and no model) on drifted data; its cache key is unchanged
    return [examples, statistics, schema, validator, gate, previous, drift, transform]


def drift_settings(config: cfg.Config) -> dict:
    """The DriftGate's parameter: the validation bounds and the columns they apply to (not free text or vectors:
    their cells are near-unique strings)."""
    columns = [c for c in config.columns if c not in config.features
               or config.features[c].type not in ("text", "vector")]
    return {"validation": config.validation.model_dump(mode="json"), "columns": columns}


def trainer_view(config: cfg.Config) -> dict:
    """The config as the trainer sees it: without thresholds, slices and run settings, so that changing
    those re-runs only the Evaluator (and Pusher), never training."""
    view = config.model_dump(mode="json", by_alias=True,
                             exclude={"evaluation", "validation", "output", "beam_args", "orchestration", "inference"})
    for task in view["tasks"].values():
        task.pop("thresholds")
    return view


def model_components(config: cfg.Config, examples, transform, push_to: str) -> List:
    """Trainer -> Evaluator (baseline: latest blessed model) -> Pusher."""
    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config={"config": trainer_view(config), "code_version": code_version(MODEL_CODE)},
    )
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model")
    evaluator = tfx.components.Evaluator(
        examples=examples.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=eval_config(config),
        example_splits=["eval"],
    )
    pusher = AtomicPusher(  # no half-copied versions; eval rows as TF Serving's warm-up requests
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=push_to)),
        examples=examples.outputs["examples"],
    )
    return [trainer, baseline, evaluator, pusher]


INFERENCE_SPLIT = streaming.INFERENCE_SPLIT


def inference_components(config: cfg.Config, trainer, evaluator) -> List:
    """`inference.data` -> its own ExampleGen (one split) -> BulkInferrer with the trained model, which scores
    only when the Evaluator blessed it (PredictionLogs of its `bulk_inference` signature, `serving_default` with
    per-row strings as columns; `mtl run` writes them as answers)."""
    path = resolve(config.inference.data)
    base, pattern = path.rsplit("/", 1) if "/" in path else (".", path)
    input_config = tfx.proto.Input(splits=[tfx.proto.Input.Split(name=INFERENCE_SPLIT, pattern=pattern)])
    one_split = tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[  # TFX's default: a 2:1 train/eval split
        tfx.proto.SplitConfig.Split(name=INFERENCE_SPLIT, hash_buckets=1)]))  # kept in file order (ORDERED_SPLITS)
    if cfg.data_format(path) == "tfrecord":
        rows = streaming.ImportExampleGen(input_base=base, input_config=input_config, output_config=one_split)
    else:
        rows = streaming.CsvExampleGen(input_base=base, input_config=input_config, output_config=one_split,
                                       reading=reading(config))
    rows = rows.with_id("InferenceExampleGen")
    inferrer = tfx.components.BulkInferrer(
        examples=rows.outputs["examples"], model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        data_spec=tfx.proto.DataSpec(example_splits=[INFERENCE_SPLIT]),
        model_spec=tfx.proto.ModelSpec(model_signature_name=[BULK_SIGNATURE]))
    return [rows, inferrer]


def create_pipeline(config: cfg.Config, *, pipeline_root: str, output: str, metadata_path: Optional[str] = None,
                    beam_args: Optional[List[str]] = None, enable_cache: bool = True, metadata_connection_config=None,
                    until: str = "push") -> tfx.dsl.Pipeline:
    """The pipeline for a config, through stage `until` (transform | push).

    Pass metadata_path (SQLite) or a metadata_connection_config; models are pushed under serving_dir(output).
    beam_args default to beam.plan(config): the config's, else the in-memory DirectRunner.
    """
    if until not in STAGES:
        raise ValueError(f"until must be one of {', '.join(STAGES)}, got {until!r}")
    components = data_components(config)
    if until == "push":
        trainer, baseline, evaluator, pusher = model_components(config, components[0], components[-1],
                                                                serving_dir(config, output))
        components += [trainer, baseline, evaluator, pusher]
        if config.inference:
            components += inference_components(config, trainer, evaluator)
    if metadata_connection_config is None and metadata_path is not None:
        metadata_connection_config = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_args if beam_args is not None else beam.plan(config)),
    )
