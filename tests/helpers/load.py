"""The serving load test (issue 24): `ModelServer` on loopback under 4 threads x 500 requests (two REST clients on
keep-alive connections, two gRPC clients) while a new version is copied in the way the Pusher copies it (not
atomically) and taken over, then 64 clients connecting at once (REST, a new connection per request, then gRPC).
Every failure counts; the result says what was seen."""
import base64
import http.client
import json
import shutil
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import List

from serving.server import ModelServer


@dataclass
class LoadResult:
    requests: List[int] = field(default_factory=list)     # per load thread
    grpc_versions: List[int] = field(default_factory=list)  # version that answered each gRPC request, in order
    errors: List[str] = field(default_factory=list)
    burst_requests: int = 0
    states: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def _copy_slowly(source, target):
    """saved_model.pb first, the variables half a second later (as a non-atomic copy lands)."""
    target.mkdir()
    shutil.copy(source / "saved_model.pb", target / "saved_model.pb")
    time.sleep(0.5)
    for item in source.iterdir():
        if item.name != "saved_model.pb":
            (shutil.copytree if item.is_dir() else shutil.copy)(item, target / item.name)


def run_load(base, name: str, serialized: List[bytes], threads: int = 4, per_thread: int = 500,
             clients: int = 64, per_client: int = 20) -> LoadResult:
    """`base` holds version 1 only; version 2 (a copy of it) is pushed while the load runs."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    server = ModelServer(base, name, rest_port=0, grpc_port=0, poll_seconds=0.2).start()
    result, lock = LoadResult(requests=[0] * threads), threading.Lock()
    body = json.dumps({"instances": [{"b64": base64.b64encode(s).decode()} for s in serialized]}).encode()
    path = f"/v1/models/{name}:predict"
    grpc_request = predict_pb2.PredictRequest()
    grpc_request.model_spec.name = name
    grpc_request.inputs["examples"].CopyFrom(tf.make_tensor_proto(serialized, dtype=tf.string))
    swapped, after_swap = threading.Event(), [0]

    def fail(where, exc):
        with lock:
            result.errors.append(f"{where}: {type(exc).__name__}: {exc}"[:300])

    def rest_thread(n):
        connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
        while result.requests[n] < per_thread or not swapped.is_set() or after_swap[0] < 100:
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read()
                if response.status != 200 or len(json.loads(answer)["predictions"]) != len(serialized):
                    raise RuntimeError(f"{response.status} {answer[:200]!r}")
            except Exception as exc:  # noqa: BLE001 - every failure counts
                fail("rest", exc)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=30)
            result.requests[n] += 1
            if swapped.is_set():
                after_swap[0] += 1
        connection.close()

    def grpc_thread(n):
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        while result.requests[n] < per_thread or not swapped.is_set() or after_swap[0] < 100:
            try:
                version = stub.Predict(grpc_request, timeout=30).model_spec.version.value
                with lock:
                    result.grpc_versions.append(version)
            except Exception as exc:  # noqa: BLE001
                fail("grpc", exc)
            result.requests[n] += 1
            if swapped.is_set():
                after_swap[0] += 1
        channel.close()

    try:
        started = time.monotonic()
        workers = [threading.Thread(target=rest_thread if n < threads // 2 else grpc_thread, args=(n,))
                   for n in range(threads)]
        for w in workers:
            w.start()
        time.sleep(0.3)
        _copy_slowly(base / "1", base / "2")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.repository.current().version != 2:
            time.sleep(0.05)
        swapped.set()
        for w in workers:
            w.join()
        result.seconds["swap_load"] = time.monotonic() - started

        started, barrier = time.monotonic(), threading.Barrier(clients)

        def rest_client():
            barrier.wait()
            for _ in range(per_client):
                request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=body,
                                                 method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        json.loads(response.read())["predictions"]
                    with lock:
                        result.burst_requests += 1
                except Exception as exc:  # noqa: BLE001
                    fail("rest burst", exc)

        def grpc_client():
            channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            barrier.wait()
            for _ in range(per_client // 2):
                try:
                    stub.Predict(grpc_request, timeout=60)
                    with lock:
                        result.burst_requests += 1
                except Exception as exc:  # noqa: BLE001
                    fail("grpc burst", exc)
            channel.close()

        for client in (rest_client, grpc_client):
            barrier.reset()
            burst = [threading.Thread(target=client) for _ in range(clients)]
            for t in burst:
                t.start()
            for t in burst:
                t.join()
        result.seconds["burst"] = time.monotonic() - started
    finally:
        result.states = {s.version: s.state for s in server.repository.statuses()}
        server.stop()
    return result


def check(result: LoadResult, threads: int = 4, per_thread: int = 500, clients: int = 64, per_client: int = 20):
    assert result.errors == [], result.errors[:10]
    assert all(n >= per_thread for n in result.requests), result.requests
    versions = result.grpc_versions
    assert versions[0] == 1 and versions[-1] == 2 and 1 in versions, (versions[:3], versions[-3:])
    first_new = versions.index(2)
    assert all(v == 2 for v in versions[first_new + 10:])  # no flapping back (a few in-flight answers may lag)
    assert result.burst_requests == clients * per_client + clients * (per_client // 2)
    assert result.states == {1: "END", 2: "AVAILABLE"}
