"""Serving latency and throughput over REST and gRPC, and one multi-task model vs N single-task models.

The support models exported by `bench.support` (one five-task model and five single-task models, same network;
trained here for one epoch first if absent — weights do not change the cost) are each served by `mtl serve` in
its own process on loopback. A client in this process sends pre-serialized tf.Examples of real tickets:

  latency      p50 / p99 of one request, batch 1 and 64, REST (`:predict`, b64 instances) and gRPC (Predict):
               the multi-task model once vs the five single-task models one after the other (what a client
               needing all five answers does), and the five in parallel (one thread each)
  throughput   examples/s with 4 concurrent clients calling the multi-task model, batch 1 and 64

`mtl serve` is this project's Python stand-in for TF Serving, so absolute numbers are not TF Serving's (its C++
server is faster per call); the ratio of one call to N calls is the point.

    python -m bench.serving [--requests 200] [--report]
"""
from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import finish, table

MODELS = os.path.join("runs", "bench-support", "models")
MULTI = "multi-task_shared_bottom"
SINGLE = [f"single-task_{t}" for t in ("intent", "keywords", "sentiment", "escalate", "handling_minutes")]
OUT = "bench/results/serving.json"


def ensure_models():
    if all(os.path.isfile(os.path.join(MODELS, m, "saved_model.pb")) for m in [MULTI, *SINGLE]):
        return
    print("exporting the support models first (bench.support, 1 epoch, 1 seed)", flush=True)
    from bench import support

    support.main(["--seeds", "1", "--epochs", "1", "--out", os.path.join("runs", "bench-support", "quick.json")])


def start_server(name: str):
    """`mtl serve` on a copy-free layout: <tmp>/<name>/1 -> the exported model; returns (process, rest, grpc)."""
    base = os.path.join("runs", "bench-serving", name)
    os.makedirs(base, exist_ok=True)
    link = os.path.join(base, "1")
    if not os.path.exists(link):
        os.symlink(os.path.abspath(os.path.join(MODELS, name)), link)
    process = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "mtl"), "serve", "--model-dir", base,
                                "--name", "m", "--rest-port", "0", "--grpc-port", "0"],
                               stderr=subprocess.PIPE, text=True)
    line = ""
    while "REST http" not in line:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"mtl serve for {name} exited")
    threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # keep draining
    return process, line.split("REST ")[1].split("/v1/")[0], line.split("gRPC ")[1].split(" ")[0]


class Caller:
    """Pre-built requests for one served model: `rest(batch)` and `grpc(batch)` send one request each."""

    def __init__(self, rest_url, grpc_target, serialized):
        import urllib.request

        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        self.urllib = urllib.request
        self.url = f"{rest_url}/v1/models/m:predict"
        self.bodies, self.requests = {}, {}
        for batch in (1, 64):
            rows = serialized[:batch]
            self.bodies[batch] = json.dumps({"instances": [{"b64": base64.b64encode(s).decode()} for s in rows]}
                                            ).encode()
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "m"
            request.inputs["examples"].CopyFrom(tf.make_tensor_proto(rows, dtype=tf.string))
            self.requests[batch] = request
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(grpc_target))

    def rest(self, batch):
        request = self.urllib.Request(self.url, data=self.bodies[batch], method="POST")
        with self.urllib.urlopen(request, timeout=30) as response:
            response.read()

    def grpc(self, batch):
        self.stub.Predict(self.requests[batch], timeout=30)


def _ms(samples):
    ordered = sorted(1000 * s for s in samples)
    return {"p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}


def measure(callers, requests: int):
    multi, singles = callers[MULTI], [callers[n] for n in SINGLE]
    pool = ThreadPoolExecutor(len(singles))
    results = {}
    for protocol in ("rest", "grpc"):
        for batch in (1, 64):
            for caller in [multi, *singles]:  # warm-up
                for _ in range(3):
                    getattr(caller, protocol)(batch)
            one, sequential, parallel = [], [], []
            for _ in range(requests):  # interleaved, so drift hits all three alike
                start = time.perf_counter()
                getattr(multi, protocol)(batch)
                one.append(time.perf_counter() - start)
                start = time.perf_counter()
                for caller in singles:
                    getattr(caller, protocol)(batch)
                sequential.append(time.perf_counter() - start)
                start = time.perf_counter()
                list(pool.map(lambda c: getattr(c, protocol)(batch), singles))
                parallel.append(time.perf_counter() - start)
            results[f"{protocol} batch {batch}"] = {
                "one multi-task call": _ms(one), "5 single-task calls, sequential": _ms(sequential),
                "5 single-task calls, parallel": _ms(parallel),
                "ratio sequential": statistics.median(one) / statistics.median(sequential),
                "ratio parallel": statistics.median(one) / statistics.median(parallel)}
            print(f"{protocol} batch {batch}: one {results[f'{protocol} batch {batch}']['ratio sequential']:.2f}× "
                  "sequential", flush=True)
    return results


def throughput(caller, seconds: float = 5.0, clients: int = 4):
    found = {}
    for protocol in ("rest", "grpc"):
        for batch in (1, 64):
            done, stop = [0] * clients, time.perf_counter() + seconds

            def work(i):
                while time.perf_counter() < stop:
                    getattr(caller, protocol)(batch)
                    done[i] += batch

            threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            found[f"{protocol} batch {batch}"] = sum(done) / (time.perf_counter() - start)
    return found


def report(saved) -> str:
    rows = []
    for key, entry in saved["latency"].items():
        cases = ("one multi-task call", "5 single-task calls, sequential", "5 single-task calls, parallel")
        rows.append([key, *(f"{entry[n]['p50']:.2f} / {entry[n]['p99']:.2f}" for n in cases),
                     f"{entry['ratio sequential']:.2f}", f"{entry['ratio parallel']:.2f}",
                     f"{saved['throughput'][key]:.0f}"])
    return table(["protocol, batch", "one multi-task ms p50 / p99", "5 sequential ms p50 / p99",
                  "5 parallel ms p50 / p99", "one ÷ sequential", "one ÷ parallel",
                  "multi-task examples/s (4 clients)"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument("--report", action="store_true", help="print the table of --out and exit")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    if args.report:
        print(report(json.load(open(args.out))))
        return
    ensure_models()
    from serving.contract import ModelContract

    test_csv = os.path.join("runs", "bench-support", "data", "test.csv")
    rows = list(csv.DictReader(open(test_csv, encoding="utf-8")))[:64]
    servers = {name: start_server(name) for name in [MULTI, *SINGLE]}
    try:
        callers = {}
        for name, (_, rest, grpc_target) in servers.items():
            contract = ModelContract.load(os.path.join(MODELS, name))
            callers[name] = Caller(rest, grpc_target, contract.examples(rows, ignore_unknown=True))
        latency = measure(callers, args.requests)
        speeds = throughput(callers[MULTI])
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    saved = {"requests": args.requests, "latency": latency, "throughput": speeds}
    finish(args.out, saved, report(saved))


if __name__ == "__main__":
    main()
