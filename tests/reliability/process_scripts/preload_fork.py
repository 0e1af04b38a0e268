"""gunicorn ``--preload`` in miniature: the parent imports and instruments, then forks workers.

Run with ``CHATSPAN_ENABLED=1`` and the exporter variables set. The parent imports the Agents
SDK (so the activation hook instruments it here, once), optionally makes one model call of its
own (``--parent-call``: that configures the exporters in the parent and leaves its span waiting in
the batch queue at fork time), then forks ``--workers`` children with ``os.fork()``. Each child
runs ``--calls`` model calls (alternately streamed) and one agent run, all marked with its own pid
and ``worker-{n}`` model name, then exits: normally (``sys.exit``, so the exit flush runs), or,
for the last one with ``--last-os-exit``, through an explicit flush and ``os._exit`` as
pre-forking servers' workers do. Prints one JSON line: the parent's pid and each child's pid,
exit style and exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import agents  # noqa: F401  (preloaded: instrumented by CHATSPAN_ENABLED in the parent)
from agents import Agent, Runner
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from opentelemetry import trace

from chatspan.exporters.scripted_backend import ScriptedBackend, chunk, completion

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo: the tests' helpers
from tests.instrumentation.calls import model_arguments

_ANSWERS = itertools.count()
USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def _reply(body: dict[str, Any]) -> Any:
    """Every answer names the process that asked, in its text and its response id."""
    pid = os.getpid()
    response_id = f"chatcmpl-{pid}-{next(_ANSWERS)}"
    if not body.get("stream"):
        return completion(f"from {pid}", usage=USAGE, response_id=response_id)
    pieces = [{"role": "assistant", "content": ""}, {"content": "from "}, {"content": str(pid)}]
    chunks = [chunk(delta, response_id=response_id) for delta in pieces]
    chunks.append(chunk({}, finish_reason="stop", response_id=response_id))
    chunks.append(chunk(None, usage=USAGE, response_id=response_id))
    return chunks


def _model(name: str) -> OpenAIChatCompletionsModel:
    return OpenAIChatCompletionsModel(
        model=name, openai_client=ScriptedBackend(fallback=_reply).client()
    )


async def _calls(name: str, count: int) -> None:
    model = _model(name)
    for n in range(count):
        if n % 2:
            events = [
                event
                async for event in model.stream_response(
                    **model_arguments(f"s{n}", instructions=None)
                )
            ]
            assert events[-1].type == "response.completed", events[-1]
        else:
            await model.get_response(**model_arguments(f"g{n}", instructions=None))
    result = await Runner.run(Agent(name=name, model=model), "hello")
    assert result.final_output == f"from {os.getpid()}", result.final_output


def _worker(index: int, calls: int, os_exit: bool) -> None:
    """The child's whole life; it never returns into the parent's code."""
    code = 0
    try:
        asyncio.run(_calls(f"worker-{index}", calls))
    except BaseException as error:  # report, and make the exit status say so
        print(f"worker {index} failed: {error!r}", file=sys.stderr, flush=True)
        code = 3
    if os_exit:
        flushed = trace.get_tracer_provider().force_flush(10_000)  # type: ignore[attr-defined]
        os._exit(code if flushed else 4)
    sys.exit(code)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--parent-call", action="store_true")
    parser.add_argument("--last-os-exit", action="store_true")
    options = parser.parse_args()

    if options.parent_call:
        asyncio.run(_model("parent").get_response(**model_arguments("warm up", instructions=None)))
    children: dict[int, dict[str, Any]] = {}
    for index in range(options.workers):
        os_exit = options.last_os_exit and index == options.workers - 1
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _worker(index, options.calls, os_exit)
        children[pid] = {"index": index, "exit": "os._exit" if os_exit else "sys.exit"}
    for pid, child in children.items():
        _, status = os.waitpid(pid, 0)
        child["status"] = os.waitstatus_to_exitcode(status)
    print(json.dumps({"parent": os.getpid(), "children": children}), flush=True)


if __name__ == "__main__":
    main()
