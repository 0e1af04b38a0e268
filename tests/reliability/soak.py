"""A soak of model calls on the scripted backend, with memory read at fixed points.

Calls alternate ``get_response`` and a streamed ``stream_response``, one after another, each with
its own prompt (a cache keyed on content would grow). Memory is read after a warm-up (imports,
first-call caches, the metric series are made then) at three points: after warm-up, at the start
of a final window, at the end. Python's allocated-block count and RSS are read at each point;
tracemalloc runs only over the final window, because it slows every allocation and made a call
about five times slower on the 2-vCPU test machine. Its first reading is taken after the first
fifth of the window: blocks allocated before tracing started and replaced once it runs (entries
cycling through the ``re`` and other caches) would otherwise read as growth (about 40 KiB over
the first 300 calls, measured). Spans still queued for export are flushed before each reading, so
the batch queue's contents are never mistaken for growth.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel

from chatspan.exporters.scripted_backend import ScriptedBackend, completion, text_chunks
from tests.instrumentation.calls import make_model, model_arguments
from tests.reliability.load_runs import quiet_backend
from tests.reliability.memory import rss_kib, traced_kib

__all__ = ["SoakFigures", "measured_soak", "soak", "soak_model"]

_TEXT = "All systems nominal, nothing to report."
_USAGE = {"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46}


def _reply(body: dict[str, Any]) -> Any:
    if body.get("stream"):
        return text_chunks(_TEXT.split(" "), usage=_USAGE)
    return completion(_TEXT, usage=_USAGE)


def soak_model() -> OpenAIChatCompletionsModel:
    return make_model(quiet_backend(ScriptedBackend(fallback=_reply)))


async def soak(model: OpenAIChatCompletionsModel, indices: Iterable[int]) -> int:
    """One model call per index, one after another; odd indices stream. Returns the call count."""
    calls = 0
    for index in indices:
        arguments = model_arguments(f"Status report {index}: is the service healthy?")
        if index % 2:
            async for _ in model.stream_response(**arguments):
                pass
        else:
            response = await model.get_response(**arguments)
            if not response.output:
                raise AssertionError(f"call {index} returned no output")
        calls += 1
    return calls


@dataclass
class SoakFigures:
    """What one soak measured. ``blocks``: Python's allocated memory blocks after a collection."""

    warmup_calls: int
    steady_calls: int
    window_calls: int
    seconds: float = 0.0
    rss_kib: dict[str, float] = field(default_factory=dict)
    blocks: dict[str, int] = field(default_factory=dict)
    traced_kib: dict[str, float] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return self.warmup_calls + self.steady_calls + self.window_calls

    @property
    def block_growth(self) -> int:
        """Blocks gained from the end of warm-up to the end of the soak."""
        return self.blocks["end"] - self.blocks["after warm-up"]

    @property
    def traced_growth_kib(self) -> float:
        """Live Python memory gained over the traced window, after its first fifth (tracemalloc)."""
        return self.traced_kib["end"] - self.traced_kib["window start"]


async def measured_soak(
    model: OpenAIChatCompletionsModel,
    flush: Callable[[], object],
    *,
    warmup: int,
    steady: int,
    window: int,
) -> SoakFigures:
    """Warm up, run ``steady`` calls, then ``window`` calls under tracemalloc (read after its
    first fifth and at the end); ``flush`` empties the span queue before each reading."""
    figures = SoakFigures(warmup, steady, window)

    def read(point: str) -> None:
        flush()
        figures.blocks[point] = _blocks()
        figures.rss_kib[point] = rss_kib()

    started = time.perf_counter()
    read("before warm-up")
    await _timed(figures, "warm-up", soak(model, range(warmup)))
    read("after warm-up")
    await _timed(figures, "steady", soak(model, range(warmup, warmup + steady)))
    read("window start")
    already_tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    first = warmup + steady
    lead = window // 5
    try:
        await soak(model, range(first, first + lead))
        flush()
        figures.traced_kib["window start"] = traced_kib()
        await _timed(figures, "window", soak(model, range(first + lead, figures.calls)))
        flush()
        figures.traced_kib["end"] = traced_kib()
    finally:
        if not already_tracing:
            tracemalloc.stop()
    read("end")
    figures.seconds = time.perf_counter() - started
    return figures


async def _timed(figures: SoakFigures, phase: str, calls: Awaitable[int]) -> None:
    started = time.perf_counter()
    await calls
    figures.phase_seconds[phase] = time.perf_counter() - started


def _blocks() -> int:
    gc.collect()
    return sys.getallocatedblocks()
