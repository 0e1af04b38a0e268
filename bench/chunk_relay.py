"""The chunk relay's cost per chunk, in isolation: stacked on openai's own relay, or in its place.

openai's ``AsyncStream`` is iterated through its ``__aiter__``, a generator re-yielding every
item of the stream's ``_iterator``. chatspan's chunk relay reads each chunk on its way to the
SDK's stream handler; ``stream._chunk_source`` has it step ``_iterator`` itself, so it takes the
place of openai's generator instead of adding a second one per chunk. Three ways of stepping the
200 prebuilt chunks of ``overhead.py``'s 200-event stream, interleaved, a median per chunk:

  openai    the stream as the SDK iterates it without chatspan
  stacked   chatspan's relay over openai's (what chatspan did before ``_chunk_source``)
  in place  chatspan's relay where openai's was (what it does now)

Run: ``python bench/chunk_relay.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from chatspan.instrumentation.stream import _relay_chunks

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead  # the sibling script: its prebuilt chunks and openai-typed stream


class _Call:
    """What the relay reports to, doing nothing: only the relay's own work is timed."""

    def first_chunk(self, chunk: Any) -> None:
        pass

    def last_chunks(self, chunk: Any, choices: Any) -> None:
        pass

    def chunks_ended(self, count: int) -> None:
        pass


class _Stacked:
    """Iterated as openai's stream is, but not recognised as it: the relay stacks on top."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.stream.__aiter__()


def _ways(chunks: list[Any]) -> dict[str, Callable[[], Any]]:
    call = _Call()
    stream = overhead.OpenAIChunkStream
    return {
        "openai": lambda: stream(chunks),
        "stacked": lambda: _relay_chunks(_Stacked(stream(chunks)), call),  # type: ignore[arg-type]
        "in place": lambda: _relay_chunks(stream(chunks), call),  # type: ignore[arg-type]
    }


async def _ns_per_chunk(make: Callable[[], Any], count: int) -> float:
    iterator = make()
    start = time.perf_counter()
    async for _chunk in iterator:
        pass
    return (time.perf_counter() - start) * 1e9 / count


async def _measure(rounds: int) -> dict[str, list[float]]:
    chunks = overhead._chunks(195)
    ways = _ways(chunks)
    times: dict[str, list[float]] = {name: [] for name in ways}
    order = random.Random(4)
    for index in range(rounds + rounds // 10):
        for name in order.sample(list(ways), len(ways)):
            took = await _ns_per_chunk(ways[name], len(chunks))
            if index >= rounds // 10:  # the first tenth warms up
                times[name].append(took)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    options = parser.parse_args()
    times = asyncio.run(_measure(options.rounds))
    openai_ns = times["openai"]
    print(f"{len(openai_ns)} rounds of 200 chunks; ns per chunk, median (paired, above openai's)")
    for name, values in times.items():
        above = statistics.median(v - o for v, o in zip(values, openai_ns, strict=True))
        print(f"  {name:9} {statistics.median(values):7.0f}   {above:+6.0f}")


if __name__ == "__main__":
    main()
