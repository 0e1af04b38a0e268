"""The JSONL exporters: one OTLP/JSON line per span (hex ids), appended safely, never raising."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, StatusCode, format_span_id, format_trace_id

from chatspan.exporters import JsonlMetricExporter, JsonlSpanExporter


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _only_span(record: dict[str, Any]) -> dict[str, Any]:
    (resource_spans,) = record["resourceSpans"]
    (scope_spans,) = resource_spans["scopeSpans"]
    (span,) = scope_spans["spans"]
    return span


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spans.jsonl"


@pytest.fixture
def provider(path: Path) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter(path)))
    return provider


def test_each_span_is_one_traces_data_line_with_hex_ids(path: Path, provider: TracerProvider):
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("parent") as parent, tracer.start_as_current_span("child"):
        pass

    child, parent_line = (_only_span(record) for record in _lines(path))
    context = parent.get_span_context()
    assert parent_line["traceId"] == format_trace_id(context.trace_id)
    assert parent_line["spanId"] == format_span_id(context.span_id)
    assert child["parentSpanId"] == format_span_id(context.span_id)
    assert "parentSpanId" not in parent_line
    assert (child["name"], child["kind"]) == ("child", 1)  # enums as integers, per OTLP/JSON


def test_line_carries_what_the_protobuf_encoder_encodes(path: Path, provider: TracerProvider):
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("scope-x").start_as_current_span("s") as span:
        span.set_attribute("gen_ai.usage.input_tokens", 7)
        span.set_attribute("note", "héllo ✓")
        span.set_status(StatusCode.ERROR, "boom")

    (record,) = _lines(path)
    (expected,) = encode_spans(memory.get_finished_spans()).resource_spans
    line = _only_span(record)
    assert bytes.fromhex(line["traceId"]) == expected.scope_spans[0].spans[0].trace_id
    assert record["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"] == "scope-x"
    assert {"key": "note", "value": {"stringValue": "héllo ✓"}} in line["attributes"]
    assert {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "7"}} in line["attributes"]
    assert line["status"] == {"code": 2, "message": "boom"}


def test_link_ids_are_hex(path: Path, provider: TracerProvider):
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("first") as first:
        pass
    with tracer.start_as_current_span("second", links=[Link(first.get_span_context())]):
        pass

    link = _only_span(_lines(path)[1])["links"][0]
    assert link["traceId"] == format_trace_id(first.get_span_context().trace_id)
    assert link["spanId"] == format_span_id(first.get_span_context().span_id)


def test_export_appends_to_an_existing_file(path: Path, provider: TracerProvider):
    path.write_text('{"resourceSpans":[]}\n', encoding="utf-8")
    tracer = provider.get_tracer("test")
    for name in ("a", "b"):
        with tracer.start_as_current_span(name):
            pass

    assert [_only_span(r)["name"] for r in _lines(path)[1:]] == ["a", "b"]


def test_concurrent_exports_write_whole_lines(path: Path, provider: TracerProvider):
    tracer = provider.get_tracer("test")

    def work() -> None:
        for _ in range(50):
            with tracer.start_as_current_span("x" * 5000):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(_lines(path)) == 200


def test_unwritable_path_fails_the_export_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    exporter = JsonlSpanExporter(tmp_path)  # a directory: open() fails
    provider = TracerProvider(shutdown_on_exit=False)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for name in ("a", "b"):
        with provider.get_tracer("test").start_as_current_span(name):
            pass

    with caplog.at_level(logging.WARNING, logger="chatspan"):
        results = [exporter.export([span]) for span in memory.get_finished_spans()]

    assert results == [SpanExportResult.FAILURE, SpanExportResult.FAILURE]
    (record,) = caplog.records
    assert str(tmp_path) in record.getMessage()


def test_export_after_shutdown_fails_without_writing(path: Path):
    exporter = JsonlSpanExporter(path)
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("test").start_as_current_span("late"):
        pass
    exporter.shutdown()

    assert exporter.export(memory.get_finished_spans()) is SpanExportResult.FAILURE
    assert not path.exists()


def test_metric_exporter_writes_one_metrics_data_line(path: Path):
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    meters.get_meter("test").create_counter("chatspan.test.calls").add(3)
    exporter = JsonlMetricExporter(path)

    assert exporter.export(reader.get_metrics_data()) is MetricExportResult.SUCCESS

    (record,) = _lines(path)
    (metric,) = record["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    assert metric["name"] == "chatspan.test.calls"
    assert metric["sum"]["dataPoints"][0]["asInt"] == "3"


def test_exporter_built_without_a_path_reads_it_as_chatspan_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CHATSPAN_JSONL_PATH", "~/spans.jsonl")  # under opentelemetry-instrument

    assert JsonlSpanExporter().path == tmp_path / "spans.jsonl"
