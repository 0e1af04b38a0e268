"""A minimal OTLP/HTTP trace receiver on a thread: decodes every export, keeps the spans.

The fork test needs to see each span exactly as the collector would, duplicates included, so
this counts every span in every ``ExportTraceServiceRequest`` it is sent (no de-duplication).
Metrics and logs requests are answered and ignored.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

__all__ = ["ReceivedSpan", "TraceSink", "serve_traces"]


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    span_id: str
    trace_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    return getattr(any_value, kind) if kind else None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


@dataclass
class TraceSink:
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._arrived = threading.Condition(self._lock)

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = [
            ReceivedSpan(
                span.name,
                span.span_id.hex(),
                span.trace_id.hex(),
                span.parent_span_id.hex(),
                _attributes(span.attributes),
                _attributes(resource_spans.resource.attributes),
            )
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._arrived:
            self.requests += 1
            self.spans.extend(received)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[ReceivedSpan]:
        """The spans once at least ``count`` arrived, or whatever came within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.spans) < count and (left := deadline - time.monotonic()) > 0:
                self._arrived.wait(left)
            return list(self.spans)


def _handler(sink: TraceSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.rstrip("/").endswith("/v1/traces"):
                sink.add(body)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


@contextmanager
def serve_traces() -> Iterator[tuple[TraceSink, str]]:
    """A running sink and its traces endpoint URL; stopped on exit."""
    sink = TraceSink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(sink))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="otlp-http-sink", daemon=True)
    thread.start()
    try:
        yield sink, f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
