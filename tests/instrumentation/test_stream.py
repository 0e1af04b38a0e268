"""``stream_response``: the same events, one span ended exactly once however the stream ends."""

from __future__ import annotations

import asyncio
import collections.abc
import gc
import inspect
import json
import logging
import types

import openai
import pytest
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from chatspan.exporters.scripted_backend import HttpError, ScriptedBackend, chunk, http_module

from .calls import live_chat_calls, make_model, model_arguments, stream_events
from .streams import (
    USAGE,
    comparable,
    loop_turns_until,
    many_text_chunks,
    parallel_tool_call_chunks,
    refusal_chunks,
    relays_started,
    stalling_stream,
)

SCENARIOS = {
    "text": many_text_chunks,
    "text-without-usage": lambda: many_text_chunks(usage=None),
    "parallel-tool-calls": parallel_tool_call_chunks,
    "refusal": refusal_chunks,
}


@pytest.fixture
def spied_events(monkeypatch):
    """The event objects the SDK's own generator yields, before anything of ours sees them."""
    yielded: list = []
    original = OpenAIChatCompletionsModel.stream_response

    async def spy(self, *args, **kwargs):
        async for event in original(self, *args, **kwargs):
            yielded.append(event)
            yield event

    monkeypatch.setattr(OpenAIChatCompletionsModel, "stream_response", spy)
    return yielded


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_events_are_the_same_objects_in_the_same_order(
    instrument, span_exporter, spied_events, scenario
):
    instrument()
    received = await stream_events(make_model(ScriptedBackend([SCENARIOS[scenario]()])))
    assert len(received) == len(spied_events) > 0
    assert all(got is sent for got, sent in zip(received, spied_events, strict=True))
    assert len(span_exporter.get_finished_spans()) == 1


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_events_equal_the_uninstrumented_run(instrument, scenario):
    plain = await stream_events(make_model(ScriptedBackend([SCENARIOS[scenario]()])))
    instrument(capture_content=True)
    traced = await stream_events(make_model(ScriptedBackend([SCENARIOS[scenario]()])))
    assert [comparable(e) for e in traced] == [comparable(e) for e in plain]


async def test_text_stream_records_response_usage_and_timing(instrument, span_exporter):
    instrument(capture_content=True)
    await stream_events(make_model(ScriptedBackend([many_text_chunks(60)])))
    (span,) = span_exporter.get_finished_spans()
    attributes = span.attributes
    assert span.status.status_code is StatusCode.UNSET
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.id"] == "chatcmpl-scripted"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == USAGE["prompt_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == USAGE["completion_tokens"]
    assert 0 <= attributes["gen_ai.response.time_to_first_chunk"] <= _duration_s(span)
    (message,) = json.loads(attributes["gen_ai.output.messages"])
    assert message["parts"][0]["content"] == "".join(f"word{i} " for i in range(60))
    assert message["finish_reason"] == "stop"
    assert "chatspan.stream.closed_early" not in attributes


def _usage_in_the_finishing_chunk() -> list[dict]:
    """Gemini's and some proxies' shape: no usage-only chunk, usage beside the finish."""
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Sunny."}),
        chunk({}, finish_reason="stop", usage=USAGE),
    ]


def _usage_in_every_chunk() -> list[dict]:
    """vLLM's continuous usage stats: a running total on every chunk, the last one complete."""
    running = [
        {"prompt_tokens": 11, "completion_tokens": n, "total_tokens": 11 + n} for n in (0, 1, 2)
    ]
    return [
        chunk({"role": "assistant", "content": ""}, usage=running[0]),
        chunk({"content": "Sunny."}, usage=running[1]),
        chunk({}, finish_reason="stop", usage=running[2]),
        chunk(None, usage=running[2]),
    ]


def _one_chunk_answer() -> list[dict]:
    """The whole answer, its finish and its usage in the first chunk, which the relay takes
    before its loop."""
    return [chunk({"role": "assistant", "content": "Sunny."}, finish_reason="stop", usage=USAGE)]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (_usage_in_the_finishing_chunk, USAGE),
        (_usage_in_every_chunk, None),
        (_one_chunk_answer, USAGE),
    ],
    ids=["usage-beside-the-finish", "continuous-usage", "one-chunk"],
)
async def test_usage_is_read_wherever_the_provider_puts_it_last(
    instrument, span_exporter, chunks, expected
):
    """Chunks are only read for usage where it can be final (no choices, or finishing)."""
    instrument()
    await stream_events(make_model(ScriptedBackend([chunks()])))
    (span,) = span_exporter.get_finished_spans()
    expected = expected or {"prompt_tokens": 11, "completion_tokens": 2}
    assert span.attributes["gen_ai.usage.input_tokens"] == expected["prompt_tokens"]
    assert span.attributes["gen_ai.usage.output_tokens"] == expected["completion_tokens"]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


async def test_missing_usage_is_absent_not_zero(instrument, span_exporter):
    instrument()
    await stream_events(make_model(ScriptedBackend([many_text_chunks(usage=None)])))
    (span,) = span_exporter.get_finished_spans()
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert "gen_ai.usage.output_tokens" not in span.attributes


async def test_parallel_tool_calls_are_captured_as_tool_call_parts(instrument, span_exporter):
    instrument(capture_content=True)
    await stream_events(make_model(ScriptedBackend([parallel_tool_call_chunks()])))
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
    (message,) = json.loads(span.attributes["gen_ai.output.messages"])
    assert [(p["type"], p["id"], p["name"], p["arguments"]) for p in message["parts"]] == [
        ("tool_call", "call_a", "get_weather", '{"city":"Paris"}'),
        ("tool_call", "call_b", "get_time", '{"tz":"CET"}'),
    ]


@pytest.mark.parametrize(
    ("make_reply", "error_class"),  # made per test: see test_get_response's failures
    [
        (lambda: HttpError(500), openai.InternalServerError),
        (lambda: HttpError(429), openai.RateLimitError),
        (lambda: http_module().ConnectError("refused"), openai.APIConnectionError),
    ],
    ids=["http-500", "http-429", "connection"],
)
async def test_stream_failures_propagate_and_end_the_span_once(
    instrument, span_exporter, make_reply, error_class
):
    instrument()
    with pytest.raises(error_class):
        await stream_events(make_model(ScriptedBackend([make_reply()])))
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == f"openai.{error_class.__name__}"


async def test_break_after_some_events_ends_span_once_and_restores_context(
    instrument, span_exporter, tracer_provider
):
    instrument()
    tracer = tracer_provider.get_tracer("consumer")
    model = make_model(ScriptedBackend([many_text_chunks(60)]))
    with tracer.start_as_current_span("consumer") as consumer:
        events = model.stream_response(**model_arguments())
        seen = 0
        async for _ in events:
            assert trace.get_current_span() is consumer
            seen += 1
            if seen == 5:
                break
        assert trace.get_current_span() is consumer
        del events
        gc.collect()
        assert await loop_turns_until(lambda: len(span_exporter.get_finished_spans()) == 1)
        assert trace.get_current_span() is consumer  # the close, in asyncio's task, left it
    chat, consumer_span = span_exporter.get_finished_spans()
    assert chat.attributes["chatspan.stream.closed_early"] is True
    assert chat.status.status_code is StatusCode.UNSET
    assert chat.parent.span_id == consumer_span.context.span_id


async def test_aclose_ends_span_once_marked_closed_early(instrument, span_exporter):
    instrument()
    events = make_model(ScriptedBackend([many_text_chunks(60)])).stream_response(
        **model_arguments()
    )
    await events.__anext__()
    await events.aclose()
    await events.aclose()
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["chatspan.stream.closed_early"] is True
    assert span.status.status_code is StatusCode.UNSET
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()
    assert len(span_exporter.get_finished_spans()) == 1


async def test_cancellation_mid_stream_is_recorded_and_propagates(instrument, span_exporter):
    instrument()
    release = asyncio.Event()
    backend = ScriptedBackend([stalling_stream(many_text_chunks(3)[:3], release)])
    got_first = asyncio.Event()

    async def consume():
        async for _ in make_model(backend).stream_response(**model_arguments()):
            got_first.set()

    task = asyncio.create_task(consume())
    await got_first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (span,) = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "asyncio.exceptions.CancelledError"


async def test_abandoned_stream_is_ended_by_garbage_collection(instrument, span_exporter):
    instrument()
    events = make_model(ScriptedBackend([many_text_chunks(60)])).stream_response(
        **model_arguments()
    )
    await events.__anext__()
    assert span_exporter.get_finished_spans() == ()
    del events
    gc.collect()
    assert await loop_turns_until(lambda: len(span_exporter.get_finished_spans()) == 1)
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["chatspan.stream.closed_early"] is True


@pytest.mark.parametrize("capture", [False, True])  # off: nothing is read per event
@pytest.mark.parametrize("stop", ["aclose", "drop"])
async def test_stopping_right_after_the_terminal_event_is_not_an_early_close(
    instrument, span_exporter, capture, stop
):
    instrument(capture_content=capture)
    events = make_model(ScriptedBackend([many_text_chunks(5)])).stream_response(**model_arguments())
    async for event in events:
        if event.type == "response.completed":
            break
    if stop == "aclose":
        await events.aclose()
    else:
        del events, event
        gc.collect()
        assert await loop_turns_until(lambda: len(span_exporter.get_finished_spans()) == 1)
    (span,) = span_exporter.get_finished_spans()
    assert "chatspan.stream.closed_early" not in span.attributes
    assert span.attributes["gen_ai.usage.output_tokens"] == USAGE["completion_tokens"]


@pytest.mark.parametrize("capture", [False, True])
async def test_stopping_one_event_before_the_terminal_one_is_an_early_close(
    instrument, span_exporter, capture
):
    instrument(capture_content=capture)
    events = make_model(ScriptedBackend([many_text_chunks(5)])).stream_response(**model_arguments())
    async for event in events:
        if event.type == "response.output_item.done":  # the SDK's last event but one
            break
    await events.aclose()
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["chatspan.stream.closed_early"] is True


def test_a_relay_whose_last_event_cannot_be_seen_counts_as_not_completed():
    from chatspan.instrumentation.call import _relay_handed_on_completed

    class Finished:  # an exhausted generator has no frame
        ag_frame = None

    class Unreadable:
        @property
        def ag_frame(self):
            raise RuntimeError("no frame for you")

    assert _relay_handed_on_completed(Finished()) is False
    assert _relay_handed_on_completed(Unreadable()) is False
    assert _relay_handed_on_completed(None) is False  # not a stream, or its relay is gone


async def test_a_stream_of_no_chunks_passes_as_without_us(instrument, span_exporter):
    original = OpenAIChatCompletionsModel.stream_response

    async def outcome(stream):
        events = []
        try:
            async for event in stream:
                events.append(comparable(event))
        except Exception as error:  # whatever the SDK makes of it, we must make the same
            return events, type(error)
        return events, None

    plain = await outcome(original(make_model(ScriptedBackend([[]])), **model_arguments()))
    instrument()
    traced = await outcome(make_model(ScriptedBackend([[]])).stream_response(**model_arguments()))
    assert traced == plain
    (span,) = span_exporter.get_finished_spans()
    assert "gen_ai.response.time_to_first_chunk" not in span.attributes


async def test_concurrent_streams_each_get_their_own_span(instrument, span_exporter):
    """200 streams at once: every span carries its own request's answer, none crossed."""
    from chatspan.exporters.scripted_backend import text_chunks

    def reply_for(body):
        number = body["messages"][-1]["content"].rsplit(" ", 1)[-1]
        return [
            {**c, "id": f"chatcmpl-{number}"}
            for c in text_chunks(
                [f"answer {number}"], usage={**USAGE, "prompt_tokens": int(number)}
            )
        ]

    instrument(capture_content=True)
    model = make_model(ScriptedBackend(fallback=reply_for))
    await asyncio.gather(*(stream_events(model, input=f"question {n}") for n in range(200)))

    spans = span_exporter.get_finished_spans()
    assert len(spans) == 200
    for span in spans:
        number = json.loads(span.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"]
        number = number.rsplit(" ", 1)[-1]
        assert span.attributes["gen_ai.response.id"] == f"chatcmpl-{number}"
        assert span.attributes["gen_ai.usage.input_tokens"] == int(number)
        assert f"answer {number}" in span.attributes["gen_ai.output.messages"]
    assert len({span.context.span_id for span in spans}) == 200


def _duration_s(span) -> float:
    return (span.end_time - span.start_time) / 1e9


async def test_http_request_of_a_stream_runs_under_the_chat_span(
    instrument, span_exporter, tracer_provider
):
    """The request is made inside our span; once it is made, each step runs in the caller's
    context (no attach per event), and the caller's context is what it sees between events."""
    seen_parents = []

    def reply(body):
        seen_parents.append(trace.get_current_span().get_span_context().span_id)
        return many_text_chunks(30)

    instrument()
    model = make_model(ScriptedBackend(fallback=reply))
    with tracer_provider.get_tracer("consumer").start_as_current_span("consumer") as consumer:
        async for _ in model.stream_response(**model_arguments()):
            assert trace.get_current_span() is consumer
    chat, _consumer = span_exporter.get_finished_spans()
    assert seen_parents == [chat.context.span_id]
    assert chat.attributes["gen_ai.response.id"]


async def test_the_stream_proxy_looks_like_the_generator_it_wraps(instrument, span_exporter):
    """Code that inspects what ``stream_response`` returned sees an async generator, as before."""
    instrument()
    model = make_model(ScriptedBackend([many_text_chunks(3)]))
    events = model.stream_response(**model_arguments())
    assert inspect.isasyncgen(events)
    assert isinstance(events, types.AsyncGeneratorType | collections.abc.AsyncGenerator)
    assert events.ag_running is False  # attributes come from the SDK's generator
    assert events.ag_code is not events.__aiter__().ag_code  # (iteration steps our relay)
    first = await events.asend(None)  # forwarded untouched, like any other attribute
    assert first.type == "response.created"
    assert [e.type for e in [e async for e in events]][-1] == "response.completed"
    assert len(span_exporter.get_finished_spans()) == 1


async def test_a_finished_call_is_freed_at_once_not_left_to_the_garbage_collector(
    instrument, span_exporter
):
    # Our span's context refers to its call weakly: were it strong, each call would be a cycle
    # (the call holds that context) and wait, with its span, for a collection.
    instrument()
    backend = ScriptedBackend([_usage_in_the_finishing_chunk() for _ in range(3)])
    model = make_model(backend)
    gc.collect()
    gc.disable()
    try:
        await stream_events(model)
        assert live_chat_calls() == 0
        events = model.stream_response(**model_arguments())
        async for _ in events:
            break
        await events.aclose()  # closed early: ended too
        del events
        events = model.stream_response(**model_arguments())
        async for _ in events:
            break
        del events  # dropped mid-stream: its relays, still suspended, must not keep the call
        await loop_turns_until(lambda: live_chat_calls() == 0)  # asyncio closes them
        alive = live_chat_calls()
    finally:
        gc.enable()
    assert len(span_exporter.get_finished_spans()) == 3
    assert alive == 0


@pytest.mark.parametrize(
    ("stop_at", "closed_early"),
    [("response.completed", False), ("response.output_item.done", True)],
)
async def test_a_stream_still_held_at_exit_is_closed_early_only_before_the_terminal_event(
    instrument, span_exporter, stop_at, closed_early
):
    instrumentor = instrument()  # capture off: the relay keeps no flag, the exit asks it
    events = make_model(ScriptedBackend([many_text_chunks(5)])).stream_response(**model_arguments())
    async for event in events:
        if event.type == stop_at:
            break
    instrumentor._state.end_open_calls()  # what chatspan's atexit hook runs
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes.get("chatspan.stream.closed_early", False) is closed_early
    del events  # still held until here: its own end is now a no-op
    gc.collect()
    assert len(span_exporter.get_finished_spans()) == 1


@pytest.mark.parametrize("capture", [False, True])
async def test_our_chunk_relay_takes_the_place_of_openais_own(instrument, capture):
    openai_relay = openai.AsyncStream.__aiter__.__code__
    with relays_started() as started:
        plain = await stream_events(make_model(ScriptedBackend([many_text_chunks(5)])))
    assert openai_relay in started  # without us, every chunk passes openai's relay
    instrument(capture_content=capture)
    with relays_started() as started:
        traced = await stream_events(make_model(ScriptedBackend([many_text_chunks(5)])))
    assert [comparable(e) for e in traced] == [comparable(e) for e in plain]
    assert openai_relay not in started  # ours replaced it rather than stacked on it


async def test_a_replaced_stream_iterator_is_honoured(instrument, span_exporter, monkeypatch):
    """Someone else's ``__aiter__`` on openai's stream (another instrumentation's, say) is the
    one the chunks go through, with ours on top."""
    seen: list = []

    async def observing(self):
        async for item in self._iterator:
            seen.append(item)
            yield item

    monkeypatch.setattr(openai.AsyncStream, "__aiter__", observing)
    instrument()
    await stream_events(make_model(ScriptedBackend([many_text_chunks(5)])))
    assert len(seen) == 8  # a role chunk, five of text, the finishing one, the usage one
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.usage.output_tokens"] == USAGE["completion_tokens"]


def test_only_the_exact_re_yield_counts_as_openais_relay(caplog):
    from chatspan.instrumentation.stream import _chunk_source

    class Relaying:
        _iterator = object()

        async def __aiter__(self):
            async for item in self._iterator:
                yield item

    class Counting(Relaying):
        async def __aiter__(self):
            async for item in self._iterator:
                self.count = 1
                yield item

    class Unreadable(Relaying):  # openai's relay, but no inner iterator to be had
        __aiter__ = Relaying.__aiter__

        @property
        def _iterator(self):
            raise RuntimeError("no iterator here")

    relaying, counting, unreadable = Relaying(), Counting(), Unreadable()
    assert _chunk_source(relaying) is Relaying._iterator
    assert _chunk_source(counting) is counting
    assert _chunk_source([1, 2]) == [1, 2]
    with caplog.at_level(logging.DEBUG, logger="chatspan.instrumentation"):
        assert _chunk_source(unreadable) is unreadable  # iterated as it is, and reported
    assert "looking at the chunk stream failed" in caplog.text


@pytest.mark.parametrize(
    ("stop_at", "closed_early"),
    [("response.completed", False), ("response.output_item.done", True)],
)
async def test_a_stream_dropped_in_a_reference_cycle_is_judged_by_its_last_event(
    instrument, span_exporter, stop_at, closed_early
):
    """Freed by the cyclic collector, which clears weak references before it finalizes: the
    relay, closed by asyncio's finalizer after that, still knows the last event it handed on,
    so a consumer that had the terminal event is not marked."""
    instrument()  # capture off: the relay keeps no flag, the early close asks it
    events = make_model(ScriptedBackend([many_text_chunks(5)])).stream_response(**model_arguments())
    async for event in events:
        if event.type == stop_at:
            break
    holder: list = [events]
    holder.append(holder)  # only the cyclic collector can free the stream now
    del events, holder, event
    gc.collect()
    assert await loop_turns_until(lambda: len(span_exporter.get_finished_spans()) == 1)
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes.get("chatspan.stream.closed_early", False) is closed_early


async def test_async_for_steps_the_relay_itself_and_a_kept_stream_goes_on_later(
    instrument, span_exporter
):
    """The proxy hands ``async for`` its relay (no proxy step per event), and still holds it:
    a stream broken out of and iterated again goes on where it was, as the SDK's own does."""
    from chatspan.instrumentation.stream import _relay_events

    original = OpenAIChatCompletionsModel.stream_response

    async def first_then_rest(stream) -> list:
        seen = []
        async for event in stream:
            seen.append(comparable(event))
            break
        return seen + [comparable(event) async for event in stream]

    plain = await first_then_rest(
        original(make_model(ScriptedBackend([many_text_chunks(5)])), **model_arguments())
    )
    instrument()
    events = make_model(ScriptedBackend([many_text_chunks(5)])).stream_response(**model_arguments())
    assert events.__aiter__().ag_code is _relay_events.__code__
    assert await first_then_rest(events) == plain
    (span,) = span_exporter.get_finished_spans()
    assert "chatspan.stream.closed_early" not in span.attributes


async def test_a_stream_never_stepped_is_ended_and_freed_when_dropped(instrument, span_exporter):
    """Its relay's code never runs: what its frame holds ends the call, closed early, at once."""
    instrument()
    model = make_model(ScriptedBackend([many_text_chunks(5)]))
    gc.collect()
    gc.disable()
    try:
        events = model.stream_response(**model_arguments())
        iterator = aiter(events)  # handed out, never stepped
        del events, iterator
        ended = span_exporter.get_finished_spans()
        alive = live_chat_calls()
    finally:
        gc.enable()
    (span,) = ended
    assert span.attributes["chatspan.stream.closed_early"] is True
    assert alive == 0


async def test_an_exception_thrown_into_the_iterator_is_an_early_close_not_an_error(
    instrument, span_exporter
):
    """What ``async for`` steps is our relay; an exception thrown in at its ``yield`` comes from
    outside the model (asyncio cancels a dropped stream's close when its loop shuts down)."""
    instrument()
    events = make_model(ScriptedBackend([many_text_chunks(5)])).stream_response(**model_arguments())
    iterator = aiter(events)
    await anext(iterator)
    thrown = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError) as raised:
        await iterator.athrow(thrown)
    assert raised.value is thrown
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["chatspan.stream.closed_early"] is True
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes
