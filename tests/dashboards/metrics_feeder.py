"""Serve the demo agent's metrics for Prometheus to scrape.

Run as ``python -m tests.dashboards.metrics_feeder PORT`` from the repository root.

Started by ``test_prometheus.py`` in its own interpreter with ``CHATSPAN_ENABLED=1``, so chatspan
is activated the way a user's app is; the meter provider set here (a ``PrometheusMetricReader``
behind an HTTP server on 127.0.0.1:PORT) is the one chatspan finds and reuses. Every round runs the
demo agent (a handoff, two tools, a plain and a streamed turn), one chat call the provider answers
with HTTP 429 and one tool that raises, so the error panels have series too. Rounds repeat until
the process is killed, so counters rise between scrapes and ``rate()`` has something to show.
Prints ``ready`` once the first round is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import start_http_server

SERVICE = "chatspan-demo"
MODEL = "gpt-4o-mini"


def lookup_order(order_id: str) -> str:
    """Look up an order (always fails: the tool error panel needs one)."""
    raise RuntimeError(f"order service unavailable for {order_id}")


async def _failures() -> None:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool

    from chatspan.exporters.scripted_backend import (
        HttpError,
        ScriptedBackend,
        completion,
        tool_call,
    )

    usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
    backend = ScriptedBackend(
        [
            completion(None, tool_calls=[tool_call("call_1", "lookup_order", '{"order_id":"42"}')],
                       finish_reason="tool_calls", usage=usage),
            completion("The order service is down.", usage=usage),
            HttpError(429, "rate limited"),
        ]
    )  # fmt: skip
    model = OpenAIChatCompletionsModel(model=MODEL, openai_client=backend.client())
    agent = Agent(name="Orders agent", tools=[function_tool(lookup_order)], model=model)
    await Runner.run(agent, "Where is order 42?")
    with contextlib.suppress(Exception):  # the 429, as openai.RateLimitError: recorded
        await Runner.run(agent, "And order 43?")


def main(port: int) -> None:
    reader = PrometheusMetricReader()
    metrics.set_meter_provider(
        MeterProvider(resource=Resource.create({"service.name": SERVICE}), metric_readers=[reader])
    )
    start_http_server(port, addr="127.0.0.1")

    from chatspan.exporters import demo_agent
    from chatspan.exporters.demo_agent import build_agents
    from chatspan.instrumentation import activation

    if not activation.is_activated():
        activation.activate_from_env()
    first = True
    while True:
        concierge = build_agents(demo_agent._model("scripted", MODEL))
        asyncio.run(demo_agent._run(concierge))
        asyncio.run(_failures())
        if first:
            print("ready", flush=True)
            first = False
        time.sleep(0.5)


if __name__ == "__main__":
    main(int(sys.argv[1]))
