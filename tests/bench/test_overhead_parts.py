"""``bench/overhead_parts.py`` switches off what it names, and only while it measures."""

from __future__ import annotations

import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from chatspan.instrumentation import call, metrics, patch

from .scripts import load_bench_script

# part -> a span attribute chatspan sets in the benchmark that the part being off removes
_GONE_WITH = {
    "price": "gen_ai.usage.cost",
    "request": "gen_ai.request.temperature",
    "response-batch": "gen_ai.response.id",
}


@pytest.mark.parametrize("part", ["price", "request", "response-batch", "agent-lookup", "metrics"])
async def test_a_part_is_off_while_measured_and_back_after(
    part, span_exporter, meter_provider, metric_reader
):
    bench = load_bench_script("overhead_parts")
    originals = (
        call.chat_parent,
        call.request_attributes,
        patch.inference_already_open,
        metrics.ChatMetrics.record_chat,
        call.ChatCall._set_summary,
    )
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    chatspan_pass = bench.overhead._Pass("off", tracer_provider, meter_provider, metric_reader)
    restore = bench._PARTS[part][1](chatspan_pass)
    try:
        await chatspan_pass.run("get_response", 1)
    finally:
        restore()
        chatspan_pass.close()

    (span,) = [s for s in span_exporter.get_finished_spans() if s.name == "chat gpt-4o-mini"]
    if part in _GONE_WITH:
        assert _GONE_WITH[part] not in span.attributes
    if part == "metrics":
        assert metric_reader.get_metrics_data() is None or not any(
            m.name == "gen_ai.client.operation.duration"
            for rm in metric_reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
    assert (
        call.chat_parent,
        call.request_attributes,
        patch.inference_already_open,
        metrics.ChatMetrics.record_chat,
        call.ChatCall._set_summary,
    ) == originals


def test_an_unknown_part_is_refused_by_name(monkeypatch, capsys):
    bench = load_bench_script("overhead_parts")
    monkeypatch.setattr(sys, "argv", ["overhead_parts.py", "--rounds", "1", "nothing-such"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "unknown part(s) nothing-such; choose from price" in capsys.readouterr().err
