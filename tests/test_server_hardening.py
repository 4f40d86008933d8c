"""`mtl serve` against hostile and broken clients, on loopback with the tiny model (tests/helpers/tiny_model.py):
a refused request's body is never read as the next request, requests over the limits are refused before they
cost memory or time, slow connections cost no thread and are closed after the timeout, a deleted version is
unloaded in favour of the newest remaining one, bad values are named 400s (never 500s), an unexpected failure is
a 500 INTERNAL that names no internals, and no answer carries a path of the server's file system."""
import base64
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

from helpers.probe import PeakMemory, closed_by_server, raw_http, request, statuses
from helpers.tiny_model import export_tiny
from serving.contract import ModelContract
from serving.server import ModelServer, ServerOptions

MB = 1 << 20


@pytest.fixture(scope="module")
def tiny_version(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("tiny-model") / "tiny" / "1")


def copy_versions(tiny_version, base, *versions):
    for version in versions:
        shutil.copytree(tiny_version, base / str(version))
    return base


@pytest.fixture(scope="module")
def server(tiny_version):
    running = ModelServer(os.path.dirname(tiny_version), "tiny", rest_port=0, grpc_port=0,
                          options=ServerOptions(workers=4, timeout=5.0)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def good(tiny_version):
    contract = ModelContract.load(tiny_version)
    return contract, contract.examples([{"x": 1.0, "n": 2}, {"x": -3.0, "city": "paris"}])


def post(port, path, body: bytes, timeout=30):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def b64(data: bytes):
    return {"b64": base64.b64encode(data).decode()}


def predict_request(name="tiny", signature="", **tensors):
    request_ = predict_pb2.PredictRequest()
    request_.model_spec.name = name
    request_.model_spec.signature_name = signature
    for key, tensor in tensors.items():
        request_.inputs[key].CopyFrom(tensor)
    return request_


def stub(port):
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 * MB)])
    return channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


# --------------------------------------------------------------------------------------- item 2: smuggling
SMUGGLED = request("GET", "/v1/models/tiny/metadata")


@pytest.mark.parametrize("method, path, expected", [
    ("POST", "/v1/models/nope", 501),             # the case: no verb -> UNIMPLEMENTED
    ("POST", "/v1/models/nope:predict", 404),     # unknown model
    ("POST", "/v1/models/tiny:predict", 400),     # the body is not JSON
    ("POST", "/nowhere", 404),                    # not an API path
    ("GET", "/v1/models/tiny", 200),              # a GET with a body
])
def test_a_refused_requests_body_is_never_read_as_the_next_request(server, method, path, expected):
    then = request("GET", "/v1/models/tiny", Connection="close")
    received = raw_http(server.rest_port, request(method, path, SMUGGLED) + then, half_close=False)
    assert statuses(received) == [expected, 200], received[:2000]
    assert b"model_version_status" in received.split(b"\r\n\r\n", 2)[-1]  # the second answer is the status
    assert b"signature_def" not in received                               # the smuggled GET never ran


@pytest.mark.parametrize("declared, status, message", [
    (str(100 * MB), 413, "exceeds the limit of 67108864 bytes"),
    ("-5", 400, "Content-Length must be a byte count"),
    ("5, 500", 400, "Content-Length must be a byte count"),
])
def test_a_body_that_cannot_be_accepted_is_refused_unread_and_the_connection_closed(server, declared, status, message):
    head = request("POST", "/v1/models/tiny:predict", Content_Length=declared)
    started = time.monotonic()
    received = raw_http(server.rest_port, head + SMUGGLED, half_close=False, timeout=10)
    assert time.monotonic() - started < 5  # closed by the server, not by the client's timeout
    assert statuses(received) == [status], received[:2000]
    assert message.encode() in received and b"Connection: close" in received


def test_a_post_without_content_length_is_refused(server):
    received = raw_http(server.rest_port, b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\n\r\n" + SMUGGLED)
    assert statuses(received) == [411] and b"Content-Length" in received


# ------------------------------------------------------------------------------ item 3: memory before limits
def test_oversized_grpc_requests_are_refused_in_milliseconds_with_flat_memory(server, good):
    channel, predictions = stub(server.grpc_port)
    huge = tf.make_tensor_proto([b"x"], dtype=tf.string)
    huge.tensor_shape.dim[0].size = 30_000_000  # 120 bytes on the wire, 30 million strings if padded out
    matrix = tf.make_tensor_proto(np.zeros([4, 2], np.float32))
    matrix.tensor_shape.dim[0].size = 1_000  # 32 bytes of content declared as 1,000 x 2
    partial = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0, 3.0])
    partial.tensor_shape.dim.add().size = 512  # three values for a 512 x 2 tensor
    partial.tensor_shape.dim.add().size = 2
    many = classification_pb2.ClassificationRequest()
    many.model_spec.name, many.model_spec.signature_name = "tiny", "classify_score"
    example = tf.train.Example.FromString(good[1][0])
    many.input.example_list.examples.extend([example] * 100_000)
    cases = [(predictions.Predict, predict_request(examples=huge), "batch size 30000000 is larger than the maximum"),
             (predictions.Predict, predict_request(signature="matrix", m=matrix), "declares 2000 values, tensor_content"),
             (predictions.Predict, predict_request(signature="matrix", m=partial), "declares 1024 values, the tensor "
                                                                                    "holds 3"),
             (predictions.Classify, many, "examples: batch size 1025 or more is larger than the maximum")]
    try:
        for method, message, expected in cases:
            gc.collect()  # as below: no collection of earlier tests' garbage inside the timing
            with PeakMemory() as peak:
                started = time.monotonic()
                with pytest.raises(grpc.RpcError) as error:
                    method(message, timeout=30)
                elapsed = time.monotonic() - started
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and expected in error.value.details(), \
                error.value.details()
            assert elapsed < 1.5 and peak.growth < 60 * MB, (expected, elapsed, peak.growth / MB)
        assert predictions.Predict(predict_request(examples=tf.make_tensor_proto(good[1], dtype=tf.string)),
                                   timeout=30).outputs["score"].tensor_shape.dim[0].size == 2
    finally:
        channel.close()


def test_oversized_rest_bodies_are_refused_in_milliseconds_with_flat_memory(server, good):
    contract, serialized = good
    examples = json.dumps({"signature_name": "classify_score",
                           "examples": contract.json_examples([{"x": 1.5, "n": 1}]) * 100_000}).encode()
    instances = json.dumps({"instances": [b64(serialized[0])] * 100_000}).encode()
    deep = b'{"instances": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    for path, body, expected in [("/v1/models/tiny:classify", examples, "'examples': batch size 1025 or more is "
                                  "larger than the maximum allowed batch size 1024"),
                                 ("/v1/models/tiny:predict", instances, "maximum allowed batch size 1024"),
                                 ("/v1/models/tiny:predict", deep, "nested deeper than 32 levels")]:
        gc.collect()  # the garbage earlier tests left in this process must not be collected inside the timing
        with PeakMemory() as peak:
            started = time.monotonic()
            status, answer = post(server.rest_port, path, body)
            elapsed = time.monotonic() - started
        assert status == 400 and expected in json.loads(answer)["error"], answer[:500]
        assert elapsed < 1.5 and peak.growth < 80 * MB, (expected, elapsed, peak.growth / MB)


# ----------------------------------------------------------------------------------- item 4: connections
def test_slow_connections_cost_no_thread_no_buffer_and_are_closed_after_the_timeout(tiny_version):
    running = ModelServer(os.path.dirname(tiny_version), "tiny", rest_port=0, grpc_port=0,
                          options=ServerOptions(workers=2, timeout=1.0)).start()
    sockets = []
    try:
        threads = threading.active_count()
        with PeakMemory() as peak:
            for n in range(220):
                s = socket.create_connection(("127.0.0.1", running.rest_port), timeout=10)
                if n < 200:  # a head that never ends
                    s.sendall(b"POST /v1/models/tiny:predict HTTP/1.1\r\nContent-Le")
                else:  # a body that never comes: 60 MB declared, 10 bytes sent
                    s.sendall(request("POST", "/v1/models/tiny:predict", b"", Content_Length=str(60 * MB)) + b"{" * 10)
                sockets.append(s)
            time.sleep(0.3)
            status, _ = get(running.rest_port, "/v1/models/tiny")  # served meanwhile
        assert status == 200
        assert threading.active_count() - threads < 10, threading.active_count() - threads
        assert peak.growth < 100 * MB, peak.growth / MB
        time.sleep(2.0)  # twice the timeout: every slow connection has been closed by the server
        assert sum(not closed_by_server(s, 0.5) for s in sockets) == 0
    finally:
        for s in sockets:
            s.close()
        running.stop()


def test_the_listen_backlog_is_deep_and_connections_are_capped(tiny_version):
    running = ModelServer(os.path.dirname(tiny_version), "tiny", rest_port=0, grpc_port=0,
                          options=ServerOptions(max_connections=4, backlog=512)).start()
    held = []
    try:
        if shutil.which("ss"):  # Send-Q of a listening socket is its backlog
            listing = subprocess.run(["ss", "-ltnH", f"sport = :{running.rest_port}"], capture_output=True,
                                     text=True).stdout.split()
            assert int(listing[2]) >= 128, listing
        for _ in range(4):
            held.append(socket.create_connection(("127.0.0.1", running.rest_port), timeout=10))
        time.sleep(0.2)
        received = raw_http(running.rest_port, request("GET", "/v1/models/tiny"))
        assert statuses(received) == [503] and b"too many open connections" in received
        with socket.create_connection(("127.0.0.1", running.rest_port), timeout=10) as late:
            late.sendall(request("GET", "/v1/models/tiny"))
            time.sleep(0.5)  # the 503 is sent meanwhile; an abrupt close would reset the connection now
            late.shutdown(socket.SHUT_WR)
            assert statuses(late.recv(65536)) == [503]
        for s in held:
            s.close()
        time.sleep(0.3)
        assert get(running.rest_port, "/v1/models/tiny")[0] == 200
    finally:
        for s in held:
            s.close()
        running.stop()


# -------------------------------------------------------------------------------- item 5: deleted version
def _paths(base):
    return {str(base), os.path.realpath(base), os.path.dirname(str(base))}


def test_a_deleted_version_is_unloaded_and_the_newest_remaining_one_serves(tiny_version, tmp_path, good):
    base = copy_versions(tiny_version, tmp_path / "tiny", 1, 2)
    running = ModelServer(base, "tiny", rest_port=0, grpc_port=0, poll_seconds=0.1).start()
    contract, serialized = good
    classify = json.dumps({"signature_name": "classify_score", "examples": contract.json_examples([{"x": 1.0}])})
    answers = []
    channel, predictions = stub(running.grpc_port)
    try:
        assert running.repository.current().version == 2
        shutil.rmtree(base / "2")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and running.repository.current().version != 1:
            time.sleep(0.05)
        answers.append(get(running.rest_port, "/v1/models/tiny"))
        assert json.loads(answers[-1][1])["model_version_status"] == [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "2", "state": "END", "status": {"error_code": "OK", "error_message": ""}}]
        answers.append(get(running.rest_port, "/v1/models/tiny/metadata"))
        metadata = json.loads(answers[-1][1])
        assert metadata["model_spec"]["version"] == "1" and "classify_score" in \
            metadata["metadata"]["signature_def"]["signature_def"]
        answers.append(post(running.rest_port, "/v1/models/tiny:classify", classify.encode()))
        assert answers[-1][0] == 200
        response = predictions.Predict(predict_request(examples=tf.make_tensor_proto(serialized, dtype=tf.string)),
                                       timeout=30)
        assert response.model_spec.version.value == 1
        shutil.rmtree(base / "1")  # nothing left: nothing serves, as in TF Serving
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and running.repository._current is not None:
            time.sleep(0.05)
        answers.append(post(running.rest_port, "/v1/models/tiny:classify", classify.encode()))
        assert answers[-1][0] == 404 and "Servable not found" in answers[-1][1]
        answers.append(get(running.rest_port, "/v1/models/tiny/metadata"))
        assert answers[-1][0] == 404
        answers.append(get(running.rest_port, "/v1/models/tiny"))
        assert [s["state"] for s in json.loads(answers[-1][1])["model_version_status"]] == ["END", "END"]
    finally:
        channel.close()
        running.stop()
    for _, body in answers:
        assert not any(p in body for p in _paths(base)), body


def test_a_version_deleted_between_scans_is_noticed_by_the_request_that_fails(tiny_version, tmp_path, good):
    base = copy_versions(tiny_version, tmp_path / "tiny", 1, 2)
    running = ModelServer(base, "tiny", rest_port=0, grpc_port=0, poll_seconds=3600).start()
    asset = json.dumps({"signature_name": "asset", "instances": [b64(good[1][0])]}).encode()
    try:
        shutil.rmtree(base / "2")  # the next scan is an hour away; the asset signature reads a file of version 2
        status, answer = post(running.rest_port, "/v1/models/tiny:predict", asset)
        assert status == 503 and "version 2 of tiny was removed" in answer, answer
        assert running.repository.current().version == 1
        assert post(running.rest_port, "/v1/models/tiny:predict", asset)[0] == 200
    finally:
        running.stop()
    assert not any(p in answer for p in _paths(base))


def test_a_failing_model_is_a_500_internal_that_names_no_internals_and_the_server_keeps_serving(
        tiny_version, tmp_path, good):
    """The generic error path: the asset signature's file is gone (its version directory is not)."""
    base = copy_versions(tiny_version, tmp_path / "tiny", 1)
    os.remove(base / "1" / "assets" / "1.note.txt")
    running = ModelServer(base, "tiny", rest_port=0, grpc_port=0).start()
    channel, predictions = stub(running.grpc_port)
    examples = tf.make_tensor_proto(good[1], dtype=tf.string)
    try:
        status, answer = post(running.rest_port, "/v1/models/tiny:predict",
                              json.dumps({"signature_name": "asset", "instances": [b64(good[1][0])]}).encode())
        assert status == 500 and json.loads(answer)["error"].startswith(
            "internal error in signature 'asset' of tiny version 1 (incident "), answer
        with pytest.raises(grpc.RpcError) as error:
            predictions.Predict(predict_request(signature="asset", examples=examples), timeout=30)
        assert error.value.code() == grpc.StatusCode.INTERNAL and "incident" in error.value.details()
        for text in (answer, error.value.details()):
            assert "NotFound" not in text and "note.txt" not in text and not any(p in text for p in _paths(base))
        assert predictions.Predict(predict_request(examples=examples), timeout=30).model_spec.version.value == 1
        assert running.repository.current().version == 1  # the directory is there: nothing to unload
    finally:
        channel.close()
        running.stop()


# ------------------------------------------------------------------------ item 6 and 17.4: named 400s, no 500
def _bad_bodies(good):
    contract, serialized = good
    row = contract.json_examples([{"x": 1.0}])[0]

    def classify(**features):
        return ":classify", json.dumps({"signature_name": "classify_score", "examples": [{**row, **features}]})
    return [
        (":predict", '{"instances": ' + "[" * 500 + "]" * 500 + "}", "nested deeper than 32 levels"),
        (":predict", '{"signature_name": ' + "{\"a\": " * 300 + "1" + "}" * 300 + "}", "nested deeper than 32"),
        (":predict", json.dumps({"signature_name": ["serving_default"], "instances": [b64(serialized[0])]}),
         "'signature_name' must be a string, got list"),
        (":classify", json.dumps({"signature_name": 7, "examples": [row]}), "'signature_name' must be a string"),
        (":predict", '{"instances": [' + "7" * 5000 + "]}", "'instances'[0]: a number too long to convert"),
        (":predict", json.dumps({"signature_name": "count", "inputs": {"ids": [1, 10 ** 30]}}),
         "input 'ids': integer 1000000000000000000000000000000 is outside the 64-bit range"),
        (":predict", json.dumps({"signature_name": "count", "inputs": {"ids": [1, 2 ** 64 - 1]}}),
         "input 'ids': expects int64: 1.8446744073709552e+19 is not a whole number in the 64-bit range"),
        (":predict", json.dumps({"signature_name": "count", "inputs": {"ids": [1, 2.5]}}),
         "input 'ids': expects int64: 2.5 is not a whole number"),  # TensorFlow would make it 2
        (":predict", json.dumps({"signature_name": "count", "inputs": {"ids": [True, False]}}),
         "input 'ids': expects int64 numbers, got true/false"),
        (":predict", json.dumps({"signature_name": "count", "inputs": {"ids": [1, None]}}),
         "input 'ids': expects int64 numbers, got NoneType None"),
        (":predict", json.dumps({"signature_name": "matrix", "inputs": {"m": [["a", "b"]]}}),
         "input 'm': expects float32 numbers, got strings"),
        (":predict", json.dumps({"signature_name": "matrix", "inputs": {"m": [[1, 2], [3]]}}), "input 'm': ragged"),
        (":predict", json.dumps({"instances": [1, 2]}), "input 'examples': expects DT_STRING"),
        (":predict", json.dumps({"instances": [{"b64": "\u00e9t\u00e9"}]}), "Unable to base64 decode"),
        (":predict", json.dumps({"instances": ["\udcff"]}), "input 'examples': value 0 is not valid Unicode text"),
        (":predict", json.dumps({"instances": [b64(b"\xff\xfe not an example")]}),
         "signature 'serving_default' could not parse its input"),  # TensorFlow's message quotes the bad bytes
        classify(n=10 ** 30) + ("examples[0] feature 'n': integer 1000000000000000000000000000000 is outside the "
                                "64-bit range",),
        classify(n=2.5) + ("feature 'n' of example 0: the model expects int64 values, the request has float",),
        classify(x="forty") + ("feature 'x' of example 0: the model expects float values, the request has string",),
        classify(city="\udcff") + ("examples[0] feature 'city' is not valid Unicode text",),
        classify(city={"b64": 5}) + ("examples[0] feature 'city': Unable to base64 decode",),
        classify(city=[1, "a"]) + ("examples[0] feature 'city' mixes value types",),
        classify(city={"nested": 1}) + ("examples[0] feature 'city' has an unsupported value",),
        (":classify", json.dumps({"signature_name": "classify_score", "examples": [row], "context": [1]}),
         "'context' must be a JSON object"),
        (":classify", json.dumps({"signature_name": "classify_score", "examples": [[1]]}),
         "examples[0] must be a JSON object"),
    ]


def test_bad_values_are_named_400s_never_500s(server, good):
    failures = []
    for verb, body, message in _bad_bodies(good):
        status, answer = post(server.rest_port, f"/v1/models/tiny{verb}", body.encode("utf-8", "surrogatepass"))
        if status != 400 or message not in answer:
            failures.append((body[:80], status, answer[:300]))
    assert failures == [], "\n".join(map(str, failures))
    raw = b'{"instances": [{"b64": "\xff\xfe"}]}'  # bytes that are not UTF-8 inside the JSON text
    status, answer = post(server.rest_port, "/v1/models/tiny:predict", raw)
    assert status == 400 and "the body is not UTF-8 text (byte 24" in answer, answer
    non_utf8 = json.dumps({"signature_name": "classify_score",
                           "examples": [{"x": 1.0, "city": b64(b"\xff\xfe")}]}).encode()  # bytes are a bytes value
    assert post(server.rest_port, "/v1/models/tiny:classify", non_utf8)[0] == 200
    huge = json.dumps({"signature_name": "matrix", "inputs": {"m": [[1, 10 ** 30]]}}).encode()
    assert json.loads(post(server.rest_port, "/v1/models/tiny:predict", huge)[1])["outputs"] == \
        [pytest.approx(1e30, rel=1e-6)]  # a float input takes a long integer as a number


def test_wrong_types_over_grpc_are_named_invalid_arguments(server, good):
    contract, serialized = good
    channel, predictions = stub(server.grpc_port)
    wrong = tf.train.Example.FromString(serialized[0])
    wrong.features.feature["n"].ClearField("int64_list")
    wrong.features.feature["n"].float_list.value.append(217.0)
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name, classify.model_spec.signature_name = "tiny", "classify_score"
    classify.input.example_list.examples.append(wrong)
    bad_content = tf.make_tensor_proto(np.zeros([2, 2], np.float32))
    bad_content.tensor_content = bad_content.tensor_content[:-3]
    cases = [(predictions.Predict, predict_request(examples=tf.make_tensor_proto([1.5, 2.5])),
              "input 'examples': expects DT_STRING, got float32"),
             (predictions.Predict, predict_request(signature="matrix", m=tf.make_tensor_proto([["a", "b"]])),
              "input 'm': expects float32 numbers, got strings"),
             (predictions.Predict, predict_request(signature="matrix", m=bad_content), "input 'm': shape [2, 2]"),
             (predictions.Predict, predict_request(signature="matrix", m=tf.make_tensor_proto([1.0, 2.0])),
              "input 'm': expected rank 2"),
             (predictions.Predict, predict_request(signature="xxx", examples=tf.make_tensor_proto([b"a"])),
              "Serving signature name: \"xxx\" not found"),
             (predictions.Classify, classify, "feature 'n' of example 0: the model expects int64 values, the request "
                                              "has float")]
    try:
        for method, message, expected in cases:
            with pytest.raises(grpc.RpcError) as error:
                method(message, timeout=30)
            assert error.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
            assert expected in error.value.details(), error.value.details()
    finally:
        channel.close()


def test_mtl_predict_with_deeply_nested_input_is_a_named_error(tiny_version, tmp_path):
    from pipeline.cli import main

    path = tmp_path / "rows.jsonl"
    path.write_text('{"x": 1.0}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    result = CliRunner().invoke(main, ["predict", "--model-dir", tiny_version, "--input", str(path)])
    assert result.exit_code == 1 and not isinstance(result.exception, RecursionError), result.output
    assert f"{path}:2: JSON nested too deeply" in result.output


# ----------------------------------------------------------------------------------------- 17.9: the CLI
def test_mtl_serve_takes_the_model_name_from_its_contract(tiny_version):
    process = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "mtl"), "serve", "--model-dir",
                                os.path.dirname(tiny_version), "--rest-port", "0", "--grpc-port", "0"],
                               stderr=subprocess.PIPE, text=True)
    try:
        line, deadline = "", time.time() + 120
        while "REST http" not in line and time.time() < deadline:
            line = process.stderr.readline()
            assert line or process.poll() is None, "mtl serve exited"
        assert "serving tiny version 1" in line and "/v1/models/tiny" in line, line
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_mtl_predict_task_answers_in_the_shape_of_all_task_answers(server, tiny_version):
    from pipeline.cli import main

    rows = json.dumps([{"x": 1.0, "n": 2}, {"x": -3.0}])
    runner = CliRunner()
    every = runner.invoke(main, ["predict", "--model-dir", tiny_version, "--json", rows])
    assert every.exit_code == 0, every.output
    all_tasks = [json.loads(line) for line in every.output.splitlines()]
    for where in ([], ["--url", f"http://127.0.0.1:{server.rest_port}"], ["--grpc", f"127.0.0.1:{server.grpc_port}"]):
        for task in ("score", "value"):
            result = runner.invoke(main, ["predict", "--model-dir", tiny_version, *where, "--task", task, "--json", rows])
            assert result.exit_code == 0, result.output
            answers = [json.loads(line) for line in result.output.splitlines()]
            assert [list(a) for a in answers] == [[task], [task]]
            for one, every_task in zip(answers, all_tasks):
                assert one[task].keys() == every_task[task].keys()
                for key, value in one[task].items():
                    assert value == (pytest.approx(every_task[task][key], rel=1e-5)
                                     if isinstance(value, float) else every_task[task][key])
    unknown = runner.invoke(main, ["predict", "--model-dir", tiny_version, "--task", "nope", "--json", rows])
    assert unknown.exit_code == 1 and "'nope' is not a task of this model; expected score, value" in unknown.output
