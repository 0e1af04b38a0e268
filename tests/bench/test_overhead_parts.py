"""``bench/overhead_parts.py`` switches off what it names, and only while it measures."""

from __future__ import annotations

import sys

import pytest
from agents.tracing.scope import Scope
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from chatspan.instrumentation import call, class_patch, metrics, patch

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


@pytest.mark.parametrize("asked", ["nothing-such", "price+nothing-such"])
def test_an_unknown_part_is_refused_by_name_alone_or_in_a_combination(asked, monkeypatch, capsys):
    bench = load_bench_script("overhead_parts")
    monkeypatch.setattr(sys, "argv", ["overhead_parts.py", "--rounds", "1", asked])
    with pytest.raises(SystemExit):
        bench.main()
    assert "unknown part(s) nothing-such; choose from price" in capsys.readouterr().err


def _scope_hooked() -> bool:
    return class_patch.is_ours(Scope.__dict__["set_current_span"])


async def test_hooks_stay_off_through_the_rounds_and_come_back_after(
    span_exporter, meter_provider, metric_reader
):
    bench = load_bench_script("overhead_parts")
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    chatspan_pass = bench.overhead._Pass("off", tracer_provider, meter_provider, metric_reader)
    try:
        assert _scope_hooked()
        restore = bench._PARTS["hooks"][1](chatspan_pass)
        try:
            await chatspan_pass.run("get_response", 2)
            assert not _scope_hooked()  # the pass re-hooks after each call only while on
        finally:
            restore()
        assert _scope_hooked()
    finally:
        chatspan_pass.close()


async def test_a_combination_switches_off_each_part_it_names(monkeypatch):
    bench = load_bench_script("overhead_parts")
    switched: list[str] = []

    def recording(name):
        def switch_off(chatspan_pass):
            switched.append(name)
            return lambda: switched.append(f"back {name}")

        return switch_off

    for name in ("price", "request"):
        monkeypatch.setitem(bench._PARTS, name, (name, recording(name)))
    await bench._overheads("price+request", 1)
    assert switched == ["price", "request", "back request", "back price"]


async def test_the_skeleton_traces_the_call_with_the_response_read_in_the_fetch_step(
    span_exporter,
):
    bench = load_bench_script("overhead_parts")
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    model = bench._skeleton_model(tracer_provider.get_tracer("test"), bench.overhead._FakeClient())
    await model.get_response(**bench.overhead._arguments("hello"))

    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes["gen_ai.request.temperature"] == 0.1
    assert span.attributes["gen_ai.response.id"] == "chatcmpl-bench"
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["gen_ai.usage.output_tokens"] == 5
