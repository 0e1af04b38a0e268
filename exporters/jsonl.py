"""The embedded default exporter: OTLP JSON, one line per span, appended to a local file.

Each span line is a complete OTLP/JSON ``TracesData`` object holding that one span (with its
resource and scope), and each metrics line a ``MetricsData`` object, so the file is what the
Collector's ``otlpjsonfile`` receiver and ``jq`` read, and ``chatspan view`` renders the spans.
Encoding goes through the official protobuf encoders; only the ids are rewritten, because
protobuf's JSON mapping writes ``bytes`` as base64 and OTLP/JSON requires hex trace and span ids.

Writes are one ``os.write`` of whole lines on a file opened with ``O_APPEND`` per batch: nothing is
buffered in the process, a rotated file is simply recreated, and several processes (gunicorn
workers) can share one path. Exporters never raise into the application: a failure returns
``FAILURE`` and is logged once per exporter.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import Aggregation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["JsonlMetricExporter", "JsonlSpanExporter", "otlp_json"]

_logger = logging.getLogger(__name__)

# Fields protobuf writes as base64 that OTLP/JSON spells as lowercase hex (spans, links, exemplars).
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})


def otlp_json(message: Message) -> dict[str, Any]:
    """Map an OTLP protobuf message to OTLP/JSON: camelCase keys, integer enums, hex ids."""
    data = MessageToDict(message, use_integers_for_enums=True)
    _hex_ids(data)
    return data


def _hex_ids(node: Any) -> None:
    """Rewrite id fields in place; user data can't collide, attribute keys are values not keys."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def _line(message: Message) -> str:
    return json.dumps(otlp_json(message), ensure_ascii=False, separators=(",", ":")) + "\n"


class _LineAppender:
    """Appends whole lines to one path; thread-safe, never raises, reports its first failure."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = Path(path)
        self._what = what
        self._lock = threading.Lock()
        self._closed = False
        self._reported = False

    def append(self, encode: Callable[[], str]) -> bool:
        """Write the text ``encode()`` returns; encoding happens outside the lock."""
        try:
            data = encode().encode("utf-8")
        except Exception:  # a boundary: whatever the encoder trips on, the app must not see it
            self._report("encode", "see the traceback", exc_info=True)
            return False
        if not data:
            return True
        with self._lock:
            if self._closed:
                return False
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            except OSError as exc:
                self._report("write", exc, exc_info=False)
                return False
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _report(self, action: str, reason: object, *, exc_info: bool) -> None:
        if not self._reported:
            self._reported = True
            _logger.warning(
                "chatspan: could not %s %s for %s (%s); further failures are not logged",
                action,
                self._what,
                self.path,
                reason,
                exc_info=exc_info,
            )


class JsonlSpanExporter(SpanExporter):
    """Appends each span as one OTLP/JSON ``TracesData`` line to ``path``.

    Without a path (as ``opentelemetry-instrument`` builds it for ``OTEL_TRACES_EXPORTER=jsonl``,
    through our ``opentelemetry_traces_exporter`` entry point) the path comes from
    ``CHATSPAN_JSONL_PATH`` as chatspan's own set-up reads it (``settings.jsonl_path``).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from .settings import jsonl_path

            path = jsonl_path(os.environ)
        self._out = _LineAppender(path, "spans")

    @property
    def path(self) -> Path:
        return self._out.path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._out.append(lambda: "".join(_line(encode_spans([span])) for span in spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._out.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export is already written through


class JsonlMetricExporter(MetricExporter):
    """Appends each metrics export as one OTLP/JSON ``MetricsData`` line to ``path``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        preferred_temporality: dict[type, AggregationTemporality] | None = None,
        preferred_aggregation: dict[type, Aggregation] | None = None,
    ) -> None:
        super().__init__(preferred_temporality, preferred_aggregation)
        self._out = _LineAppender(path, "metrics")

    @property
    def path(self) -> Path:
        return self._out.path

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        def encode() -> str:
            request = encode_metrics(metrics_data)
            return _line(request) if request.resource_metrics else ""

        ok = self._out.append(encode)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._out.close()
