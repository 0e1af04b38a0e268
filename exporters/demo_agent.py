"""The demo agent, run by ``chatspan demo`` as ``python -m chatspan.exporters.demo_agent``.

A small but real Agents SDK application: a concierge that hands off to a weather agent with two
function tools, on ``OpenAIChatCompletionsModel``; one non-streamed turn (``Runner.run``) and one
streamed follow-up (``Runner.run_streamed``), grouped by the SDK's own ``trace()`` into one
conversation. Nothing here sets up OpenTelemetry: the parent starts this module with
``CHATSPAN_ENABLED=1``, so the ``.pth`` activates chatspan exactly as in a user's process.
Should the ``.pth`` not have run (chatspan not installed by pip, a ``python -S`` interpreter), it
calls the same ``activate_from_env()`` itself and says so on stderr.

``--backend scripted`` serves ``demo_script.scripted_reply`` through the in-process
``ScriptedBackend`` (no key, no network); ``--backend env`` uses ``AsyncOpenAI()`` configured by
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from chatspan.instrumentation import activation

__all__ = ["FIRST_PROMPT", "SECOND_PROMPT", "build_agents", "main"]

# A fake secret and e-mail address, so the sanitizer's redaction shows in the captured content.
FIRST_PROMPT = (
    "Hi, I'm jane.doe@example.com and my key is sk-proj-DEMOxKEYx0123456789abcdefABCDEF. "
    "What's the weather in Paris, and what time is it there?"
)
SECOND_PROMPT = "Thanks! And the same for Tokyo, please."
_WEATHER = {"Paris": "18°C, light rain", "Tokyo": "24°C, clear skies", "Lisbon": "21°C, sunny"}
_TIME = {"Paris": "14:05", "Tokyo": "21:05", "Lisbon": "13:05"}


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return _WEATHER.get(city, "15°C, overcast")


def get_local_time(city: str) -> str:
    """The local time in a city."""
    return _TIME.get(city, "12:00")


def build_agents(model: Any) -> Any:
    """The concierge (the entry point), which hands off to the weather agent and its tools."""
    from agents import Agent, function_tool

    weather_agent = Agent(
        name="Weather agent",
        instructions="Answer with get_weather and get_local_time for the city the user names.",
        tools=[function_tool(get_weather), function_tool(get_local_time)],
        model=model,
    )
    return Agent(
        name="Concierge",
        instructions="Hand weather and time questions off to the weather agent.",
        handoffs=[weather_agent],
        model=model,
    )


def _model(backend: str, model_name: str) -> Any:
    from agents import OpenAIChatCompletionsModel

    if backend == "scripted":
        from chatspan.exporters.demo_script import scripted_reply
        from chatspan.exporters.scripted_backend import ScriptedBackend

        client = ScriptedBackend(fallback=scripted_reply).client()
    else:
        from openai import AsyncOpenAI

        # A local OpenAI-compatible server usually needs no key, but the client insists on one.
        client = AsyncOpenAI(api_key=os.environ.get("OPENAI_API_KEY") or "not-needed")
    return OpenAIChatCompletionsModel(model=model_name, openai_client=client)


async def _run(concierge: Any) -> None:
    from agents import Runner, trace

    with trace("chatspan demo"):  # both turns in one trace, as one conversation
        await _turns(Runner, concierge)


async def _turns(runner: Any, concierge: Any) -> None:
    print(f"you> {FIRST_PROMPT}")
    first = await runner.run(concierge, FIRST_PROMPT)
    print(f"{first.last_agent.name}> {first.final_output}")

    print(f"you> {SECOND_PROMPT}")
    follow_up = [*first.to_input_list(), {"role": "user", "content": SECOND_PROMPT}]
    second = runner.run_streamed(first.last_agent, follow_up)
    print(f"{first.last_agent.name}> ", end="", flush=True)
    async for event in second.stream_events():
        data: Any = getattr(event, "data", None)
        if getattr(data, "type", None) == "response.output_text.delta":
            print(data.delta, end="", flush=True)
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatspan.exporters.demo_agent")
    parser.add_argument("--backend", choices=("scripted", "env"), default="scripted")
    parser.add_argument("--model", default="gpt-4o-mini")
    args = parser.parse_args(argv)
    if not activation.is_activated():
        print(
            "chatspan demo: the activation .pth did not run here (is chatspan pip-installed?); "
            "activating in-process",
            file=sys.stderr,
        )
        activation.activate_from_env()
    asyncio.run(_run(build_agents(_model(args.backend, args.model))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
