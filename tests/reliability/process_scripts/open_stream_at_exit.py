"""Leave a model stream open and let the interpreter exit: the span must still end and export.

Run with ``CHATSPAN_ENABLED=1`` and an exporter configured. The scripted backend sends a few
chunks and then stalls (the connection stays open, as a slow model's does). The script reads
``--events`` events and then, by ``--how``:

- ``return``: returns from the coroutine; the stream dies with its frame inside ``asyncio.run``;
- ``global``: keeps the stream in a module global, so it is still referenced at exit;
- ``loop-open``: as ``global``, on a loop that is never closed;
- ``sys-exit``: calls ``sys.exit(0)`` inside the coroutine, with the stream open.

It prints ``read N`` before exiting; the exit status must be 0 whatever happens to the span.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import agents  # noqa: F401  (instrumented by CHATSPAN_ENABLED)
from agents import ModelSettings
from agents.models.interface import ModelTracing
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel

from chatspan.exporters.scripted_backend import ScriptedBackend, chunk, sse

KEPT: list[Any] = []  # ``global`` / ``loop-open``: the open stream, referenced until exit


async def _stalling() -> AsyncIterator[bytes]:
    """A role chunk and three words, then nothing: the server never finishes."""
    yield sse(chunk({"role": "assistant", "content": ""}))
    for word in ("one ", "two ", "three "):
        yield sse(chunk({"content": word}))
    await asyncio.Event().wait()


async def _read(how: str, count: int) -> None:
    model = OpenAIChatCompletionsModel(
        model="gpt-4o-mini", openai_client=ScriptedBackend([_stalling()]).client()
    )
    stream = model.stream_response(
        system_instructions=None,
        input="Count.",
        model_settings=ModelSettings(),
        tools=[],
        output_schema=None,
        handoffs=[],
        tracing=ModelTracing.DISABLED,
        previous_response_id=None,
    )
    read = 0
    async for _event in stream:
        read += 1
        if read == count:
            break
    print(f"read {read}", flush=True)
    if how in ("global", "loop-open"):
        KEPT.append(stream)
    elif how == "sys-exit":
        sys.exit(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--how", choices=["return", "global", "loop-open", "sys-exit"])
    parser.add_argument("--events", type=int, default=3)
    options = parser.parse_args()
    if options.how == "loop-open":
        asyncio.new_event_loop().run_until_complete(_read(options.how, options.events))
    else:
        asyncio.run(_read(options.how, options.events))


if __name__ == "__main__":
    main()
