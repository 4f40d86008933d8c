"""`mtl serve`: a development stand-in for TensorFlow Serving (not a replacement for it).

It loads the versions under a Pusher directory (`serving.repository`) and speaks TF Serving's two APIs with TF
Serving's own messages: the REST API (`GET /v1/models/<name>[/versions/<v>][/metadata]`,
`POST /v1/models/<name>[/versions/<v>]:predict` with `instances` (row) or `inputs` (columnar) and `{"b64": ...}`
binary values, `:classify` / `:regress` with JSON `examples`) and the gRPC services
`tensorflow.serving.PredictionService` (Predict, Classify, Regress, GetModelMetadata) and
`tensorflow.serving.ModelService` (GetModelStatus), from the `tensorflow-serving-api` protos. Errors carry TF
Serving's status codes (gRPC codes; over REST `{"error": "..."}` with the matching HTTP status), and a bad
request never stops the server. Loopback by default.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple

import numpy as np

from serving.repository import LoadedVersion, ModelRepository

log = logging.getLogger(__name__)

HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404, "UNIMPLEMENTED": 501,
               "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "INTERNAL": 500}
DEFAULT_MAX_BATCH = 1024
MAX_REQUEST_BYTES = 64 << 20  # REST bodies and gRPC messages


class ServingError(Exception):
    """A request TF Serving would refuse: `code` is the gRPC status code name."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------------------------- core
class Servable:
    """What both APIs share: find the version, check and run a signature, describe the model."""

    def __init__(self, repository: ModelRepository, max_batch: int = DEFAULT_MAX_BATCH):
        self.repository = repository
        self.max_batch = max_batch

    def version(self, name: str, version: Optional[int]) -> LoadedVersion:
        if name != self.repository.name:
            raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({name})")
        try:
            return self.repository.current(version)
        except LookupError as exc:
            raise ServingError("NOT_FOUND", str(exc)) from None

    def predict(self, name: str, version: Optional[int], signature_name: str,
                inputs: Dict[str, np.ndarray]) -> Tuple[LoadedVersion, Dict[str, np.ndarray]]:
        import tensorflow as tf

        loaded = self.version(name, version)
        signature_name = signature_name or "serving_default"
        function = loaded.signatures.get(signature_name)
        if function is None:
            raise ServingError("FAILED_PRECONDITION", f"Serving signature name: \"{signature_name}\" not found in "
                               f"signature def; available: {', '.join(sorted(loaded.signatures))}")
        specs = function.structured_input_signature[1]
        missing, extra = sorted(set(specs) - set(inputs)), sorted(set(inputs) - set(specs))
        if missing or extra:
            raise ServingError("INVALID_ARGUMENT", f"input tensor alias not found in signature: "
                               f"{', '.join(extra) or '-'}; missing inputs: {', '.join(missing) or '-'}. "
                               f"Inputs expected to be in the set {{{', '.join(sorted(specs))}}}.")
        feed = {}
        for key, spec in specs.items():
            value = np.asarray(inputs[key])
            if value.ndim != len(spec.shape):
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': expected rank {len(spec.shape)} "
                                   f"(shape {spec.shape}), got shape {list(value.shape)}")
            if value.ndim and value.shape[0] > self.max_batch:
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': batch size {value.shape[0]} is larger "
                                   f"than the maximum allowed batch size {self.max_batch}")
            if spec.dtype == tf.string and value.dtype.kind not in "SUO":
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': expects DT_STRING, got {value.dtype}")
            try:
                feed[key] = tf.constant(value, dtype=spec.dtype)
            except (TypeError, ValueError) as exc:
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': {exc}") from None
        try:
            outputs = function(**feed)
        except tf.errors.InvalidArgumentError as exc:
            raise ServingError("INVALID_ARGUMENT", _op_message(exc.message)) from None
        return loaded, {k: v.numpy() for k, v in outputs.items()}

    def run_examples(self, name: str, version: Optional[int], signature_name: str, method: str, examples):
        """Classify / Regress: the signature must carry TF Serving's `method` name; examples are tf.Examples."""
        loaded = self.version(name, version)
        signature_name = signature_name or "serving_default"
        definition = self.signature_defs(loaded).signature_def.get(signature_name)
        if definition is None:
            raise ServingError("FAILED_PRECONDITION", f"Serving signature name: \"{signature_name}\" not found in "
                               f"signature def; available: {', '.join(sorted(loaded.signatures))}")
        if definition.method_name != method:
            kind = "classification" if method.endswith("classify") else "regression"
            raise ServingError("INVALID_ARGUMENT", f"Expected {kind} signature method_name to be {method}. Was: "
                               f"{definition.method_name}")
        if not examples:
            raise ServingError("INVALID_ARGUMENT", "Input is empty")
        serialized = np.array([e.SerializeToString() for e in examples], dtype=object)
        return self.predict(name, version, signature_name, {"inputs": serialized})

    def signature_defs(self, loaded: LoadedVersion):
        """The SavedModel's SignatureDefMap (read from saved_model.pb, as TF Serving reports it)."""
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        cached = getattr(loaded, "signature_def_map", None)
        if cached is not None:
            return cached
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((loaded.path / "saved_model.pb").read_bytes())
        result = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in saved.meta_graphs[0].signature_def.items():
            if not key.startswith("__"):
                result.signature_def[key].CopyFrom(signature)
        loaded.signature_def_map = result
        return result


def _op_message(message: str) -> str:
    """The op's own error, as TF Serving reports it, without eager execution's wrapper text."""
    message = message.split("<stack traces unavailable>\n", 1)[-1]
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    return re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", message).strip()


# --------------------------------------------------------------------------------------------- REST
_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                   r"(?P<rest>/metadata|:predict|:classify|:regress)?$")
_METHODS = {":classify": "tensorflow/serving/classify", ":regress": "tensorflow/serving/regress"}


def _decode_binary(value):
    """Replace {"b64": ...} objects by bytes, recursively."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (ValueError, TypeError):
                raise ServingError("INVALID_ARGUMENT", "Unable to base64 decode") from None
        return {k: _decode_binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_binary(v) for v in value]
    return value


def _array(value) -> np.ndarray:
    try:
        array = np.array(value, dtype=object if _has_bytes_or_str(value) else None)
    except ValueError as exc:
        raise ServingError("INVALID_ARGUMENT", f"Failed to process input: {exc}") from None
    if array.dtype == object and not _has_bytes_or_str(value):
        raise ServingError("INVALID_ARGUMENT", "Failed to process input: ragged or mixed-type list")
    return array


def _has_bytes_or_str(value) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, (bytes, str))


def rest_inputs(body: Dict[str, Any], input_names) -> Tuple[Dict[str, np.ndarray], bool]:
    """TF Serving's JSON request -> ({input: array}, row_format)."""
    if "instances" in body and "inputs" in body:
        raise ServingError("INVALID_ARGUMENT", "Request body can have either 'instances' or 'inputs', not both")
    if "instances" in body:
        instances = _decode_binary(body["instances"])
        if not isinstance(instances, list) or not instances:
            raise ServingError("INVALID_ARGUMENT", "'instances' must be a non-empty JSON list")
        if all(isinstance(i, dict) for i in instances):
            keys = set(instances[0])
            if any(set(i) != keys for i in instances):
                raise ServingError("INVALID_ARGUMENT", "Failed to process element: every instance must name the "
                                   "same inputs")
            return {k: _array([i[k] for i in instances]) for k in keys}, True
        if len(input_names) != 1:
            raise ServingError("INVALID_ARGUMENT", f"instances must be objects naming the inputs "
                               f"{sorted(input_names)}")
        return {next(iter(input_names)): _array(instances)}, True
    if "inputs" in body:
        inputs = _decode_binary(body["inputs"])
        if isinstance(inputs, dict):
            return {k: _array(v) for k, v in inputs.items()}, False
        if len(input_names) != 1:
            raise ServingError("INVALID_ARGUMENT", f"'inputs' must be an object naming {sorted(input_names)}")
        return {next(iter(input_names)): _array(inputs)}, False
    raise ServingError("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")


def json_example(values: Dict[str, Any], context: Optional[Dict[str, Any]] = None):
    """A tf.Example from TF Serving's JSON example: whole numbers -> int64_list, other numbers -> float_list,
    strings and {"b64": ...} -> bytes_list, lists -> repeated values; `context` features are added to it."""
    from tensorflow.core.example import example_pb2

    if not isinstance(values, dict):
        raise ServingError("INVALID_ARGUMENT", "Failed to process element: examples must be JSON objects")
    example = example_pb2.Example()
    for key, value in {**(context or {}), **values}.items():
        items = value if isinstance(value, list) else [value]
        feature = example.features.feature[key]
        for item in items:
            item = _decode_binary(item)
            if isinstance(item, bool) or item is None or isinstance(item, (dict, list)):
                raise ServingError("INVALID_ARGUMENT", f"Failed to process element: feature '{key}' has an "
                                   f"unsupported value {item!r}")
            if isinstance(item, (bytes, str)):
                feature.bytes_list.value.append(item.encode() if isinstance(item, str) else item)
            elif isinstance(item, int):
                feature.int64_list.value.append(item)
            else:
                feature.float_list.value.append(item)
        if sum(len(getattr(feature, k).value) > 0 for k in ("bytes_list", "int64_list", "float_list")) > 1:
            raise ServingError("INVALID_ARGUMENT", f"Failed to process element: feature '{key}' mixes value types")
    return example


def _json_value(array: np.ndarray, binary: bool):
    if array.dtype.kind in "SO":
        convert = (lambda b: {"b64": base64.b64encode(b).decode()}) if binary else \
            (lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else b)
        return np.vectorize(convert, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def rest_outputs(outputs: Dict[str, np.ndarray], row_format: bool):
    values = {k: _json_value(v, k.endswith("_bytes")) for k, v in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    rows = len(next(iter(values.values())))
    return {"predictions": [{k: v[i] for k, v in values.items()} for i in range(rows)]}


def _results(rest: str, outputs: Dict[str, np.ndarray]):
    if rest == ":regress":
        return np.reshape(outputs["outputs"], [-1]).tolist()
    classes = _json_value(outputs["classes"], False)
    return [[[c, float(p)] for c, p in zip(row_classes, row_scores)]
            for row_classes, row_scores in zip(classes, outputs["scores"].tolist())]


def _status_json(repository: ModelRepository, version: Optional[int]):
    statuses = [s for s in repository.statuses() if version is None or s.version == version]
    if not statuses:
        raise ServingError("NOT_FOUND", f"Could not find any versions of model {repository.name}"
                           if version is None else f"Could not find version {version} of model {repository.name}")
    return {"model_version_status": [
        {"version": str(s.version), "state": s.state,
         "status": {"error_code": "UNKNOWN" if s.error else "OK", "error_message": s.error}} for s in statuses]}


def make_rest_handler(servable: Servable):
    from google.protobuf import json_format

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # route access logs to logging, not stderr
            log.debug("%s " + fmt, self.address_string(), *args)

        def _send(self, status: int, payload):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str):
            match = _PATH.match(self.path.split("?", 1)[0])
            if not match:
                raise ServingError("NOT_FOUND", f"Malformed request: {method} {self.path}")
            name, rest = match["name"], match["rest"]
            version = int(match["version"]) if match["version"] else None
            return name, version, rest

        def do_GET(self):
            try:
                name, version, rest = self._route("GET")
                if rest in (":predict", *_METHODS):
                    raise ServingError("INVALID_ARGUMENT", f"Malformed request: GET used for {rest}, use POST")
                if name != servable.repository.name:
                    raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
                if rest == "/metadata":
                    loaded = servable.version(name, version)
                    metadata = json_format.MessageToDict(servable.signature_defs(loaded),
                                                         preserving_proto_field_name=True)
                    self._send(200, {"model_spec": {"name": name, "signature_name": "", "version": str(loaded.version)},
                                     "metadata": {"signature_def": metadata}})
                else:
                    self._send(200, _status_json(servable.repository, version))
            except ServingError as exc:
                self._send(HTTP_STATUS.get(exc.code, 500), {"error": str(exc)})

        def _content_length(self) -> int:
            """The declared body size, refused before reading when it is not a size or over the limit."""
            declared = self.headers.get("Content-Length") or "0"
            if not declared.isdigit():
                raise ServingError("INVALID_ARGUMENT", f"Content-Length must be a byte count, got {declared[:40]!r}")
            if int(declared) > MAX_REQUEST_BYTES:
                raise ServingError("INVALID_ARGUMENT", f"request body of {int(declared)} bytes exceeds the limit of "
                                   f"{MAX_REQUEST_BYTES} bytes")
            return int(declared)

        def do_POST(self):
            try:
                name, version, rest = self._route("POST")
                if rest not in (":predict", *_METHODS):
                    raise ServingError("UNIMPLEMENTED" if rest is None else "INVALID_ARGUMENT",
                                       f"Malformed request: POST {self.path}")
                length = self._content_length()
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise ServingError("INVALID_ARGUMENT", f"JSON Parse error: {exc}") from None
                if not isinstance(body, dict):
                    raise ServingError("INVALID_ARGUMENT", "JSON Value: request body must be a JSON object")
                if rest in _METHODS:
                    examples = body.get("examples")
                    if not isinstance(examples, list):
                        raise ServingError("INVALID_ARGUMENT", "'examples' must be a JSON list of objects")
                    context = body.get("context")
                    _, outputs = servable.run_examples(name, version, body.get("signature_name", ""), _METHODS[rest],
                                                       [json_example(e, context) for e in examples])
                    self._send(200, {"results": _results(rest, outputs)})
                    return
                loaded = servable.version(name, version)
                signature = body.get("signature_name") or "serving_default"
                function = loaded.signatures.get(signature)
                names = set(function.structured_input_signature[1]) if function is not None else set()
                inputs, row_format = rest_inputs(body, names) if function is not None else ({}, True)
                _, outputs = servable.predict(name, version, signature, inputs)
                self._send(200, rest_outputs(outputs, row_format))
            except ServingError as exc:
                self._send(HTTP_STATUS.get(exc.code, 500), {"error": str(exc)})
            except Exception as exc:  # never let one request take the server down
                log.exception("request failed")
                self._send(500, {"error": f"{type(exc).__name__}: {exc}"})

    return Handler


# --------------------------------------------------------------------------------------------- gRPC
def make_grpc_server(servable: Servable, address: str, workers: int = 8):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                         model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
                                         regression_pb2)

    def version_of(spec) -> Optional[int]:
        return spec.version.value if spec.HasField("version") else None

    def answered(response, request, version: int, signature: Optional[str] = None):
        """The response's model_spec: the requested name and signature, the version that answered."""
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        if signature is not None:
            response.model_spec.signature_name = signature
        return response

    def abort(context, exc: ServingError):
        context.abort(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL), str(exc))

    class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            try:
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
                loaded, outputs = servable.predict(request.model_spec.name, version_of(request.model_spec),
                                                   request.model_spec.signature_name, inputs)
            except ServingError as exc:
                abort(context, exc)
            except (TypeError, ValueError) as exc:
                abort(context, ServingError("INVALID_ARGUMENT", f"bad input tensor: {exc}"))
            response = answered(predict_pb2.PredictResponse(), request, loaded.version,
                                request.model_spec.signature_name or "serving_default")
            wanted = set(request.output_filter) or set(outputs)
            unknown = wanted - set(outputs)
            if unknown:
                abort(context, ServingError("INVALID_ARGUMENT", f"output tensor alias not found in signature: "
                                            f"{', '.join(sorted(unknown))}"))
            for key in sorted(wanted):
                response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
            return response

        def GetModelMetadata(self, request, context):
            if list(request.metadata_field) != ["signature_def"]:
                abort(context, ServingError("INVALID_ARGUMENT", "Metadata field signature_def is required "
                                            "and the only one supported"))
            try:
                loaded = servable.version(request.model_spec.name, version_of(request.model_spec))
            except ServingError as exc:
                abort(context, exc)
            response = answered(get_model_metadata_pb2.GetModelMetadataResponse(), request, loaded.version)
            response.metadata["signature_def"].Pack(servable.signature_defs(loaded))
            return response

        def _examples(self, request, method, context):
            which = request.input.WhichOneof("kind")
            if which == "example_list":
                examples = list(request.input.example_list.examples)
            elif which == "example_list_with_context":
                shared = request.input.example_list_with_context.context
                examples = []
                for example in request.input.example_list_with_context.examples:
                    merged = type(example)()
                    merged.CopyFrom(shared)
                    merged.MergeFrom(example)
                    examples.append(merged)
            else:
                abort(context, ServingError("INVALID_ARGUMENT", "Input is empty"))
            try:
                return servable.run_examples(request.model_spec.name, version_of(request.model_spec),
                                             request.model_spec.signature_name, method, examples)
            except ServingError as exc:
                abort(context, exc)

        def Classify(self, request, context):
            loaded, outputs = self._examples(request, "tensorflow/serving/classify", context)
            response = answered(classification_pb2.ClassificationResponse(), request, loaded.version,
                                request.model_spec.signature_name)
            for row_classes, row_scores in zip(outputs["classes"].tolist(), outputs["scores"].tolist()):
                classification = response.result.classifications.add()
                for label, score in zip(row_classes, row_scores):
                    classification.classes.add(label=label.decode("utf-8", "replace"), score=score)
            return response

        def Regress(self, request, context):
            loaded, outputs = self._examples(request, "tensorflow/serving/regress", context)
            response = answered(regression_pb2.RegressionResponse(), request, loaded.version,
                                request.model_spec.signature_name)
            for value in np.reshape(outputs["outputs"], [-1]).tolist():
                response.result.regressions.add(value=value)
            return response

    class Models(model_service_pb2_grpc.ModelServiceServicer):
        def GetModelStatus(self, request, context):
            name = request.model_spec.name
            if name != servable.repository.name:
                abort(context, ServingError("NOT_FOUND", f"Could not find any versions of model {name}"))
            wanted = version_of(request.model_spec)
            statuses = [s for s in servable.repository.statuses() if wanted is None or s.version == wanted]
            if not statuses:
                abort(context, ServingError("NOT_FOUND", f"Could not find version {wanted} of model {name}"))
            response = get_model_status_pb2.GetModelStatusResponse()
            for s in statuses:
                entry = response.model_version_status.add(version=s.version)
                entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(s.state)
                entry.status.error_code = 2 if s.error else 0
                entry.status.error_message = s.error
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                         options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Prediction(), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), server)
    port = server.add_insecure_port(address)
    if not port:
        raise OSError(f"cannot listen on {address} (gRPC)")
    return server, port


# ---------------------------------------------------------------------------------------------- run
class ModelServer:
    """Both APIs on one repository; `start()` returns once listening (ports may be 0: pick free ones)."""

    def __init__(self, model_dir, name: str, host: str = "127.0.0.1", rest_port: int = 8501,
                 grpc_port: int = 8500, poll_seconds: float = 2.0, max_batch: int = DEFAULT_MAX_BATCH):
        self.repository = ModelRepository(name, model_dir, poll_seconds)
        self.servable = Servable(self.repository, max_batch)
        self.host, self.rest_port, self.grpc_port = host, rest_port, grpc_port
        self._http = self._grpc = None

    def start(self) -> "ModelServer":
        if self.repository.refresh(require_settled=False) is None:
            raise FileNotFoundError(f"{self.repository.base_dir}: no loadable model version (a numbered directory "
                                    "holding saved_model.pb)")
        self.repository.watch()
        self._grpc, self.grpc_port = make_grpc_server(self.servable, f"{self.host}:{self.grpc_port}")
        self._grpc.start()
        self._http = ThreadingHTTPServer((self.host, self.rest_port), make_rest_handler(self.servable))
        self._http.daemon_threads = True
        self.rest_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="rest", daemon=True).start()
        return self

    def stop(self):
        self.repository.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=1).wait()
