"""What a model call asks for: arguments bound by name, and the request attributes they imply.

The Agents SDK changed the signature of ``get_response``/``stream_response`` over its releases
(``previous_response_id`` keyword-only early, ``conversation_id`` and ``prompt`` later), so we bind
by name against a mirror of the stable leading parameters and read the newer ones from ``**kw``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .semconv import PROVIDER_OPENAI_COMPATIBLE, SERVER_ADDRESS, SERVER_PORT, gen_ai

__all__ = [
    "CallArguments",
    "bind_arguments",
    "provider_and_server",
    "request_attributes",
    "server_attributes",
]


@dataclass(frozen=True, slots=True)
class CallArguments:
    system_instructions: str | None
    input: Any
    model_settings: Any
    tools: Any
    output_schema: Any
    handoffs: Any
    conversation_id: str | None


def _mirror(
    system_instructions: Any = None,
    input: Any = None,
    model_settings: Any = None,
    tools: Any = None,
    output_schema: Any = None,
    handoffs: Any = None,
    tracing: Any = None,
    previous_response_id: Any = None,
    conversation_id: Any = None,
    *_: Any,
    **kw: Any,
) -> CallArguments:
    return CallArguments(
        system_instructions, input, model_settings, tools, output_schema, handoffs, conversation_id
    )


def bind_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> CallArguments:
    return _mirror(*args, **kwargs)


# Hosts whose provider the conventions name; anything else speaking the protocol is "compatible".
_PROVIDER_BY_HOST_SUFFIX = (
    ("api.openai.com", gen_ai.GenAiProviderNameValues.OPENAI.value),
    (".openai.azure.com", gen_ai.GenAiProviderNameValues.AZURE_AI_OPENAI.value),
    (".services.ai.azure.com", gen_ai.GenAiProviderNameValues.AZURE_AI_INFERENCE.value),
    ("api.deepseek.com", gen_ai.GenAiProviderNameValues.DEEPSEEK.value),
    ("api.groq.com", gen_ai.GenAiProviderNameValues.GROQ.value),
    ("api.x.ai", gen_ai.GenAiProviderNameValues.X_AI.value),
    ("api.mistral.ai", gen_ai.GenAiProviderNameValues.MISTRAL_AI.value),
    ("api.perplexity.ai", gen_ai.GenAiProviderNameValues.PERPLEXITY.value),
    ("generativelanguage.googleapis.com", gen_ai.GenAiProviderNameValues.GCP_GEMINI.value),
)

_DEFAULT_PORTS = {"https": 443, "http": 80}


def provider_and_server(base_url: Any) -> tuple[str, str | None, int | None]:
    """Provider name, host and port from the client's base URL; userinfo never leaves here."""
    return _provider_and_server(str(base_url))


@functools.lru_cache(maxsize=256)  # a process talks to few servers; parsing costs microseconds
def _provider_and_server(base_url: str) -> tuple[str, str | None, int | None]:
    try:
        parts = urlsplit(base_url)
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return PROVIDER_OPENAI_COMPATIBLE, None, None
    if not host:
        return PROVIDER_OPENAI_COMPATIBLE, None, None
    for suffix, provider in _PROVIDER_BY_HOST_SUFFIX:
        if host == suffix.lstrip(".") or host.endswith(suffix):
            return provider, host, port
    return PROVIDER_OPENAI_COMPATIBLE, host, port


# ModelSettings field -> request attribute, for the plain scalar ones.
_SCALAR_SETTINGS = (
    ("temperature", gen_ai.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", gen_ai.GEN_AI_REQUEST_TOP_P),
    ("max_tokens", gen_ai.GEN_AI_REQUEST_MAX_TOKENS),
    ("frequency_penalty", gen_ai.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", gen_ai.GEN_AI_REQUEST_PRESENCE_PENALTY),
)
# Parameters ModelSettings has no field for; users pass them through `extra_args`.
_EXTRA_ARGS = (
    ("seed", gen_ai.GEN_AI_REQUEST_SEED),
    ("n", gen_ai.GEN_AI_REQUEST_CHOICE_COUNT),
    ("top_k", gen_ai.GEN_AI_REQUEST_TOP_K),
)
_TOOL_CHOICE = "gen_ai.request.tool_choice"  # not in the conventions; named like its siblings
_PARALLEL_TOOL_CALLS = "gen_ai.request.parallel_tool_calls"  # likewise


def request_attributes(call: CallArguments, stream: bool) -> list[tuple[str, Any]]:
    """Request attributes as (key, value) pairs; the caller drops the ``None`` ones."""
    settings = call.model_settings
    pairs: list[tuple[str, Any]] = [(gen_ai.GEN_AI_REQUEST_STREAM, stream)]
    for field, key in _SCALAR_SETTINGS:
        pairs.append((key, _scalar(getattr(settings, field, None))))
    extra_args = getattr(settings, "extra_args", None) or {}
    if isinstance(extra_args, Mapping):
        for name, key in _EXTRA_ARGS:
            pairs.append((key, _scalar(extra_args.get(name))))
        pairs.append((gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES, _stop_sequences(extra_args)))
    pairs.append((_TOOL_CHOICE, _tool_choice(getattr(settings, "tool_choice", None))))
    if call.tools or call.handoffs:
        pairs.append(
            (_PARALLEL_TOOL_CALLS, _scalar(getattr(settings, "parallel_tool_calls", None)))
        )
    pairs.append((gen_ai.GEN_AI_OUTPUT_TYPE, _output_type(call.output_schema)))
    pairs.append((gen_ai.GEN_AI_CONVERSATION_ID, _scalar(call.conversation_id)))
    return pairs


def _scalar(value: Any) -> Any:
    """Only values an attribute can hold; ``NOT_GIVEN``/``Omit`` sentinels and objects drop out."""
    return value if isinstance(value, bool | int | float | str) else None


def _stop_sequences(extra_args: Mapping[str, Any]) -> list[str] | None:
    stop = extra_args.get("stop")
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop):
        return list(stop)
    return None


def _tool_choice(choice: Any) -> str | None:
    if isinstance(choice, str):
        return choice
    name = getattr(choice, "name", None)  # MCPToolChoice and friends
    return "function" if isinstance(name, str) else None


def _output_type(output_schema: Any) -> str:
    if output_schema is None:
        return gen_ai.GenAiOutputTypeValues.TEXT.value
    is_plain_text = getattr(output_schema, "is_plain_text", None)
    try:
        plain = bool(is_plain_text()) if callable(is_plain_text) else False
    except Exception:
        plain = False
    return (gen_ai.GenAiOutputTypeValues.TEXT if plain else gen_ai.GenAiOutputTypeValues.JSON).value


def server_attributes(host: str | None, port: int | None) -> list[tuple[str, Any]]:
    return [(SERVER_ADDRESS, host), (SERVER_PORT, port)]
