"""Shared fixtures: in-memory OpenTelemetry providers, the scripted backend, the instrumentor.

Nothing is set globally: every test gets its own providers, passed to ``instrument()``, and the
instrumentor is always uninstrumented afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chatspan.exporters.scripted_backend import ScriptedBackend
from chatspan.instrumentation import ChatCompletionsInstrumentor


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> MeterProvider:
    return MeterProvider(metric_readers=[metric_reader])


@pytest.fixture
def log_exporter() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()


@pytest.fixture
def logger_provider(log_exporter: InMemoryLogRecordExporter) -> LoggerProvider:
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    return provider


@pytest.fixture
def instrument(
    tracer_provider: TracerProvider, meter_provider: MeterProvider, logger_provider: LoggerProvider
) -> Iterator[Callable[..., ChatCompletionsInstrumentor]]:
    """Instrument with this test's providers; always uninstrumented at teardown."""
    instrumentor = ChatCompletionsInstrumentor()

    def _instrument(**kwargs: Any) -> ChatCompletionsInstrumentor:
        kwargs.setdefault("tracer_provider", tracer_provider)
        kwargs.setdefault("meter_provider", meter_provider)
        kwargs.setdefault("logger_provider", logger_provider)
        instrumentor.instrument(**kwargs)
        return instrumentor

    yield _instrument
    instrumentor.uninstrument()


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()
