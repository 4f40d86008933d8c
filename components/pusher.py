"""Pusher executor that publishes a model version atomically.

TFX's Pusher copies the model file by file into <base>/<version>/ (saved_model.pb last), so a model server that
polls <base> can see a half-copied version. This executor lets TFX push into a hidden staging directory under
<base> (TF Serving and `mtl serve` only look at numeric names), then renames the finished version into place:
one rename on a local or POSIX file system, so a watcher sees no version or a whole one. A failed push (a full
disk, a read-only file system) removes its staging directory and raises PushError naming the directory and the
cause; a crashed one leaves only a hidden staging directory, which the next push removes once an hour old.

`AtomicPusher` is TFX's Pusher with this executor and one more input, the raw `examples` (ExampleGen's): before
the rename, the staged version gets TF Serving's warm-up file (`assets.extra/tf_serving_warmup_requests`,
serving/warmup.py) built from the first `warmup_rows` eval rows, raw features only (the model contract's
features: no label columns), so the warm-up file is published with the version or not at all.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Optional

import tensorflow as tf
from tfx import types as tfx_types
from tfx.components.pusher import component as tfx_pusher_component
from tfx.components.pusher import executor as tfx_pusher
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2, pusher_pb2
from tfx.types import artifact_utils, component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils, proto_utils

from pipeline.os_errors import os_failure


def _serving():
    """serving.warmup and serving.contract, imported by name when a push runs: the warm-up writer is the Pusher's
    alone and must stay out of the data components' code fingerprint (pipeline/version.py follows import
    statements, and pipeline/pipeline.py, which builds every component, is one of its roots)."""
    import importlib

    return importlib.import_module("serving.warmup"), importlib.import_module("serving.contract")

STAGING_PREFIX = ".staging-"
STALE_SECONDS = 3600
EXAMPLES_KEY = "examples"
WARMUP_ROWS_KEY = "warmup_rows"  # in the Pusher's custom_config; 0: no warm-up file
WARMUP_SPLIT = "eval"


class PushError(RuntimeError):
    """The model could not be written to the serving directory; no version was published."""


class AtomicPusherExecutor(tfx_pusher.Executor):
    def Do(self, input_dict, output_dict, exec_properties):
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            return super().Do(input_dict, output_dict, exec_properties)
        base = destination.filesystem.base_directory
        staging = os.path.join(base, f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}")
        try:
            self._push(base, staging, destination, input_dict, output_dict, exec_properties)
        except (OSError, tf.errors.OpError) as exc:  # tf.io.gfile's copy raises OpErrors (ResourceExhaustedError)
            problem, said = os_failure(exc) or (type(exc).__name__, str(exc))
            raise PushError(f"push to {base} failed: {problem} ({said}). No version "
                            "was published and the staged copy was removed; free space or fix the directory, then "
                            "run again (the next run reuses the trained model and repeats the push)") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _push(self, base, staging, destination, input_dict, output_dict, exec_properties):
        os.makedirs(base, exist_ok=True)
        remove_stale_staging(base)
        destination.filesystem.base_directory = staging
        staged = dict(exec_properties)
        staged[standard_component_specs.PUSH_DESTINATION_KEY] = proto_utils.proto_to_json(destination)
        super().Do(input_dict, output_dict, staged)
        pushed = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if pushed.get_int_custom_property("pushed") != 1:
            return
        version = pushed.get_string_custom_property("pushed_version")
        final = os.path.join(base, version)
        if os.path.exists(final):  # the same version pushed before (TFX skips it too)
            return
        add_warmup(os.path.join(staging, version), input_dict.get(EXAMPLES_KEY), exec_properties)
        os.rename(os.path.join(staging, version), final)
        pushed.set_string_custom_property("pushed_destination", final)


def add_warmup(version_dir: str, examples, exec_properties) -> Optional[Path]:
    """Write the warm-up file into the staged version from the first eval rows of the raw `examples` (nothing
    without them, without warm-up rows, or for a model without a contract)."""
    config = json_utils.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null") or {}
    warmup, serving_contract = _serving()
    rows = config.get(WARMUP_ROWS_KEY)
    rows = warmup.DEFAULT_ROWS if rows is None else int(rows)
    contract = os.path.join(version_dir, serving_contract.CONTRACT_FILE)
    if not examples or rows <= 0 or not os.path.isfile(contract):
        return None
    artifact = artifact_utils.get_single_instance(examples)
    if examples_utils.get_payload_format(artifact) != example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE:
        logging.warning("no warm-up file: the examples are not tf.Examples")
        return None
    splits = artifact_utils.decode_split_names(artifact.split_names)
    split = WARMUP_SPLIT if WARMUP_SPLIT in splits else splits[0]
    [pattern] = examples_utils.get_split_file_patterns([artifact], split)
    files = sorted(tf.io.gfile.glob(pattern))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP" if files and files[0].endswith(".gz") else "")
    contract = serving_contract.ModelContract.read(contract)
    chosen = warmup.raw_examples((r.numpy() for r in records.take(rows)), set(contract.features), rows)
    path = warmup.write(version_dir, chosen, warmup.signature_defs(version_dir), contract.name)
    logging.info("warm-up file: %d rows of split %s in %s", len(chosen), split, path)
    return path


def remove_stale_staging(base: str, older_than: float = STALE_SECONDS) -> None:
    """Remove staging directories that crashed pushes left behind."""
    now = time.time()
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if name.startswith(STAGING_PREFIX) and now - os.path.getmtime(path) > older_than:
            shutil.rmtree(path, ignore_errors=True)


class AtomicPusherSpec(standard_component_specs.PusherSpec):
    INPUTS = {**standard_component_specs.PusherSpec.INPUTS,
              EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples, optional=True)}


class AtomicPusher(tfx_pusher_component.Pusher):
    """TFX's Pusher (component id `Pusher`), publishing atomically; given the raw `examples`, the pushed version
    carries a warm-up file of `warmup_rows` eval rows (None: serving/warmup.py's DEFAULT_ROWS; 0: none)."""

    SPEC_CLASS = AtomicPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)

    def __init__(self, model: tfx_types.BaseChannel, model_blessing: tfx_types.BaseChannel,
                 push_destination: pusher_pb2.PushDestination, examples: Optional[tfx_types.BaseChannel] = None,
                 warmup_rows: Optional[int] = None):
        spec = AtomicPusherSpec(model=model, model_blessing=model_blessing, examples=examples,
                                push_destination=push_destination,
                                custom_config=json_utils.dumps(
                                    {WARMUP_ROWS_KEY: None if warmup_rows is None else int(warmup_rows)}),
                                pushed_model=tfx_types.Channel(type=standard_artifacts.PushedModel))
        super(tfx_pusher_component.Pusher, self).__init__(spec=spec)
        self.with_id("Pusher")  # the id TFX's Pusher has: run records and tests look for it
