"""Generated protobuf modules (`*_pb2`) of TensorFlow and TFMA without their packages' `__init__`, and TFRecord
files read without TensorFlow: the light commands (`mtl runs`, `compare`, `predict --url`) need TFMA's metrics
protos and tf.Example, not the 4-6 s of `tensorflow/__init__.py` and `tensorflow_model_analysis/__init__.py`
(which import all of TensorFlow and Beam). A `_pb2` file itself imports only protobuf and other `_pb2` files.

When the package is already imported, its own modules are used. Otherwise the `_pb2` file is executed with the
packages above it stood in by bare module objects (their `__path__` only) for the time of the load, and then
every module the load added is taken out of `sys.modules` again: a later real import of TensorFlow or TFMA
runs from a clean slate (protobuf's descriptor pool accepts the identical file a second time; its message
classes are then others than the detached ones, so a detached message crosses to TensorFlow's as bytes)."""
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
_DETACHED: Dict[str, types.ModuleType] = {}  # every module a detached load ran, by name


def load(module: str) -> types.ModuleType:
    """The generated module `module`, e.g. 'tensorflow_model_analysis.proto.metrics_for_slice_pb2' or
    'tensorflow_serving.apis.predict_pb2' (whose imports reach TensorFlow's _pb2 files)."""
    if module in sys.modules or all(top in sys.modules for top in STANDINS):
        return importlib.import_module(module)
    if module in _DETACHED:
        return _DETACHED[module]
    with _LOCK:
        return _load_detached(module)


def _load_detached(module: str) -> types.ModuleType:
    """Each _pb2 file runs once per process: the modules of earlier detached loads are put back for the time of
    this one, so that all detached messages share their classes (an Example fits a detached request)."""
    tops = tuple(t for t in STANDINS if t not in sys.modules) + (module.split(".")[0],)
    before = set(sys.modules)
    sys.modules.update({name: m for name, m in _DETACHED.items()
                        if name not in before and name.split(".")[0] in tops})
    try:
        for top in (t for t in tops if t in STANDINS):
            spec = None if top in sys.modules else importlib.util.find_spec(top)  # found without importing it
            if spec is not None and spec.submodule_search_locations:
                standin = types.ModuleType(top, "stand-in: __path__ only, for loading a _pb2 module")
                standin.__path__ = list(spec.submodule_search_locations)
                sys.modules[top] = standin  # its subpackages' __init__ files are empty: they load as usual
        return importlib.import_module(module)
    finally:
        for name in set(sys.modules) - before:  # (protobuf's own modules, grpc and the like stay)
            if name.split(".")[0] in tops:
                _DETACHED.setdefault(name, sys.modules[name])
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
