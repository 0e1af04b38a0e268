"""Hostile input through the instrumented model, with content capture on (hypothesis).

For arbitrary input items, instructions, tools, provider answers and chunk sequences (see
``hostile_items``): the instrumented call returns, yields or raises exactly what the bare SDK does;
every content attribute is strict JSON (no ``NaN``), valid UTF-8 and within ``CONTENT_BOUND``; every
other string attribute is valid UTF-8 and within ``OTHER_BOUND``. The sanitizer runs with a small
``max_length`` so that truncation and the size budget are reached by ordinary examples.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chatspan.exporters.scripted_backend import ScriptedBackend, chunk, completion, text_chunks
from chatspan.instrumentation import ChatCompletionsInstrumentor, messages
from chatspan.instrumentation.bridge_mapping import content_text
from chatspan.instrumentation.sanitize import Sanitizer
from tests.instrumentation.calls import make_model, model_arguments
from tests.instrumentation.streams import comparable

from . import hostile_items as hostile
from .sizes import scale

LIMIT = 256  # CHATSPAN_MAX_CONTENT_LENGTH for these runs: small, so every limit is reached
SANITIZER = Sanitizer(max_length=LIMIT)
CONTENT_BOUND = SANITIZER.json_bound  # see Sanitizer.sanitize_value
OTHER_BOUND = 1024  # the status description is cut there; names and ids are shorter here
CONTENT_KEYS = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.definitions",
)
# Echoed from the provider as they came; see test_provider_identity_is_exportable_utf8.
PROVIDER_ECHO = ("gen_ai.response.id", "gen_ai.response.model", "gen_ai.response.finish_reasons")
HUGE = scale(4_000_000, 100_000_000)

CHECK = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=scale(60, 2000),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _strict(constant: str) -> Any:
    raise ValueError(f"not JSON: {constant}")


def assert_sound(span: ReadableSpan, *, echo: bool = False) -> None:
    """The span's attributes: bounded, exportable as UTF-8, content as strict JSON."""
    for key, value in (span.attributes or {}).items():
        if key in PROVIDER_ECHO and not echo:
            continue
        for text in value if isinstance(value, tuple) else (value,):
            if not isinstance(text, str):
                continue
            text.encode("utf-8")
            if key in CONTENT_KEYS:
                assert len(text) <= CONTENT_BOUND, (key, len(text))
                json.loads(text, parse_constant=_strict)
            else:
                assert len(text) <= OTHER_BOUND, (key, len(text))


class Traced:
    """Instrument with in-memory spans and the small sanitizer, for one example."""

    def __enter__(self) -> InMemorySpanExporter:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.instrumentor = ChatCompletionsInstrumentor()
        self.instrumentor.instrument(
            tracer_provider=provider, capture_content=True, sanitizer=SANITIZER
        )
        return self.exporter

    def __exit__(self, *exc: object) -> None:
        self.instrumentor.uninstrument()


def _original(name: str) -> Callable[..., Any]:
    return OpenAIChatCompletionsModel.__dict__[name].__wrapped__


def _response_view(response: Any) -> Any:
    return (
        [item.model_dump() for item in response.output],
        response.usage.model_dump() if response.usage is not None else None,
        response.response_id,
    )


async def _get(call: Callable[..., Any], model: Any, arguments: dict[str, Any]) -> Any:
    try:
        return _response_view(await call(model, **arguments))
    except Exception as error:
        return type(error), str(error)


async def _stream(call: Callable[..., Any], model: Any, arguments: dict[str, Any]) -> Any:
    events = []
    try:
        async for event in call(model, **arguments):
            events.append(comparable(event))
    except Exception as error:
        return events, (type(error), str(error))
    return events, None


def _traced_as_bare(
    method: str, arguments: dict[str, Any], reply: Any, *, echo: bool = False
) -> ReadableSpan:
    """Call ``method`` bare and instrumented: same outcome, one sound span (returned)."""
    run = _get if method == "get_response" else _stream
    plain_arguments = copy.deepcopy(arguments)
    with Traced() as exporter:

        async def both() -> tuple[Any, Any]:
            plain_model = make_model(ScriptedBackend([copy.deepcopy(reply)]))
            plain = await run(_original(method), plain_model, plain_arguments)
            model = make_model(ScriptedBackend([reply]))
            traced = await run(lambda m, **kw: getattr(m, method)(**kw), model, arguments)
            return plain, traced

        plain, traced = asyncio.run(both())
    assert traced == plain
    (span,) = exporter.get_finished_spans()
    assert_sound(span, echo=echo)
    return span


def _arguments(input: Any, instructions: Any, tools: list[Any]) -> dict[str, Any]:
    return model_arguments(input, instructions=instructions, tools=tools)


@CHECK
@given(hostile.input_values, hostile.instructions, hostile.tool_lists, hostile.completions)
def test_get_response_with_hostile_input_and_answer_is_unchanged(input, instructions, tools, reply):
    _traced_as_bare("get_response", _arguments(input, instructions, tools), reply)


@CHECK
@given(hostile.input_values, hostile.instructions, hostile.tool_lists, hostile.chunk_sequences)
def test_stream_with_hostile_input_and_chunks_is_unchanged(input, instructions, tools, chunks):
    _traced_as_bare("stream_response", _arguments(input, instructions, tools), chunks)


# -- events through the stream proxy, whatever the model yields ----------------------------------


class Completed:
    """A terminal event whose ``response.output`` is whatever the strategy drew."""

    type = "response.completed"

    def __init__(self, output: Any) -> None:
        self.response = type("Response", (), {"output": output})()


events = st.one_of(
    hostile.junk,
    st.builds(Completed, st.lists(hostile.input_items, max_size=3) | hostile.junk),
)


@CHECK
@given(st.lists(events, max_size=6), st.booleans())
def test_stream_proxy_hands_over_the_same_objects_and_the_same_error(yielded, raises):
    _assert_proxy_transparent(yielded, raises)


def test_stream_proxy_survives_an_event_whose_type_raises():
    _assert_proxy_transparent([hostile.RaisingAttributes()], False)


def _assert_proxy_transparent(yielded: list[Any], raises: bool) -> None:
    failure = ValueError("the model's own error")

    async def fake_stream_response(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        for event in yielded:
            yield event
        if raises:
            raise failure

    saved = OpenAIChatCompletionsModel.__dict__["stream_response"]
    OpenAIChatCompletionsModel.stream_response = fake_stream_response  # wrapped by instrument()
    try:
        with Traced() as exporter:

            async def consume() -> tuple[list[Any], BaseException | None]:
                model = make_model(ScriptedBackend())
                seen = []
                try:
                    async for event in model.stream_response(**model_arguments()):
                        seen.append(event)
                except ValueError as error:
                    return seen, error
                return seen, None

            seen, error = asyncio.run(consume())
    finally:
        OpenAIChatCompletionsModel.stream_response = saved
    assert len(seen) == len(yielded)
    assert all(a is b for a, b in zip(seen, yielded, strict=True))
    assert error is (failure if raises else None)
    (span,) = exporter.get_finished_spans()
    assert_sound(span)


# -- our converters and the sanitizer, without the SDK in front ---------------------------------


def _capture(value: Any) -> str:
    """What ChatCall._set_content puts on the span."""
    sanitized = SANITIZER.sanitize_value(value)
    return json.dumps(sanitized, ensure_ascii=False, separators=(",", ":"), default=str)


def _assert_content(text: str) -> None:
    text.encode("utf-8")
    assert len(text) <= CONTENT_BOUND
    json.loads(text, parse_constant=_strict)


@settings(CHECK, max_examples=scale(400, 20000))
@given(hostile.input_values, hostile.instructions, hostile.tool_lists, hostile.input_values)
def test_converters_never_raise_and_give_strict_bounded_json(input, instructions, tools, output):
    _assert_content(_capture(messages.input_messages(input)))
    _assert_content(_capture(messages.system_instructions(instructions)))
    _assert_content(_capture(messages.tool_definitions(tools, tools)))
    _assert_content(_capture(messages.output_messages(output, "stop")))
    sanitized = SANITIZER.sanitize_value(output)  # the bridge's tool arguments and results
    if isinstance(sanitized, str):  # text stays text (not JSON), cut to max_length
        assert content_text(sanitized) == sanitized
        assert len(sanitized.encode("utf-8").decode("utf-8")) <= LIMIT
    else:
        _assert_content(content_text(sanitized))


@settings(CHECK, max_examples=scale(200, 5000))
@given(
    st.lists(st.integers(0, 10**6), min_size=1, max_size=4),
    st.sampled_from(["x y ", "\x00", "\ud800", "é"]),
    st.integers(1, 400),
)
def test_no_shape_escapes_the_size_budget(widths, seed, depth):
    """Wide, long, deep or many: the captured JSON stays within CONTENT_BOUND."""
    value: Any = seed * (widths[0] % 2000)
    for width in widths[1:]:
        value = {seed * (width % 3000): [value] * (width % 5000), "n": [0] * width}
    for _ in range(depth):
        value = [value]
    _assert_content(_capture(value))


# -- huge strings (a few MB; 100 MB in the long run) ---------------------------------------------


def _function_call(arguments: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "go"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": arguments},
        {"type": "function_call_output", "call_id": "c1", "output": "done"},
    ]


HUGE_INPUTS = {
    "user text": lambda s: {"input": s},
    "content part": lambda s: {
        "input": [{"role": "user", "content": [{"type": "input_text", "text": s}]}]
    },
    "tool arguments": lambda s: {"input": _function_call('{"a":"' + s + '"}')},
    "tool output": lambda s: {
        "input": [*_function_call("{}")[:2], {**_function_call("{}")[2], "output": s}]
    },
    "instructions": lambda s: {"instructions": s},
}


@pytest.mark.parametrize("where", list(HUGE_INPUTS))
@pytest.mark.parametrize("method", ["get_response", "stream_response"])
def test_huge_input_is_unchanged_and_bounded(where, method):
    huge = "x y " * (HUGE // 4)
    reply = completion("ok") if method == "get_response" else text_chunks(["o", "k"])
    span = _traced_as_bare(method, model_arguments(**HUGE_INPUTS[where](huge)), reply)
    assert any("…[truncated from" in span.attributes.get(key, "") for key in CONTENT_KEYS)


@pytest.mark.parametrize("method", ["get_response", "stream_response"])
def test_huge_answer_with_nul_and_surrogates_is_unchanged_and_bounded(method):
    huge = ("a\x00\ud800 " * (HUGE // 4))[:HUGE]
    if method == "get_response":
        reply: Any = completion(huge)
    else:
        reply = [chunk({"role": "assistant", "content": huge}), chunk({}, finish_reason="stop")]
    span = _traced_as_bare(method, model_arguments(), reply)
    if method == "get_response":  # the SDK's own UnicodeEncodeError, raised bare as well
        assert span.attributes["error.type"] == "UnicodeEncodeError"
    else:
        assert "error.type" not in span.attributes
        assert "\ufffd" in span.attributes["gen_ai.output.messages"]


@pytest.mark.slow
def test_one_100mb_input_through_the_capture_path():
    """Time ChatCall's capture (convert, sanitize, dump) of one 100 MB input, and check it."""
    huge = "x y " * (100_000_000 // 4)
    items = [*_function_call('{"a":"' + huge + '"}'), {"role": "user", "content": huge}]
    started = time.perf_counter()
    text = _capture(messages.input_messages(items))
    seconds = time.perf_counter() - started
    print(f"\ncapture of a 100 MB input: {seconds * 1000:.1f} ms, attribute {len(text)} chars")
    _assert_content(text)
    assert "truncated from 100000000 chars" in text


# -- what the provider says about itself (id, model, finish reason) is bounded and exportable --


def test_provider_identity_is_exportable_utf8():
    ident = "chatcmpl-\ud800" + "x" * 5000  # the OTLP encoder drops such an attribute, logging
    reply = [
        chunk({"role": "assistant", "content": "ok"}, response_id=ident, model="m\udfff"),
        chunk({}, finish_reason="\udfff", response_id=ident),
    ]
    _traced_as_bare("stream_response", model_arguments(), reply, echo=True)
