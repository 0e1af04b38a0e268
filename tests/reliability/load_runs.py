"""Many streamed agent runs at once on the scripted backend, for the load test and bench.

A streamed run is a triage agent handing off to a weather agent that calls one tool and answers:
three model calls, each streamed. Every run asks about its own city, so a run that received
another run's events would show in its event stream. An event stream is reduced to a plain,
comparable form (its ``signature``), the same whether chatspan is on or off; only the
Responses API's ``created_at`` (a wall-clock time) is left out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

from agents import Agent, Runner, function_tool
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel

from chatspan.exporters.scripted_backend import ScriptedBackend
from tests.instrumentation.agent_runs import planned_model, reply, triage_team

__all__ = [
    "CALLS_PER_RUN",
    "Peaks",
    "concurrent_runs",
    "load_model",
    "other_tasks",
    "quiet_backend",
    "signature",
    "streamed_run",
]

CALLS_PER_RUN = 3  # triage's handoff, weather's tool call, weather's answer
_CLOCK_FIELDS = frozenset({"created_at"})


@function_tool
async def get_weather(city: str) -> str:
    await asyncio.sleep(0)  # a real tool yields to the loop; so does this one
    return f"Sunny in {city}"


def team(index: int, model: OpenAIChatCompletionsModel) -> Agent[Any]:
    city = f"City-{index}"
    return triage_team(model, get_weather, city, f"It is sunny in {city} today, run {index}.")


def quiet_backend(backend: ScriptedBackend) -> ScriptedBackend:
    """The backend remembers every request body; a soak must not, so it remembers none."""
    backend.requests = collections.deque(maxlen=0)  # type: ignore[assignment]
    return backend


def load_model() -> OpenAIChatCompletionsModel:
    """A model over a backend that follows each agent's plan (see ``agent_runs.reply``)."""
    return planned_model(quiet_backend(ScriptedBackend(fallback=reply)))


# -- event streams --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in _CLOCK_FIELDS}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def signature(event: Any) -> tuple[Any, ...]:
    """What the application sees of one stream event, in a comparable form."""
    if event.type == "raw_response_event":
        return (event.type, _plain(event.data))
    if event.type == "run_item_stream_event":
        item = event.item
        return (event.type, event.name, item.type, item.agent.name, _plain(item.raw_item))
    if event.type == "agent_updated_stream_event":
        return (event.type, event.new_agent.name)
    return (event.type, repr(event))  # an event type this SDK version added: compared as text


async def streamed_run(index: int, model: OpenAIChatCompletionsModel) -> list[tuple[Any, ...]]:
    result = Runner.run_streamed(team(index, model), f"What is the weather in City-{index}?")
    events = [signature(event) async for event in result.stream_events()]
    if result.final_output != f"It is sunny in City-{index} today, run {index}.":
        raise AssertionError(f"run {index} ended with {result.final_output!r}")
    return events


async def concurrent_runs(count: int, model: OpenAIChatCompletionsModel) -> list[list[Any]]:
    """``count`` streamed runs started together on one loop; each run's events, in run order."""
    return list(await asyncio.gather(*(streamed_run(i, model) for i in range(count))))


# -- tasks and threads ----------------------------------------------------------------------------


def other_tasks() -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current}


@dataclass
class Peaks:
    """The most tasks and threads seen at once while a load ran (sampled on the loop)."""

    tasks: int = 0
    threads: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def sample(self, every_seconds: float = 0.01) -> None:
        while not self._stop.is_set():
            self.tasks = max(self.tasks, len(other_tasks()) - 1)  # not counting this sampler
            self.threads = max(self.threads, threading.active_count())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), every_seconds)

    def stop(self) -> None:
        self._stop.set()
