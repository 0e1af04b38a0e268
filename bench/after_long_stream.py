"""How a stream's start depends on the call before it: why the issue's per-event figure runs
above the steady state.

``overhead.py`` runs the 20-event and the 200-event streams in rounds of their own, so each call
of the 200-event workload follows 200-event calls. Here every timed stream is preceded by an
untimed one of the same mode, and the two lengths vary apart: the time to the first event,
paired with the baseline's in the same round, shows whether the start pays for the stream before
it or for its own length. Modes, fake client and arguments are ``overhead.py``'s; metric values
queue and are collected every 20 rounds, as there.

Run: ``python bench/after_long_stream.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead  # the sibling script: its modes, fake client and arguments

MODES = ("baseline", "bare", "floor", "off")
# (text chunks of the untimed stream before, of the timed one)
ORDERS = ((15, 15), (195, 15), (15, 195), (195, 195))


async def _first_event_us(model: Any, text_chunks: int, arguments: dict[str, Any]) -> float:
    """A whole stream, consumed; the time from the call to its first event."""
    model._client.chat.completions.stream_size = text_chunks
    start = time.perf_counter()
    first = 0.0
    async for _event in model.stream_response(**arguments):
        if not first:
            first = time.perf_counter()
    return (first - start) * 1e6


async def _measure(rounds: int) -> dict[tuple[int, int], dict[str, float]]:
    chatspan_pass = overhead.new_pass("off", overhead.dropping_tracer_provider())
    arguments = overhead._arguments("What is the status?")
    results: dict[tuple[int, int], dict[str, float]] = {}
    try:
        for before, timed in ORDERS:
            firsts: dict[str, list[float]] = {mode: [] for mode in MODES}
            chatspan_pass._collect()
            for index in range(rounds + rounds // 10):  # the first tenth warms up
                for mode in MODES:
                    with chatspan_pass.model_of(mode) as model:
                        await _first_event_us(model, before, arguments)
                        first = await _first_event_us(model, timed, arguments)
                    if index >= rounds // 10:
                        firsts[mode].append(first)
                if index % 20 == 19:
                    chatspan_pass._collect()
            base = firsts["baseline"]
            results[(before, timed)] = {
                mode: statistics.median(t - b for t, b in zip(firsts[mode], base, strict=True))
                for mode in MODES[1:]
            }
    finally:
        chatspan_pass.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=400)
    options = parser.parse_args()
    results = asyncio.run(_measure(options.rounds))
    print("time to the first event above the baseline's (µs, median of paired rounds)")
    print(f"{'stream before':>14}{'timed stream':>14}" + "".join(f"{m:>8}" for m in MODES[1:]))
    for (before, timed), overheads in results.items():
        row = "".join(f"{overheads[mode]:>8.1f}" for mode in MODES[1:])
        print(f"{before + 5:>8} events{timed + 5:>8} events{row}")


if __name__ == "__main__":
    main()
