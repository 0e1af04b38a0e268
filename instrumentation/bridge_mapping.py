"""How each Agents SDK span type becomes an OpenTelemetry span: name, kind and attributes.

One ``SpanMapper`` per SDK ``span_data.type``, in the ``MAPPERS`` table (unknown types get
``GENERIC``). A mapper's ``open`` reads what the SDK knows when the span starts (the name and
the sampling-relevant attributes); ``close`` reads what the SDK fills in while the span runs
(an agent's tools and handoffs, a tool's result, a handoff's target, a guardrail's verdict).
``open`` returning ``None`` means "no span of ours": the SDK span is transparent and its children
nest under its parent (a generation span whose model call our chat span already covers).

Names follow the GenAI conventions where they exist (``invoke_workflow``, ``invoke_agent``,
``execute_tool``, ``chat``, MCP's ``tools/list``); the rest are chatspan's, listed in the README
("Agent spans"), with their attributes under ``chatspan.*``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from .call import CALL_KEY
from .dedupe import inference_already_open
from .request import provider_and_server, server_attributes
from .semconv import OPERATION_CHAT, gen_ai

__all__ = [
    "GENERIC",
    "MAPPERS",
    "Closing",
    "Opening",
    "SpanMapper",
    "content_text",
    "error_type_of",
    "open_workflow",
    "tool_type",
]

# In opentelemetry-semantic-conventions from 0.63b0 (INVOKE_WORKFLOW, gen_ai.workflow.name) and
# 0.61b0 (mcp.method.name); spelled here because chatspan accepts 0.60b0.
OPERATION_INVOKE_WORKFLOW = "invoke_workflow"
GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name"
MCP_METHOD_NAME = "mcp.method.name"
MCP_TOOLS_LIST = "tools/list"
# gen_ai.tool.type's documented values (the package has no enum for them).
TOOL_TYPE_FUNCTION = "function"
TOOL_TYPE_EXTENSION = "extension"  # runs elsewhere: an MCP server's tool

OPERATION_INVOKE_AGENT = gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value
OPERATION_EXECUTE_TOOL = gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value
_JSON = gen_ai.GenAiOutputTypeValues.JSON.value
_OPENAI = gen_ai.GenAiProviderNameValues.OPENAI.value

# chatspan's own keys for what the conventions have no name for (README, "Agent spans").
SDK_SPAN_TYPE = "chatspan.agents.span_type"
AGENT_TOOLS = "chatspan.agent.tools"
AGENT_HANDOFFS = "chatspan.agent.handoffs"
AGENT_OUTPUT_TYPE = "chatspan.agent.output_type"
HANDOFF_FROM = "chatspan.handoff.from_agent"
HANDOFF_TO = "chatspan.handoff.to_agent"
GUARDRAIL_NAME = "chatspan.guardrail.name"
GUARDRAIL_TRIGGERED = "chatspan.guardrail.triggered"
TURN_NUMBER = "chatspan.turn.number"
MCP_SERVER = "chatspan.mcp.server"
MCP_TOOLS = "chatspan.mcp.tools"
CUSTOM_DATA = "chatspan.custom.data"

_MAX_ERROR_TYPE = 128

Attributes = dict[str, Any]
Capture = Callable[[Any], "str | None"]
"""Sanitized text of a content value for a span attribute; ``None`` when capture is off."""


class Opening(NamedTuple):
    name: str
    kind: SpanKind
    attributes: Attributes


class Closing(NamedTuple):
    attributes: list[tuple[str, Any]]
    name: str | None = None  # a better span name, known only at the end


class SpanMapper(NamedTuple):
    open: Callable[[Any], Opening | None]
    close: Callable[[Any, Capture], Closing]
    metric: str | None = None  # "agent" or "tool": which duration histogram
    names_agent: bool = False  # children inherit this span's name as gen_ai.agent.name
    with_agent: bool = False  # gets gen_ai.agent.name of the enclosing agent at start
    claims_inference: bool = False  # its context tells client-level instrumentations to step aside


def _no_close(data: Any, capture: Capture) -> Closing:
    return Closing([])


def _opening(
    prefix: str, target: str | None, *pairs: tuple[str, Any], kind: SpanKind = SpanKind.INTERNAL
) -> Opening:
    """Named ``"{prefix} {target}"`` (or ``prefix``); the attributes that are not None."""
    attributes = {key: value for key, value in pairs if value is not None}
    return Opening(f"{prefix} {target}" if target else prefix, kind, attributes)


def _text(data: Any, name: str) -> str | None:
    value = getattr(data, name, None)
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _names(value: Any) -> list[str] | None:
    return [str(item) for item in value] if isinstance(value, list | tuple) else None


# -- the workflow (the SDK trace), runs, agents, turns --------------------------------------------


def open_workflow(trace: Any) -> Opening:
    name = _text(trace, "name")
    return _opening(
        OPERATION_INVOKE_WORKFLOW,
        name,
        (gen_ai.GEN_AI_OPERATION_NAME, OPERATION_INVOKE_WORKFLOW),
        (GEN_AI_WORKFLOW_NAME, name),
        (gen_ai.GEN_AI_CONVERSATION_ID, _text(trace, "group_id")),
    )


def _open_operation(operation: str, name_key: str, fallback: str) -> Callable[[Any], Opening]:
    """``invoke_agent {name}`` / ``execute_tool {name}``, with the operation and the name."""

    def open_(data: Any) -> Opening:
        name = _text(data, "name") or fallback
        return _opening(
            operation, name, (gen_ai.GEN_AI_OPERATION_NAME, operation), (name_key, name)
        )

    return open_


def _close_agent(data: Any, capture: Capture) -> Closing:
    output_type = _text(data, "output_type")
    # As on the chat span: only an output format the agent asks for. Plain text (the SDK's
    # default, "str") asks for none; chatspan.agent.output_type still names it.
    kind = None if output_type is None or output_type == "str" else _JSON
    return Closing(
        [
            (AGENT_TOOLS, _names(getattr(data, "tools", None))),
            (AGENT_HANDOFFS, _names(getattr(data, "handoffs", None))),
            (AGENT_OUTPUT_TYPE, output_type),
            (gen_ai.GEN_AI_OUTPUT_TYPE, kind),
        ]
    )


def _open_task(data: Any) -> Opening:
    return _opening("task", _text(data, "name"), (SDK_SPAN_TYPE, "task"))


def _open_turn(data: Any) -> Opening:
    agent = _text(data, "agent_name")
    return _opening(
        "turn",
        agent,
        (SDK_SPAN_TYPE, "turn"),
        (gen_ai.GEN_AI_AGENT_NAME, agent),
        (TURN_NUMBER, _int(getattr(data, "turn", None))),
    )


# -- tools ----------------------------------------------------------------------------------------


def tool_type(data: Any) -> str:
    """``extension`` for a tool an MCP server runs, ``function`` for one run in-process."""
    return TOOL_TYPE_EXTENSION if getattr(data, "mcp_data", None) else TOOL_TYPE_FUNCTION


def _close_function(data: Any, capture: Capture) -> Closing:
    mcp = getattr(data, "mcp_data", None)
    server = mcp.get("server") if isinstance(mcp, dict) else None
    arguments, result = getattr(data, "input", None), getattr(data, "output", None)
    return Closing(
        [
            (gen_ai.GEN_AI_TOOL_TYPE, tool_type(data)),
            (gen_ai.GEN_AI_TOOL_CALL_ID, _text(data, "call_id") or _text(data, "tool_call_id")),
            (MCP_SERVER, server if isinstance(server, str) else None),
            (gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS, None if arguments is None else capture(arguments)),
            (gen_ai.GEN_AI_TOOL_CALL_RESULT, None if result is None else capture(result)),
        ]
    )


def _open_mcp_tools(data: Any) -> Opening:
    return _opening(
        MCP_TOOLS_LIST, None, (MCP_METHOD_NAME, MCP_TOOLS_LIST), (MCP_SERVER, _text(data, "server"))
    )


def _close_mcp_tools(data: Any, capture: Capture) -> Closing:
    return Closing([(MCP_TOOLS, _names(getattr(data, "result", None)))])


# -- handoffs, guardrails, custom and unknown spans -----------------------------------------------


def _open_handoff(data: Any) -> Opening:  # the target is known at the end: renamed then
    return _opening("handoff", None, (HANDOFF_FROM, _text(data, "from_agent")))


def _close_handoff(data: Any, capture: Capture) -> Closing:
    target = _text(data, "to_agent")
    return Closing(
        [(HANDOFF_FROM, _text(data, "from_agent")), (HANDOFF_TO, target)],
        name=f"handoff {target}" if target else None,
    )


def _open_guardrail(data: Any) -> Opening:
    name = _text(data, "name")
    return _opening("guardrail", name, (GUARDRAIL_NAME, name))


def _close_guardrail(data: Any, capture: Capture) -> Closing:
    triggered = getattr(data, "triggered", None)
    return Closing([(GUARDRAIL_TRIGGERED, triggered if isinstance(triggered, bool) else None)])


def _open_custom(data: Any) -> Opening:
    return _opening(_text(data, "name") or "custom", None, (SDK_SPAN_TYPE, "custom"))


def _close_custom(data: Any, capture: Capture) -> Closing:
    payload = getattr(data, "data", None)
    return Closing([(CUSTOM_DATA, capture(payload) if payload else None)])


def _open_generic(data: Any) -> Opening:  # speech, transcription, and types yet to come
    kind, model = _text(data, "type") or "span", _text(data, "model")
    return _opening(kind, model, (SDK_SPAN_TYPE, kind), (gen_ai.GEN_AI_REQUEST_MODEL, model))


GENERIC = SpanMapper(_open_generic, _no_close)


# -- model calls our chat span does not cover -----------------------------------------------------


def _covered() -> bool:
    """Is an inference span already open here: ours (the chat span), or someone else's?"""
    current = otel_context.get_current()
    return current.get(CALL_KEY) is not None or inference_already_open(current)


def _open_generation(data: Any) -> Opening | None:
    """A model other than ``OpenAIChatCompletionsModel`` (LiteLLM, a custom model...)."""
    if _covered():
        return None
    model = _text(data, "model")
    config = getattr(data, "model_config", None)
    base_url = config.get("base_url") if isinstance(config, dict) else None
    provider, host, port = provider_and_server(base_url)
    return _opening(
        OPERATION_CHAT,
        model,
        (gen_ai.GEN_AI_OPERATION_NAME, OPERATION_CHAT),
        (gen_ai.GEN_AI_PROVIDER_NAME, provider if base_url else None),
        (gen_ai.GEN_AI_REQUEST_MODEL, model),
        *server_attributes(host, port),
        kind=SpanKind.CLIENT,
    )


def _close_generation(data: Any, capture: Capture) -> Closing:
    usage = getattr(data, "usage", None)
    usage = usage if isinstance(usage, dict) else {}
    return Closing(
        [
            (gen_ai.GEN_AI_USAGE_INPUT_TOKENS, _int(usage.get("input_tokens"))),
            (gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, _int(usage.get("output_tokens"))),
        ]
    )


def _open_response(data: Any) -> Opening | None:
    """``OpenAIResponsesModel`` (the SDK's default model): the model is known at the end."""
    if _covered():
        return None
    return _opening(
        OPERATION_CHAT,
        None,
        (gen_ai.GEN_AI_OPERATION_NAME, OPERATION_CHAT),
        (gen_ai.GEN_AI_PROVIDER_NAME, _OPENAI),
        kind=SpanKind.CLIENT,
    )


def _close_response(data: Any, capture: Capture) -> Closing:
    response = getattr(data, "response", None)
    model = _text(response, "model")
    usage = getattr(response, "usage", None)
    return Closing(
        [
            (gen_ai.GEN_AI_RESPONSE_ID, _text(response, "id")),
            (gen_ai.GEN_AI_RESPONSE_MODEL, model),
            (gen_ai.GEN_AI_USAGE_INPUT_TOKENS, _int(getattr(usage, "input_tokens", None))),
            (gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, _int(getattr(usage, "output_tokens", None))),
        ],
        name=f"{OPERATION_CHAT} {model}" if model else None,
    )


MAPPERS: dict[str, SpanMapper] = {
    "agent": SpanMapper(
        _open_operation(OPERATION_INVOKE_AGENT, gen_ai.GEN_AI_AGENT_NAME, "agent"),
        _close_agent,
        metric="agent",
        names_agent=True,
    ),
    "function": SpanMapper(
        _open_operation(OPERATION_EXECUTE_TOOL, gen_ai.GEN_AI_TOOL_NAME, "tool"),
        _close_function,
        metric="tool",
        with_agent=True,
    ),
    "handoff": SpanMapper(_open_handoff, _close_handoff, with_agent=True),
    "guardrail": SpanMapper(_open_guardrail, _close_guardrail, with_agent=True),
    "custom": SpanMapper(_open_custom, _close_custom),
    "mcp_tools": SpanMapper(_open_mcp_tools, _close_mcp_tools, with_agent=True),
    "task": SpanMapper(_open_task, _no_close),
    "turn": SpanMapper(_open_turn, _no_close),
    "generation": SpanMapper(
        _open_generation, _close_generation, with_agent=True, claims_inference=True
    ),
    "response": SpanMapper(_open_response, _close_response, with_agent=True, claims_inference=True),
}


def error_type_of(error: Any) -> str:
    """``error.type`` for an SDK ``SpanError``: its message, a fixed phrase in the SDK's code."""
    message = error.get("message") if isinstance(error, dict) else None
    return (message if isinstance(message, str) and message else "_OTHER")[:_MAX_ERROR_TYPE]


def content_text(sanitized: Any) -> str:
    """A sanitized content value as an attribute: text stays text, structures become JSON."""
    if isinstance(sanitized, str):
        return sanitized
    return json.dumps(sanitized, ensure_ascii=False, separators=(",", ":"), default=str)
