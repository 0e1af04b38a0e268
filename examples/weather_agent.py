"""A weather agent on the OpenAI Agents SDK, with nothing about tracing in it.

Run it traced, unmodified:

    CHATSPAN_ENABLED=1 python examples/weather_agent.py

A concierge hands the question off to a weather agent, which calls two function tools; the first
turn runs with ``Runner.run``, the follow-up streams with ``Runner.run_streamed``. The model is
reached through ``OpenAIChatCompletionsModel`` with an ``AsyncOpenAI()`` client configured by the
usual variables: ``OPENAI_API_KEY``, and ``OPENAI_BASE_URL`` for any OpenAI-compatible server
(a local one needs no real key). ``OPENAI_MODEL`` picks the model (default ``gpt-4o-mini``).
"""

from __future__ import annotations

import asyncio
import os

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
from openai import AsyncOpenAI

WEATHER = {"Paris": "18°C, light rain", "Tokyo": "24°C, clear skies"}
LOCAL_TIME = {"Paris": "14:05", "Tokyo": "21:05"}


@function_tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return WEATHER.get(city, "15°C, overcast")


@function_tool
def get_local_time(city: str) -> str:
    """The local time in a city."""
    return LOCAL_TIME.get(city, "12:00")


def build_concierge() -> Agent:
    client = AsyncOpenAI(api_key=os.environ.get("OPENAI_API_KEY") or "not-needed")
    model = OpenAIChatCompletionsModel(
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), openai_client=client
    )
    weather_agent = Agent(
        name="Weather agent",
        instructions="Answer with get_weather and get_local_time for the city the user names.",
        tools=[get_weather, get_local_time],
        model=model,
    )
    return Agent(
        name="Concierge",
        instructions="Hand weather and time questions off to the weather agent.",
        handoffs=[weather_agent],
        model=model,
    )


async def main() -> None:
    question = "What's the weather in Paris, and what time is it there?"
    print(f"you> {question}")
    first = await Runner.run(build_concierge(), question)
    print(f"{first.last_agent.name}> {first.final_output}")

    follow_up = "And in Tokyo?"
    print(f"you> {follow_up}")
    history = [*first.to_input_list(), {"role": "user", "content": follow_up}]
    streamed = Runner.run_streamed(first.last_agent, history)
    print(f"{first.last_agent.name}> ", end="", flush=True)
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            print(event.data.delta, end="", flush=True)
    print()


if __name__ == "__main__":
    asyncio.run(main())
