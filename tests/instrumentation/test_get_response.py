"""``get_response``: one CLIENT span per call with the conventions' attributes."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import json
import logging

import openai
import pytest
from agents import ModelSettings
from agents.exceptions import ModelBehaviorError
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from opentelemetry.trace import SpanKind, StatusCode

from chatspan.exporters.scripted_backend import HttpError, completion, http_module, tool_call

from .calls import get_response, live_chat_calls, make_model

USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 30,
    "total_tokens": 150,
    "prompt_tokens_details": {"cached_tokens": 100},
    "completion_tokens_details": {"reasoning_tokens": 12},
}


async def test_text_answer_records_request_response_and_usage(instrument, span_exporter, backend):
    instrument()
    backend.add(completion("Sunny.", usage=USAGE, response_id="chatcmpl-42"))
    await get_response(make_model(backend))

    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.stream": False,
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.response.id": "chatcmpl-42",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.reasoning.output_tokens": 12,
        # gpt-4o-mini per million: 20 uncached input x 0.15 + 100 cached x 0.075 + 30 out x 0.60
        "gen_ai.usage.cost": 2.85e-05,
    }


async def test_every_model_setting_becomes_a_request_attribute(instrument, span_exporter, backend):
    instrument()
    backend.add(completion())
    settings = ModelSettings(
        temperature=0.2,
        top_p=0.9,
        max_tokens=256,
        frequency_penalty=0.1,
        presence_penalty=-0.1,
        tool_choice="required",
        parallel_tool_calls=False,
    )
    await get_response(make_model(backend), settings=settings, tools=[_weather_tool()])

    (span,) = span_exporter.get_finished_spans()
    attributes = span.attributes
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.top_p"] == 0.9
    assert attributes["gen_ai.request.max_tokens"] == 256
    assert attributes["gen_ai.request.frequency_penalty"] == 0.1
    assert attributes["gen_ai.request.presence_penalty"] == -0.1
    assert attributes["gen_ai.request.tool_choice"] == "required"
    assert attributes["gen_ai.request.parallel_tool_calls"] is False


@pytest.mark.skipif(
    "extra_args" not in {f.name for f in dataclasses.fields(ModelSettings)},
    reason="ModelSettings.extra_args arrived after openai-agents 0.0.11",
)
async def test_seed_and_stop_from_extra_args(instrument, span_exporter, backend):
    instrument()
    backend.add(completion())
    settings = ModelSettings(extra_args={"seed": 7, "stop": ["END", "STOP"]})
    await get_response(make_model(backend), settings=settings)
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.request.seed"] == 7
    assert span.attributes["gen_ai.request.stop_sequences"] == ("END", "STOP")
    # and the request really went out with them: we observed, we did not alter
    assert backend.requests[0]["seed"] == 7


async def test_structured_output_is_output_type_json(instrument, span_exporter, backend):
    from agents.agent_output import AgentOutputSchema
    from pydantic import BaseModel

    class Forecast(BaseModel):
        city: str

    instrument()
    backend.add(completion('{"city": "Paris"}'))
    await get_response(make_model(backend), output_schema=AgentOutputSchema(Forecast))
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.output.type"] == "json"
    assert backend.requests[0]["response_format"]["type"] == "json_schema"


async def test_no_output_type_when_the_request_asks_for_no_format(
    instrument, span_exporter, backend
):
    """The conventions set gen_ai.output.type only when the request includes an output format;
    the SDK sends none for plain text, with or without a schema object."""
    from agents.agent_output import AgentOutputSchema

    instrument()
    backend.add(completion(), completion())
    await get_response(make_model(backend))
    await get_response(make_model(backend), output_schema=AgentOutputSchema(str))
    for span in span_exporter.get_finished_spans():
        assert "gen_ai.output.type" not in span.attributes
    assert all("response_format" not in request for request in backend.requests)


@pytest.mark.skipif(
    "extra_args" not in {f.name for f in dataclasses.fields(ModelSettings)},
    reason="ModelSettings.extra_args arrived after openai-agents 0.0.11",
)
@pytest.mark.parametrize(
    ("response_format", "expected"),
    [({"type": "json_object"}, "json"), ({"type": "text"}, "text"), ("odd", None)],
)
async def test_output_type_from_a_response_format_in_extra_args(
    instrument, span_exporter, backend, response_format, expected
):
    instrument()
    backend.add(completion())
    settings = ModelSettings(extra_args={"response_format": response_format})
    await get_response(make_model(backend), settings=settings)
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes.get("gen_ai.output.type") == expected


async def test_tool_calls_finish_reason(instrument, span_exporter, backend):
    instrument()
    calls = [tool_call("call_1", "get_weather", '{"city":"Paris"}')]
    backend.add(completion(None, tool_calls=calls, finish_reason="tool_calls"))
    response = await get_response(make_model(backend), tools=[_weather_tool()])
    assert response.output[0].name == "get_weather"
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)


async def test_refusal_is_captured_and_not_an_error(instrument, span_exporter, backend):
    instrument(capture_content=True)
    backend.add(completion(None, refusal="I can't help with that."))
    await get_response(make_model(backend))
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    (message,) = json.loads(span.attributes["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "refusal", "content": "I can't help with that."}]


async def test_content_filter_is_a_finish_reason_not_an_error(instrument, span_exporter, backend):
    instrument(capture_content=True)
    backend.add(completion(None, finish_reason="content_filter"))
    await get_response(make_model(backend))
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.response.finish_reasons"] == ("content_filter",)
    (message,) = json.loads(span.attributes["gen_ai.output.messages"])
    assert message["finish_reason"] == "content_filter"


# Replies are made per test: a raised exception keeps its traceback, whose frames lead back to the
# call's, so an instance made once at import would keep an earlier test's call alive.
@pytest.mark.parametrize(
    ("make_reply", "error_class"),
    [
        (lambda: HttpError(500), openai.InternalServerError),
        (lambda: HttpError(429, "slow down"), openai.RateLimitError),
        (lambda: http_module().ConnectError("no route"), openai.APIConnectionError),
    ],
    ids=["http-500", "http-429", "connection"],
)
async def test_failures_propagate_the_same_exception_and_mark_the_span(
    instrument, span_exporter, backend, make_reply, error_class
):
    instrument()
    backend.add(make_reply())
    model = make_model(backend)
    with pytest.raises(error_class) as raised:
        await get_response(model)

    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == f"openai.{error_class.__name__}"
    (event,) = [e for e in span.events if e.name == "exception"]
    assert event.attributes["exception.type"].endswith(error_class.__name__)
    assert span_exporter.get_finished_spans()[0] is span
    assert raised.value.__traceback__ is not None


async def test_the_exception_object_is_the_one_the_model_raised(
    instrument, span_exporter, backend, monkeypatch
):
    sentinel = ModelBehaviorError("the model misbehaved")
    original = OpenAIChatCompletionsModel._fetch_response

    async def failing_fetch(self, *args, **kwargs):
        raise sentinel

    monkeypatch.setattr(OpenAIChatCompletionsModel, "_fetch_response", failing_fetch)
    instrument()
    with pytest.raises(ModelBehaviorError) as raised:
        await get_response(make_model(backend))
    assert raised.value is sentinel
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["error.type"] == "agents.exceptions.ModelBehaviorError"
    assert original is not failing_fetch


@pytest.mark.parametrize(
    ("base_url", "provider", "host", "port"),
    [
        ("https://api.openai.com/v1", "openai", "api.openai.com", 443),
        (
            "https://my-res.openai.azure.com/openai/v1",
            "azure.ai.openai",
            "my-res.openai.azure.com",
            443,
        ),
        ("http://localhost:11434/v1", "openai_compatible", "localhost", 11434),
        ("https://user:s3cret@proxy.internal:8443/v1", "openai_compatible", "proxy.internal", 8443),
    ],
)
async def test_provider_and_server_come_from_the_base_url(
    instrument, span_exporter, backend, base_url, provider, host, port
):
    instrument()
    backend.add(completion())
    await get_response(make_model(backend, base_url))
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.provider.name"] == provider
    assert span.attributes["server.address"] == host
    assert span.attributes["server.port"] == port
    assert "s3cret" not in json.dumps(dict(span.attributes))
    assert "sk-scripted" not in json.dumps(dict(span.attributes))


async def test_legacy_system_attribute_on_opt_in(instrument, span_exporter, backend, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental,gen_ai/dup")
    instrument()
    backend.add(completion())
    await get_response(make_model(backend))
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.system"] == "openai"


@pytest.mark.skipif(
    "conversation_id" not in inspect.signature(OpenAIChatCompletionsModel.get_response).parameters,
    reason="conversation_id arrived in openai-agents 0.2.11",
)
async def test_conversation_id_when_given(instrument, span_exporter, backend):
    instrument()
    backend.add(completion())
    from .calls import model_arguments

    await make_model(backend).get_response(**model_arguments(), conversation_id="conv_1")
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.conversation.id"] == "conv_1"


async def test_http_client_spans_nest_under_the_chat_span(
    instrument, span_exporter, tracer_provider, backend
):
    """Whatever the model's HTTP stack traces happens while our span is current."""
    from opentelemetry import trace

    seen_parents = []

    def handler_hook(body):
        seen_parents.append(trace.get_current_span().get_span_context().span_id)
        return completion()

    backend._fallback = handler_hook
    instrument()
    await get_response(make_model(backend))
    (span,) = span_exporter.get_finished_spans()
    assert seen_parents == [span.context.span_id]
    assert trace.get_current_span() is trace.INVALID_SPAN


def _weather_tool():
    from agents import function_tool

    @function_tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        return f"Sunny in {city}"

    return get_weather


async def test_a_finished_call_is_freed_at_once_not_left_to_the_garbage_collector(
    instrument, span_exporter, backend
):
    instrument()
    backend.add(completion("Sunny.", usage=USAGE))
    backend.add(HttpError(500))
    model = make_model(backend)
    gc.collect()
    gc.disable()
    try:
        await get_response(model)
        with pytest.raises(openai.InternalServerError):
            await get_response(model)
        alive = live_chat_calls()
    finally:
        gc.enable()
    assert len(span_exporter.get_finished_spans()) == 2
    assert alive == 0


async def test_a_start_that_fails_after_the_span_began_leaves_no_span_open(
    instrument, span_exporter, backend, monkeypatch, caplog
):
    from chatspan.instrumentation import call

    def broken(*args, **kwargs):
        raise RuntimeError("claim bug")

    monkeypatch.setattr(call, "claim_inference", broken)
    instrumentor = instrument()
    backend.add(completion("Sunny."))
    with caplog.at_level(logging.WARNING, logger="chatspan"):
        response = await get_response(make_model(backend))
    assert response.output[0].content[0].text == "Sunny."
    (span,) = span_exporter.get_finished_spans()  # ended, not waiting for the exit handler
    assert "gen_ai.response.id" not in span.attributes  # the call itself went on without us
    assert instrumentor._state.open_calls == set()
    assert any("claim bug" in record.getMessage() for record in caplog.records)
