"""``ExportHandle``: its ledger when the batch queue overflows, and its bounded shutdown where no
thread may start at exit.

Overflow: every dropped span is counted, in the SDK's processor metric (sent through the meter
provider chatspan built) and in our one warning line, and the SDK's own "Queue full" warning stays
one line, not one per span. The receiver is a real OTLP/HTTP server on a thread that holds trace
exports until the test lets them go, so the batch worker is stuck in an export while spans keep
ending: with a queue of ``QUEUE`` spans, exactly ``SPANS - QUEUE`` of the spans ended meanwhile
are dropped.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from chatspan.exporters import handle as handle_module
from chatspan.exporters.configure import ExportSettings, build_providers
from chatspan.exporters.handle import CountingExporter, ExportHandle, SpanLedger
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


# -- the shutdown where no thread may start at exit (CPython 3.12.0 and 3.12.1) ------------------


class StuckExporter(SpanExporter):
    """An export that waits for the collector until told to stop, as an OTLP exporter retrying
    does; says whether that stop came while an export was waiting."""

    def __init__(self) -> None:
        self.exporting = threading.Event()
        self.stopped = threading.Event()
        self.stopped_while_exporting = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exporting.set()
        self.stopped.wait(10)  # bounded: a failing test does not hang
        return SpanExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.stopped_while_exporting = self.stopped_while_exporting or self.exporting.is_set()
        self.stopped.set()


@pytest.fixture
def stuck_handle(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ExportHandle, StuckExporter]]:
    """A handle over a batch processor whose exporter is stuck, its exit hook registered as on
    an interpreter that refuses threads at exit."""
    monkeypatch.setattr(handle_module, "_THREADS_REFUSED_AT_EXIT", True)
    stuck = StuckExporter()
    ledger = SpanLedger()
    counted = CountingExporter("stuck", stuck)
    ledger.exporters.append(counted)
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(ledger)
    tracer_provider.add_span_processor(BatchSpanProcessor(counted))
    handle = ExportHandle(ExportSettings(), tracer_provider=tracer_provider, ledger=ledger)
    handle.shutdown_at_exit()
    yield handle, stuck
    atexit.unregister(handle._shutdown)
    stuck.stopped.set()


def test_where_no_thread_may_start_at_exit_one_waits_from_the_start_and_bounds_the_flush(
    stuck_handle: tuple[ExportHandle, StuckExporter],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    handle, stuck = stuck_handle
    standby = handle._standby
    assert standby is not None and standby.thread.is_alive()  # started with the exit hook
    handle.tracer_provider.get_tracer("test").start_span("queued").end()

    def refuse(thread: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setattr(threading.Thread, "start", refuse)  # as in an atexit handler there
    with caplog.at_level(logging.WARNING, logger="chatspan"):
        finished = handle.shutdown(timeout_millis=200)

    # The flush ran on the waiting thread, so the handle gave up at its bound and stopped the
    # stuck export; inline, it would have waited for the export itself and never stopped it.
    assert stuck.stopped_while_exporting
    assert finished is True  # the export, once stopped, returned within the grace period
    assert not standby.thread.is_alive()
    assert "spans not exported: 1 of 1 by stuck" in caplog.text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_its_own_waiting_thread(
    stuck_handle: tuple[ExportHandle, StuckExporter],
):
    handle, _ = stuck_handle
    parents = handle._standby
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: forking with threads
        pid = os.fork()
    if pid == 0:  # the child, after the fork hook: the parent's thread did not come along
        child = handle._standby
        ok = child is not parents and child is not None and child.thread.is_alive()
        os._exit(0 if ok and parents is not None and not parents.thread.is_alive() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert handle._standby is parents and parents is not None and parents.thread.is_alive()
