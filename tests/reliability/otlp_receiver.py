"""A real OTLP receiver process the exporter-fault tests start, kill and restart.

``python otlp_receiver.py --protocol grpc|http --port N --record FILE [--mode M] [--delay S]``
serves the OTLP trace and metric services (gRPC through grpcio and the opentelemetry-proto
servicers; HTTP through ``http.server``, protobuf bodies on ``/v1/traces`` and ``/v1/metrics``) and
prints ``ready <port>`` once it listens. It runs until its stdin is closed; the line ``mode <mode>``
on stdin switches the mode (answered ``mode <mode>``). Modes:

- ``normal``: accept every export;
- ``slow``: wait ``--delay`` seconds, then accept, unless the client gave up meanwhile;
- ``fail``: refuse every export (HTTP 503, gRPC ``UNAVAILABLE``), as an overloaded collector does.

Each request is appended to the record file as one JSON line, *before* the answer is sent, so a
test reads what arrived even from a receiver it killed: ``{"pid", "signal", "spans": [names],
"outcome"}``, outcome ``accepted`` (answered OK) or ``refused``; a slow receiver writes ``arrived``
first, then ``accepted``, or ``abandoned`` if the client hung up before the answer. Only
``accepted`` spans count as delivered.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as metrics_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

MODES = ("normal", "slow", "fail")
# signal name -> (request type, response type), by HTTP path
_HTTP_PATHS = {
    "/v1/traces": (
        "traces",
        trace_pb.ExportTraceServiceRequest,
        trace_pb.ExportTraceServiceResponse,
    ),
    "/v1/metrics": (
        "metrics",
        metrics_pb.ExportMetricsServiceRequest,
        metrics_pb.ExportMetricsServiceResponse,
    ),
}


class Handles(Protocol):
    """What the servers ask of a request: whether to answer OK (``Recorder``, or a test's own)."""

    def handle(self, signal_name: str, request: Any, client_waits: Callable[[], bool]) -> bool: ...


class Recorder:
    """Appends one line per request; a line is written whole, so a kill never leaves half of one."""

    def __init__(self, path: Path, mode: str, delay: float) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()
        self.mode = mode
        self.delay = delay

    def _write(self, signal_name: str, spans: list[str], outcome: str) -> None:
        record = {"pid": os.getpid(), "signal": signal_name, "spans": spans, "outcome": outcome}
        with self._lock:
            os.write(self._fd, (json.dumps(record) + "\n").encode())

    def handle(self, signal_name: str, request: Any, client_waits: Callable[[], bool]) -> bool:
        """Record the request as the mode says; whether to answer OK."""
        spans = _span_names(request) if signal_name == "traces" else []
        if self.mode == "fail":
            self._write(signal_name, spans, "refused")
            return False
        if self.mode == "slow":
            self._write(signal_name, spans, "arrived")
            time.sleep(self.delay)
            if not client_waits():
                self._write(signal_name, spans, "abandoned")
                return False
        self._write(signal_name, spans, "accepted")
        return True


def _span_names(request: trace_pb.ExportTraceServiceRequest) -> list[str]:
    return [
        span.name
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


def _grpc_servicer(base: type, signal_name: str, response: type, recorder: Handles) -> Any:
    class Servicer(base):  # type: ignore[misc, valid-type]
        def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
            if not recorder.handle(signal_name, request, context.is_active):
                context.abort(grpc.StatusCode.UNAVAILABLE, "receiver told to refuse")
            return response()

    return Servicer()


def serve_grpc(port: int, recorder: Handles) -> tuple[int, Callable[[], None]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    trace_grpc.add_TraceServiceServicer_to_server(
        _grpc_servicer(
            trace_grpc.TraceServiceServicer,
            "traces",
            trace_pb.ExportTraceServiceResponse,
            recorder,
        ),
        server,
    )
    metrics_grpc.add_MetricsServiceServicer_to_server(
        _grpc_servicer(
            metrics_grpc.MetricsServiceServicer,
            "metrics",
            metrics_pb.ExportMetricsServiceResponse,
            recorder,
        ),
        server,
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return bound, lambda: server.stop(grace=None).wait()


def serve_http(port: int, recorder: Handles) -> tuple[int, Callable[[], None]]:
    """An OTLP/HTTP server on a thread of this process; the second value stops and closes it."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as collectors answer

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path not in _HTTP_PATHS:
                self._answer(404, b"")
                return
            signal_name, request_type, response_type = _HTTP_PATHS[self.path]
            request = request_type.FromString(body)
            if recorder.handle(signal_name, request, self._client_waits):
                self._answer(200, response_type().SerializeToString())
            else:
                self._answer(503, b"")

        def _client_waits(self) -> bool:
            """False once the client closed the connection (it timed out and gave up)."""
            try:
                return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
            except BlockingIOError:
                return True  # open, nothing sent: still waiting for our answer
            except OSError:
                return False

        def _answer(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client is gone
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return server.server_address[1], stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=("grpc", "http"), required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--mode", choices=MODES, default="normal")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)

    recorder = Recorder(args.record, args.mode, args.delay)
    serve = serve_grpc if args.protocol == "grpc" else serve_http
    port, stop = serve(args.port, recorder)
    print(f"ready {port}", flush=True)
    for line in sys.stdin:  # commands until the test closes stdin (or kills us)
        words = line.split()
        if len(words) == 2 and words[0] == "mode" and words[1] in MODES:
            recorder.mode = words[1]
            print(f"mode {recorder.mode}", flush=True)
    stop()


if __name__ == "__main__":
    main()
