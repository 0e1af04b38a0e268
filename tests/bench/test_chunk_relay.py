"""``bench/chunk_relay.py`` times what it says: the same chunks stepped three ways, only one of
them through both relays. Timings are not checked."""

from __future__ import annotations

import openai

from ..instrumentation.streams import relays_started
from .scripts import load_bench_script


async def _relays_and_chunks(make):
    """The chunks one way yields, and the code of every async generator it started."""
    with relays_started() as started:
        return [chunk async for chunk in make()], started


async def test_each_way_yields_the_same_chunks_through_the_relays_it_names():
    bench = load_bench_script("chunk_relay")
    chunks = bench.overhead._chunks(4)
    openai_relay = openai.AsyncStream.__aiter__.__code__
    ours = bench._relay_chunks.__code__
    seen = {name: await _relays_and_chunks(make) for name, make in bench._ways(chunks).items()}
    for yielded, _ in seen.values():
        assert len(yielded) == len(chunks)
        assert all(got is sent for got, sent in zip(yielded, chunks, strict=True))
    relays = {name: {code for code in codes if code in (openai_relay, ours)}
              for name, (_, codes) in seen.items()}  # fmt: skip
    assert relays == {
        "openai": {openai_relay},
        "stacked": {openai_relay, ours},
        "in place": {ours},
    }


async def test_it_reports_every_way():
    bench = load_bench_script("chunk_relay")
    times = await bench._measure(10)
    assert set(times) == {"openai", "stacked", "in place"}
    assert all(len(values) == 10 and min(values) > 0 for values in times.values())
