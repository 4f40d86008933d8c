"""Generated protobuf modules (`*_pb2`) of TensorFlow and TFMA without their packages' `__init__`, and TFRecord
files read without TensorFlow: the light commands (`mtl runs`, `compare`, `predict --url`) need TFMA's metrics
protos and tf.Example, not the 4-6 s of `tensorflow/__init__.py` and `tensorflow_model_analysis/__init__.py`
(which import all of TensorFlow and Beam). A `_pb2` file itself imports only protobuf and other `_pb2` files.

When the package is already imported, its own modules are used. Otherwise the `_pb2` file is executed with the
packages above it stood in by bare module objects (their `__path__` only) for the time of the load, and then
every module the load added is taken out of `sys.modules` again: a later real import of TensorFlow or TFMA
runs from a clean slate (protobuf's descriptor pool accepts the identical file a second time; its message
classes are then others than the detached ones, so messages cross between the two as bytes, not objects)."""
from __future__ import annotations

import importlib
import importlib.util
import os
import struct
import sys
import threading
import types
from typing import Dict, Iterator

STANDINS = ("tensorflow", "tensorflow_model_analysis")  # packages whose __init__ is too heavy to run for a proto
_LOCK = threading.Lock()
_LOADED: Dict[str, types.ModuleType] = {}


def load(module: str) -> types.ModuleType:
    """The generated module `module`, e.g. 'tensorflow_model_analysis.proto.metrics_for_slice_pb2' or
    'tensorflow_serving.apis.predict_pb2' (whose imports reach TensorFlow's _pb2 files)."""
    if all(top in sys.modules for top in STANDINS):
        return importlib.import_module(module)
    with _LOCK:
        if module not in _LOADED:
            _LOADED[module] = _load_detached(module)
        return _LOADED[module]


def _load_detached(module: str) -> types.ModuleType:
    before, detached = set(sys.modules), STANDINS + (module.split(".")[0],)
    try:
        for top in STANDINS:
            spec = importlib.util.find_spec(top)  # a top-level spec is found without importing the package
            if top not in sys.modules and spec is not None and spec.submodule_search_locations:
                standin = types.ModuleType(top, "stand-in: __path__ only, for loading a _pb2 module")
                standin.__path__ = list(spec.submodule_search_locations)
                sys.modules[top] = standin  # its subpackages' __init__ files are empty: they load as usual
        return importlib.import_module(module)
    finally:
        for name in set(sys.modules) - before:  # (protobuf's own modules, grpc and the like stay)
            if name.split(".")[0] in detached:
                del sys.modules[name]


# -------------------------------------------------------------------------------------------------- TFRecord
def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecords(path: str) -> Iterator[bytes]:
    """The records of an uncompressed TFRecord file (TensorFlow's framing: uint64 length, masked CRC-32C of the
    length, data, masked CRC-32C of the data), every checksum checked; ValueError naming the file and the byte
    offset of a truncated or corrupted record."""
    with open(path, "rb") as f:
        while True:
            offset = f.tell()
            head = f.read(12)
            if not head:
                return
            if len(head) < 12:
                raise ValueError(f"{path}: truncated TFRecord header at byte {offset}")
            length, length_crc = struct.unpack("<QI", head)
            if _masked_crc(head[:8]) != length_crc:
                raise ValueError(f"{path}: corrupted TFRecord length at byte {offset} (not a TFRecord file, or a "
                                 "compressed one)")
            data, footer = f.read(length), f.read(4)
            if len(data) < length or len(footer) < 4:
                raise ValueError(f"{path}: truncated TFRecord at byte {offset} ({length} bytes announced)")
            if _masked_crc(data) != struct.unpack("<I", footer)[0]:
                raise ValueError(f"{path}: corrupted TFRecord data at byte {offset}")
            yield data
