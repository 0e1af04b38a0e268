"""``CHATSPAN_STREAM_USAGE``: streams from OpenAI-compatible servers ask for their usage.

The Agents SDK asks for ``stream_options.include_usage`` only when the client is OpenAI's own.
The backend here behaves like such a server: it sends the usage chunk only when asked.
"""

from __future__ import annotations

from typing import Any

import pytest
from agents import ModelSettings

from chatspan.exporters.scripted_backend import ScriptedBackend, text_chunks

from .calls import make_model, stream_events
from .streams import USAGE, comparable

VLLM = "http://localhost:8000/v1"


def usage_when_asked(body: dict[str, Any]) -> list[dict[str, Any]]:
    asked = (body.get("stream_options") or {}).get("include_usage") is True
    return text_chunks(["Sunny ", "in ", "Paris."], usage=USAGE if asked else None)


def _token_sums(reader: Any) -> dict[str, int]:
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == "gen_ai.client.token.usage":
                    return {
                        p.attributes["gen_ai.token.type"]: p.sum for p in metric.data.data_points
                    }
    return {}


async def test_opt_in_asks_for_usage_and_it_reaches_span_and_metrics(
    instrument, span_exporter, metric_reader, monkeypatch
):
    monkeypatch.setenv("CHATSPAN_STREAM_USAGE", "1")
    instrument()
    backend = ScriptedBackend(fallback=usage_when_asked)
    await stream_events(make_model(backend, VLLM))

    assert backend.requests[0]["stream_options"] == {"include_usage": True}
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.provider.name"] == "openai_compatible"
    assert span.attributes["gen_ai.usage.input_tokens"] == USAGE["prompt_tokens"]
    assert span.attributes["gen_ai.usage.output_tokens"] == USAGE["completion_tokens"]
    assert "chatspan.usage.missing" not in span.attributes
    assert _token_sums(metric_reader) == {
        "input": USAGE["prompt_tokens"],
        "output": USAGE["completion_tokens"],
    }


async def test_the_agent_sees_the_events_the_sdks_own_include_usage_gives(instrument, monkeypatch):
    own_settings = ModelSettings(include_usage=True)  # the SDK's own switch, uninstrumented
    backend = ScriptedBackend(fallback=usage_when_asked)
    sdks = await stream_events(make_model(backend, VLLM), settings=own_settings)
    monkeypatch.setenv("CHATSPAN_STREAM_USAGE", "1")
    instrument()
    ours = await stream_events(make_model(ScriptedBackend(fallback=usage_when_asked), VLLM))

    assert any(getattr(e, "type", None) == "response.completed" for e in ours)
    assert [comparable(event) for event in ours] == [comparable(event) for event in sdks]


@pytest.mark.parametrize("explicit", [True, False])
async def test_an_explicit_include_usage_is_left_as_the_caller_set_it(
    instrument, monkeypatch, explicit
):
    monkeypatch.setenv("CHATSPAN_STREAM_USAGE", "1")
    instrument()
    backend = ScriptedBackend(fallback=usage_when_asked)
    await stream_events(make_model(backend, VLLM), settings=ModelSettings(include_usage=explicit))
    assert backend.requests[0]["stream_options"] == {"include_usage": explicit}


async def test_without_the_opt_in_the_request_is_unchanged_and_the_span_says_usage_is_missing(
    instrument, span_exporter, metric_reader
):
    instrument()
    backend = ScriptedBackend(fallback=usage_when_asked)
    await stream_events(make_model(backend, VLLM))

    assert "stream_options" not in backend.requests[0]
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["chatspan.usage.missing"] is True
    for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cost"):
        assert key not in span.attributes  # no zeros
    assert _token_sums(metric_reader) == {}


async def test_a_get_response_call_is_never_changed(instrument, monkeypatch):
    from chatspan.exporters.scripted_backend import completion

    from .calls import get_response

    monkeypatch.setenv("CHATSPAN_STREAM_USAGE", "1")
    instrument()
    backend = ScriptedBackend([completion(usage=USAGE)])
    await get_response(make_model(backend, VLLM))
    assert "stream_options" not in backend.requests[0]


def test_a_bad_value_is_one_warning_naming_the_variable(caplog):
    from chatspan.instrumentation.config import Settings

    assert Settings.from_env({"CHATSPAN_STREAM_USAGE": "please"}).stream_usage is False
    (record,) = caplog.records
    assert "CHATSPAN_STREAM_USAGE='please' is not valid" in record.getMessage()
    assert "allowed values (any case): 0, 1, false, no, off, on, true, yes" in record.getMessage()
