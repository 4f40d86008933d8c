"""TF Serving's warm-up file, `assets.extra/tf_serving_warmup_requests`: written into a pushed version, read and
replayed before a version serves.

TF Serving runs a model's first requests slowly (graph initialisation, lazily allocated kernels) unless the
SavedModel carries this file: a TFRecord of `tensorflow_serving.apis.prediction_log_pb2.PredictionLog`s (the
format TFX's InfraValidator writes) that TF Serving replays while the version loads, failing the load when a
request fails. `write` puts one `PredictLog` for `serving_default` (a `PredictRequest` with the serialized raw
tf.Examples in the signature's string input, as TF Serving clients send them) and one `ClassifyLog` /
`RegressLog` per `classify_<task>` / `regress_<task>` signature (an `Input` example_list) there; `read` parses
the file back (a record that is not a PredictionLog is a `WarmupError` naming the file and the record), and
`replay` runs every request against a loaded SavedModel and checks the answer's outputs, as `mtl serve` does
before reporting a version AVAILABLE. Inspect a file with `read(path)` (each record prints as a text proto).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional, Sequence

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
DEFAULT_ROWS = 8      # rows per request: enough to initialise the model, few enough to replay in milliseconds
MAX_RECORDS = 1000    # TF Serving refuses a warm-up file with more records
PREDICT = "serving_default"
CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"
_LOGS = {"predict_log": "PredictLog", "classify_log": "ClassifyLog", "regress_log": "RegressLog"}


class WarmupError(ValueError):
    """The warm-up file cannot be read, or a request in it fails; the message names the file and the record."""


def warmup_path(version_dir) -> Path:
    """Where a version directory keeps its warm-up file."""
    return Path(version_dir) / WARMUP_FILE


def raw_examples(serialized: Iterable[bytes], features: Collection[str], rows: int = DEFAULT_ROWS) -> List[bytes]:
    """The first `rows` serialized tf.Examples with only the model's raw `features` kept (no label columns)."""
    from tensorflow.core.example import example_pb2

    found = []
    for record in serialized:
        if len(found) >= rows:
            break
        example = example_pb2.Example.FromString(record)
        for name in [n for n in example.features.feature if n not in features]:
            del example.features.feature[name]
        found.append(example.SerializeToString())
    return found


def requests(examples: Sequence[bytes], signature_defs: Mapping[str, Any], model_name: str = "") -> list:
    """PredictionLogs asking `serving_default` (Predict) and every classify / regress signature (Classify,
    Regress) about `examples` (serialized tf.Examples); `signature_defs` maps names to SignatureDefs."""
    import tensorflow as tf
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import (classification_pb2, input_pb2, model_pb2, predict_pb2, prediction_log_pb2,
                                         regression_pb2)

    if not examples:
        raise WarmupError("no examples to build warm-up requests from")
    if PREDICT not in signature_defs:
        raise WarmupError(f"the model has no '{PREDICT}' signature; it has {', '.join(sorted(signature_defs))}")
    logs = []
    for name in sorted(signature_defs, key=lambda n: (n != PREDICT, n)):
        signature = signature_defs[name]
        if name == PREDICT:
            key = _string_input(name, signature)
            request = predict_pb2.PredictRequest()
            request.model_spec.name, request.model_spec.signature_name = model_name, name
            request.inputs[key].CopyFrom(tf.make_tensor_proto(list(examples), dtype=tf.string,
                                                              shape=[len(examples)]))
            logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
        elif signature.method_name in (CLASSIFY, REGRESS):
            given = input_pb2.Input(example_list=input_pb2.ExampleList(
                examples=[example_pb2.Example.FromString(e) for e in examples]))
            spec = model_pb2.ModelSpec(name=model_name, signature_name=name)
            if signature.method_name == CLASSIFY:
                log = prediction_log_pb2.ClassifyLog(
                    request=classification_pb2.ClassificationRequest(model_spec=spec, input=given))
                found = prediction_log_pb2.PredictionLog(classify_log=log)
            else:
                log = prediction_log_pb2.RegressLog(request=regression_pb2.RegressionRequest(model_spec=spec,
                                                                                             input=given))
                found = prediction_log_pb2.PredictionLog(regress_log=log)
            logs.append(found)
    if len(logs) > MAX_RECORDS:
        raise WarmupError(f"{len(logs)} warm-up requests; TF Serving reads at most {MAX_RECORDS}")
    return logs


def write(version_dir, examples: Sequence[bytes], signature_defs: Mapping[str, Any], model_name: str = "") -> Path:
    """Write the warm-up file of `version_dir` (see `requests`) with tf.io.TFRecordWriter; returns its path.
    Written next to its final name and renamed, so that the file is never seen half-written."""
    import tensorflow as tf

    logs = requests(examples, signature_defs, model_name)
    path = warmup_path(version_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with tf.io.TFRecordWriter(str(partial)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    os.replace(partial, path)
    return path


def read(path) -> list:
    """The PredictionLogs of a warm-up file. WarmupError names the file and the record when a record is corrupt,
    is not a PredictionLog, holds no request TF Serving replays, or the file has more than MAX_RECORDS."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2

    logs = []
    records = iter(tf.data.TFRecordDataset(str(path)))
    while True:
        index = len(logs)
        try:
            record = next(records)
        except StopIteration:
            break
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError) as exc:  # a torn or foreign file
            raise WarmupError(f"{path}: record {index} is not a readable TFRecord ({_message(exc)}); expected "
                              "PredictionLogs written with tf.io.TFRecordWriter") from None
        try:
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        except DecodeError as exc:
            raise WarmupError(f"{path}: record {index} is not a PredictionLog ({exc})") from None
        kind = log.WhichOneof("log_type")
        if kind not in _LOGS:
            raise WarmupError(f"{path}: record {index} holds {kind or 'no request'}; expected one of "
                              f"{', '.join(_LOGS.values())}")
        logs.append(log)
        if len(logs) > MAX_RECORDS:
            raise WarmupError(f"{path}: more than {MAX_RECORDS} records (TF Serving's limit)")
    return logs


def replay(model, logs: Sequence[Any], signature_defs: Optional[Mapping[str, Any]] = None,
           path: str = WARMUP_FILE) -> float:
    """Run every request of `logs` against `model` (a loaded SavedModel or its `signatures` mapping) and check
    each answer: every output of the signature, one row per example (Classify: `classes` or `scores`, Regress:
    `outputs`). With `signature_defs`, a Classify / Regress request must name a signature of that method, as in
    TF Serving. Returns the seconds taken; WarmupError names `path`, the record and what failed."""
    signatures = getattr(model, "signatures", model)
    start = time.perf_counter()
    for index, log in enumerate(logs):
        kind = log.WhichOneof("log_type")
        request = getattr(log, kind).request if kind in _LOGS else None
        name = (request.model_spec.signature_name or PREDICT) if request is not None else "?"
        where = f"{path}: record {index} ({_LOGS.get(kind, kind)} for '{name}')"
        try:
            if request is None:
                raise WarmupError(f"holds {kind or 'no request'}; expected one of {', '.join(_LOGS.values())}")
            if name not in signatures:
                raise WarmupError(f"the model has no signature '{name}'; it has {', '.join(sorted(signatures))}")
            _run(kind, request, signatures[name], (signature_defs or {}).get(name))
        except WarmupError as exc:
            raise WarmupError(f"{where}: {exc}") from None
        except Exception as exc:  # the model refused the request: TF Serving fails the load
            raise WarmupError(f"{where} failed: {type(exc).__name__}: {_message(exc)}") from exc
    return time.perf_counter() - start


def _run(kind: str, request, function, signature_def) -> None:
    import tensorflow as tf

    if kind == "predict_log":
        inputs = {key: tf.constant(tf.make_ndarray(tensor)) for key, tensor in request.inputs.items()}
        rows = {int(t.shape[0]) for t in inputs.values() if t.shape.rank}
        outputs = function(**inputs)
        expected = set(signature_def.outputs) if signature_def is not None else set(function.structured_outputs)
        wanted = set(request.output_filter) or expected
        _check(outputs, wanted, rows.pop() if len(rows) == 1 else None)
        return
    method = CLASSIFY if kind == "classify_log" else REGRESS
    if signature_def is not None and signature_def.method_name != method:
        raise WarmupError(f"expected a signature of method {method}, the signature's is {signature_def.method_name}")
    examples = _examples(request.input)
    [key] = _input_keys(function)
    outputs = function(**{key: tf.constant(examples, dtype=tf.string)})
    if method == CLASSIFY:
        if not {"classes", "scores"} & set(outputs):
            raise WarmupError(f"the answer has neither 'classes' nor 'scores' (it has {', '.join(sorted(outputs))})")
        _check(outputs, {"classes", "scores"} & set(outputs), len(examples))
    else:
        _check(outputs, {"outputs"}, len(examples))


def _examples(given) -> List[bytes]:
    """An Input's examples serialized; example_list_with_context: each example merged onto the context."""
    kind = given.WhichOneof("kind")
    if kind == "example_list":
        found = [e.SerializeToString() for e in given.example_list.examples]
    elif kind == "example_list_with_context":
        context = given.example_list_with_context.context
        found = []
        for example in given.example_list_with_context.examples:
            merged = type(context)()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            found.append(merged.SerializeToString())
    else:
        raise WarmupError("the request's input holds no examples (expected example_list)")
    if not found:
        raise WarmupError("the request's input holds no examples")
    return found


def _check(outputs: Mapping[str, Any], wanted: Collection[str], rows: Optional[int]) -> None:
    missing = sorted(set(wanted) - set(outputs))
    if missing:
        raise WarmupError(f"the answer lacks {', '.join(repr(m) for m in missing)} (it has "
                          f"{', '.join(sorted(outputs))})")
    for key in wanted:
        shape = outputs[key].shape
        if rows is not None and (not shape.rank or int(shape[0]) != rows):
            raise WarmupError(f"output '{key}' has shape {list(shape)}, expected {rows} rows first")


def _input_keys(function) -> List[str]:
    return sorted(function.structured_input_signature[1])


def _string_input(name: str, signature) -> str:
    """The signature's one string input (serialized tf.Examples), whose key a PredictRequest must use."""
    from tensorflow.core.framework import types_pb2

    keys = [k for k, info in signature.inputs.items() if info.dtype == types_pb2.DT_STRING]
    if len(signature.inputs) != 1 or len(keys) != 1:
        raise WarmupError(f"signature '{name}' must take one string input (serialized tf.Examples); it takes "
                          f"{', '.join(f'{k}: {types_pb2.DataType.Name(i.dtype)}' for k, i in signature.inputs.items())}")
    return keys[0]


def _message(exc: BaseException) -> str:
    """The error's own message: for a TensorFlow op, without eager execution's wrapper and node annotations."""
    text = getattr(exc, "message", None) or str(exc)
    text = text.split("<stack traces unavailable>\n", 1)[-1].replace("Name: <unknown>, ", "")
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[\[\{\{node [^\]]*\]\]|\s*\[Op:[^\]]*\]( name:)?", "", text)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("Graph execution error"):  # the op's message comes last, after the trace
        lines = lines[-1:]
    return lines[0][:1000] if lines else type(exc).__name__


def signature_defs(directory) -> Dict[str, Any]:
    """The SignatureDefs of the SavedModel in `directory` (read from saved_model.pb, internal ones left out)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((Path(directory) / "saved_model.pb").read_bytes())
    return {k: v for k, v in saved.meta_graphs[0].signature_def.items() if not k.startswith("__")}
