"""TF Serving's warm-up file in a pushed version (slow: reads the census sample and four-task pipeline runs):
every record parses with the tensorflow-serving-api protos, `serving_default` and every classify/regress
signature are asked about real eval rows with no label column, each request answers with the signature's
outputs on the SavedModel loaded by plain `tf.saved_model.load`; `mtl serve`'s repository replays the file before
a version serves, and a corrupt file or a failing request fails the load, naming the file and the record."""
import csv
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import prediction_log_pb2

from serving import warmup
from serving.contract import ModelContract
from serving.repository import ModelRepository

pytestmark = pytest.mark.slow
RUNS = ["census_run", "four_tasks_run"]
WARMUP = "assets.extra/tf_serving_warmup_requests"
KINDS = {"tensorflow/serving/classify": "classify_log", "tensorflow/serving/regress": "regress_log"}


@pytest.fixture(scope="module", params=RUNS)
def pushed(request):
    config, summary = request.getfixturevalue(request.param)
    assert summary.pushed_to, summary.render()
    version = Path(summary.pushed_to)
    logs = [prediction_log_pb2.PredictionLog.FromString(record.numpy())  # the protos alone, not serving.warmup
            for record in tf.data.TFRecordDataset(str(version / WARMUP))]
    return config, version, logs


def examples_of(log):
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        [tensor] = log.predict_log.request.inputs.values()
        return [example_pb2.Example.FromString(e) for e in tf.make_ndarray(tensor).tolist()]
    return list(getattr(log, kind).request.input.example_list.examples)


def test_the_pushed_version_asks_every_signature_about_raw_eval_rows(pushed):
    config, version, logs = pushed
    saved = warmup.signature_defs(version)
    asked = {(log.WhichOneof("log_type"), getattr(log, log.WhichOneof("log_type")).request.model_spec.signature_name)
             for log in logs}
    expected = {("predict_log", "serving_default")} | {(KINDS[s.method_name], name) for name, s in saved.items()
                                                       if s.method_name in KINDS}
    assert asked == expected and len(logs) == len(expected)
    assert any(kind != "predict_log" for kind, _ in asked)
    if config.name == "four-tasks":
        assert ("regress_log", "regress_minutes") in asked
    [predict] = [log.predict_log.request for log in logs if log.HasField("predict_log")]
    [(key, tensor)] = predict.inputs.items()
    assert list(saved["serving_default"].inputs) == [key] and tensor.dtype == types_pb2.DT_STRING
    rows = examples_of(logs[0])
    assert 1 <= len(rows) <= warmup.DEFAULT_ROWS and [d.size for d in tensor.tensor_shape.dim] == [len(rows)]
    assert all(examples_of(log) == rows for log in logs)  # the same rows for every signature
    features = set(ModelContract.load(version).features)
    labels = {task.label for task in config.tasks.values()}
    eval_rows = list(csv.DictReader(open(config.data.eval, encoding="utf-8")))
    for example in rows:
        present = set(example.features.feature)
        assert present <= features and not present & labels, present
        assert any(_same(example, row) for row in eval_rows), example  # a real eval row


def _same(example, row) -> bool:
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        [value] = getattr(feature, kind).value
        cell = row[name].strip()
        if kind == "bytes_list":
            if value.decode("utf-8") != cell:
                return False
        elif not cell or not math.isclose(float(value), float(cell), rel_tol=1e-6):
            return False
    return True


def test_every_warmup_request_answers_with_its_signatures_outputs(pushed):
    config, version, logs = pushed
    model = tf.saved_model.load(str(version))
    contract = ModelContract.load(version)
    predicted = None
    for log in logs:
        kind = log.WhichOneof("log_type")
        request = getattr(log, kind).request
        function = model.signatures[request.model_spec.signature_name]
        if kind == "predict_log":
            outputs = function(**{k: tf.constant(tf.make_ndarray(t)) for k, t in request.inputs.items()})
            assert set(outputs) == set(function.structured_outputs)
            assert {t.scores for t in contract.tasks.values()} <= set(outputs)
            rows = len(examples_of(log))
            assert all(int(v.shape[0]) == rows for v in outputs.values())
            predicted = contract.answers({k: v.numpy() for k, v in outputs.items()})
            continue
        [key] = function.structured_input_signature[1]
        serialized = [e.SerializeToString() for e in request.input.example_list.examples]
        outputs = function(**{key: tf.constant(serialized)})
        [task] = [n for n, t in contract.tasks.items() if t.signature == request.model_spec.signature_name]
        if kind == "classify_log":
            assert set(outputs) == {"classes", "scores"}
            assert outputs["scores"].shape[0] == len(serialized)
            answers = contract.task_answers(task, [dict(zip([c.decode() for c in cs], s)) for cs, s in
                                                   zip(outputs["classes"].numpy(), outputs["scores"].numpy())])
        else:
            assert set(outputs) == {"outputs"} and outputs["outputs"].shape == (len(serialized),)
            answers = contract.task_answers(task, outputs["outputs"].numpy())
        for one, everything in zip(answers, predicted):  # Classify / Regress agree with serving_default
            for field in ("label", "labels"):
                assert one[task].get(field) == everything[task].get(field)
            for field in ("probability", "value"):
                if field in everything[task]:
                    np.testing.assert_allclose(one[task][field], everything[task][field], rtol=1e-5)
    assert predicted is not None
    start = time.perf_counter()
    seconds = warmup.replay(model, warmup.read(version / WARMUP), warmup.signature_defs(version))
    print(f"{config.name}: replayed {len(logs)} warm-up requests in {seconds * 1000:.0f} ms "
          f"({(time.perf_counter() - start) * 1000:.0f} ms with reading)")
    assert seconds < 10


def _corrupt_second_record(path: Path) -> None:
    """Flip a byte inside record 1's data: its CRC no longer matches."""
    data = bytearray(path.read_bytes())
    first = int.from_bytes(data[:8], "little")
    data[8 + 4 + first + 4 + 8 + 4 + 5] ^= 0xFF  # header (length, crc), data, crc of record 0; then record 1
    path.write_bytes(bytes(data))


def test_mtl_serve_replays_the_file_and_a_corrupt_one_or_a_failing_request_fails_the_load(pushed, tmp_path):
    """`mtl serve`'s repository replays the file while loading; as in TF Serving, a corrupt record or a failing
    request fails the load: the version is not served, the older one keeps serving, the status names the record."""
    config, version, logs = pushed
    for number in (1, 2, 3):
        shutil.copytree(version, tmp_path / str(number))
    _corrupt_second_record(tmp_path / "3" / WARMUP)
    broken = prediction_log_pb2.PredictionLog()  # the last request (a Classify or Regress), a number as text
    broken.CopyFrom(logs[-1])
    request = getattr(broken, broken.WhichOneof("log_type")).request
    numbers = {n for n, f in ModelContract.load(version).features.items() if f.kind != "bytes"}
    example = request.input.example_list.examples[0]
    feature = next(n for n in example.features.feature if n in numbers)
    example.features.feature[feature].Clear()
    example.features.feature[feature].bytes_list.value.append(b"not a number")
    with tf.io.TFRecordWriter(str(tmp_path / "2" / WARMUP)) as writer:
        for log in [*logs[:-1], broken]:
            writer.write(log.SerializeToString())
    repo = ModelRepository(config.name, tmp_path)
    assert repo.refresh(require_settled=False) == 1 and repo.current().version == 1
    status = {s.version: s for s in repo.statuses()}
    assert status[1].state == "AVAILABLE" and 0 < repo.current().warmup_seconds < 10
    assert status[3].state == "START" and status[3].error.startswith(
        f"WarmupError: <model base path>/3/{WARMUP}: record 1 is not a readable TFRecord"), status[3].error
    kind = {"classify_log": "ClassifyLog", "regress_log": "RegressLog"}[broken.WhichOneof("log_type")]
    assert status[2].state == "START" and status[2].error.startswith(
        f"WarmupError: <model base path>/2/{WARMUP}: record {len(logs) - 1} ({kind} for "
        f"'{request.model_spec.signature_name}') failed: InvalidArgumentError:"), status[2].error
    assert feature in status[2].error
