"""An OTLP/HTTP trace receiver on a thread that keeps every span it is sent.

The fork test needs to see each span exactly as the collector would, duplicates included, so
this counts every span in every ``ExportTraceServiceRequest`` it is sent (no de-duplication).
The server is ``otlp_receiver.serve_http``; metrics requests are answered and ignored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.reliability.otlp_receiver import serve_http

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
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _arrived: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._arrived = threading.Condition(self._lock)

    def handle(self, signal_name: str, request: Any, client_waits: Callable[[], bool]) -> bool:
        """``otlp_receiver.Handles``: keep a trace request's spans; answer every request OK."""
        if signal_name == "traces":
            self.add(request)
        return True

    def add(self, request: ExportTraceServiceRequest) -> None:
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
            self.spans.extend(received)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[ReceivedSpan]:
        """The spans once at least ``count`` arrived, or whatever came within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.spans) < count and (left := deadline - time.monotonic()) > 0:
                self._arrived.wait(left)
            return list(self.spans)


@contextmanager
def serve_traces() -> Iterator[tuple[TraceSink, str]]:
    """A running sink and its traces endpoint URL; stopped on exit."""
    sink = TraceSink()
    port, stop = serve_http(0, sink)
    try:
        yield sink, f"http://127.0.0.1:{port}/v1/traces"
    finally:
        stop()
