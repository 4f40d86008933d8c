"""`mtl serve`: a development stand-in for TensorFlow Serving (not a replacement for it).

It loads the versions under a Pusher directory (`serving.repository`) and speaks TF Serving's two APIs with TF
Serving's own messages: the REST API (`rest`: `GET /v1/models/<name>[/versions/<v>][/metadata]`,
`POST /v1/models/<name>[/versions/<v>]:predict` with `instances` (row) or `inputs` (columnar) and `{"b64": ...}`
binary values, `:classify` / `:regress` with JSON `examples`) and the gRPC services (`grpc_api`:
`tensorflow.serving.PredictionService` and `ModelService`). What both share (`core`): TF Serving's status codes,
the request limits, which version answers. Errors carry TF Serving's status codes (over REST `{"error": "..."}`
with the matching HTTP status); a bad request never stops the server. Loopback by default.
"""
from serving.server.core import (DEFAULT_MAX_BATCH, HTTP_STATUS, MAX_REQUEST_BYTES, Limits, Servable,  # noqa: F401
                                 ServingError)
from serving.server.model_server import ModelServer, ServerOptions  # noqa: F401
from serving.server.rest_json import json_example, parse_body, rest_inputs  # noqa: F401
