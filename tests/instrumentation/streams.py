"""Scripted chunk sequences and helpers for comparing event streams."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import types
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from chatspan.exporters.scripted_backend import chunk, sse, text_chunks

USAGE = {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}


def many_text_chunks(count: int = 60, usage: dict[str, Any] | None = USAGE) -> list[dict]:
    return text_chunks([f"word{i} " for i in range(count)], usage=usage)


def parallel_tool_call_chunks() -> list[dict]:
    """Two tool calls whose argument deltas interleave, as parallel calls stream."""

    def call_delta(index: int, **fields: Any) -> dict:
        return {"tool_calls": [{"index": index, **fields}]}

    def function(**fields: Any) -> dict:
        return {"function": fields}

    return [
        chunk({"role": "assistant", "content": None}),
        chunk(
            call_delta(
                0, id="call_a", type="function", **function(name="get_weather", arguments="")
            )
        ),
        chunk(
            call_delta(1, id="call_b", type="function", **function(name="get_time", arguments=""))
        ),
        chunk(call_delta(0, **function(arguments='{"city":'))),
        chunk(call_delta(1, **function(arguments='{"tz":'))),
        chunk(call_delta(0, **function(arguments='"Paris"}'))),
        chunk(call_delta(1, **function(arguments='"CET"}'))),
        chunk({}, finish_reason="tool_calls"),
        chunk(None, usage=USAGE),
    ]


def refusal_chunks() -> list[dict]:
    return [
        chunk({"role": "assistant", "content": None, "refusal": ""}),
        chunk({"refusal": "I can't "}),
        chunk({"refusal": "help with that."}),
        chunk({}, finish_reason="stop"),
        chunk(None, usage=USAGE),
    ]


async def stalling_stream(first: list[dict], release: asyncio.Event) -> AsyncIterator[bytes]:
    """Send ``first``, then hang until ``release`` is set (it usually never is)."""
    for body in first:
        yield sse(body)
    await release.wait()
    yield sse(None)


def comparable(event: Any) -> tuple[str, Any]:
    """An event as (type, dump) without the locally stamped creation time."""
    return type(event).__name__, _without_created_at(event.model_dump())


def _without_created_at(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_created_at(v) for k, v in value.items() if k != "created_at"}
    if isinstance(value, list):
        return [_without_created_at(v) for v in value]
    return value


@contextlib.contextmanager
def relays_started() -> Iterator[list[types.CodeType]]:
    """The code object of every async generator started inside (asyncio's own hooks still
    run): which relays a stream's chunks went through. Entered in the running loop, which
    sets its hooks when it starts."""
    started: list[types.CodeType] = []
    hooks = sys.get_asyncgen_hooks()

    def firstiter(agen):
        started.append(agen.ag_code)
        if hooks.firstiter is not None:
            hooks.firstiter(agen)

    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=hooks.finalizer)
    try:
        yield started
    finally:
        sys.set_asyncgen_hooks(*hooks)


async def loop_turns_until(condition: Callable[[], bool], turns: int = 20) -> bool:
    """Whether ``condition`` holds within a few turns of the running loop: a dropped stream is
    closed by asyncio's async-generator finalizer in a task of its own (as the SDK's own
    generator is), so its span ends a turn or two later. Turns, not time."""
    for _ in range(turns):
        if condition():
            return True
        await asyncio.sleep(0)
    return condition()
