"""Per-call overhead of chatspan against an uninstrumented baseline, in one interleaved run.

Modes:
  baseline  the Agents SDK's OpenAIChatCompletionsModel, untouched
  bare      a reference wrapper written here: one span, ten attributes, events re-yielded
  floor     the bare reference plus the SDK work the issue's span needs beyond it: the span
            current while the model runs, and the response's attributes set after the start
  off       chatspan, content capture off
  on        chatspan, content capture on, a 2 KB prompt (the sanitizer runs)
Workloads: get_response, and stream_response of about 20 and 200 events. The model talks to an
in-process fake client returning prebuilt ChatCompletion objects (streamed through openai's own
``AsyncStream`` type, as a real client's are; ``--plain-stream`` for a bare async iterator), so
what is timed is the SDK's own work plus ours, not HTTP. All modes share one TracerProvider
with a SimpleSpanProcessor and an exporter that drops spans, and one fake client, so each reads
the very same prebuilt objects.

The modes live side by side, so a round is one call of each, in shuffled order, and each mode's
overhead is its time minus the baseline's *in the same round*. This machine's speed drifts by up
to 2x over tens of milliseconds (a plain Python loop measured 13 to 25 ms), which swamped figures
taken batch by batch; paired calls see the same speed. chatspan instruments the model class as a
user would; the baseline, bare and floor models are subclasses whose methods are the SDK's own
functions, taken before instrumenting, and they run with chatspan's process-wide hooks on the
Agents SDK's ``Scope`` removed. Capture off and on are two passes (the instrumentor is one per
process), each with its own baseline, bare and floor rounds. The garbage collector runs as it
would in production: a median shrugs off its pauses, a p95 shows them.

chatspan's metrics go to a MeterProvider whose reader is collected every few rounds, outside the
timed calls, as a periodic reader would in its own thread; that collection (where chatspan's
queued metric values are recorded) is timed apart and printed per call.
Run: ``python bench/overhead.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

from agents import ModelSettings
from agents.models.interface import ModelTracing
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from openai import AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from chatspan.instrumentation import ChatCompletionsInstrumentor
from chatspan.instrumentation.bridge_context import hook_scope, unhook_scope

PROMPT_2KB = ("Please summarise the following note for the on-call engineer. " * 40)[:2048]
MODEL = "gpt-4o-mini"


class _DropExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _completion() -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "All systems nominal."},
                }
            ],
            "usage": {"prompt_tokens": 500, "completion_tokens": 5, "total_tokens": 505},
        }
    )


def _chunks(text_chunks: int) -> list[ChatCompletionChunk]:
    def chunk(delta: dict | None, finish: str | None = None, usage: dict | None = None):
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage:
            body["usage"] = usage
        return ChatCompletionChunk.model_validate(body)

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": f"w{i} "}) for i in range(text_chunks)]
    chunks.append(chunk({}, "stop"))
    chunks.append(
        chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14})
    )
    return chunks


class _FakeCompletions:
    def __init__(self, chunk_stream: type[Any]) -> None:
        self.chunk_stream = chunk_stream  # what a streamed create returns, over the chunks
        self.completion = _completion()
        self.streams = {n: _chunks(n) for n in (15, 195)}
        self.stream_size = 15

    async def create(self, **kwargs: Any) -> Any:
        if kwargs.get("stream") is True:
            return self.chunk_stream(self.streams[self.stream_size])
        return self.completion


class OpenAIChunkStream(AsyncStream[ChatCompletionChunk]):
    """openai's own stream type over prebuilt chunks, so the SDK iterates it as it does the
    stream a real client returns (through ``AsyncStream.__aiter__``), minus the SSE parsing."""

    def __init__(self, items: list[Any]) -> None:  # not AsyncStream's: no response to decode
        self._items = items
        self._iterator = self.__stream__()

    async def __stream__(self) -> AsyncIterator[Any]:
        for item in self._items:
            yield item

    async def close(self) -> None:
        pass


class PlainChunkStream:
    """A bare async iterator (``--plain-stream``): the fixture of the first three sessions."""

    def __init__(self, items: list[Any]) -> None:
        self._items = iter(items)

    def __aiter__(self) -> PlainChunkStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        pass


class _FakeClient:
    base_url = "https://api.openai.com/v1/"

    def __init__(self, chunk_stream: type[Any] = OpenAIChunkStream) -> None:
        self.chat = type("Chat", (), {})()
        self.chat.completions = _FakeCompletions(chunk_stream)


def _arguments(prompt: str) -> dict[str, Any]:
    return {
        "system_instructions": "You are terse.",
        "input": prompt,
        "model_settings": ModelSettings(temperature=0.1),
        "tools": [],
        "output_schema": None,
        "handoffs": [],
        "tracing": ModelTracing.DISABLED,
        "previous_response_id": None,
    }


# -- the three kinds of model: the SDK's own, the bare reference, and the instrumented class -----

# The SDK's functions, before anything wraps the class.
_SDK_GET = OpenAIChatCompletionsModel.get_response
_SDK_STREAM = OpenAIChatCompletionsModel.stream_response
_SDK_FETCH = OpenAIChatCompletionsModel._fetch_response


class _Uninstrumented(OpenAIChatCompletionsModel):
    """The SDK's model as if chatspan were not installed: the class's own functions."""

    get_response = _SDK_GET  # type: ignore[assignment]
    stream_response = _SDK_STREAM  # type: ignore[assignment]
    _fetch_response = _SDK_FETCH  # type: ignore[assignment]


def _request_attributes(model: Any) -> dict[str, Any]:
    """What chatspan's span here starts with, too: seven request attributes."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model.model,
        "gen_ai.request.temperature": 0.1,
        "gen_ai.request.stream": False,
        "server.address": "api.openai.com",
        "server.port": 443,
    }


def _bare_attributes(model: Any) -> dict[str, Any]:
    """The issue's ten, all at the start (the response's three as if known in advance)."""
    return {
        **_request_attributes(model),
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 9,
    }


def _bare_model(tracer: Any, client: _FakeClient) -> OpenAIChatCompletionsModel:
    """The bare reference: the floor any instrumentation pays."""

    class Bare(_Uninstrumented):
        async def get_response(self, *args: Any, **kwargs: Any) -> Any:
            span = tracer.start_span(
                "chat", kind=SpanKind.CLIENT, attributes=_bare_attributes(self)
            )
            try:
                return await _SDK_GET(self, *args, **kwargs)
            finally:
                span.end()

        async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            span = tracer.start_span(
                "chat", kind=SpanKind.CLIENT, attributes=_bare_attributes(self)
            )
            try:
                async for event in _SDK_STREAM(self, *args, **kwargs):
                    yield event
            finally:
                span.end()

    return Bare(MODEL, openai_client=client)  # type: ignore[arg-type]


# What the span has that the bare one lacks, and only the SDK can do: the response's
# attributes arrive after the span starts (a second batch), and the span is current while the
# model runs (so the model's HTTP spans nest under it). Seven request attributes at the start and
# five of the response after it; chatspan's span here has the same, and the cost.
_RESPONSE_BATCH = {
    "gen_ai.response.id": "chatcmpl-bench",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.usage.input_tokens": 5,
    "gen_ai.usage.output_tokens": 9,
}


def _floor_model(tracer: Any, client: _FakeClient) -> OpenAIChatCompletionsModel:
    """The bare reference plus the SDK work the issue's span needs: the floor for chatspan."""

    def start(model: Any) -> Any:
        return tracer.start_span(
            "chat", kind=SpanKind.CLIENT, attributes=_request_attributes(model)
        )

    class Floor(_Uninstrumented):
        async def get_response(self, *args: Any, **kwargs: Any) -> Any:
            span = start(self)
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                return await _SDK_GET(self, *args, **kwargs)
            finally:
                otel_context.detach(token)
                span.set_attributes(_RESPONSE_BATCH)
                span.end()

        async def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            span = start(self)
            context = trace.set_span_in_context(span)
            events = _SDK_STREAM(self, *args, **kwargs)
            try:
                token = otel_context.attach(context)  # the first step makes the request
                try:
                    event = await events.__anext__()
                finally:
                    otel_context.detach(token)
                yield event
                async for event in events:
                    yield event
            finally:
                span.set_attributes(_RESPONSE_BATCH)
                span.end()

    return Floor(MODEL, openai_client=client)  # type: ignore[arg-type]


# -- timing --------------------------------------------------------------------------------

WORKLOADS = {"get_response": 0, "stream_20": 15, "stream_200": 195}  # text chunks per stream
# Per event in the steady state: the time between these two events of the 200-event stream, so
# the span's start and end and the request do not blur the figure.
_STEADY_FROM, _STEADY_TO = 10, 190
_STEADY_EVENTS = _STEADY_TO - _STEADY_FROM


class _Timing(NamedTuple):
    """One call, in µs. Streams also say where the time went, to tell per-event cost from the
    call's own start and end (which cost more after a long stream, for every mode)."""

    total: float
    first: float = 0.0  # streams: from the call to the first event
    after_last: float = 0.0  # streams: from the last event to the stream's end
    steady: float = 0.0  # the 200-event stream: per event, events 10 to 190


async def _one_call(model: Any, workload: str, arguments: dict[str, Any]) -> _Timing:
    if workload == "get_response":
        start = time.perf_counter()
        await model.get_response(**arguments)
        return _Timing((time.perf_counter() - start) * 1e6)
    model._client.chat.completions.stream_size = WORKLOADS[workload]
    steady_start = steady = first = 0.0
    seen = 0
    start = last = time.perf_counter()
    async for _event in model.stream_response(**arguments):
        last = time.perf_counter()
        seen += 1
        if seen == 1:
            first = last
        elif seen == _STEADY_FROM:
            steady_start = last
        elif seen == _STEADY_TO:
            steady = (last - steady_start) * 1e6 / _STEADY_EVENTS
    end = time.perf_counter()
    return _Timing((end - start) * 1e6, (first - start) * 1e6, (end - last) * 1e6, steady)


class _Pass:
    """One instrumentor's pass: rounds of baseline, bare and chatspan calls, interleaved."""

    def __init__(
        self,
        mode: str,
        tracer_provider: Any,
        meter_provider: Any,
        reader: Any,
        chunk_stream: type[Any] = OpenAIChunkStream,
    ) -> None:
        self.mode, self.reader = mode, reader
        # One client for all: every mode reads the very same prebuilt completion and chunks.
        # With a client each, one mode's objects could sit worse in memory than another's, a
        # bias pairing cannot remove (the 200-event baseline measured up to 0.4 µs per event
        # slower than the bare reference, which runs the same code and more).
        client = self.client = _FakeClient(chunk_stream)
        self.models = {
            "baseline": _Uninstrumented(MODEL, openai_client=client),  # type: ignore[arg-type]
            "bare": _bare_model(tracer_provider.get_tracer("bare"), client),
            "floor": _floor_model(tracer_provider.get_tracer("floor"), client),
            mode: OpenAIChatCompletionsModel(MODEL, openai_client=client),  # type: ignore[arg-type]
        }
        self.arguments = _arguments(PROMPT_2KB if mode == "on" else "What is the status?")
        self.timings: dict[tuple[str, str], list[_Timing]] = {}
        self.collection_us = 0.0
        self.scope_hooks = True  # False: chatspan's calls, too, run without its Scope hooks
        self._order = random.Random(2)  # seeded: the same orders every run
        self.instrumentor = ChatCompletionsInstrumentor()
        self.instrumentor.instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            capture_content=(mode == "on"),
            skip_dep_check=True,
        )

    async def run(self, workload: str, rounds: int, *, keep: bool = True) -> None:
        """``rounds`` rounds of ``workload``; ``keep=False`` warms up and records nothing."""
        names = list(self.models)
        self._collect()  # as after a first export interval; not counted
        for index in range(rounds):
            # A shuffled order, not a rotation: a call is slower after one that left more
            # garbage or colder caches, and a rotation would have one mode follow another
            # two rounds in three.
            for name in self._order.sample(names, len(names)):
                with self.model_of(name) as model:
                    timing = await _one_call(model, workload, self.arguments)
                if keep:
                    self.timings.setdefault((name, workload), []).append(timing)
            if index % 20 == 19:
                collection = self._collect()
                self.collection_us += collection if keep else 0.0
        self.collection_us += self._collect() if keep else 0.0

    @contextlib.contextmanager
    def model_of(self, name: str) -> Iterator[Any]:
        """Mode ``name``'s model, to call in the ``with``: chatspan's hooks on the SDK's
        ``Scope`` are process-wide, so they are off while another mode's calls run."""
        if name != self.mode:
            unhook_scope()
        try:
            yield self.models[name]
        finally:
            if self.scope_hooks:
                hook_scope()

    def _collect(self) -> float:
        """One collection, in µs: what a periodic reader's thread does every interval."""
        start = time.perf_counter()
        self.reader.get_metrics_data()
        return (time.perf_counter() - start) * 1e6

    def close(self) -> None:
        self.instrumentor.uninstrument()

    def times(self, name: str, workload: str, part: str = "total") -> list[float]:
        return [getattr(timing, part) for timing in self.timings[(name, workload)]]

    def overheads(self, name: str, workload: str, part: str = "total") -> list[float]:
        """Per round: this mode's time (or ``part`` of it) minus the baseline's in that round."""
        base = self.times("baseline", workload, part)
        return [t - b for t, b in zip(self.times(name, workload, part), base, strict=True)]


def dropping_tracer_provider() -> TracerProvider:
    """The one span pipeline every mode shares: the SDK's simple processor, spans dropped."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_DropExporter()))
    return tracer_provider


def new_pass(
    mode: str, tracer_provider: TracerProvider, chunk_stream: type[Any] = OpenAIChunkStream
) -> _Pass:
    """A pass whose metrics go to a reader of its own, collected only when the pass says."""
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return _Pass(mode, tracer_provider, meter_provider, reader, chunk_stream)


async def _measure(
    rounds: dict[str, int], chunk_stream: type[Any] = OpenAIChunkStream
) -> list[_Pass]:
    tracer_provider = dropping_tracer_provider()
    passes = []
    for mode in ("off", "on"):
        chatspan_pass = new_pass(mode, tracer_provider, chunk_stream)
        try:
            for workload, count in rounds.items():
                await chatspan_pass.run(workload, max(count // 10, 1), keep=False)
                await chatspan_pass.run(workload, count)
        finally:
            chatspan_pass.close()
        passes.append(chatspan_pass)
    return passes


async def _time_calls(model: Any, workload: str, prompt: str, count: int) -> None:
    arguments = _arguments(prompt)
    for _ in range(count):
        await _one_call(model, workload, arguments)


async def _memory_growth(calls: int) -> tuple[float, float]:
    tracer_provider = dropping_tracer_provider()
    reader = InMemoryMetricReader()
    instrumentor = ChatCompletionsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider,
                            meter_provider=MeterProvider(metric_readers=[reader]),
                            skip_dep_check=True)  # fmt: skip
    model = OpenAIChatCompletionsModel(MODEL, openai_client=_FakeClient())  # type: ignore[arg-type]
    try:
        await _time_calls(model, "stream_20", "hi", 1000)
        reader.get_metrics_data()  # metric values queue from here on, and are drained below
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await _time_calls(model, "stream_20", "hi", calls // 2)
        await _time_calls(model, "get_response", "hi", calls // 2)
        reader.get_metrics_data()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    finally:
        instrumentor.uninstrument()
    return before / 1024, after / 1024


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _report(passes: list[_Pass], rounds: dict[str, int]) -> None:
    print(f"rounds per workload: {rounds}; each round one call of each mode, paired\n")
    print(f"{'workload':<13}{'mode':<10}{'median µs':>11}{'p95 µs':>9}"
          f"{'overhead µs':>13}{'p95 ovh':>9}{'x bare':>8}")  # fmt: skip
    overhead: dict[tuple[str, str], float] = {}
    for workload in rounds:
        for chatspan_pass in passes:
            shown = ("baseline", "bare", "floor", "off") if chatspan_pass.mode == "off" else ("on",)
            bare = statistics.median(chatspan_pass.overheads("bare", workload))
            for name in shown:
                times = chatspan_pass.times(name, workload)
                paired = chatspan_pass.overheads(name, workload)
                median = statistics.median(paired)
                overhead[(name, workload)] = median
                ratio = f"{median / bare:.2f}x" if name in ("floor", "off", "on") else ""
                print(
                    f"{workload:<13}{name:<10}{statistics.median(times):>11.1f}"
                    f"{_p95(times):>9.1f}{median:>13.1f}{_p95(paired):>9.1f}{ratio:>8}"
                )
    events = WORKLOADS["stream_200"] - WORKLOADS["stream_20"]
    print(f"\nper stream event (overhead of 200-event stream minus 20-event stream, / {events}):")
    for name in ("bare", "floor", "off", "on"):
        per_event = (overhead[(name, "stream_200")] - overhead[(name, "stream_20")]) / events
        print(f"  {name:<6}{per_event:>7.2f} µs/event")
    print(
        f"\nper stream event in the steady state (events {_STEADY_FROM} to {_STEADY_TO} of the"
        " 200-event stream; median of the paired differences from the baseline):"
    )
    for chatspan_pass in passes:
        if chatspan_pass.mode == "off":
            base = statistics.median(chatspan_pass.times("baseline", "stream_200", "steady"))
            print(f"  {'baseline':<9}{base:>7.2f} µs/event")
        for name in ("bare", "floor", chatspan_pass.mode):
            paired = chatspan_pass.overheads(name, "stream_200", "steady")
            label = f"({chatspan_pass.mode} pass)"
            print(f"  {name:<9}{statistics.median(paired):>+7.2f} µs/event {label}")
    print(
        "\nwhere a stream's overhead lies (µs, median of the paired differences): before the"
        " first event, after the last"
    )
    for workload in ("stream_20", "stream_200"):
        for chatspan_pass in passes:
            for name in ("bare", "floor", "off") if chatspan_pass.mode == "off" else ("on",):
                first, after = (
                    statistics.median(chatspan_pass.overheads(name, workload, part))
                    for part in ("first", "after_last")
                )
                print(f"  {workload:<12}{name:<6}{first:>8.1f}{after:>8.1f}")
    print("\nmetrics recorded at collection, off the calls (collection µs / chatspan calls):")
    calls = sum(rounds.values())
    for chatspan_pass in passes:
        print(f"  {chatspan_pass.mode:<9}{chatspan_pass.collection_us / calls:>7.1f} µs/call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000, help="rounds for get_response")
    parser.add_argument("--memory-calls", type=int, default=10_000)
    parser.add_argument(
        "--plain-stream", action="store_true", help="chunks from a bare async iterator"
    )
    options = parser.parse_args()
    # Streams take longer per call; their round counts scale down so each workload takes a while.
    rounds = {
        "get_response": options.rounds,
        "stream_20": max(options.rounds // 2, 20),
        "stream_200": max(options.rounds // 4, 20),
    }
    chunk_stream = PlainChunkStream if options.plain_stream else OpenAIChunkStream
    passes = asyncio.run(_measure(rounds, chunk_stream))
    _report(passes, rounds)
    before, after = asyncio.run(_memory_growth(options.memory_calls))
    print(
        f"\ntracemalloc over {options.memory_calls} calls after 1000 warm-up: "
        f"{before:.0f} KiB -> {after:.0f} KiB ({after - before:+.0f} KiB)"
    )


if __name__ == "__main__":
    main()
