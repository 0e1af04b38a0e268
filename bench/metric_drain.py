"""What recording chatspan's queued metric values costs the collecting thread, per chat call.

A chat call only queues its metric values; the next collection records them into the SDK's
instruments (README, "Metrics"). That work runs in the periodic reader's thread and holds the
GIL, so it is time the agent's own thread waits for. Here a ``ChatMetrics`` on a real
``MeterProvider`` with an ``InMemoryMetricReader`` queues ``--calls`` entries shaped like a
``get_response`` call (duration, two token counts, a cost) and like a stream's (plus time to
first chunk and the mean gap), and one collection records them: its time over the calls is the
figure. Beside it, the SDK's own price of one record and one add with the same attributes,
since those make up nearly all of it.

Run: ``python bench/metric_drain.py [--calls N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from chatspan.instrumentation.metrics import ChatMetrics

ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "server.address": "api.openai.com",
    "server.port": 443,
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
}
COST_ATTRIBUTES = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
# record_chat's arguments after the context and attributes, per kind of call
SHAPES: dict[str, tuple[Any, ...]] = {
    "get_response": (0.5, (500, 5), None, (0.0001, COST_ATTRIBUTES)),
    "stream": (0.5, (500, 5), (0.2, 0.01), (0.0001, COST_ATTRIBUTES)),
    "get_response, no price": (0.5, (500, 5), None, None),
}


def _collection_per_call(calls: int, repeats: int, context: Any) -> dict[str, float]:
    """µs of collection per queued call, for each shape; the shapes take turns, so each
    collection of one is beside one of the others while the machine's speed drifts."""
    pipelines: dict[str, tuple[InMemoryMetricReader, ChatMetrics]] = {}
    for name in SHAPES:
        reader = InMemoryMetricReader()
        meter = MeterProvider(metric_readers=[reader]).get_meter("bench")
        pipelines[name] = reader, ChatMetrics(meter)
        reader.get_metrics_data()  # a first collection: from now on values queue
    per_call: dict[str, list[float]] = {name: [] for name in SHAPES}
    for repeat in range(repeats + 1):  # the first is a warm-up, not counted
        for name, shape in SHAPES.items():
            reader, chat_metrics = pipelines[name]
            for _ in range(calls):
                chat_metrics.record_chat(context, ATTRIBUTES, *shape)
            start = time.perf_counter()
            reader.get_metrics_data()
            if repeat:
                per_call[name].append((time.perf_counter() - start) * 1e6 / calls)
    return {name: statistics.median(figures) for name, figures in per_call.items()}


def _sdk_costs(context: Any, runs: int = 20_000) -> dict[str, float]:
    """µs per call of the SDK's own record and add, with the attributes chatspan passes."""
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
    histogram, counter = meter.create_histogram("h"), meter.create_counter("c")
    record = timeit.timeit(lambda: histogram.record(0.5, ATTRIBUTES, context=context), number=runs)
    add = timeit.timeit(lambda: counter.add(0.0001, COST_ATTRIBUTES, context=context), number=runs)
    return {
        "histogram record, six attributes": record * 1e6 / runs,
        "counter add, two attributes": add * 1e6 / runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="queued calls per collection")
    parser.add_argument("--repeats", type=int, default=15, help="collections per shape")
    options = parser.parse_args()
    # a sampled span's context, as a real call's: the exemplar filter then keeps an exemplar
    span = TracerProvider().get_tracer("bench").start_span("chat")
    context = trace.set_span_in_context(span)
    print(f"collection time per queued call (median of {options.repeats} collections of "
          f"{options.calls} calls):")  # fmt: skip
    for name, figure in _collection_per_call(options.calls, options.repeats, context).items():
        print(f"  {name:<24}{figure:>7.1f} µs")
    print("the SDK alone, per call:")
    for name, figure in _sdk_costs(context).items():
        print(f"  {name:<34}{figure:>7.1f} µs")


if __name__ == "__main__":
    main()
