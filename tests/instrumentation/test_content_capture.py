"""Content capture: off by default, on by variable or argument, sanitized, never breaking a call."""

from __future__ import annotations

import json
import logging

import pytest
from agents import function_tool

from chatspan.exporters.scripted_backend import ScriptedBackend, completion
from chatspan.instrumentation import messages

from .calls import get_response, make_model, stream_events
from .streams import many_text_chunks

CONTENT_KEYS = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.definitions",
)
SECRET_PROMPT = "my password is hunter2-very-private"


@function_tool
def lookup_customer(email: str) -> str:
    """Look up a customer record by e-mail (TOOL-DESCRIPTION-MARKER)."""
    return "found"


async def _call_both_ways(backend_replies=None):
    backend = ScriptedBackend(backend_replies or [completion("ANSWER-MARKER"), many_text_chunks(3)])
    model = make_model(backend)
    await get_response(model, input=SECRET_PROMPT, tools=[lookup_customer])
    await stream_events(model, input=SECRET_PROMPT, tools=[lookup_customer])


@pytest.mark.parametrize("value", [None, "NO_CONTENT", "false", "bogus"])
async def test_no_content_reaches_the_span_unless_asked(
    instrument, span_exporter, monkeypatch, value
):
    if value is not None:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    instrument()
    await _call_both_ways()
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        dumped = json.dumps(dict(span.attributes))
        assert not set(CONTENT_KEYS) & set(span.attributes)
        for marker in ("hunter2", "TOOL-DESCRIPTION-MARKER", "ANSWER-MARKER", "You are terse"):
            assert marker not in dumped


@pytest.mark.parametrize("value", ["SPAN_ONLY", "span_and_event", "true", "True"])
async def test_capture_on_span_by_environment(instrument, span_exporter, monkeypatch, value):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    instrument()
    await _call_both_ways()
    for span in span_exporter.get_finished_spans():
        assert set(CONTENT_KEYS) <= set(span.attributes)


async def test_captured_content_has_the_conventions_shapes(instrument, span_exporter):
    instrument(capture_content=True)
    backend = ScriptedBackend([completion("ANSWER-MARKER")])
    await get_response(make_model(backend), input=SECRET_PROMPT, tools=[lookup_customer])
    (span,) = span_exporter.get_finished_spans()
    content = {key: json.loads(span.attributes[key]) for key in CONTENT_KEYS}
    assert content["gen_ai.system_instructions"] == [{"type": "text", "content": "You are terse."}]
    assert content["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]}
    ]
    assert content["gen_ai.output.messages"] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "ANSWER-MARKER"}],
            "finish_reason": "stop",
        }
    ]
    (tool,) = content["gen_ai.tool.definitions"]
    assert tool["name"] == "lookup_customer"
    assert tool["type"] == "function"
    assert "TOOL-DESCRIPTION-MARKER" in tool["description"]
    assert tool["parameters"]["properties"]["email"]["type"] == "string"
    assert "null" not in json.dumps(content)


async def test_event_only_puts_content_on_an_event_not_the_span(
    instrument, span_exporter, log_exporter, monkeypatch
):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "EVENT_ONLY")
    instrument()
    await get_response(make_model(ScriptedBackend([completion("ANSWER-MARKER")])))
    (span,) = span_exporter.get_finished_spans()
    assert not set(CONTENT_KEYS) & set(span.attributes)
    (record,) = log_exporter.get_finished_logs()
    log = record.log_record
    assert log.event_name == "gen_ai.client.inference.operation.details"
    assert "ANSWER-MARKER" in log.attributes["gen_ai.output.messages"]
    assert log.span_id == span.context.span_id


async def test_bad_capture_value_warns_once_naming_the_variable(instrument, monkeypatch, caplog):
    # A value no other test uses: the warning is logged once per process for each bad value.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "bogus-once")
    with caplog.at_level(logging.WARNING, logger="chatspan"):
        instrument().uninstrument()
        instrument()
    (record,) = [r for r in caplog.records if r.name.startswith("chatspan")]
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in record.getMessage()
    assert "span_only" in record.getMessage()


async def test_every_captured_value_goes_through_the_sanitizer(instrument, span_exporter):
    class Redact:
        def sanitize_value(self, value, on_error=None):
            return json.loads(json.dumps(value).replace("hunter2", "[REDACTED]"))

    instrument(capture_content=True, sanitizer=Redact())
    await _call_both_ways()
    for span in span_exporter.get_finished_spans():
        assert "hunter2" not in json.dumps(dict(span.attributes))
        assert "[REDACTED]" in span.attributes["gen_ai.input.messages"]


async def test_a_sanitizer_failure_marks_the_span_and_the_call_goes_on(instrument, span_exporter):
    class FailsClosed:
        def sanitize_value(self, value, on_error=None):
            on_error()
            return "[REDACTED:error]"

    instrument(capture_content=True, sanitizer=FailsClosed())
    response = await get_response(make_model(ScriptedBackend([completion("fine")])))
    assert response.output[0].content[0].text == "fine"
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["chatspan.content.sanitize_failed"] is True
    assert span.attributes["gen_ai.input.messages"] == '"[REDACTED:error]"'


@pytest.mark.parametrize("converter", ["input_messages", "output_messages", "tool_definitions"])
async def test_our_converter_raising_never_reaches_the_agent(
    instrument, span_exporter, monkeypatch, caplog, converter
):
    def broken(*args, **kwargs):
        raise RuntimeError("converter bug")

    monkeypatch.setattr(messages, converter, broken)
    instrument(capture_content=True)
    with caplog.at_level(logging.WARNING, logger="chatspan"):
        response = await get_response(make_model(ScriptedBackend([completion("fine")])))
        events = await stream_events(make_model(ScriptedBackend([many_text_chunks(3)])))
    assert response.output[0].content[0].text == "fine"
    assert events[-1].type == "response.completed"
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 2
    assert all(span.attributes["gen_ai.response.id"] for span in spans)
    warnings = [r for r in caplog.records if "converter bug" in r.getMessage()]
    assert len(warnings) <= 1
