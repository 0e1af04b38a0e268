"""Helpers that call the Chat Completions model the way the Runner does."""

from __future__ import annotations

from typing import Any

from agents import ModelSettings
from agents.models.interface import ModelTracing
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel

from chatspan.exporters.scripted_backend import ScriptedBackend

MODEL = "gpt-4o-mini"


def make_model(backend: ScriptedBackend, base_url: str = "https://api.openai.com/v1"):
    return OpenAIChatCompletionsModel(model=MODEL, openai_client=backend.client(base_url))


def model_arguments(
    input: Any = "What is the weather in Paris?",
    *,
    instructions: str | None = "You are terse.",
    settings: ModelSettings | None = None,
    tools: list[Any] | None = None,
    handoffs: list[Any] | None = None,
    output_schema: Any = None,
) -> dict[str, Any]:
    return {
        "system_instructions": instructions,
        "input": input,
        "model_settings": settings or ModelSettings(),
        "tools": tools or [],
        "output_schema": output_schema,
        "handoffs": handoffs or [],
        "tracing": ModelTracing.DISABLED,
        "previous_response_id": None,
    }


async def get_response(model: OpenAIChatCompletionsModel, **overrides: Any) -> Any:
    return await model.get_response(**model_arguments(**overrides))


async def stream_events(model: OpenAIChatCompletionsModel, **overrides: Any) -> list[Any]:
    return [event async for event in model.stream_response(**model_arguments(**overrides))]


def live_chat_calls() -> int:
    """ChatCall objects still alive (a count: a list of them would keep them alive)."""
    import gc

    from chatspan.instrumentation.call import ChatCall

    return sum(isinstance(o, ChatCall) for o in gc.get_objects())
