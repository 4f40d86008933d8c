"""`ModelServer`: both APIs on one model repository, with the limits and pools `mtl serve` exposes."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from serving.repository import ModelRepository
from serving.server.core import DEFAULT_MAX_BATCH, MAX_REQUEST_BYTES, Limits, Servable
from serving.server.grpc_api import make_grpc_server
from serving.server.rest import RestServer


@dataclass(frozen=True)
class ServerOptions:
    """How much the server takes on: threads, connections, time and size per request."""

    workers: int = field(default_factory=lambda: min(16, 2 * (os.cpu_count() or 1)))  # per API
    timeout: float = 30.0           # seconds for a REST request's head, and again for its body
    max_connections: int = 1024     # open REST connections (more: 503)
    max_concurrent_rpcs: int = 256  # gRPC calls in progress (more: RESOURCE_EXHAUSTED)
    backlog: int = 1024             # REST listen queue (the kernel caps it at net.core.somaxconn)


class ModelServer:
    """Both APIs on one repository; `start()` returns once listening (ports may be 0: pick free ones)."""

    def __init__(self, model_dir, name: str, host: str = "127.0.0.1", rest_port: int = 8501,
                 grpc_port: int = 8500, poll_seconds: float = 2.0, max_batch: int = DEFAULT_MAX_BATCH,
                 max_request_bytes: int = MAX_REQUEST_BYTES, options: ServerOptions = ServerOptions()):
        self.repository = ModelRepository(name, model_dir, poll_seconds)
        self.servable = Servable(self.repository, Limits(max_batch=max_batch, max_request_bytes=max_request_bytes))
        self.host, self.rest_port, self.grpc_port = host, rest_port, grpc_port
        self.options = options
        self.rest = self._grpc = None

    def start(self) -> "ModelServer":
        if self.repository.refresh(require_settled=False) is None:
            failed = [s for s in reversed(self.repository.statuses()) if s.error]
            why = f"; version {failed[0].version}: {failed[0].error}" if failed else ""
            raise FileNotFoundError(f"{self.repository.base_dir}: no loadable model version (a numbered directory "
                                    f"holding saved_model.pb){why}")
        options = self.options
        self._grpc, self.grpc_port = make_grpc_server(self.servable, f"{self.host}:{self.grpc_port}",
                                                      options.workers, options.max_concurrent_rpcs)
        try:
            self.rest = RestServer(self.servable, self.host, self.rest_port, options.workers, options.timeout,
                                   options.max_connections, options.backlog)
        except OSError:
            self._grpc.stop(0)
            raise
        self.rest_port = self.rest.address[1]
        self._grpc.start()
        self.rest.start()
        self.repository.watch()
        return self

    def stop(self):
        self.repository.stop()
        if self.rest is not None:
            self.rest.stop()
        if self._grpc is not None:
            self._grpc.stop(grace=1).wait()
