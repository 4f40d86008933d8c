"""An Evaluator output folder (TFMA's metrics, plots and validation result) read as TFMA's own protos without
importing TFMA or TensorFlow (pipeline/core/protos.py): `mtl runs` and `mtl compare` read every run's metrics in
well under a second instead of paying TFMA's 6 s import. The files are found as tfma.load_metrics /
load_plots / load_validation_result find them; a remote URI (gs://...) is read by TFMA itself."""
from __future__ import annotations

import glob
import os
from typing import Iterator, List

from pipeline.core import protos

OVERALL = "Overall"  # the name of the unsliced slice

METRICS = "tensorflow_model_analysis.proto.metrics_for_slice_pb2"
VALIDATION = "tensorflow_model_analysis.proto.validation_result_pb2"


def _paths(uri: str, key: str, suffix: str = ".tfrecord") -> List[str]:
    """<uri>/<key>*<suffix>, else <uri>/<key>* (TFMA's fallback for files written without a suffix)."""
    base = os.path.join(uri, key) if os.path.isdir(uri) else uri
    pattern = glob.escape(base) + "*"
    return sorted(glob.glob(pattern + suffix) if suffix else []) or sorted(glob.glob(pattern))


def _remote(uri: str) -> bool:
    return "://" in uri


def _per_slice(uri: str, message_name: str, key: str, fallback: str) -> Iterator:
    """The `message_name` protos of TFMA's metrics_for_slice_pb2 in <uri>/<key>*; a remote URI through
    tfma.<fallback>."""
    if _remote(uri):
        import tensorflow_model_analysis as tfma

        yield from getattr(tfma, fallback)(uri)
        return
    message = getattr(protos.load(METRICS), message_name)
    for path in _paths(uri, key):
        for record in protos.tfrecords(path):
            yield message.FromString(record)


def load_metrics(uri: str) -> Iterator:
    """MetricsForSlice protos, one per slice."""
    return _per_slice(uri, "MetricsForSlice", "metrics", "load_metrics")


def load_plots(uri: str) -> Iterator:
    """PlotsForSlice protos, one per slice."""
    return _per_slice(uri, "PlotsForSlice", "plots", "load_plots")


def load_validation_result(uri: str):
    """The one ValidationResult proto; ValueError when the folder holds none or several."""
    if _remote(uri):
        import tensorflow_model_analysis as tfma

        return tfma.load_validation_result(uri)
    message = protos.load(VALIDATION).ValidationResult
    found = [message.FromString(r) for path in _paths(uri, "validations", "") for r in protos.tfrecords(path)]
    if len(found) != 1:
        raise ValueError(f"{uri}: expected one TFMA validation result (validations*), found {len(found)}")
    return found[0]


def slice_name(slice_key) -> str:
    """'Overall' or 'sex = Female, race = White' from a TFMA SliceKey proto."""
    parts = []
    for single in slice_key.single_slice_keys:
        which = single.WhichOneof("kind")
        value = getattr(single, which) if which else ""
        value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        parts.append(f"{single.column} = {value:g}" if isinstance(value, float) else f"{single.column} = {value}")
    return ", ".join(parts) or OVERALL
