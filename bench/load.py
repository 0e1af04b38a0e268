"""Load and soak figures: concurrent streamed agent runs, then a long run of model calls.

Load: ``--runs`` streamed agent runs (triage hands off to weather, which calls a tool and
answers: three streamed model calls each) started together on one event loop, first without
chatspan, then with it, on the scripted backend (a real ``AsyncOpenAI`` over an in-process
transport). Soak: ``--calls`` model calls one after another, half ``get_response`` and half
``stream_response``, content capture on. Spans go through chatspan's own export path
(``build_providers``: span ledger, batch processor, loss report) to an exporter that counts them.

The run and measurement code is the reliability tests' own (``tests/reliability``), so these
figures and the tests' assertions come from the same code. Run from the repository root:
``python bench/load.py`` (1,000 runs, 100,000 calls), ``--runs 100 --calls 3000`` for a quick look.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package, for its helpers

from agents import tracing
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from chatspan.instrumentation import ChatCompletionsInstrumentor
from tests.reliability.load_runs import (
    CALLS_PER_RUN,
    Peaks,
    concurrent_runs,
    load_model,
    other_tasks,
)
from tests.reliability.memory import rss_kib
from tests.reliability.soak import measured_soak, soak_model
from tests.reliability.span_accounting import EXPORTER_NAME, counting_providers

_FLUSH_MILLIS = 60_000


def _instrument(tracer_provider: Any, capture: bool) -> ChatCompletionsInstrumentor:
    instrumentor = ChatCompletionsInstrumentor()
    instrumentor.instrument(
        tracer_provider=tracer_provider,
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        capture_content=capture,
    )
    return instrumentor


async def _sampled_runs(runs: int) -> tuple[list[Any], float, Peaks]:
    peaks = Peaks()
    sampler = asyncio.ensure_future(peaks.sample())
    started = time.perf_counter()
    try:
        streams = await concurrent_runs(runs, load_model())
    finally:
        elapsed = time.perf_counter() - started
        peaks.stop()
        await sampler
    return streams, elapsed, peaks


def _spans_line(census: Any, exporter: Any, lost: int) -> str:
    return (
        f"spans: created {census.ended} ({census.chat_ended} chat), exported {exporter.exported} "
        f"({exporter.chat} chat), reported lost {lost}; "
        f"unaccounted {census.ended - exporter.exported - lost}"
    )


async def load(runs: int, workdir: Path) -> None:
    threads_before = threading.active_count()
    await concurrent_runs(min(runs, 20), load_model())  # first-use costs, in neither figure
    baseline, base_seconds, base_peaks = await _sampled_runs(runs)
    handle, exporter, census = counting_providers(workdir)
    instrumentor = _instrument(handle.tracer_provider, capture=False)
    try:
        traced, seconds, peaks = await _sampled_runs(runs)
    finally:
        instrumentor.uninstrument()
    flushed = handle.shutdown(_FLUSH_MILLIS)
    await asyncio.get_running_loop().shutdown_default_executor()  # openai's platform probe
    lost = handle.lost_spans().get(EXPORTER_NAME, 0)

    print(f"## load: {runs} concurrent streamed agent runs ({CALLS_PER_RUN} model calls each)")
    print(f"without chatspan: {base_seconds:.2f} s, {runs / base_seconds:.0f} runs/s")
    print(
        f"with chatspan:    {seconds:.2f} s, {runs / seconds:.0f} runs/s, "
        f"{runs * CALLS_PER_RUN / seconds:.0f} model calls/s"
    )
    print(f"event streams identical to the uninstrumented runs: {traced == baseline}")
    print(f"{_spans_line(census, exporter, lost)}; flush finished in time: {flushed}")
    print(
        f"peak tasks {base_peaks.tasks} without / {peaks.tasks} with; "
        f"peak threads {base_peaks.threads} without / {peaks.threads} with"
    )
    print(
        f"after: tasks left {len(other_tasks())}, threads {threading.active_count()} "
        f"(before: {threads_before})"
    )


async def soak(calls: int, workdir: Path) -> None:
    warmup = calls // 10
    window = max(10, calls // 50)
    steady = calls - warmup - window
    handle, exporter, census = counting_providers(workdir)
    instrumentor = _instrument(handle.tracer_provider, capture=True)
    peak_threads = threading.active_count()
    try:
        figures = await measured_soak(
            soak_model(),
            lambda: handle.force_flush(_FLUSH_MILLIS),
            warmup=warmup,
            steady=steady,
            window=window,
        )
        peak_threads = max(peak_threads, threading.active_count())
    finally:
        instrumentor.uninstrument()
    flushed = handle.shutdown(_FLUSH_MILLIS)
    lost = handle.lost_spans().get(EXPORTER_NAME, 0)

    print(f"\n## soak: {figures.calls} model calls (half streamed), content capture on")
    print(
        f"{figures.seconds:.1f} s in all; warm-up {warmup} calls, steady {steady}, "
        f"traced window {window} (tracemalloc read after its first fifth and at the end)"
    )
    phases = figures.phase_seconds
    print(
        f"calls/s: warm-up {warmup / phases['warm-up']:.0f}, steady {steady / phases['steady']:.0f}"
        f", traced window {(window - window // 5) / phases['window']:.0f} (tracemalloc on)"
    )
    print(f"{_spans_line(census, exporter, lost)}; flush finished in time: {flushed}")
    print("point             RSS KiB   allocated blocks   tracemalloc KiB")
    for point in ("before warm-up", "after warm-up", "window start", "end"):
        traced = figures.traced_kib.get(point)
        traced_text = "" if traced is None else f"{traced:.1f}"
        print(
            f"{point:<16} {figures.rss_kib[point]:>9.0f}   {figures.blocks[point]:>16}   "
            f"{traced_text:>15}"
        )
    rss_growth = figures.rss_kib["end"] - figures.rss_kib["after warm-up"]
    print(
        f"growth after warm-up: RSS {rss_growth:+.0f} KiB, "
        f"blocks {figures.block_growth:+d} over {steady + window} calls, "
        f"tracemalloc {figures.traced_growth_kib:+.1f} KiB over the window's last "
        f"{window - window // 5} calls"
    )
    print(f"peak threads {peak_threads}; RSS now {rss_kib():.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=100_000)
    options = parser.parse_args()
    tracing.set_trace_processors([])  # nothing goes to OpenAI's trace endpoint
    with tempfile.TemporaryDirectory() as workdir:
        # One loop each: the load shuts its loop's default executor down to count threads after.
        asyncio.run(load(options.runs, Path(workdir)))
        asyncio.run(soak(options.calls, Path(workdir)))


if __name__ == "__main__":
    main()
