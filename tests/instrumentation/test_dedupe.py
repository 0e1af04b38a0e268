"""With OpenTelemetry's own OpenAI client instrumentation active: still one span, one count."""

from __future__ import annotations

import pytest
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.util.genai.handler import TelemetryHandler

from chatspan.exporters.scripted_backend import ScriptedBackend, completion

from .calls import get_response, make_model, stream_events
from .streams import USAGE, many_text_chunks


@pytest.fixture
def client_instrumentation(tracer_provider, meter_provider):
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield
    instrumentor.uninstrument()


def _token_points(reader) -> list:
    data = reader.get_metrics_data()
    return [
        point
        for resource_metrics in (data.resource_metrics if data else ())
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == "gen_ai.client.token.usage"
        for point in metric.data.data_points
    ]


async def test_client_instrumentation_alone_makes_its_own_span(
    client_instrumentation, span_exporter, backend
):
    """The control: without chatspan, genai-openai does trace the client call."""
    backend.add(completion(usage=USAGE))
    await get_response(make_model(backend))
    (span,) = span_exporter.get_finished_spans()
    assert span.instrumentation_scope.name != "chatspan.instrumentation"


@pytest.mark.parametrize("streamed", [False, True], ids=["get_response", "stream_response"])
async def test_one_chat_span_and_one_token_count_with_genai_openai(
    client_instrumentation, instrument, span_exporter, metric_reader, streamed
):
    instrument()
    model = make_model(
        ScriptedBackend([many_text_chunks(5) if streamed else completion(usage=USAGE)])
    )
    if streamed:
        await stream_events(model)
    else:
        await get_response(model)

    (span,) = span_exporter.get_finished_spans()
    assert span.instrumentation_scope.name == "chatspan.instrumentation"
    assert span.attributes["gen_ai.usage.input_tokens"] == USAGE["prompt_tokens"]
    by_type = {}
    for point in _token_points(metric_reader):
        token_type = point.attributes["gen_ai.token.type"]
        by_type[token_type] = by_type.get(token_type, 0) + point.count
    assert by_type == {"input": 1, "output": 1}


async def test_an_inference_already_open_around_the_call_is_not_doubled(
    instrument, span_exporter, tracer_provider, backend
):
    instrument()
    handler = TelemetryHandler(tracer_provider=tracer_provider)
    backend.add(completion())
    invocation = handler.inference("openai", request_model="gpt-4o-mini")
    await get_response(make_model(backend))
    invocation.stop()
    (span,) = span_exporter.get_finished_spans()
    assert span.instrumentation_scope.name != "chatspan.instrumentation"
