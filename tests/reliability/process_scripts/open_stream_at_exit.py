"""Leave a model stream open and let the interpreter exit: the span must still end and export.

Run with ``CHATSPAN_ENABLED=1`` and an exporter configured. The scripted backend sends a few
chunks and then stalls (the connection stays open, as a slow model's does). The script reads
``--events`` events and then, by ``--how``:

- ``return``: returns from the coroutine; the stream dies with its frame inside ``asyncio.run``;
- ``global``: keeps the stream in a module global, so it is still referenced at exit;
- ``loop-open``: as ``global``, on a loop that is never closed;
- ``sys-exit``: calls ``sys.exit(0)`` inside the coroutine, with the stream open;
- ``pending-call``: no stream: a ``get_response`` task still waiting for its (stalled) answer on a
  loop that is never closed.

It prints ``read N`` (``pending 1``) before exiting; the exit status must be 0 whatever happens
to the span.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import agents  # noqa: F401  (instrumented by CHATSPAN_ENABLED)
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel

from chatspan.exporters.scripted_backend import ScriptedBackend, chunk, sse

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo: the tests' helpers
from tests.instrumentation.calls import model_arguments

KEPT: list[Any] = []  # ``global`` / ``loop-open``: the open stream, referenced until exit


async def _stalling() -> AsyncIterator[bytes]:
    """A role chunk and three words, then nothing: the server never finishes."""
    yield sse(chunk({"role": "assistant", "content": ""}))
    for word in ("one ", "two ", "three "):
        yield sse(chunk({"content": word}))
    await asyncio.Event().wait()


ARGUMENTS = model_arguments("Count.", instructions=None)


def _model(backend: ScriptedBackend) -> OpenAIChatCompletionsModel:
    return OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=backend.client())


async def _leave_pending() -> None:
    """Start a call whose answer never completes; return once the request reached the server."""
    backend = ScriptedBackend([_stalling()])
    KEPT.append(asyncio.ensure_future(_model(backend).get_response(**ARGUMENTS)))
    for _ in range(1000):  # bounded: 10 s
        if backend.requests:
            break
        await asyncio.sleep(0.01)
    print(f"pending {len(backend.requests)}", flush=True)


async def _read(how: str, count: int) -> None:
    stream = _model(ScriptedBackend([_stalling()])).stream_response(**ARGUMENTS)
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
    parser.add_argument(
        "--how", choices=["return", "global", "loop-open", "sys-exit", "pending-call"]
    )
    parser.add_argument("--events", type=int, default=3)
    options = parser.parse_args()
    if options.how == "pending-call":
        asyncio.new_event_loop().run_until_complete(_leave_pending())
    elif options.how == "loop-open":
        asyncio.new_event_loop().run_until_complete(_read(options.how, options.events))
    else:
        asyncio.run(_read(options.how, options.events))


if __name__ == "__main__":
    main()
