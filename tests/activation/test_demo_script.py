"""The demo's scripted model: each reply follows from the request alone, in any turn order."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from chatspan.exporters.demo_agent import build_agents
from chatspan.exporters.demo_script import TIME_TOOL, WEATHER_TOOL, scripted_reply
from tests.activation.conftest import EXAMPLE

HANDOFF = "transfer_to_weather_agent"


def _tools(*names: str) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": name}} for name in names]


def _called(call_id: str, name: str, result: str) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


def _message(reply: dict[str, Any]) -> dict[str, Any]:
    return reply["choices"][0]["message"]


USER = {"role": "user", "content": "Weather in Tokyo please"}


def test_concierge_hands_off_first():
    reply = scripted_reply({"messages": [USER], "tools": _tools(HANDOFF)})

    (call,) = _message(reply)["tool_calls"]  # type: ignore[arg-type]
    assert call["function"]["name"] == HANDOFF


@pytest.mark.parametrize(
    ("history", "expected_tool"),
    [
        ([], WEATHER_TOOL),
        (_called("c1", HANDOFF, "{}"), WEATHER_TOOL),
        (_called("c2", WEATHER_TOOL, "24°C"), TIME_TOOL),
    ],
)
def test_weather_agent_calls_the_tools_it_has_not_called_this_turn(
    history: list[dict[str, Any]], expected_tool: str
):
    body = {"messages": [USER, *history], "tools": _tools(WEATHER_TOOL, TIME_TOOL)}

    (call,) = _message(scripted_reply(body))["tool_calls"]  # type: ignore[arg-type]

    assert call["function"]["name"] == expected_tool
    assert json.loads(call["function"]["arguments"]) == {"city": "Tokyo"}


def test_with_both_results_it_answers_from_them():
    history = [*_called("c2", WEATHER_TOOL, "24°C"), *_called("c3", TIME_TOOL, "21:05")]
    body = {"messages": [USER, *history], "tools": _tools(WEATHER_TOOL, TIME_TOOL)}

    message = _message(scripted_reply(body))  # type: ignore[arg-type]

    assert message["content"] == "In Tokyo: 24°C. The local time there is 21:05."


def test_a_streamed_request_gets_chunks_ending_with_usage():
    body = {"messages": [USER], "tools": [], "stream": True}

    chunks = scripted_reply(body)

    assert isinstance(chunks, list)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith("I can look up the weather")
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0


def _shape(agent: Any) -> tuple[Any, ...]:
    return (
        agent.name,
        agent.instructions,
        [(tool.name, tool.description) for tool in agent.tools],
        [_shape(handoff) for handoff in agent.handoffs],
    )


def test_the_example_builds_the_agents_the_demo_runs():
    """`examples/weather_agent.py` cannot import chatspan, so it spells the demo's agents again;
    this keeps the two the same."""
    spec = importlib.util.spec_from_file_location("weather_agent_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    concierge = example.build_concierge()
    assert _shape(concierge) == _shape(build_agents(concierge.model))
