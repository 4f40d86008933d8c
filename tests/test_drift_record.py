"""drift.json (pipeline/core/drift_record.py): what the DriftGate writes reads back equal, and a file that does
not hold a record is refused with the file and the field named. TensorFlow-free, like the module."""
import json

import pytest

from pipeline.core import drift_record
from pipeline.core.drift_record import DriftMeasurement, DriftRecord, DriftRecordError

RECORD = DriftRecord([DriftMeasurement("drift", "age", "Jensen-Shannon", 0.4321, 0.3),
                      DriftMeasurement("skew", "city", "L-infinity", 0.05, 0.2, "train", "eval")],
                     ["drift: a note"])


def test_round_trip_through_the_file(tmp_path):
    path = drift_record.write(str(tmp_path), RECORD)
    assert path == str(tmp_path / drift_record.DRIFT_FILE)
    assert drift_record.read(str(tmp_path)) == RECORD
    raw = json.loads((tmp_path / drift_record.DRIFT_FILE).read_text())
    assert raw["format"] == drift_record.FORMAT and raw["notes"] == ["drift: a note"]
    assert raw["measurements"][0] == {"check": "drift", "feature": "age", "measure": "Jensen-Shannon",
                                      "value": 0.4321, "threshold": 0.3, "passed": False, "split": "train",
                                      "reference_split": "train"}
    assert [m.passed for m in RECORD.measurements] == [False, True] and RECORD.above == RECORD.measurements[:1]
    assert str(RECORD.measurements[0]) == "drift age: Jensen-Shannon 0.4321 (bound 0.3) ABOVE BOUND"
    assert DriftRecord().empty and not RECORD.empty


def test_write_goes_through_the_given_writer(tmp_path):
    """The gate passes TFX's file-system writer (a remote pipeline root); the text is the same."""
    written = {}
    drift_record.write("gs://bucket/accepted/3", RECORD, lambda path, text: written.update({path: text}))
    assert list(written) == ["gs://bucket/accepted/3/drift.json"]
    assert DriftRecord.from_json(written["gs://bucket/accepted/3/drift.json"]) == RECORD


def test_a_folder_without_a_record_reads_as_none(tmp_path):
    assert drift_record.read(str(tmp_path)) is None


def _broken(change):
    raw = json.loads(RECORD.to_json())
    change(raw)
    return json.dumps(raw)


@pytest.mark.parametrize("change, message", [
    (lambda r: r["measurements"][1].update(value="high"),
     r"field 'measurements\[1\].value' must be a number, not 'high'"),
    (lambda r: r["measurements"][0].pop("threshold"), r"field 'measurements\[0\].threshold' is missing"),
    (lambda r: r["measurements"][0].update(passed=True),
     r"field 'measurements\[0\].passed' is True but value 0.4321 vs threshold 0.3 says False"),
    (lambda r: r["measurements"][0].update(check="shift"), r"field 'measurements\[0\].check' is 'shift'"),
    (lambda r: r["measurements"][0].update(feature=3), r"field 'measurements\[0\].feature' must be a str, not 3"),
    (lambda r: r["measurements"][0].update(value=True), r"field 'measurements\[0\].value' must be a number"),
    (lambda r: r["measurements"][0].update(value=float("nan")), r"field 'measurements\[0\].value' is NaN"),
    (lambda r: r.update(notes="one"), r"field 'notes' must be a list, not 'one'"),
    (lambda r: r.update(format=99), r"field 'format' is 99; this version reads 1"),
    (lambda r: r.pop("measurements"), r"field 'measurements' is missing"),
])
def test_malformed_records_name_the_file_and_the_field(tmp_path, change, message):
    (tmp_path / drift_record.DRIFT_FILE).write_text(_broken(change))
    with pytest.raises(DriftRecordError, match=f"^{tmp_path / drift_record.DRIFT_FILE}: {message}"):
        drift_record.read(str(tmp_path))


def test_not_json_is_named(tmp_path):
    (tmp_path / drift_record.DRIFT_FILE).write_text("| check | column |")
    with pytest.raises(DriftRecordError, match=r"drift.json: not JSON"):
        drift_record.read(str(tmp_path))
    with pytest.raises(DriftRecordError, match=r"^x.json: must hold a JSON object, not a list"):
        DriftRecord.from_json("[]", "x.json")
