"""Pusher executor that publishes a model version atomically.

TFX's Pusher copies the model file by file into <base>/<version>/ (saved_model.pb last), so a model server that
polls <base> can see a half-copied version. This executor lets TFX push into a hidden staging directory under
<base> (TF Serving and `mtl serve` only look at numeric names), then renames the finished version into place:
one rename on a local or POSIX file system, so a watcher sees no version or a whole one. A failed push (a full
disk, a read-only file system) removes its staging directory and raises PushError naming the directory and the
cause; a crashed one leaves only a hidden staging directory, which the next push removes once an hour old.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid

import tensorflow as tf
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from pipeline.os_errors import os_failure

STAGING_PREFIX = ".staging-"
STALE_SECONDS = 3600


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
        os.rename(os.path.join(staging, version), final)
        pushed.set_string_custom_property("pushed_destination", final)


def remove_stale_staging(base: str, older_than: float = STALE_SECONDS) -> None:
    """Remove staging directories that crashed pushes left behind."""
    now = time.time()
    for name in os.listdir(base):
        path = os.path.join(base, name)
        if name.startswith(STAGING_PREFIX) and now - os.path.getmtime(path) > older_than:
            shutil.rmtree(path, ignore_errors=True)
