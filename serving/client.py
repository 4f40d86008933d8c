"""Clients for a TF Serving endpoint (real TF Serving or `mtl serve`): REST and gRPC, same answers.

Both build serialized tf.Examples from raw feature dicts with the model's contract (`serving.contract`), call
`serving_default` once for all tasks and decode the per-task answers (`predict`), or call one task's
`classify_<task>` / `regress_<task>` signature through TF Serving's Classify / Regress APIs. Transient
failures (connection refused, HTTP 503, gRPC UNAVAILABLE / DEADLINE_EXCEEDED) are retried with exponential backoff; anything else raises
`ServingClientError` carrying the server's status and message.
"""
from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from pipeline.core import protos
from serving.contract import ModelContract


class ServingClientError(RuntimeError):
    """The server refused the request (or stayed unreachable); `code` is the HTTP status or gRPC code name."""

    def __init__(self, code, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


def _retrying(call, retries: int, backoff: float, transient):
    for attempt in range(retries + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified below
            if attempt == retries or not transient(exc):
                raise
            time.sleep(backoff * (2 ** attempt))


class RestClient:
    def __init__(self, url: str, contract: ModelContract, model: Optional[str] = None, version: Optional[int] = None,
                 timeout: float = 10.0, retries: int = 3, backoff: float = 0.2):
        self.url, self.contract = url.rstrip("/"), contract
        self.model, self.version = model or contract.name, version
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def _path(self, suffix: str = "") -> str:
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"{self.url}/v1/models/{self.model}{version}{suffix}"

    def _request(self, url: str, body: Optional[dict] = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                         headers={"Content-Type": "application/json"})

        def call():
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as exc:
                try:
                    message = json.loads(exc.read()).get("error", exc.reason)
                except (ValueError, AttributeError):
                    message = str(exc.reason)
                raise ServingClientError(exc.code, message) from None

        def transient(exc):
            return (isinstance(exc, ServingClientError) and exc.code == 503) or \
                isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError))

        try:
            return _retrying(call, self.retries, self.backoff, transient)
        except urllib.error.URLError as exc:
            raise ServingClientError("UNAVAILABLE", f"{url}: {exc.reason}") from None
        except (ConnectionError, TimeoutError) as exc:
            raise ServingClientError("UNAVAILABLE", f"{url}: {exc}") from None

    def status(self) -> dict:
        return self._request(self._path())

    def metadata(self) -> dict:
        return self._request(self._path("/metadata"))

    def outputs(self, serialized: Sequence[bytes]) -> Dict[str, np.ndarray]:
        body = {"signature_name": self.contract.signature,
                "instances": [{"b64": base64.b64encode(s).decode()} for s in serialized]}
        predictions = self._request(self._path(":predict"), body)["predictions"]
        return {key: np.array([row[key] for row in predictions], dtype=object if isinstance(predictions[0][key], str)
                              else None) for key in predictions[0]}

    def predict(self, rows: Sequence[Mapping[str, Any]], ignore_unknown: bool = False) -> List[Dict[str, Any]]:
        return self.contract.answers(self.outputs(self.contract.examples(rows, ignore_unknown)))


    def classify(self, rows: Sequence[Mapping[str, Any]], task: str, ignore_unknown: bool = False):
        """TF Serving's `:classify` on the task's signature: one {class: score} per row."""
        body = {"signature_name": self.contract.task_signature(task),
                "examples": self.contract.json_examples(rows, ignore_unknown)}
        return [dict((c, s) for c, s in row) for row in self._request(self._path(":classify"), body)["results"]]

    def regress(self, rows: Sequence[Mapping[str, Any]], task: str, ignore_unknown: bool = False) -> List[float]:
        """TF Serving's `:regress` on the task's signature: one value per row."""
        body = {"signature_name": self.contract.task_signature(task),
                "examples": self.contract.json_examples(rows, ignore_unknown)}
        return [float(v) for v in self._request(self._path(":regress"), body)["results"]]


class GrpcClient:
    def __init__(self, target: str, contract: ModelContract, model: Optional[str] = None,
                 version: Optional[int] = None, timeout: float = 10.0, retries: int = 3, backoff: float = 0.2):
        import grpc

        model_service_pb2_grpc = protos.load("tensorflow_serving.apis.model_service_pb2_grpc")
        prediction_service_pb2_grpc = protos.load("tensorflow_serving.apis.prediction_service_pb2_grpc")
        self.contract, self.model, self.version = contract, model or contract.name, version
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def _spec(self, spec, signature: str = ""):
        spec.name = self.model
        if self.version is not None:
            spec.version.value = self.version
        if signature:
            spec.signature_name = signature

    def _call(self, method, request):
        import grpc

        def transient(exc):
            return isinstance(exc, grpc.RpcError) and exc.code() in (grpc.StatusCode.UNAVAILABLE,
                                                                      grpc.StatusCode.DEADLINE_EXCEEDED)
        try:
            return _retrying(lambda: method(request, timeout=self.timeout), self.retries, self.backoff, transient)
        except grpc.RpcError as exc:
            raise ServingClientError(exc.code().name, exc.details()) from None

    def status(self):
        get_model_status_pb2 = protos.load("tensorflow_serving.apis.get_model_status_pb2")

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec)
        return self._call(self.models.GetModelStatus, request)

    def metadata(self):
        get_model_metadata_pb2 = protos.load("tensorflow_serving.apis.get_model_metadata_pb2")

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        return self._call(self.predictions.GetModelMetadata, request)

    def outputs(self, serialized: Sequence[bytes]) -> Dict[str, np.ndarray]:
        from tensorboard.util.tensor_util import make_ndarray  # TensorFlow's, without TensorFlow

        request = protos.load("tensorflow_serving.apis.predict_pb2").PredictRequest()
        self._spec(request.model_spec, self.contract.signature)
        examples = request.inputs[self.contract.input]  # a 1-D string tensor, as tf.make_tensor_proto builds it
        examples.dtype = protos.load("tensorflow.core.framework.types_pb2").DT_STRING
        examples.tensor_shape.dim.add().size = len(serialized)
        examples.string_val.extend(serialized)
        response = self._call(self.predictions.Predict, request)
        return {key: make_ndarray(value) for key, value in response.outputs.items()}

    def predict(self, rows: Sequence[Mapping[str, Any]], ignore_unknown: bool = False) -> List[Dict[str, Any]]:
        return self.contract.answers(self.outputs(self.contract.examples(rows, ignore_unknown)))

    def _examples_request(self, request, rows, task, ignore_unknown):
        self._spec(request.model_spec, self.contract.task_signature(task))
        for i, row in enumerate(rows):
            request.input.example_list.examples.append(self.contract.example(row, i, ignore_unknown))
        return request

    def classify(self, rows: Sequence[Mapping[str, Any]], task: str, ignore_unknown: bool = False):
        """PredictionService.Classify on the task's signature: one {class: score} per row."""
        classification_pb2 = protos.load("tensorflow_serving.apis.classification_pb2")

        request = self._examples_request(classification_pb2.ClassificationRequest(), rows, task, ignore_unknown)
        response = self._call(self.predictions.Classify, request)
        return [{c.label: c.score for c in row.classes} for row in response.result.classifications]

    def regress(self, rows: Sequence[Mapping[str, Any]], task: str, ignore_unknown: bool = False) -> List[float]:
        """PredictionService.Regress on the task's signature: one value per row."""
        regression_pb2 = protos.load("tensorflow_serving.apis.regression_pb2")

        request = self._examples_request(regression_pb2.RegressionRequest(), rows, task, ignore_unknown)
        response = self._call(self.predictions.Regress, request)
        return [r.value for r in response.result.regressions]

    def close(self):
        self.channel.close()
