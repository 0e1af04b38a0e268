"""Agent runs on the scripted backend for the bridge tests, and the SDK's tracing kept in check.

An agent's instructions are its plan (``plan("a", call("weather", city="Paris"), say("done"))``).
The backend reads the plan from the request's system message and picks the step from how many of
this agent's tool results the conversation already holds, so any number of concurrent runs need no
shared script. The Agents SDK's trace provider is process-global: ``sdk_tracing`` empties its
processor list (nothing can reach OpenAI's trace endpoint) and restores it, and its disabled flag,
afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from agents import Agent, function_tool, tracing
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel

from chatspan.exporters.scripted_backend import ScriptedBackend, chunk, completion, text_chunks

MODEL = "gpt-4o-mini"
CHAT = f"chat {MODEL}"  # our chat span's name for that model
HAS_TURN_SPANS = hasattr(tracing, "turn_span")  # task and turn spans: newer SDKs only
_FLAGS = ("_disabled", "_manual_disabled", "_env_disabled")


def plan(label: str, *steps: dict[str, Any]) -> str:
    return json.dumps({"plan": label, "steps": list(steps)})


def call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"call": tool, "arguments": arguments}


def say(text: str) -> dict[str, Any]:
    return {"say": text}


def reply(body: dict[str, Any]) -> Any:
    """The next step of the plan in the system message, as a completion or a chunk stream."""
    messages = body["messages"]
    script = json.loads(next(m["content"] for m in messages if m["role"] == "system"))
    label, steps = script["plan"], script["steps"]
    done = sum(
        1
        for message in messages
        if message["role"] == "tool" and str(message.get("tool_call_id")).startswith(f"{label}-")
    )
    step = steps[min(done, len(steps) - 1)]
    stream = bool(body.get("stream"))
    if "say" in step:
        text = step["say"]
        return text_chunks(re.findall(r"\S+\s*", text)) if stream else completion(text)
    call_id, arguments = f"{label}-{done}", json.dumps(step["arguments"])
    if not stream:
        tool_call = {
            "id": call_id,
            "type": "function",
            "function": {"name": step["call"], "arguments": arguments},
        }
        return completion(None, tool_calls=[tool_call], finish_reason="tool_calls")
    function = {"name": step["call"], "arguments": arguments}
    delta = {"tool_calls": [{"index": 0, "id": call_id, "type": "function", "function": function}]}
    return [
        chunk({"role": "assistant", "content": None}),
        chunk(delta),
        chunk({}, finish_reason="tool_calls"),
    ]


def weather_agents(tool_tracer: Any) -> Agent[Any]:
    """Triage hands off to weather, which calls a tool that makes an HTTP-ish span."""

    @function_tool
    async def get_weather(city: str) -> str:
        with tool_tracer.start_as_current_span("GET /weather"):
            await asyncio.sleep(0)
        return f"Sunny in {city}"

    return triage_team(planned_model(), get_weather, "Paris", "Sunny in Paris.")


def triage_team(model: OpenAIChatCompletionsModel, tool: Any, city: str, answer: str) -> Agent[Any]:
    """Triage hands off to weather, which calls ``tool`` for ``city``, then says ``answer``."""
    weather = Agent(
        name="weather",
        instructions=plan("weather", call(tool.name, city=city), say(answer)),
        model=model,
        tools=[tool],
    )
    return Agent(
        name="triage",
        instructions=plan("triage", call("transfer_to_weather")),
        model=model,
        handoffs=[weather],
    )


def planned_model(backend: ScriptedBackend | None = None) -> OpenAIChatCompletionsModel:
    backend = backend or ScriptedBackend(fallback=reply)
    return OpenAIChatCompletionsModel(model=MODEL, openai_client=backend.client())


async def settle() -> None:
    """Let the run's own tasks finish: old SDKs cancel a streamed run's task after it raised."""
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), timeout=5)


def _provider() -> Any:
    getter = getattr(tracing, "get_trace_provider", None)
    return getter() if getter else tracing.setup.GLOBAL_TRACE_PROVIDER


def sdk_processors() -> tuple[Any, ...]:
    return tuple(_provider()._multi_processor._processors)


@pytest.fixture
def sdk_tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """No processor but the ones a test adds (and the bridge); all restored afterwards."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider = _provider()
    saved = list(sdk_processors())
    flags = {name: getattr(provider, name) for name in _FLAGS if hasattr(provider, name)}
    tracing.set_trace_processors([])
    yield provider
    tracing.set_trace_processors(saved)
    for name, value in flags.items():
        setattr(provider, name, value)


# -- reading the exported tree --------------------------------------------------------------------


def by_trace(spans: Sequence[Any]) -> dict[int, list[Any]]:
    traces: dict[int, list[Any]] = {}
    for span in spans:
        traces.setdefault(span.context.trace_id, []).append(span)
    return traces


def outline(spans: Sequence[Any], hide: Sequence[str] = ("task", "turn")) -> list[str]:
    """Names indented by depth, siblings in start order; ``hide``: SDK span types lifted out
    (task and turn spans exist in newer SDKs only, so most trees are compared without them)."""
    known = {span.context.span_id: span for span in spans}
    hidden = {
        span.context.span_id
        for span in spans
        if (span.attributes or {}).get("chatspan.agents.span_type") in hide
    }

    def visible_parent(span: Any) -> int | None:
        parent = span.parent.span_id if span.parent else None
        while parent in hidden:
            parent = known[parent].parent.span_id if known[parent].parent else None
        return parent

    children: dict[int | None, list[Any]] = {}
    for span in spans:
        if span.context.span_id not in hidden:
            children.setdefault(visible_parent(span), []).append(span)
    roots = [span for key, group in children.items() if key not in known for span in group]
    lines: list[str] = []

    def walk(group: list[Any], depth: int) -> None:
        for span in sorted(group, key=lambda s: s.start_time):
            lines.append("  " * depth + span.name)
            walk(children.get(span.context.span_id, []), depth + 1)

    walk(roots, 0)
    return lines


def named(spans: Sequence[Any], name: str) -> list[Any]:
    return [span for span in spans if span.name == name]


def parent_of(span: Any, spans: Sequence[Any]) -> Any:
    (parent,) = [s for s in spans if span.parent and s.context.span_id == span.parent.span_id]
    return parent
