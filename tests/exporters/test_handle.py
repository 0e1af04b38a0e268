"""``ExportHandle``'s ledger when the batch queue overflows: every dropped span is counted, in the
SDK's processor metric (sent through the meter provider chatspan built) and in our one warning line,
and the SDK's own "Queue full" warning stays one line, not one per span.

The receiver is a real OTLP/HTTP server on a thread that holds trace exports until the test lets
them go, so the batch worker is stuck in an export while spans keep ending: with a queue of
``QUEUE`` spans, exactly ``SPANS - QUEUE`` of the spans ended meanwhile are dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from chatspan.exporters.configure import ExportSettings, build_providers
from tests.reliability.otlp_receiver import serve_http

QUEUE, BATCH, SPANS = 16, 8, 1_000
PROCESSED = "otel.sdk.processor.span.processed"


class HeldReceiver:
    """Holds every trace export until ``release``; keeps what it answered OK."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.spans = 0
        self.metrics: list[ExportMetricsServiceRequest] = []
        self._lock = threading.Lock()

    def handle(self, signal_name: str, request: Any, client_waits: Callable[[], bool]) -> bool:
        if signal_name == "metrics":
            with self._lock:
                self.metrics.append(request)
            return True
        self.arrived.set()
        assert self.released.wait(30)
        with self._lock:
            self.spans += sum(
                len(scope.spans)
                for resource in request.resource_spans
                for scope in resource.scope_spans
            )
        return True

    def queue_full_drops(self) -> int:
        """The SDK processor metric's ``error.type=queue_full`` count (cumulative: the last one)."""
        counts = [
            point.as_int
            for request in self.metrics
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == PROCESSED
            for point in metric.sum.data_points
            if {a.key: a.value.string_value for a in point.attributes}.get("error.type")
            == "queue_full"
        ]
        return counts[-1] if counts else 0


@pytest.fixture
def receiver() -> Iterator[tuple[HeldReceiver, str]]:
    held = HeldReceiver()
    port, stop = serve_http(0, held)
    yield held, f"http://127.0.0.1:{port}"
    held.released.set()
    stop()


@pytest.mark.parametrize("sdk_metrics", ["true", "false"])
def test_a_full_queue_is_counted_and_reported_in_one_line(
    sdk_metrics: str,
    receiver: tuple[HeldReceiver, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    held, endpoint = receiver
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_MAX_QUEUE_SIZE": str(QUEUE),
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": str(BATCH),
        "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED": sdk_metrics,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # the SDK's classes read the process environment
    handle = build_providers(ExportSettings.from_env(env))
    tracer = handle.tracer_provider.get_tracer("test")
    for n in range(BATCH):  # a full batch wakes the worker, which then waits on the receiver
        tracer.start_span(f"first {n}").end()
    assert held.arrived.wait(30)

    with caplog.at_level(logging.WARNING):
        for n in range(SPANS):
            tracer.start_span(f"more {n}").end()
        sdk_lines = [r for r in caplog.records if "Queue full" in r.getMessage()]
        held.released.set()
        assert handle.shutdown() is True

    dropped = SPANS - QUEUE
    assert held.spans == BATCH + QUEUE
    assert handle.lost_spans() == {"otlp_proto_http": dropped}
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("chatspan")]
    assert len(ours) == 1
    assert (
        f"spans not exported: {dropped} of {BATCH + SPANS} by otlp_proto_http "
        f"(0 failed to send, {dropped} never sent)"
    ) in ours[0]
    assert "OTEL_BSP_MAX_QUEUE_SIZE" in ours[0]
    assert len(sdk_lines) <= 1  # the SDK's line is rate-limited, not one per dropped span
    assert held.queue_full_drops() == (dropped if sdk_metrics == "true" else 0)
