"""The serving contract of a pushed model (slow): what TF Serving would see in the SavedModel, and the REST/gRPC
clients against `mtl serve`'s server on loopback — same answers as in-process, TF Serving-style errors that leave
the server serving, a version pushed under load taken over with zero failed requests."""
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from serving.client import GrpcClient, RestClient, ServingClientError
from serving.contract import ModelContract
from serving.inprocess import LocalModel
from serving.server import ModelServer
from helpers.served import assert_only_stock_ops

pytestmark = pytest.mark.slow
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def pushed(support_run):
    config, summary = support_run
    assert summary.pushed_to, summary.render()
    rows = list(csv.DictReader(open(config.data.eval, encoding="utf-8")))[:20]
    return config, summary.pushed_to, rows


@pytest.fixture(scope="module")
def server(pushed):
    _, version_dir, _ = pushed
    running = ModelServer(os.path.dirname(version_dir), "support", rest_port=0, grpc_port=0).start()
    yield running
    running.stop()


def test_server_listens_on_loopback_only_by_default(server):
    assert server.rest.address[0] == "127.0.0.1"  # REST
    assert server.host == "127.0.0.1"  # gRPC binds f"{host}:{port}"
    with pytest.raises(OSError):  # nothing answers on another interface of this machine
        socket.create_connection((_outside_address(), server.rest_port), timeout=2).close()


def _outside_address():
    """An address of this machine that is not loopback (the one a route to the outside would use)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent for a UDP connect
        address = probe.getsockname()[0]
    except OSError:
        pytest.skip("this machine has no non-loopback IPv4 address")
    finally:
        probe.close()
    if address.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address")
    return address


def test_saved_model_cli_shows_the_documented_signatures(pushed):
    _, version_dir, _ = pushed
    shown = subprocess.run([os.path.join(BIN, "saved_model_cli"), "show", "--dir", version_dir, "--all"],
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = shown.stdout
    for signature in ("serving_default", "bulk_inference", "scores", "transform_features"):
        assert f"signature_def['{signature}']" in text
    serving = text.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['examples'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in serving
    for task in ("intent", "keywords", "sentiment", "escalate", "handling_minutes"):
        assert f"outputs['{task}']" in serving
    assert "outputs['intent_label']" in serving and "outputs['handling_minutes_label']" not in serving


def test_every_op_is_a_stock_tensorflow_op(pushed):
    """TF Serving runs only ops built into TensorFlow: no custom op (tensorflow_text, TFT, ...) may appear."""
    assert_only_stock_ops(pushed[1])


def test_rest_and_grpc_answer_like_the_model_in_process(pushed, server):
    _, version_dir, rows = pushed
    contract = ModelContract.load(version_dir)
    local = LocalModel(version_dir).predict(rows, ignore_unknown=True)
    rest = RestClient(f"http://127.0.0.1:{server.rest_port}", contract).predict(rows, ignore_unknown=True)
    grpc_client = GrpcClient(f"127.0.0.1:{server.grpc_port}", contract)
    grpc_answers = grpc_client.predict(rows, ignore_unknown=True)
    for a, b, c in zip(local, rest, grpc_answers):
        assert a["intent"]["label"] == b["intent"]["label"] == c["intent"]["label"]
        assert a["keywords"]["labels"] == b["keywords"]["labels"] == c["keywords"]["labels"]
        for answers in (b, c):
            np.testing.assert_allclose(answers["escalate"]["probability"], a["escalate"]["probability"], rtol=1e-5)
            np.testing.assert_allclose(answers["handling_minutes"]["value"], a["handling_minutes"]["value"], rtol=1e-5)
            np.testing.assert_allclose(list(answers["intent"]["probabilities"].values()),
                                       list(a["intent"]["probabilities"].values()), rtol=1e-4, atol=1e-7)
    version = int(os.path.basename(version_dir))
    status = RestClient(f"http://127.0.0.1:{server.rest_port}", contract).status()
    assert status == {"model_version_status": [{"version": str(version), "state": "AVAILABLE",
                                                "status": {"error_code": "OK", "error_message": ""}}]}
    grpc_status = grpc_client.status().model_version_status
    assert [(s.version, s.state) for s in grpc_status] == [(version, 30)]  # 30 = AVAILABLE
    metadata = RestClient(f"http://127.0.0.1:{server.rest_port}", contract).metadata()
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "bulk_inference", "scores", "transform_features",
                               "regress_handling_minutes",
                               *(f"classify_{t}" for t in ("intent", "keywords", "sentiment", "escalate"))}
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
    from tensorflow_serving.apis import get_model_metadata_pb2

    packed = get_model_metadata_pb2.SignatureDefMap()
    grpc_client.metadata().metadata["signature_def"].Unpack(packed)
    assert set(packed.signature_def) == set(signatures)
    grpc_client.close()


def _post(port, path, body: bytes):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_malformed_requests_get_tf_serving_errors_and_the_server_keeps_serving(pushed, server):
    _, version_dir, rows = pushed
    contract = ModelContract.load(version_dir)
    good = contract.examples(rows[:1], ignore_unknown=True)[0]
    import base64

    import tensorflow as tf

    example = tf.train.Example()  # required tier, hour, orders_90d missing (the client would refuse it)
    example.features.feature["message"].bytes_list.value.append(b"hi")
    wrong_type = tf.train.Example()
    wrong_type.CopyFrom(tf.train.Example.FromString(good))
    wrong_type.features.feature["orders_90d"].ClearField("int64_list")
    wrong_type.features.feature["orders_90d"].float_list.value.append(2.5)
    b64 = lambda s: {"b64": base64.b64encode(s).decode()}  # noqa: E731
    path = "/v1/models/support:predict"
    cases = [
        (b"{not json", 400, "JSON Parse error"),
        (json.dumps({"signature_name": "classify", "instances": [b64(good)]}).encode(), 400, "not found in signature"),
        (json.dumps({"instances": [b64(example.SerializeToString())]}).encode(), 400,
         "is required but could not be found"),
        (json.dumps({"instances": [b64(wrong_type.SerializeToString())]}).encode(), 400,
         "Feature: orders_90d expects a whole number"),  # (trainer/parsing.py: a float with a fraction)
        (json.dumps({"instances": [b64(good)] * 1025}).encode(), 400, "maximum allowed batch size 1024"),
        (json.dumps({"instances": [[1, 2]]}).encode(), 400, "expected rank 1"),
        (json.dumps({"rows": []}).encode(), 400, "Missing 'inputs' or 'instances'"),
    ]
    for body, status, message in cases:
        code, answer = _post(server.rest_port, path, body)
        assert code == status and message in answer["error"], (body[:80], code, answer)
        assert "Graph execution error" not in answer["error"] and "[Op:" not in answer["error"]
    import http.client

    for declared, status, message in ((str(100 << 20), 413, "exceeds the limit of 67108864 bytes"),
                                      ("-5", 400, "Content-Length must be a byte count")):
        connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
        connection.putrequest("POST", path)
        connection.putheader("Content-Length", declared)  # refused before the (absent) body is read
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == status and message in json.loads(response.read())["error"]
        connection.close()
    assert _post(server.rest_port, "/v1/models/other:predict", b"{}")[0] == 404
    assert _post(server.rest_port, "/v1/models/support/versions/7:predict",
                 json.dumps({"instances": [b64(good)]}).encode())[0] == 404
    grpc_client = GrpcClient(f"127.0.0.1:{server.grpc_port}", contract)
    with pytest.raises(ServingClientError, match="INVALID_ARGUMENT: .*Feature: hour .* is required but could not"):
        grpc_client.outputs([example.SerializeToString()])
    with pytest.raises(ServingClientError, match="NOT_FOUND"):
        GrpcClient(f"127.0.0.1:{server.grpc_port}", contract, model="other").outputs([good])
    # still serving, both ways
    assert _post(server.rest_port, path, json.dumps({"instances": [b64(good)]}).encode())[0] == 200
    assert grpc_client.predict(rows[:2], ignore_unknown=True)[0]["intent"]["label"]
    grpc_client.close()


def test_4_threads_x_500_requests_through_a_version_swap_and_64_concurrent_clients_fail_nothing(pushed, tmp_path):
    """The load test of tests/helpers/load.py on the real support model: REST keep-alive and gRPC clients while a
    copy of the version is pushed non-atomically and taken over, then 64 clients at once; zero failed requests,
    no flapping back to the old version."""
    from helpers.load import check, run_load

    _, version_dir, rows = pushed
    base = tmp_path / "support"
    shutil.copytree(version_dir, base / "1")
    result = run_load(base, "support", ModelContract.load(base).examples(rows[:4], ignore_unknown=True))
    check(result)


def test_mtl_serve_and_mtl_predict_over_rest_and_grpc(pushed, tmp_path):
    _, version_dir, rows = pushed
    process = subprocess.Popen([os.path.join(BIN, "mtl"), "serve", "--model-dir", os.path.dirname(version_dir),
                                "--name", "support", "--rest-port", "0", "--grpc-port", "0"],
                               stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.time() + 120
        while "REST http" not in line and time.time() < deadline:
            line = process.stderr.readline()
            assert line or process.poll() is None, "mtl serve exited"
        rest = line.split("REST ")[1].split("/v1/")[0]
        grpc_target = line.split("gRPC ")[1].split(" ")[0]
        request = json.dumps({"message": "please cancel my order", "tier": "free", "orders_90d": 1, "hour": 9})
        answers = []
        for option in (["--url", rest], ["--grpc", grpc_target]):
            result = subprocess.run([os.path.join(BIN, "mtl"), "predict", "--model-dir", version_dir, *option,
                                     "--json", request], capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr[-2000:]
            answers.append(json.loads(result.stdout.strip().splitlines()[-1]))
        assert answers[0]["intent"]["label"] == answers[1]["intent"]["label"]
        one_task = subprocess.run([os.path.join(BIN, "mtl"), "predict", "--model-dir", version_dir, "--grpc",
                                   grpc_target, "--task", "escalate", "--json", request],
                                  capture_output=True, text=True, timeout=120)
        assert one_task.returncode == 0, one_task.stderr[-2000:]
        escalate = json.loads(one_task.stdout.strip().splitlines()[-1])["escalate"]  # the all-task record
        assert escalate["label"] == answers[1]["escalate"]["label"]
        assert escalate["probability"] == pytest.approx(answers[1]["escalate"]["probability"], rel=1e-5)
        bad = subprocess.run([os.path.join(BIN, "mtl"), "predict", "--model-dir", version_dir, "--url", rest,
                              "--name", "other", "--json", request], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 1 and "404" in bad.stderr and "other" in bad.stderr
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("run", ["census_run", "four_tasks_run"])
def test_every_example_config_answers_alike_over_rest_grpc_and_in_process(run, request):
    """The census sample (two binary tasks) and the four-task fixture (every task type, text) through the same
    server and clients: the same answers as the model loaded in-process."""
    config, summary = request.getfixturevalue(run)
    assert summary.pushed_to, summary.render()
    rows = list(csv.DictReader(open(config.data.eval, encoding="utf-8")))[:10]
    contract = ModelContract.load(summary.pushed_to)
    local = LocalModel(summary.pushed_to).predict(rows, ignore_unknown=True)
    running = ModelServer(os.path.dirname(summary.pushed_to), config.name, rest_port=0, grpc_port=0).start()
    try:
        rest = RestClient(f"http://127.0.0.1:{running.rest_port}", contract).predict(rows, ignore_unknown=True)
        grpc_client = GrpcClient(f"127.0.0.1:{running.grpc_port}", contract)
        remote = grpc_client.predict(rows, ignore_unknown=True)
        grpc_client.close()
    finally:
        running.stop()
    assert len(local) == len(rest) == len(remote) == 10
    for a, b, c in zip(local, rest, remote):
        assert set(a) == set(config.tasks)
        for task, answer in a.items():
            assert b[task].get("label") == c[task].get("label") == answer.get("label")
            assert b[task].get("labels") == c[task].get("labels") == answer.get("labels")
            for key in ("probability", "value"):
                if key in answer:
                    np.testing.assert_allclose([b[task][key], c[task][key]], answer[key], rtol=1e-5)


def test_classify_and_regress_apis_answer_per_task_like_predict(pushed, server):
    """Each task's own signature through TF Serving's Classify / Regress APIs (REST JSON examples built server-side,
    gRPC ClassificationRequest / RegressionRequest) agrees with the all-task predict answer."""
    config, version_dir, rows = pushed
    contract = ModelContract.load(version_dir)
    rest = RestClient(f"http://127.0.0.1:{server.rest_port}", contract)
    grpc_client = GrpcClient(f"127.0.0.1:{server.grpc_port}", contract)
    answers = rest.predict(rows, ignore_unknown=True)
    for task in ("intent", "sentiment", "keywords"):
        for scores in (rest.classify(rows, task, ignore_unknown=True),
                       grpc_client.classify(rows, task, ignore_unknown=True)):
            assert [list(s) for s in scores] == [list(a[task]["probabilities"]) for a in answers]
            np.testing.assert_allclose([list(s.values()) for s in scores],
                                       [list(a[task]["probabilities"].values()) for a in answers], rtol=1e-4, atol=1e-6)
    for scores in (rest.classify(rows, "escalate", ignore_unknown=True),
                   grpc_client.classify(rows, "escalate", ignore_unknown=True)):
        assert all(list(s) == ["0", "1"] for s in scores)
        np.testing.assert_allclose([s["1"] for s in scores], [a["escalate"]["probability"] for a in answers], rtol=1e-5)
        np.testing.assert_allclose([s["0"] + s["1"] for s in scores], 1.0, rtol=1e-5)
    for values in (rest.regress(rows, "handling_minutes", ignore_unknown=True),
                   grpc_client.regress(rows, "handling_minutes", ignore_unknown=True)):
        np.testing.assert_allclose(values, [a["handling_minutes"]["value"] for a in answers], rtol=1e-5)
    # TF Serving's rules: classify needs a classification signature, regress a regression one
    with pytest.raises(ServingClientError, match="400: Expected classification signature method_name to be "
                                                 "tensorflow/serving/classify. Was: tensorflow/serving/predict"):
        rest._request(rest._path(":classify"), {"signature_name": "serving_default",
                                                 "examples": contract.json_examples(rows[:1], ignore_unknown=True)})
    from tensorflow_serving.apis import regression_pb2

    regress_a_classifier = grpc_client._examples_request(regression_pb2.RegressionRequest(), rows[:1], "intent", True)
    with pytest.raises(ServingClientError, match="INVALID_ARGUMENT: Expected regression signature method_name to be "
                                                 "tensorflow/serving/regress. Was: tensorflow/serving/classify"):
        grpc_client._call(grpc_client.predictions.Regress, regress_a_classifier)
    grpc_client.close()


def test_per_task_signatures_carry_tf_serving_method_names(pushed):
    from tensorflow.core.protobuf import saved_model_pb2

    _, version_dir, _ = pushed
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(open(os.path.join(version_dir, "saved_model.pb"), "rb").read())
    methods = {k: v.method_name for k, v in saved.meta_graphs[0].signature_def.items() if not k.startswith("__")}
    assert methods == {"serving_default": "tensorflow/serving/predict", "scores": "tensorflow/serving/predict",
                       "bulk_inference": "tensorflow/serving/predict",
                       "transform_features": "tensorflow/serving/predict",
                       **{f"classify_{t}": "tensorflow/serving/classify"
                          for t in ("intent", "keywords", "sentiment", "escalate")},
                       "regress_handling_minutes": "tensorflow/serving/regress"}
    classify = saved.meta_graphs[0].signature_def["classify_intent"]
    assert set(classify.inputs) == {"inputs"} and set(classify.outputs) == {"classes", "scores"}
    assert set(saved.meta_graphs[0].signature_def["regress_handling_minutes"].outputs) == {"outputs"}
