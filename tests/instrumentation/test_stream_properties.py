"""Property: for any chunk sequence, the instrumented stream equals the uninstrumented one.

Events, their order and contents, and the exception (type and message) if the SDK raises one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chatspan.exporters.scripted_backend import ScriptedBackend, chunk
from chatspan.instrumentation import ChatCompletionsInstrumentor

from .calls import make_model, model_arguments
from .streams import comparable

text = st.text(max_size=30)
tool_calls = st.lists(
    st.tuples(st.sampled_from(["f", "get_weather", "ü"]), st.lists(text, min_size=1, max_size=3)),
    max_size=3,
)
finish_reasons = st.sampled_from([None, "stop", "length", "tool_calls", "content_filter"])
usages = st.one_of(
    st.none(),
    st.builds(
        lambda p, c: {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
        st.integers(0, 10**6),
        st.integers(0, 10**6),
    ),
)


def _chunks(pieces: list[str], calls: list[tuple[str, list[str]]], finish, usage) -> list[dict]:
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in pieces]
    for index, (name, arguments) in enumerate(calls):
        first = {"index": index, "id": f"call_{index}", "type": "function"}
        chunks.append(
            chunk({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]})
        )
        for part in arguments:
            delta = {"index": index, "function": {"arguments": part}}
            chunks.append(chunk({"tool_calls": [delta]}))
    if finish is not None:
        chunks.append(chunk({}, finish_reason=finish))
    if usage is not None:
        chunks.append(chunk(None, usage=usage))
    return chunks


async def _outcome(stream: Any) -> tuple[list, Any]:
    events = []
    try:
        async for event in stream:
            events.append(comparable(event))
    except Exception as error:
        return events, (type(error), str(error))
    return events, None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pieces=st.lists(text, max_size=8),
    calls=tool_calls,
    finish=finish_reasons,
    usage=usages,
)
def test_instrumented_stream_equals_uninstrumented(pieces, calls, finish, usage):
    chunks = _chunks(pieces, calls, finish, usage)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = ChatCompletionsInstrumentor()
    instrumentor.instrument(tracer_provider=provider, capture_content=True)
    try:
        original = OpenAIChatCompletionsModel.__dict__["stream_response"].__wrapped__

        async def both():
            plain_model = make_model(ScriptedBackend([chunks]))
            plain = await _outcome(original(plain_model, **model_arguments()))
            model = make_model(ScriptedBackend([chunks]))
            traced = await _outcome(model.stream_response(**model_arguments()))
            return plain, traced

        plain, traced = asyncio.run(both())
    finally:
        instrumentor.uninstrument()
    assert traced == plain
    assert len(exporter.get_finished_spans()) == 1
