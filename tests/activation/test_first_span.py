"""``ConfigureOnFirstSpan``: exporters are configured at the first span, once, then the global
provider serves. ``configure`` and the global provider are replaced here, so nothing global is set.
"""

from __future__ import annotations

import importlib

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chatspan.instrumentation import first_span

# The module, not the function of the same name that ``chatspan.exporters`` re-exports.
configure_module = importlib.import_module("chatspan.exporters.configure")


@pytest.fixture
def configure_calls(monkeypatch: pytest.MonkeyPatch, tracer_provider: TracerProvider) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(first_span, "_configured", False)
    monkeypatch.setattr(configure_module, "configure", lambda: calls.append(1))
    monkeypatch.setattr(first_span.trace, "get_tracer_provider", lambda: tracer_provider)
    return calls


def test_nothing_is_configured_before_the_first_span(configure_calls: list[int]):
    first_span.ConfigureOnFirstSpan().get_tracer("chatspan.test")

    assert configure_calls == []


def test_first_span_configures_once_then_goes_to_the_global_provider(
    configure_calls: list[int], span_exporter: InMemorySpanExporter
):
    provider = first_span.ConfigureOnFirstSpan()
    one, other = provider.get_tracer("chatspan.test"), provider.get_tracer("chatspan.other")

    one.start_span("first").end()
    with other.start_as_current_span("second") as span:
        assert trace.get_current_span() is span

    assert configure_calls == [1]
    assert [s.name for s in span_exporter.get_finished_spans()] == ["first", "second"]
    assert span_exporter.get_finished_spans()[1].instrumentation_scope.name == "chatspan.other"


def test_a_failing_configure_is_reported_and_spans_still_start(
    monkeypatch: pytest.MonkeyPatch, configure_calls: list[int], caplog: pytest.LogCaptureFixture
):
    def broken() -> None:
        raise RuntimeError("no exporters today")

    monkeypatch.setattr(configure_module, "configure", broken)

    first_span.ConfigureOnFirstSpan().get_tracer("chatspan.test").start_span("s").end()

    assert "configuring exporters failed" in caplog.text
