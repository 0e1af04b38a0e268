"""Per-call overhead of chatspan against an uninstrumented baseline, in one interleaved run.

Modes, measured in rotating order within each round so drift hits them alike:
  baseline  the Agents SDK's OpenAIChatCompletionsModel, untouched
  bare      a reference wrapper written here: one span, ten attributes, events re-yielded
  off       chatspan, content capture off
  on        chatspan, content capture on, a 2 KB prompt (the sanitizer runs)
Workloads: get_response, and stream_response of about 20 and 200 events. The model talks to an
in-process fake client returning prebuilt ChatCompletion objects, so what is timed is the SDK's
own work plus ours, not HTTP. All modes share one TracerProvider with a SimpleSpanProcessor and
an exporter that drops spans, and chatspan's metrics go to a MeterProvider whose reader is
collected between batches, outside the timed calls, as a periodic reader would in its own
thread; that collection (where chatspan's queued metric values are recorded) is timed apart and
printed per call. Run: ``python bench/overhead.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from agents import ModelSettings
from agents.models.interface import ModelTracing
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from chatspan.instrumentation import ChatCompletionsInstrumentor

PROMPT_2KB = ("Please summarise the following note for the on-call engineer. " * 40)[:2048]


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
    def __init__(self) -> None:
        self.completion = _completion()
        self.streams = {n: _chunks(n) for n in (15, 195)}
        self.stream_size = 15

    async def create(self, **kwargs: Any) -> Any:
        if kwargs.get("stream") is True:
            return _ListStream(self.streams[self.stream_size])
        return self.completion


class _ListStream:
    def __init__(self, items: list[Any]) -> None:
        self._items = iter(items)

    def __aiter__(self) -> _ListStream:
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

    def __init__(self) -> None:
        self.chat = type("Chat", (), {})()
        self.chat.completions = _FakeCompletions()


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


# -- the bare reference: the floor any instrumentation pays --------------------------------


def _bare_attributes(model: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model.model,
        "gen_ai.request.temperature": 0.1,
        "gen_ai.request.stream": False,
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 9,
    }


def _install_bare(tracer: Any) -> Callable[[], None]:
    original_get = OpenAIChatCompletionsModel.get_response
    original_stream = OpenAIChatCompletionsModel.stream_response

    async def get_response(self, *args, **kwargs):
        span = tracer.start_span("chat", kind=SpanKind.CLIENT, attributes=_bare_attributes(self))
        try:
            return await original_get(self, *args, **kwargs)
        finally:
            span.end()

    async def stream_response(self, *args, **kwargs):
        span = tracer.start_span("chat", kind=SpanKind.CLIENT, attributes=_bare_attributes(self))
        try:
            async for event in original_stream(self, *args, **kwargs):
                yield event
        finally:
            span.end()

    OpenAIChatCompletionsModel.get_response = get_response
    OpenAIChatCompletionsModel.stream_response = stream_response

    def restore() -> None:
        OpenAIChatCompletionsModel.get_response = original_get
        OpenAIChatCompletionsModel.stream_response = original_stream

    return restore


# -- timing --------------------------------------------------------------------------------


async def _time_calls(
    model: Any, workload: str, prompt: str, count: int, steady: list[float] | None = None
) -> list[float]:
    """Per-call times in µs; the collector is paused so its pauses land on no one mode."""
    client = model._client
    arguments = _arguments(prompt)
    samples = []
    gc.collect()
    gc.disable()
    try:
        await _timed_loop(
            model, client, workload, arguments, count, samples, [] if steady is None else steady
        )
    finally:
        gc.enable()
    return samples


# Per event in the steady state: the time between these two events of the 200-event stream, so
# the span's start and end and the request do not blur the figure.
_STEADY_FROM, _STEADY_TO = 10, 190
_STEADY_EVENTS = _STEADY_TO - _STEADY_FROM


async def _timed_loop(
    model: Any,
    client: Any,
    workload: str,
    arguments: dict,
    count: int,
    samples: list[float],
    steady: list[float],
) -> None:
    for _ in range(count):
        if workload == "get_response":
            start = time.perf_counter()
            await model.get_response(**arguments)
        else:
            client.chat.completions.stream_size = 15 if workload == "stream_20" else 195
            start = time.perf_counter()
            seen = 0
            async for _event in model.stream_response(**arguments):
                seen += 1
                if seen == _STEADY_FROM:
                    steady_start = time.perf_counter()
                elif seen == _STEADY_TO:
                    steady.append((time.perf_counter() - steady_start) * 1e6 / _STEADY_EVENTS)
        samples.append((time.perf_counter() - start) * 1e6)


def _switch(mode: str, tracer_provider: Any, meter_provider: Any) -> Callable[[], None]:
    if mode == "baseline":
        return lambda: None
    if mode == "bare":
        return _install_bare(tracer_provider.get_tracer("bare"))
    instrumentor = ChatCompletionsInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=(mode == "on"),
        skip_dep_check=True,
    )
    return instrumentor.uninstrument


def _collect(reader: InMemoryMetricReader) -> float:
    """One collection, in µs: what a periodic reader's thread does every interval."""
    start = time.perf_counter()
    reader.get_metrics_data()
    return (time.perf_counter() - start) * 1e6


async def _measure(
    rounds: int, batch: int
) -> tuple[dict[tuple[str, str], list[float]], dict[str, float], dict[str, list[float]]]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_DropExporter()))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    collection_us: dict[str, float] = {}  # per mode: collection time summed over its calls
    steady: dict[str, list[float]] = {}  # per mode: µs per event, events 10 to 190
    model = OpenAIChatCompletionsModel("gpt-4o-mini", openai_client=_FakeClient())  # type: ignore[arg-type]
    modes = ("baseline", "bare", "off", "on")
    samples: dict[tuple[str, str], list[float]] = {}
    for round_index in range(rounds):
        order = modes[round_index % 4 :] + modes[: round_index % 4]
        for mode in order:
            restore = _switch(mode, tracer_provider, meter_provider)
            prompt = PROMPT_2KB if mode == "on" else "What is the status?"
            _collect(reader)  # as after a first export interval; not counted
            try:
                for workload in ("get_response", "stream_20", "stream_200"):
                    times = await _time_calls(
                        model, workload, prompt, batch, steady.setdefault(mode, [])
                    )
                    samples.setdefault((mode, workload), []).extend(times)
                    collection_us[mode] = collection_us.get(mode, 0.0) + _collect(reader)
            finally:
                restore()
    return samples, collection_us, steady


async def _memory_growth(calls: int) -> tuple[float, float]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_DropExporter()))
    reader = InMemoryMetricReader()
    instrumentor = ChatCompletionsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider,
                            meter_provider=MeterProvider(metric_readers=[reader]),
                            skip_dep_check=True)  # fmt: skip
    model = OpenAIChatCompletionsModel("gpt-4o-mini", openai_client=_FakeClient())  # type: ignore[arg-type]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--memory-calls", type=int, default=10_000)
    options = parser.parse_args()

    samples, collection_us, steady = asyncio.run(_measure(options.rounds, options.batch))
    print(f"{options.rounds} rounds x {options.batch} calls per mode and workload\n")
    print(f"{'workload':<13}{'mode':<10}{'median µs':>11}{'p95 µs':>9}"
          f"{'overhead µs':>13}{'p95 ovh':>9}{'x bare':>8}")  # fmt: skip
    overhead: dict[tuple[str, str], float] = {}
    for workload in ("get_response", "stream_20", "stream_200"):
        base = samples[("baseline", workload)]
        base_median, base_p95 = statistics.median(base), _p95(base)
        for mode in ("baseline", "bare", "off", "on"):
            values = samples[(mode, workload)]
            median = statistics.median(values)
            overhead[(mode, workload)] = median - base_median
            bare = overhead.get(("bare", workload))
            ratio = (median - base_median) / bare if bare and mode in ("off", "on") else None
            print(
                f"{workload:<13}{mode:<10}{median:>11.1f}{_p95(values):>9.1f}"
                f"{median - base_median:>13.1f}{_p95(values) - base_p95:>9.1f}"
                f"{'' if ratio is None else f'{ratio:.2f}x':>8}"
            )
    print("\nper stream event (overhead of 200-event stream minus 20-event stream, / 180):")
    for mode in ("bare", "off", "on"):
        per_event = (overhead[(mode, "stream_200")] - overhead[(mode, "stream_20")]) / 180
        print(f"  {mode:<6}{per_event:>7.2f} µs/event")
    print(
        f"\nper stream event in the steady state (events {_STEADY_FROM} to {_STEADY_TO} of the"
        " 200-event stream, median; above baseline):"
    )
    base_steady = statistics.median(steady["baseline"])
    print(f"  {'baseline':<9}{base_steady:>7.2f} µs/event")
    for mode in ("bare", "off", "on"):
        print(f"  {mode:<9}{statistics.median(steady[mode]) - base_steady:>+7.2f} µs/event")
    calls = options.rounds * options.batch * 3
    print("\nmetrics recorded at collection, off the calls (collection µs / calls, all workloads):")
    for mode in ("baseline", "off", "on"):
        print(f"  {mode:<9}{collection_us.get(mode, 0.0) / calls:>7.1f} µs/call")
    before, after = asyncio.run(_memory_growth(options.memory_calls))
    print(
        f"\ntracemalloc over {options.memory_calls} calls after 1000 warm-up: "
        f"{before:.0f} KiB -> {after:.0f} KiB ({after - before:+.0f} KiB)"
    )


if __name__ == "__main__":
    main()
