"""Requests and answers of an exported multi-task model, from the `assets.extra/mtl_model.json` it carries.

`ModelContract.examples(rows)` turns raw feature dicts (`{"message": "where is my refund?!", "channel": "app"}`)
into serialized tf.Examples with the value kinds of the run's schema, and `ModelContract.answers(outputs)`
turns the `serving_default` outputs into one dict per row, keyed by task:

    binary      {"label": "1", "probability": 0.83}
    multiclass  {"label": "refund_request", "probabilities": {"refund_request": 0.91, ...}}
    multilabel  {"labels": ["order", "refund"], "probabilities": {"order": 0.97, ...}}   (labels: p >= 0.5)
    regression  {"value": 8.7}

Bad rows raise `RequestError` naming the row and the feature (unknown feature, wrong kind, required feature
missing, non-finite number) before anything is sent. The file's layout and its checks are the typed record of
pipeline/core/model_contract.py; `ModelContract` is that record with the request and answer logic.
"""
from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

from pipeline.core import kinds, protos
from pipeline.core.tags import entities
from pipeline.core.model_contract import (CONTRACT_FILE, ContractError, ContractRecord, FeatureSpec,  # noqa: F401
                                          TaskSpec)


class RequestError(ValueError):
    """A request row does not fit the model's inputs; the message names the row and the feature."""


def latest_version(base_dir) -> Path:
    """The newest complete version directory (numeric name, holds saved_model.pb) under a Pusher directory;
    `base_dir` may also be a version directory itself."""
    base = Path(base_dir)
    if (base / "saved_model.pb").is_file():
        return base
    versions = [d for d in base.iterdir() if d.name.isdigit() and (d / "saved_model.pb").is_file()] \
        if base.is_dir() else []
    if not versions:
        raise FileNotFoundError(f"{base}: no model version (a numbered directory holding saved_model.pb)")
    return max(versions, key=lambda d: int(d.name))


class ModelContract(ContractRecord):
    """A model's contract record (name, features, tasks, signature, input) with the request and answer logic."""

    @classmethod
    def load(cls, model_dir) -> "ModelContract":
        """The contract of the newest version under `model_dir` (or of `model_dir` itself, a version directory);
        FileNotFoundError when there is none, ContractError naming the field when it does not fit."""
        return cls.read(latest_version(model_dir) / CONTRACT_FILE)

    # ------------------------------------------------------------------------------------------ requests
    def example(self, row: Mapping[str, Any], index: int = 0, ignore_unknown: bool = False):
        """One raw feature dict -> tf.train.Example. None (and "" except for text) means missing."""
        example_pb2 = protos.load("tensorflow.core.example.example_pb2")  # without TensorFlow's 4 s import

        if not isinstance(row, Mapping):
            raise RequestError(f"row {index}: expected an object of feature values, got {type(row).__name__}")
        odd = [k for k in row if not isinstance(k, str)]
        if odd:
            raise RequestError(f"row {index}: feature names must be text, got {odd[0]!r}")
        unknown = sorted(set(row) - set(self.features))
        if unknown and not ignore_unknown:
            raise RequestError(f"row {index}: {', '.join(repr(k) for k in unknown)} "
                               f"{'is not a model feature' if len(unknown) == 1 else 'are not model features'}; "
                               f"expected {', '.join(sorted(self.features))}")
        example = example_pb2.Example()
        for name, spec in self.features.items():
            value = row.get(name)
            if value is None or (value == "" and spec.type != "text"):
                if spec.required:
                    raise RequestError(f"row {index}: '{name}' is required (the schema marks it always present)")
                continue
            feature = example.features.feature[name]
            kind = spec.kind
            if spec.type == "vector" and isinstance(value, (list, tuple)):  # numbers -> the CSV form the model read
                if kind != "bytes":
                    feature.float_list.value.extend(_number(name, v, index) for v in value)
                    continue
                value = " ".join(repr(_number(name, v, index)) for v in value)
            if kind == "bytes":
                feature.bytes_list.value.append(_bytes(name, value, index))
            elif kind == "int":
                feature.int64_list.value.append(_integer(name, value, index))
            else:
                feature.float_list.value.append(_number(name, value, index))
        return example

    def examples(self, rows: Sequence[Mapping[str, Any]], ignore_unknown: bool = False) -> List[bytes]:
        """Serialized tf.Examples for `rows` (the `examples` input of the serving signatures)."""
        return [self.example(row, i, ignore_unknown).SerializeToString() for i, row in enumerate(rows)]

    def json_examples(self, rows: Sequence[Mapping[str, Any]], ignore_unknown: bool = False) -> List[Dict]:
        """Rows as TF Serving's JSON examples (`:classify` / `:regress`): values typed by the schema, so the server
        builds the same tf.Examples (int64 for int features, a float with a fraction part for float features)."""
        result = []
        for i, row in enumerate(rows):
            features = self.example(row, i, ignore_unknown).features.feature
            entry = {}
            for name, feature in features.items():
                kind = feature.WhichOneof("kind")
                if kind == "bytes_list":
                    value = feature.bytes_list.value[0]
                    try:
                        entry[name] = value.decode("utf-8")
                    except UnicodeDecodeError:
                        entry[name] = {"b64": base64.b64encode(value).decode()}
                elif kind == "int64_list":
                    entry[name] = int(feature.int64_list.value[0])
                else:
                    entry[name] = float(feature.float_list.value[0])
            result.append(entry)
        return result

    def task_signature(self, task: str) -> str:
        if task not in self.tasks:
            raise RequestError(f"'{task}' is not a task of this model; expected {', '.join(self.tasks)}")
        signature = self.tasks[task].signature
        if not signature:
            raise RequestError(f"the model has no classify/regress signature for '{task}' (exported before they "
                               "existed); use predict")
        return signature

    # ------------------------------------------------------------------------------------------- answers
    def answers(self, outputs: Mapping[str, Any]) -> List[Dict[str, Dict[str, Any]]]:
        """`serving_default` outputs (name -> array or nested list, batch first) -> one answer dict per row."""
        rows = None
        result: List[Dict[str, Dict[str, Any]]] = []
        for task_name, task in self.tasks.items():
            if task.scores not in outputs:
                raise RequestError(f"the model's answer has no output '{task.scores}' (task {task_name})")
            scores = _tolist(outputs[task.scores])
            if rows is None:
                rows = len(scores)
                result = [{} for _ in range(rows)]
            labels = _tolist(outputs[task.label]) if task.label in outputs else None
            if task.type == "sequence_tagging":
                for i, row in enumerate(_tagged(task_name, task, outputs, labels)):
                    result[i][task_name] = row
                continue
            for i, row_scores in enumerate(scores):
                result[i][task_name] = _answer(task, row_scores, labels[i] if labels is not None else None)
        return result

    def task_answers(self, task: str, results: Sequence[Any]) -> List[Dict[str, Dict[str, Any]]]:
        """One task's Classify results ({class: score} per row) or Regress results (a value per row) -> one
        `{task: answer}` per row, the answer records of `answers` (label by the same rule as the model's)."""
        spec = self.tasks[task]
        found = []
        for result in results:
            if kinds.kind(spec.type).predicts == "value":
                scores = [float(result)]
            else:
                classes = spec.classes or list(result)
                scores = [result[c] for c in classes] if all(c in result for c in classes) else list(result.values())
                if spec.type == "binary" and len(scores) == 2:  # Classify answers [1 - p, p]
                    scores = [scores[1]]
            found.append({task: _answer(spec, scores, None)})
        return found


def _string(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _tagged(task_name: str, task: TaskSpec, outputs: Mapping[str, Any], labels) -> List[Dict[str, Any]]:
    """A tagging task's answer per row: the tokens, their tags and the entities (CoNLL spans) with their text
    and token positions (`end` exclusive)."""
    if labels is None or task.tokens not in outputs:
        raise RequestError(f"the model's answer lacks '{task.label}' or '{task.tokens}' (task {task_name})")
    found = []
    for row_tags, row_tokens in zip(labels, _tolist(outputs[task.tokens])):
        kept = [(_string(t), _string(w)) for t, w in zip(row_tags, row_tokens) if _string(w)]
        tags, tokens = [t for t, _ in kept], [w for _, w in kept]
        found.append({"tokens": tokens, "tags": tags, "entities": entities(tags, tokens)})
    return found


def _answer(task: TaskSpec, scores, label) -> Dict[str, Any]:
    flat = scores if isinstance(scores, list) else [scores]
    if isinstance(label, bytes):
        label = label.decode("utf-8", "replace")
    kind, classes = task.type, task.classes or []
    if kind == "regression":
        return {"value": float(flat[0])}
    if kind == "binary":
        p = float(flat[0])
        return {"label": label if label is not None else classes[int(p >= 0.5)], "probability": p}
    probabilities = {(classes[k] if k < len(classes) else str(k)): float(p) for k, p in enumerate(flat)}
    if kind == "multiclass":
        best = max(probabilities, key=probabilities.get)
        return {"label": label if label is not None else best, "probabilities": probabilities}
    chosen = [name for name, p in probabilities.items() if p >= 0.5]
    return {"labels": chosen, "probabilities": probabilities}


def _tolist(value):
    return value.tolist() if hasattr(value, "tolist") else list(value)


def _text(name, value, index) -> str:
    if isinstance(value, bool) or isinstance(value, (list, tuple, dict)):
        raise RequestError(f"row {index}: '{name}' expects one text value, got {type(value).__name__} {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(f"row {index}: '{name}' expects a text value, got {value!r}")
    return value if isinstance(value, str) else str(value)


def _bytes(name, value, index) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    text = _text(name, value, index)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestError(f"row {index}: '{name}' is not valid Unicode text ({exc.reason} at character "
                           f"{exc.start})") from None


def _number(name, value, index) -> float:
    if isinstance(value, bool) or isinstance(value, (list, tuple, dict)):
        raise RequestError(f"row {index}: '{name}' expects a number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(f"row {index}: '{name}' expects a number, got {value!r}"[:300]) from None
    if not math.isfinite(number):
        raise RequestError(f"row {index}: '{name}' expects a finite number, got {value!r}")
    return number


INT64 = (-2 ** 63, 2 ** 63 - 1)


def _integer(name, value, index) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        number = _number(name, value, index)
        if not number.is_integer():
            raise RequestError(f"row {index}: '{name}' expects a whole number, got {value!r}")
        number = int(number)
    if not INT64[0] <= number <= INT64[1]:
        raise RequestError(f"row {index}: '{name}' expects a 64-bit integer, got {value!r}"[:300])
    return number
