"""The demo's scripted conversation: a Chat Completions reply computed from the request alone.

``scripted_reply(body)`` looks at what the agent sent (its tools, and the messages since the last
user message) and answers the way a model following the demo agents' instructions would: the
concierge hands off, the weather agent calls ``get_weather`` and then ``get_local_time`` for the
city the user named, and once both results are in it answers in text. Because the reply depends
only on the request, any number of turns in any order work, streamed (``"stream": true``: a list of
chunks) or not (a completion). Pure, no I/O: ``ScriptedBackend`` serves it in-process for the demo,
and the tests serve it over HTTP to the unmodified example.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any, TypedDict

from chatspan.exporters.scripted_backend import chunk, completion, tool_call

__all__ = ["CITIES", "TIME_TOOL", "WEATHER_TOOL", "scripted_reply"]

WEATHER_TOOL = "get_weather"
TIME_TOOL = "get_local_time"
HANDOFF_PREFIX = "transfer_to_"
CITIES = ("Paris", "Tokyo", "Lisbon", "New York")
_MODEL = "gpt-4o-mini-2024-07-18"


def scripted_reply(body: dict[str, Any]) -> dict[str, Any] | list[dict[str, Any]]:
    """The next assistant message for ``body``: a completion, or chunks if it asks to stream."""
    messages: list[dict[str, Any]] = body.get("messages") or []
    tools = {tool["function"]["name"] for tool in body.get("tools") or [] if "function" in tool}
    turn = _since_last_user(messages)
    called = _tool_calls(turn)
    city = _city(messages)
    handoffs = sorted(name for name in tools if name.startswith(HANDOFF_PREFIX))
    if handoffs and not called:
        return _reply(body, call=(handoffs[0], {}))
    for tool in (WEATHER_TOOL, TIME_TOOL):
        if tool in tools and tool not in called.values():
            return _reply(body, call=(tool, {"city": city}))
    return _reply(body, text=_answer(city, turn, called))


def _since_last_user(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    return messages[last_user + 1 :]


def _tool_calls(turn: list[dict[str, Any]]) -> dict[str, str]:
    """Tool call id -> tool name, for the calls the assistant made this turn."""
    return {
        call["id"]: call["function"]["name"]
        for message in turn
        for call in message.get("tool_calls") or []
    }


def _city(messages: list[dict[str, Any]]) -> str:
    text = next(
        (_text(m) for m in reversed(messages) if m.get("role") == "user"),
        "",
    )
    named = [(text.find(city), city) for city in CITIES if city.lower() in text.lower()]
    return min(named)[1] if named else CITIES[0]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def _answer(city: str, turn: list[dict[str, Any]], called: dict[str, str]) -> str:
    results = {
        called[m["tool_call_id"]]: _text(m)
        for m in turn
        if m.get("role") == "tool" and m.get("tool_call_id") in called
    }
    weather = results.get(WEATHER_TOOL)
    local_time = results.get(TIME_TOOL)
    if weather and local_time:
        return f"In {city}: {weather}. The local time there is {local_time}."
    return f"I can look up the weather and the local time in {city} for you."


class _Ids(TypedDict):
    """What every body of one reply shares: its model and response id."""

    model: str
    response_id: str


def _reply(
    body: dict[str, Any], *, call: tuple[str, dict[str, Any]] | None = None, text: str = ""
) -> dict[str, Any] | list[dict[str, Any]]:
    prompt = json.dumps(body.get("messages") or [])
    usage = _usage(prompt, text or json.dumps(call))
    ids: _Ids = {"model": _MODEL, "response_id": f"chatcmpl-demo-{zlib.crc32(prompt.encode()):08x}"}
    if call is not None:
        name, arguments = call
        payload = tool_call(f"call_{ids['response_id'][-8:]}", name, json.dumps(arguments))
        if not body.get("stream"):
            return completion(
                None, tool_calls=[payload], finish_reason="tool_calls", usage=usage, **ids
            )
        deltas: list[dict[str, Any]] = [
            {"role": "assistant", "tool_calls": [{"index": 0, **payload}]}
        ]
        return _stream(deltas, "tool_calls", usage, ids)
    if not body.get("stream"):
        return completion(text, usage=usage, **ids)
    pieces = [{"content": piece} for piece in re.findall(r"\S+\s*", text)]
    return _stream([{"role": "assistant", "content": ""}, *pieces], "stop", usage, ids)


def _stream(
    deltas: list[dict[str, Any]], finish: str, usage: dict[str, int], ids: _Ids
) -> list[dict[str, Any]]:
    """Chunks as the API streams them: the deltas, the finish reason, then usage on its own."""
    return [
        *(chunk(delta, **ids) for delta in deltas),
        chunk({}, finish_reason=finish, **ids),
        chunk(None, usage=usage, **ids),
    ]


def _usage(prompt: str, output: str) -> dict[str, int]:
    """Plausible token counts (about four characters a token), so the trees show numbers."""
    prompt_tokens, completion_tokens = len(prompt) // 4 + 1, len(output) // 4 + 1
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
