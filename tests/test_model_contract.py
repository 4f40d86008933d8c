"""The model contract file's typed record (pipeline/core/model_contract.py): the layout the trainer writes
round-trips unchanged, files written before the record existed still read, and a file that does not fit fails
with an error naming the file and the field."""
import copy
import json

import pytest

from pipeline.core.model_contract import CONTRACT_FILE, FORMAT, ContractError, ContractRecord, FeatureSpec, TaskSpec
from serving.contract import ModelContract

# The layout trainer/export.py wrote before the record existed (one task of each type, separator, signatures).
WRITTEN = {
    "format": 1, "name": "support", "signature": "serving_default", "input": "examples",
    "features": {"message": {"type": "text", "kind": "bytes", "required": True},
                 "hour": {"type": "categorical", "kind": "int", "required": False},
                 "age": {"type": "numeric", "kind": "float", "required": False}},
    "tasks": {"intent": {"type": "multiclass", "scores": "intent", "label": "intent_label",
                         "classes": ["refund", "delivery"], "signature": "classify_intent"},
              "keywords": {"type": "multilabel", "scores": "keywords", "label": "keywords_label",
                           "classes": ["order", "refund"], "separator": "|", "signature": "classify_keywords"},
              "escalate": {"type": "binary", "scores": "escalate", "label": "escalate_label",
                           "classes": ["0", "1"], "signature": "classify_escalate"},
              "minutes": {"type": "regression", "scores": "minutes", "signature": "regress_minutes"}},
}


def test_the_written_layout_round_trips_unchanged():
    record = ContractRecord.from_json(json.dumps(WRITTEN))
    assert record.features["hour"] == FeatureSpec("categorical", "int", False)
    assert record.tasks["keywords"] == TaskSpec("multilabel", "keywords", "keywords_label", ["order", "refund"],
                                                "|", "classify_keywords")
    assert record.tasks["minutes"].label is None and record.tasks["minutes"].classes is None
    assert json.loads(record.to_json()) == WRITTEN
    assert list(json.loads(record.to_json())["tasks"]["intent"]) == list(WRITTEN["tasks"]["intent"])  # key order
    assert ContractRecord.from_json(record.to_json()) == record


def test_a_record_built_in_code_writes_the_same_file():
    record = ContractRecord(name="m", features={"x": FeatureSpec("numeric", "float", True)},
                            tasks={"y": TaskSpec("regression", "y", signature="regress_y")})
    assert record.to_dict() == {"format": FORMAT, "name": "m", "signature": "serving_default", "input": "examples",
                                "features": {"x": {"type": "numeric", "kind": "float", "required": True}},
                                "tasks": {"y": {"type": "regression", "scores": "y", "signature": "regress_y"}}}


def test_files_from_before_the_per_task_signatures_still_read(tmp_path):
    """Older exports have no task `signature` (and defaults for the serving signature and input)."""
    old = copy.deepcopy(WRITTEN)
    for task in old["tasks"].values():
        del task["signature"]
    del old["signature"], old["input"]
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / CONTRACT_FILE).write_text(json.dumps(old))
    (tmp_path / "saved_model.pb").write_bytes(b"")
    contract = ModelContract.load(tmp_path)
    assert contract.signature == "serving_default" and contract.input == "examples"
    assert contract.tasks["intent"].signature is None
    assert contract.tasks["intent"].classes == ["refund", "delivery"]
    assert contract.tasks["minutes"].label is None


def _broken(path, value):
    data = copy.deepcopy(WRITTEN)
    *parents, last = path
    target = data
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return json.dumps(data)


@pytest.mark.parametrize("path, value, message", [
    (["features", "hour", "kind"], "string", r"'features\.hour\.kind' expected one of bytes, int, float, got str "
                                             r"'string'"),
    (["features", "hour", "required"], "yes", r"'features\.hour\.required' expected true or false, got str"),
    (["features", "hour", "required"], KeyError, r"'features\.hour\.required' is missing"),
    (["features", "age"], [1], r"'features\.age' expected an object, got list"),
    (["tasks", "intent", "scores"], KeyError, r"'tasks\.intent\.scores' is missing"),
    (["tasks", "intent", "classes"], "refund", r"'tasks\.intent\.classes' expected a list of class names"),
    (["tasks", "intent", "label"], 3, r"'tasks\.intent\.label' expected non-empty text, got int 3"),
    (["tasks", "intent", "lable"], "x", r"unknown field 'lable' in 'tasks\.intent'; expected type, scores"),
    (["tasks"], {}, r"'tasks' expected at least one task"),
    (["features"], KeyError, r"'features' is missing"),
    (["name"], "", r"'name' expected non-empty text, got str ''"),
    (["format"], "1", r"'format' expected a layout version"),
    (["format"], FORMAT + 1, rf"'format' is {FORMAT + 1}, written by newer code; this code reads format {FORMAT}"),
])
def test_a_file_that_does_not_fit_names_the_file_and_the_field(tmp_path, path, value, message):
    file = tmp_path / "mtl_model.json"
    file.write_text(_broken(path, value))
    with pytest.raises(ContractError, match=rf"^{file}: {message}"):
        ContractRecord.read(file)


@pytest.mark.parametrize("text, message", [("{", r"not JSON \(Expecting property name"),
                                           ("[1, 2]", r"expected a JSON object \(the model contract\), got list")])
def test_a_file_that_is_not_a_contract_object_is_named(tmp_path, text, message):
    file = tmp_path / "mtl_model.json"
    file.write_text(text)
    with pytest.raises(ContractError, match=rf"^{file}: {message}"):
        ContractRecord.read(file)


def test_serving_loads_through_the_record(tmp_path):
    """ModelContract.load finds the newest version and fails on a bad file with the record's error."""
    for version, name in (("1", "old"), ("2", "new")):
        (tmp_path / version / "assets.extra").mkdir(parents=True)
        (tmp_path / version / "saved_model.pb").write_bytes(b"")
        (tmp_path / version / CONTRACT_FILE).write_text(json.dumps({**WRITTEN, "name": name}))
    assert ModelContract.load(tmp_path).name == "new"
    (tmp_path / "2" / CONTRACT_FILE).write_text(_broken(["features", "age", "kind"], "double"))
    with pytest.raises(ContractError, match=r"2/assets\.extra/mtl_model\.json: 'features\.age\.kind' expected"):
        ModelContract.load(tmp_path)
    (tmp_path / "2" / CONTRACT_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="missing; the model was not exported by this project's trainer"):
        ModelContract.load(tmp_path)
