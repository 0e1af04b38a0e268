"""Counting spans at both ends: created (a span processor) and exported (an exporter), so a load
run can prove created = exported + the drops chatspan reports.

The exporter is plugged in the way a user's would be: as an ``opentelemetry_traces_exporter``
entry point, which ``chatspan.exporters.configure.build_providers`` resolves by name. The entry
point lives in a throwaway ``.dist-info`` directory put on ``sys.path`` only while the providers
are built, so the batching, the span ledger and the loss report under test are chatspan's own.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from chatspan.exporters.configure import ExportHandle, ExportSettings, build_providers

__all__ = [
    "EXPORTER_NAME",
    "CountingSpanExporter",
    "SpanCensus",
    "counting_providers",
    "is_chat",
]

EXPORTER_NAME = "chatspan-reliability-counter"
_ENTRY_POINT_GROUP = "opentelemetry_traces_exporter"
# A gated exporter waits at most this long for its gate: a broken test fails, it does not hang.
_GATE_TIMEOUT_SECONDS = 60.0


def is_chat(span: ReadableSpan) -> bool:
    """Our model-call spans are named ``chat {model}``; the bridge's spans are named otherwise."""
    return span.name.startswith("chat ")


class CountingSpanExporter(SpanExporter):
    """Counts the spans it accepts and keeps none of them (a soak must not grow by design).

    With a ``gate``, every export first waits for the gate to open: an exporter that is as slow
    as a test needs, without a timed sleep.
    """

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.chat = 0
        self.other = 0
        self.batches = 0
        self._lock = threading.Lock()

    @property
    def exported(self) -> int:
        return self.chat + self.other

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.gate is not None:
            self.gate.wait(_GATE_TIMEOUT_SECONDS)
        chat = sum(1 for span in spans if is_chat(span))
        with self._lock:
            self.chat += chat
            self.other += len(spans) - chat
            self.batches += 1
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class SpanCensus(SpanProcessor):
    """Counts spans as they start and end, chat spans apart from the rest."""

    def __init__(self) -> None:
        self.chat_started = 0
        self.chat_ended = 0
        self.started = 0
        self.ended = 0
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with self._lock:
            self.started += 1
            self.chat_started += is_chat(span)

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.ended += 1
            self.chat_ended += is_chat(span)


class _Factory:
    """What the entry point calls: a fresh exporter, remembered so the caller can read it."""

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.made: list[CountingSpanExporter] = []

    def new(self) -> CountingSpanExporter:
        exporter = CountingSpanExporter(self.gate)
        self.made.append(exporter)
        return exporter


FACTORY = _Factory()


def _write_entry_point(workdir: Path) -> Path:
    """A minimal installed distribution declaring our exporter; returns its ``sys.path`` entry."""
    site = workdir / "entry-points"
    dist_info = site / "chatspan_reliability_counter-0.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: chatspan-reliability-counter\nVersion: 0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[{_ENTRY_POINT_GROUP}]\n{EXPORTER_NAME} = {__name__}:FACTORY.new\n"
    )
    return site


def counting_providers(
    workdir: Path, *, gate: threading.Event | None = None
) -> tuple[ExportHandle, CountingSpanExporter, SpanCensus]:
    """chatspan's providers exporting to one counting exporter (batched), plus a census on them.

    ``OTEL_BSP_*`` in the environment size the batch queue, as they would for a user.
    """
    site = str(_write_entry_point(workdir))
    FACTORY.gate, FACTORY.made = gate, []
    sys.path.insert(0, site)
    importlib.invalidate_caches()
    try:
        settings = ExportSettings(traces_exporters=(EXPORTER_NAME,), metrics_exporters=())
        handle = build_providers(settings, strict=True)
    finally:
        sys.path.remove(site)
        importlib.invalidate_caches()
    (exporter,) = FACTORY.made
    census = SpanCensus()
    handle.tracer_provider.add_span_processor(census)  # type: ignore[attr-defined]
    return handle, exporter, census
