"""The model contract file, `assets.extra/mtl_model.json` next to an exported SavedModel, as a typed record.

The trainer writes it (trainer/export.py) and serving reads it (serving/contract.py); this module is the only
code that knows its layout:

    {"format": 1, "name": "support", "signature": "serving_default", "input": "examples",
     "features": {"<feature>": {"type": "text", "kind": "bytes|int|float", "required": true}, ...},
     "tasks": {"<task>": {"type": "multiclass", "scores": "<output>", "label": "<output>",
                          "classes": [...], "separator": "|", "signature": "classify_<task>"}, ...}}

`label` and `classes` are absent for regression tasks, `separator` for all but multilabel ones, `signature`
in models exported before the per-task signatures existed. A file that does not fit raises `ContractError`
naming the file, the field and what was expected. No TensorFlow import: the CLI reads it without TF.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from pipeline.core import kinds

CONTRACT_FILE = os.path.join("assets.extra", "mtl_model.json")  # relative to a SavedModel version directory
FORMAT = 1  # the layout version written; a file with a higher one was written by newer code
FEATURE_KINDS = ("bytes", "int", "float")  # the tf.Example value list a feature is sent in


class ContractError(ValueError):
    """A contract file that does not fit the layout; the message names the file, the field and the expectation."""


@dataclass(frozen=True)
class FeatureSpec:
    """One raw feature of a request: its config type, the tf.Example value kind, whether a row must carry it."""

    type: str  # the config's feature type: numeric / categorical / text
    kind: str  # one of FEATURE_KINDS
    required: bool  # the schema marks it always present (no default value)


@dataclass(frozen=True)
class TaskSpec:
    """One task of the answer: its type, the `serving_default` outputs holding its scores and decoded label, its
    class names as served, the multilabel separator and its classify_/regress_ signature."""

    type: str
    scores: str
    label: Optional[str] = None
    classes: Optional[List[str]] = None
    separator: Optional[str] = None
    signature: Optional[str] = None
    tokens: Optional[str] = None  # sequence_tagging: the output holding the tokens tagged


@dataclass(frozen=True)
class ContractRecord:
    """The whole file: model name, the serving signature and its input key, features and tasks in order."""

    name: str
    features: Dict[str, FeatureSpec]
    tasks: Dict[str, TaskSpec]
    signature: str = "serving_default"
    input: str = "examples"
    format: int = field(default=FORMAT)

    def to_dict(self) -> Dict[str, Any]:
        """The file's JSON object (keys in the order they have always been written)."""
        tasks = {}
        for name, task in self.tasks.items():
            entry: Dict[str, Any] = {"type": task.type, "scores": task.scores}
            for key in ("label", "classes", "separator", "signature", "tokens"):
                value = getattr(task, key)
                if value is not None:
                    entry[key] = list(value) if key == "classes" else value
            tasks[name] = entry
        return {"format": self.format, "name": self.name, "signature": self.signature, "input": self.input,
                "features": {name: {"type": f.type, "kind": f.kind, "required": f.required}
                             for name, f in self.features.items()},
                "tasks": tasks}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str = CONTRACT_FILE):
        """The record of a parsed file; `source` (the file's path) starts every error message."""
        read = _Reader(str(source))
        data = read.object(data, "the file")
        read.known(data, "the file", ("format", "name", "signature", "input", "features", "tasks"))
        version = data.get("format", FORMAT)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            read.fail("format", "a layout version (a whole number >= 1)", version)
        if version > FORMAT:
            raise ContractError(f"{source}: 'format' is {version}, written by newer code; this code reads "
                                f"format {FORMAT} (update the project or re-export the model)")
        features = {}
        for name, spec in read.object(read.required(data, "features"), "features").items():
            where = f"features.{name}"
            spec = read.object(spec, where)
            read.known(spec, where, ("type", "kind", "required"))
            kind = read.text(spec, where, "kind")
            if kind not in FEATURE_KINDS:
                read.fail(f"{where}.kind", f"one of {', '.join(FEATURE_KINDS)}", kind)
            required = read.required(spec, f"{where}.required", key="required")
            if not isinstance(required, bool):
                read.fail(f"{where}.required", "true or false", required)
            features[name] = FeatureSpec(read.text(spec, where, "type"), kind, required)
        tasks = {}
        for name, spec in read.object(read.required(data, "tasks"), "tasks").items():
            where = f"tasks.{name}"
            spec = read.object(spec, where)
            read.known(spec, where, ("type", "scores", "label", "classes", "separator", "signature", "tokens"))
            classes = spec.get("classes")
            if classes is not None and (not isinstance(classes, list) or not all(isinstance(c, str) for c in classes)):
                read.fail(f"{where}.classes", "a list of class names (text)", classes)
            task_type = read.text(spec, where, "type")
            if task_type not in kinds.TASK_TYPES:
                read.fail(f"{where}.type", f"one of {', '.join(kinds.TASK_TYPES)}", task_type)
            tasks[name] = TaskSpec(task_type, read.text(spec, where, "scores"),
                                   read.text(spec, where, "label", optional=True), classes,
                                   read.text(spec, where, "separator", optional=True, empty=True),
                                   read.text(spec, where, "signature", optional=True),
                                   read.text(spec, where, "tokens", optional=True))
        if not tasks:
            read.fail("tasks", "at least one task", {})
        return cls(name=read.text(data, "", "name"), features=features, tasks=tasks,
                   signature=read.text(data, "", "signature", optional=True) or "serving_default",
                   input=read.text(data, "", "input", optional=True) or "examples", format=version)

    @classmethod
    def from_json(cls, text: str, source: str = CONTRACT_FILE):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"{source}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        return cls.from_dict(data, source)

    @classmethod
    def read(cls, path: Union[str, Path]):
        """The record in the file at `path` (the file itself, not the version directory)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: missing; the model was not exported by this project's trainer") \
                from None
        except UnicodeDecodeError as exc:
            raise ContractError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        return cls.from_json(text, str(path))


class _Reader:
    """Field checks that fail with `<file>: '<field>' expected <what>, got <value>`."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, expected: str, value: Any):
        shown = repr(value)
        raise ContractError(f"{self.source}: '{where}' expected {expected}, got "
                            f"{type(value).__name__} {shown[:120]}")

    def object(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            if where == "the file":
                raise ContractError(f"{self.source}: expected a JSON object (the model contract), got "
                                    f"{type(value).__name__}")
            self.fail(where, "an object", value)
        return value

    def known(self, data: Mapping[str, Any], where: str, keys) -> None:
        unknown = sorted(set(data) - set(keys))
        if unknown:
            place = "" if where == "the file" else f" in '{where}'"
            raise ContractError(f"{self.source}: unknown field {', '.join(repr(k) for k in unknown)}{place}; "
                                f"expected {', '.join(keys)}")

    def required(self, data: Mapping[str, Any], where: str, key: Optional[str] = None) -> Any:
        key = key or where
        if key not in data:
            raise ContractError(f"{self.source}: '{where}' is missing")
        return data[key]

    def text(self, data: Mapping[str, Any], where: str, key: str, optional: bool = False,
             empty: bool = False) -> Optional[str]:
        path = f"{where}.{key}" if where else key
        if key not in data and optional:
            return None
        value = self.required(data, path, key)
        if not isinstance(value, str) or (not value and not empty):
            self.fail(path, "text" if empty else "non-empty text", value)
        return value
