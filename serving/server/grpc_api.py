"""gRPC: TF Serving's `PredictionService` (Predict, Classify, Regress, GetModelMetadata) and `ModelService`
(GetModelStatus), from the tensorflow-serving-api protos.

A PredictRequest's tensors are checked before they are converted: the declared shape against the signature, the
batch and value limits, and against the values the message really holds (a 120-byte request declaring 30 million
elements is refused, not padded out to them). Classify / Regress requests have their examples counted on the wire
before protobuf parses them. The server
runs `workers` threads, at most `max_concurrent_rpcs` calls at once (more: RESOURCE_EXHAUSTED), messages up to
`max_request_bytes`, and does not share its port with another process (no SO_REUSEPORT).
"""
from __future__ import annotations

import math
from concurrent import futures
from typing import Optional

import numpy as np

from serving.server.core import CLASSIFY, REGRESS, Servable, ServingError

_VALUE_FIELDS = ("half_val", "float_val", "double_val", "int_val", "string_val", "scomplex_val", "int64_val",
                 "bool_val", "dcomplex_val", "uint32_val", "uint64_val")


class ProtoInput:
    """A TensorProto input: the declared shape, converted only after it checks out against its contents."""

    def __init__(self, proto, key: str):
        import tensorflow as tf

        self.proto, self.key = proto, key
        if proto.tensor_shape.unknown_rank:
            raise ServingError("INVALID_ARGUMENT", f"input '{key}': the tensor has an unknown rank")
        self.shape = tuple(d.size for d in proto.tensor_shape.dim)
        try:
            self.dtype = tf.dtypes.as_dtype(proto.dtype)
        except TypeError:
            raise ServingError("INVALID_ARGUMENT", f"input '{key}': unknown dtype enum {proto.dtype}") from None

    def array(self, key: str, spec) -> np.ndarray:
        import tensorflow as tf

        proto, count = self.proto, math.prod(self.shape)
        if proto.tensor_content:
            size = self.dtype.size if self.dtype != tf.string else 0
            held = len(proto.tensor_content) // size if size else -1
            if held != count or len(proto.tensor_content) % max(size, 1):
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': shape {list(self.shape)} declares {count} "
                                   f"values, tensor_content holds {len(proto.tensor_content)} bytes")
        else:
            held = sum(len(getattr(proto, name)) for name in _VALUE_FIELDS)
            # TensorFlow repeats the last value to fill the shape (one value: a filled tensor); more than one but
            # fewer than the shape needs, or more, is a client error
            if held not in (count, 0, 1) or (held == 0 and count and self.dtype == tf.string):
                raise ServingError("INVALID_ARGUMENT", f"input '{key}': shape {list(self.shape)} declares {count} "
                                   f"values, the tensor holds {held}")
        try:
            return tf.make_ndarray(proto)
        except (TypeError, ValueError) as exc:
            raise ServingError("INVALID_ARGUMENT", f"input '{key}': bad input tensor: {str(exc)[:300]}") from None


def _varint(data: bytes, i: int):
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes, start: int, end: int):
    """(field number, start, end) of each length-delimited field of the message in data[start:end]."""
    i = start
    while i < end:
        key, i = _varint(data, i)
        wire = key & 7
        if wire == 2:
            length, i = _varint(data, i)
            yield key >> 3, i, i + length
            i += length
        elif wire == 0:
            _, i = _varint(data, i)
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"wire type {wire}")
    if i != end:
        raise ValueError("truncated message")


def count_examples(data: bytes, limit: int) -> int:
    """Examples in a serialized ClassificationRequest / RegressionRequest (input = 2 -> example_list = 1 or
    example_list_with_context = 2 -> examples = 1), counted on the wire and only up to `limit + 1`: a message of a
    million examples is refused before protobuf builds a million messages."""
    found = 0
    for number, start, end in _fields(data, 0, len(data)):
        if number == 2:
            for kind, list_start, list_end in _fields(data, start, end):
                if kind in (1, 2):
                    for field, _, _ in _fields(data, list_start, list_end):
                        found += field == 1
                        if found > limit:
                            return found
    return found


class _TooManyExamples:
    """What the deserializer hands on instead of a request over the batch limit."""


def _counting_interceptor(limit: int):
    import grpc

    class CountExamples(grpc.ServerInterceptor):
        def intercept_service(self, continuation, details):
            handler = continuation(details)
            if handler is None or not details.method.endswith(("/Classify", "/Regress")):
                return handler
            parse = handler.request_deserializer

            def deserialize(data):
                try:
                    too_many = count_examples(data, limit) > limit
                except (ValueError, IndexError):  # not the expected wire format: let protobuf say what is wrong
                    too_many = False
                return _TooManyExamples() if too_many else parse(data)
            return grpc.unary_unary_rpc_method_handler(handler.unary_unary, request_deserializer=deserialize,
                                                       response_serializer=handler.response_serializer)
    return CountExamples()


def make_grpc_server(servable: Servable, address: str, workers: int = 8, max_concurrent_rpcs: int = 256):
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

    def guarded(method):
        """ServingError -> its status code; anything else -> INTERNAL with an incident id (never a traceback)."""
        def call(self, request, context):
            try:
                return method(self, request, context)
            except ServingError as exc:
                context.abort(getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL), str(exc))
            except Exception as exc:  # noqa: BLE001
                context.abort(grpc.StatusCode.INTERNAL, str(servable.internal(exc, method.__name__)))
        call.__name__ = method.__name__
        return call

    def examples(request):
        if isinstance(request, _TooManyExamples):
            raise ServingError("INVALID_ARGUMENT", f"examples: batch size {servable.limits.max_batch + 1} or more is "
                               f"larger than the maximum allowed batch size {servable.limits.max_batch}")
        which = request.input.WhichOneof("kind")
        if which == "example_list":
            found = request.input.example_list.examples
            servable.check_batch(len(found), "examples")
            return [e.SerializeToString() for e in found]
        if which == "example_list_with_context":
            listed = request.input.example_list_with_context
            servable.check_batch(len(listed.examples), "examples")
            merged = []
            for example in listed.examples:
                one = type(example)()
                one.CopyFrom(listed.context)
                one.MergeFrom(example)
                merged.append(one.SerializeToString())
            return merged
        raise ServingError("INVALID_ARGUMENT", "Input is empty")

    class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
        @guarded
        def Predict(self, request, context):
            inputs = {k: ProtoInput(v, k) for k, v in request.inputs.items()}
            spec = request.model_spec
            loaded, signature, outputs = servable.predict(spec.name, version_of(spec), spec.signature_name, inputs)
            response = answered(predict_pb2.PredictResponse(), request, loaded.version, signature)
            wanted = set(request.output_filter) or set(outputs)
            unknown = wanted - set(outputs)
            if unknown:
                raise ServingError("INVALID_ARGUMENT", f"output tensor alias not found in signature: "
                                   f"{', '.join(sorted(unknown)[:10])}")
            for key in sorted(wanted):
                response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
            return response

        @guarded
        def GetModelMetadata(self, request, context):
            if list(request.metadata_field) != ["signature_def"]:
                raise ServingError("INVALID_ARGUMENT", "Metadata field signature_def is required and the only one "
                                   "supported")
            loaded, signature_defs = servable.metadata(request.model_spec.name, version_of(request.model_spec))
            response = answered(get_model_metadata_pb2.GetModelMetadataResponse(), request, loaded.version)
            response.metadata["signature_def"].Pack(signature_defs)
            return response

        def _run_examples(self, request, method: str, response):
            """Classify / Regress: examples counted and run; `response` with its model_spec filled in."""
            serialized, spec = examples(request), request.model_spec
            loaded, outputs = servable.run_examples(spec.name, version_of(spec), spec.signature_name, method,
                                                    serialized)
            return outputs, answered(response, request, loaded.version, spec.signature_name)

        @guarded
        def Classify(self, request, context):
            outputs, response = self._run_examples(request, CLASSIFY, classification_pb2.ClassificationResponse())
            for row_classes, row_scores in zip(outputs["classes"].tolist(), outputs["scores"].tolist()):
                classification = response.result.classifications.add()
                for label, score in zip(row_classes, row_scores):
                    classification.classes.add(label=label.decode("utf-8", "replace"), score=score)
            return response

        @guarded
        def Regress(self, request, context):
            outputs, response = self._run_examples(request, REGRESS, regression_pb2.RegressionResponse())
            for value in np.reshape(outputs["outputs"], [-1]).tolist():
                response.result.regressions.add(value=value)
            return response

    class Models(model_service_pb2_grpc.ModelServiceServicer):
        @guarded
        def GetModelStatus(self, request, context):
            response = get_model_status_pb2.GetModelStatusResponse()
            for s in servable.statuses(request.model_spec.name, version_of(request.model_spec)):
                entry = response.model_version_status.add(version=s.version)
                entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(s.state)
                entry.status.error_code = 2 if s.error else 0
                entry.status.error_message = s.error
            return response

    limit = servable.limits.max_request_bytes
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
                         interceptors=[_counting_interceptor(servable.limits.max_batch)],
                         maximum_concurrent_rpcs=max_concurrent_rpcs,
                         options=[("grpc.max_receive_message_length", limit),
                                  ("grpc.max_send_message_length", limit), ("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Prediction(), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio >= 1.5x raises instead of returning 0
        raise OSError(f"cannot listen on {address} (gRPC): {exc}") from None
    if not port:
        raise OSError(f"cannot listen on {address} (gRPC)")
    return server, port
