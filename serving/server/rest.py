"""REST: TF Serving's HTTP API (`GET /v1/models/<name>[/versions/<v>][/metadata]`, `POST ...:predict`,
`:classify`, `:regress`) on tornado's HTTP/1.1 server.

Connections are served by one event-loop thread (an idle or slow connection costs a socket, not a thread) and
requests by a fixed pool of `workers` threads. A request's head must arrive within `timeout` seconds and its
body within `timeout` more; heads are limited to 64 KiB, bodies to `max_request_bytes` (checked on the declared
Content-Length before a byte of the body is read, and kept only as it arrives); more than `max_connections`
open connections are refused with 503. A refused request is answered only after its whole body has been read,
or with `Connection: close` and the connection closed, so that its body is never read as the next request.
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional, Tuple

from serving.server.core import CLASSIFY, REGRESS, ServingError, Servable
from serving.server.rest_json import json_examples, parse_body, rest_inputs, rest_outputs, results

log = logging.getLogger("serving.server")

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d{1,18}))?"
                   r"(?P<rest>/metadata|:predict|:classify|:regress)?$")
_METHODS = {":classify": CLASSIFY, ":regress": REGRESS}
MAX_HEADER_BYTES = 64 << 10


class RestApi:
    """Path + body -> (HTTP status, JSON answer); TF Serving's routes and messages, no transport."""

    def __init__(self, servable: Servable):
        self.servable = servable

    def handle(self, method: str, path: str, body: bytes) -> Tuple[int, Any]:
        try:
            return 200, (self.get(path) if method == "GET" else self.post(path, body))
        except ServingError as exc:
            return exc.http_status, {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - never let one request take the server down
            error = self.servable.internal(exc, f"{method} {path[:200]}")
            return error.http_status, {"error": str(error)}

    @staticmethod
    def _route(method: str, path: str):
        match = _PATH.match(path)
        if not match:
            raise ServingError("NOT_FOUND", f"Malformed request: {method} {path[:200]}")
        return match["name"], int(match["version"]) if match["version"] else None, match["rest"]

    def get(self, path: str):
        from google.protobuf import json_format

        name, version, rest = self._route("GET", path)
        if rest in (":predict", *_METHODS):
            raise ServingError("INVALID_ARGUMENT", f"Malformed request: GET used for {rest}, use POST")
        if rest == "/metadata":
            loaded, signature_defs = self.servable.metadata(name, version)
            metadata = json_format.MessageToDict(signature_defs, preserving_proto_field_name=True)
            return {"model_spec": {"name": name, "signature_name": "", "version": str(loaded.version)},
                    "metadata": {"signature_def": metadata}}
        return {"model_version_status": [
            {"version": str(s.version), "state": s.state,
             "status": {"error_code": "UNKNOWN" if s.error else "OK", "error_message": s.error}}
            for s in self.servable.statuses(name, version)]}

    def post(self, path: str, data: bytes):
        name, version, rest = self._route("POST", path)
        if rest not in (":predict", *_METHODS):
            raise ServingError("UNIMPLEMENTED" if rest is None else "INVALID_ARGUMENT",
                               f"Malformed request: POST {path[:200]}")
        loaded = self.servable.version(name, version)
        body = parse_body(data, self.servable.limits)
        signature_name = body.get("signature_name", "")
        if rest in _METHODS:
            serialized = json_examples(body, self.servable.limits)
            _, outputs = self.servable.run_examples(name, version, signature_name, _METHODS[rest], serialized)
            return {"results": results(rest == ":regress", outputs)}
        _, function = self.servable.signature(loaded, signature_name)
        inputs, row_format = rest_inputs(body, set(self.servable.input_specs(function)))
        _, _, outputs = self.servable.predict(name, version, signature_name, inputs)
        return rest_outputs(outputs, row_format)


def make_app(api: RestApi, pool: ThreadPoolExecutor, max_request_bytes: int):
    import tornado.web

    @tornado.web.stream_request_body
    class Handler(tornado.web.RequestHandler):
        SUPPORTED_METHODS = ("GET", "POST")

        def set_default_headers(self):
            self.set_header("Content-Type", "application/json")

        def prepare(self):
            """Headers only so far: refuse a body that cannot be accepted before reading any of it."""
            self._chunks = []
            declared = self.request.headers.get("Content-Length")
            chunked = "chunked" in self.request.headers.get("Transfer-Encoding", "").lower()
            if declared is not None:
                if not declared.strip().isdigit():
                    return self._refuse(400, f"Content-Length must be a byte count, got {declared[:40]!r}")
                if int(declared) > max_request_bytes:
                    return self._refuse(413, f"request body of {int(declared)} bytes exceeds the limit of "
                                        f"{max_request_bytes} bytes")
            elif self.request.method == "POST" and not chunked:
                return self._refuse(411, "POST needs a Content-Length header (or a chunked body)")
            self.request.connection.set_max_body_size(max_request_bytes)  # chunked bodies: tornado counts

        def data_received(self, chunk: bytes):
            self._chunks.append(chunk)

        async def get(self, *_):
            await self._answer("GET")

        async def post(self, *_):
            await self._answer("POST")

        async def _answer(self, method: str):
            body, self._chunks = b"".join(self._chunks), []
            status, payload = await asyncio.get_running_loop().run_in_executor(
                pool, api.handle, method, self.request.path, body)
            self._reply(status, payload)

        def _refuse(self, status: int, message: str):
            self.set_header("Connection", "close")  # the unread body must not be read as a request
            self._reply(status, {"error": message})

        def _reply(self, status: int, payload: Any):
            self.set_status(status)
            self.finish(json.dumps(payload))

        def write_error(self, status_code: int, **kwargs):  # tornado's own refusals (405, ...)
            self.finish(json.dumps({"error": f"{status_code} {self._reason}"}))

    def log_request(handler):
        log.debug("%s %s %s %.1f ms", handler.request.remote_ip, handler.request.method, handler.get_status(),
                  1000 * handler.request.request_time())

    return tornado.web.Application([(r"/.*", Handler)], log_function=log_request, compress_response=False)


class RestServer:
    """The REST API on `host:port` (0: a free port), served from its own thread until `stop()`."""

    def __init__(self, servable: Servable, host: str, port: int, workers: int = 8, timeout: float = 30.0,
                 max_connections: int = 1024, backlog: int = 1024):
        from tornado.netutil import bind_sockets

        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rest")
        self.app = make_app(RestApi(servable), self.pool, servable.limits.max_request_bytes)
        self.sockets = bind_sockets(port, host, family=socket.AF_INET if host.count(".") == 3 else socket.AF_UNSPEC,
                                    backlog=backlog)
        self.address: Tuple[str, int] = self.sockets[0].getsockname()[:2]
        self.timeout, self.max_connections = timeout, max_connections
        self.max_request_bytes = servable.limits.max_request_bytes
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._server = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rest-io", daemon=True)

    def start(self) -> "RestServer":
        self._thread.start()
        self._ready.wait(30)
        return self

    def _run(self):
        from tornado.httpserver import HTTPServer

        class Server(HTTPServer):
            def handle_stream(server, stream, address):  # noqa: N805 - tornado's signature
                if len(server._connections) >= self.max_connections:
                    asyncio.ensure_future(_refuse(stream))
                    return
                super().handle_stream(stream, address)

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._server = Server(self.app, idle_connection_timeout=self.timeout, body_timeout=self.timeout,
                              max_header_size=MAX_HEADER_BYTES, max_body_size=1 << 62,
                              max_buffer_size=self.max_request_bytes + MAX_HEADER_BYTES)
        self._server.add_sockets(self.sockets)
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    def stop(self):
        if self._loop is None:
            return

        async def shutdown():
            self._server.stop()
            await self._server.close_all_connections()
            asyncio.get_running_loop().stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(30)
        self.pool.shutdown(wait=False, cancel_futures=True)


async def _refuse(stream, linger: float = 2.0):
    """Answer 503 and close gracefully: half-close, drain what the client sent (up to `linger` s), then close.
    Closing with the client's request still unread makes the kernel reset the connection, and the client loses
    the 503 it was already sent."""
    from tornado.iostream import StreamClosedError

    async def drain():
        while True:
            await stream.read_bytes(65536, partial=True)

    try:
        await stream.write(_OVERLOADED)
        stream.socket.shutdown(socket.SHUT_WR)
        await asyncio.wait_for(drain(), linger)
    except (StreamClosedError, OSError, asyncio.TimeoutError):
        pass
    finally:
        stream.close()


_BUSY = json.dumps({"error": "too many open connections; retry"}).encode()
_OVERLOADED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
               b"Content-Length: " + str(len(_BUSY)).encode() + b"\r\n\r\n" + _BUSY)
