"""The agent the exporter-fault tests run in a child interpreter, traced as a user's agent is.

Started with ``CHATSPAN_ENABLED=1`` and one scenario's ``OTEL_*`` variables, so the ``.pth``
activation, ``configure()`` at the first span and the bounded flush at exit are the real ones; the
script itself never imports chatspan's instrumentation. The model is ``OpenAIChatCompletionsModel``
on the scripted backend, so a call costs milliseconds and any slowdown an exporter causes shows.

``python fault_agent.py --calls N --phases P`` makes one warm-up run (it configures the exporters),
then P phases of N ``Runner.run`` calls, each timed. After each phase it prints
``{"phase": i, "latencies": [seconds, ...]}`` and reads commands from stdin until ``next``:
``flush`` flushes the tracer provider and answers ``{"flushed": ok}``. The last phase waits too,
so a test can see spans arrive while the process still runs (else they would race the bounded
flush at exit, behind an export still retrying an earlier fault). On that ``next`` it prints
``{"event": "exiting"}`` and returns; an ``atexit`` handler registered before chatspan's (so
it runs after it) prints ``{"event": "flushed at exit"}``. The test times chatspan's bounded flush
between those two lines, and the interpreter's whole exit up to the end of the process.
Agents are named ``phase-<i>``, so the receiver can tell which phase a span came from.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import sys
import time
from typing import Any

from agents import Agent, Runner
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from opentelemetry import trace

from chatspan.exporters.scripted_backend import ScriptedBackend, completion

ANSWER = "ok"


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def _timed_runs(model: OpenAIChatCompletionsModel, name: str, calls: int) -> list[float]:
    agent = Agent(name=name, instructions="Answer briefly.", model=model)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        result = await Runner.run(agent, "hello")
        latencies.append(time.perf_counter() - started)
        if result.final_output != ANSWER:
            raise SystemExit(f"unexpected answer {result.final_output!r}")
    return latencies


def _await_next() -> None:
    for line in sys.stdin:
        command = line.strip()
        if command == "next":
            return
        if command == "flush":
            _say({"flushed": bool(trace.get_tracer_provider().force_flush())})  # type: ignore[attr-defined]
    raise SystemExit("stdin closed before 'next'")


async def main(calls: int, phases: int) -> None:
    backend = ScriptedBackend(fallback=lambda body: completion(ANSWER))
    model = OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=backend.client())
    _say({"phase": 0, "latencies": await _timed_runs(model, "phase-0", 1)})
    for phase in range(1, phases + 1):
        latencies = await _timed_runs(model, f"phase-{phase}", calls)
        _say({"phase": phase, "latencies": latencies})
        await asyncio.to_thread(_await_next)
    _say({"event": "exiting"})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--phases", type=int, default=1)
    options = parser.parse_args()
    atexit.register(_say, {"event": "flushed at exit"})  # before chatspan's: runs after it
    asyncio.run(main(options.calls, options.phases))
