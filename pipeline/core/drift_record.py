"""The DriftGate's measurements as a typed file (drift.json beside its report.md), so that the run report reads
them back typed instead of parsing the Markdown table meant for people.

This module writes and reads the file; components/gates/drift_gate.py calls write, pipeline/report/collect.py
read. Malformed content raises DriftRecordError naming the file and the field. TensorFlow-free (pipeline.core)."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

DRIFT_FILE = "drift.json"
MARKDOWN_FILE = "report.md"  # the same measurements for people, written beside it (components/gates/drift_gate.py)
FORMAT = 1  # bumped when a field changes meaning; a reader refuses a format it does not know
CHECKS = ("drift", "skew")  # drift: this run's train vs the last accepted run's; skew: train vs eval


class DriftRecordError(ValueError):
    """drift.json does not hold what this module writes; the message names the file and the field."""


@dataclass(frozen=True)
class DriftMeasurement:
    """One distance between two statistics of one feature, and the bound it is held to."""

    check: str  # drift | skew
    feature: str
    measure: str  # L-infinity (text-valued) | Jensen-Shannon (number-valued)
    value: float
    threshold: float
    split: str = "train"  # the split measured
    reference_split: str = "train"  # what it is measured against (drift: the accepted run's train; skew: eval)

    @property
    def passed(self) -> bool:
        return self.value <= self.threshold

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "ABOVE BOUND"
        return f"{self.check} {self.feature}: {self.measure} {self.value:.4f} (bound {self.threshold:g}) {verdict}"

    def to_dict(self) -> Dict[str, Any]:
        return {"check": self.check, "feature": self.feature, "measure": self.measure, "value": self.value,
                "threshold": self.threshold, "passed": self.passed, "split": self.split,
                "reference_split": self.reference_split}


@dataclass(frozen=True)
class DriftRecord:
    """Everything the DriftGate measured in one run, plus its notes (a check without a reference, ...)."""

    measurements: List[DriftMeasurement] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def above(self) -> List[DriftMeasurement]:
        return [m for m in self.measurements if not m.passed]

    @property
    def empty(self) -> bool:
        """Nothing measured and nothing noted: the checks are off (no `validation:` bounds)."""
        return not self.measurements and not self.notes

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "notes": list(self.notes),
                           "measurements": [m.to_dict() for m in self.measurements]}, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = DRIFT_FILE) -> "DriftRecord":
        """The record in `text`; DriftRecordError (naming `source` and the field) when it is not one."""
        try:
            raw = json.loads(text)
        except ValueError as err:
            raise DriftRecordError(f"{source}: not JSON ({err})") from None
        if not isinstance(raw, dict):
            raise DriftRecordError(f"{source}: must hold a JSON object, not a {type(raw).__name__}")
        fields = _Fields(source)
        if raw.get("format") != FORMAT:
            raise DriftRecordError(f"{source}: field 'format' is {raw.get('format')!r}; this version reads {FORMAT}")
        notes = fields.get(raw, "notes", list)
        for i, note in enumerate(notes):
            fields.kind(note, str, f"notes[{i}]")
        return cls([_measurement(fields, item, f"measurements[{i}]")
                    for i, item in enumerate(fields.get(raw, "measurements", list))], list(notes))


class _Fields:
    """Type checks that name the file and the field."""

    def __init__(self, source: str):
        self.source = source

    def kind(self, value, expected, where: str):
        if not isinstance(value, expected) or (expected in (float, (int, float)) and isinstance(value, bool)):
            name = getattr(expected, "__name__", "number")
            raise DriftRecordError(f"{self.source}: field '{where}' must be a {name}, not {value!r}")
        return value

    def get(self, raw: dict, key: str, expected, where: str = ""):
        name = f"{where}.{key}" if where else key
        if key not in raw:
            raise DriftRecordError(f"{self.source}: field '{name}' is missing")
        return self.kind(raw[key], expected, name)


def _measurement(fields: _Fields, raw, where: str) -> DriftMeasurement:
    fields.kind(raw, dict, where)
    text = {key: fields.get(raw, key, str, where) for key in ("check", "feature", "measure", "split",
                                                              "reference_split")}
    if text["check"] not in CHECKS:
        raise DriftRecordError(f"{fields.source}: field '{where}.check' is {text['check']!r}, not one of {CHECKS}")
    numbers = {key: float(fields.get(raw, key, (int, float), where)) for key in ("value", "threshold")}
    for key, number in numbers.items():
        if math.isnan(number):
            raise DriftRecordError(f"{fields.source}: field '{where}.{key}' is NaN")
    measurement = DriftMeasurement(**text, **numbers)
    if fields.get(raw, "passed", bool, where) != measurement.passed:
        raise DriftRecordError(f"{fields.source}: field '{where}.passed' is {raw['passed']} but value "
                               f"{measurement.value:g} vs threshold {measurement.threshold:g} says "
                               f"{measurement.passed}")
    return measurement


def path(directory: str) -> str:
    """Where the DriftGate's record lies in its accepted_statistics folder."""
    return os.path.join(directory, DRIFT_FILE)


def write(directory: str, record: DriftRecord,
          write_text: Optional[Callable[[str, str], None]] = None) -> str:
    """Write the record into directory (write_text(path, text): the writer of the artifact's file system,
    e.g. TFX's io_utils.write_string_file for a remote pipeline root; a local file by default)."""
    target = path(directory)
    if write_text is None:
        with open(target, "w", encoding="utf-8") as f:
            f.write(record.to_json())
    else:
        write_text(target, record.to_json())
    return target


def read(directory: str) -> Optional[DriftRecord]:
    """The record in directory (a local folder), or None where the gate wrote none (a run before drift.json)."""
    target = path(directory)
    try:
        with open(target, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return DriftRecord.from_json(text, target)
