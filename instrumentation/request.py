"""What a model call asks for: arguments bound by name, and the request attributes they imply.

The Agents SDK changed the signature of ``get_response``/``stream_response`` over its releases
(``previous_response_id`` keyword-only early, ``conversation_id`` and ``prompt`` later), so we bind
by name against a mirror of the stable leading parameters and read the newer ones from ``**kw``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .semconv import OPERATION_CHAT, PROVIDER_OPENAI_COMPATIBLE, SERVER_ADDRESS, SERVER_PORT, gen_ai

__all__ = [
    "CallArguments",
    "Endpoint",
    "EndpointCache",
    "bind_call",
    "provider_and_server",
    "request_attributes",
    "server_attributes",
]


class CallArguments(NamedTuple):
    """Immutable, and a tuple because it is built on every call (a frozen dataclass costs 2 µs)."""

    system_instructions: str | None
    input: Any
    model_settings: Any
    tools: Any
    output_schema: Any
    handoffs: Any
    conversation_id: str | None


def bind_call(
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
    """``bind_call(*args, **kwargs)``: a model call's arguments bound by name, as Python binds
    them, in one frame. A mirror of the stable leading parameters; what a release added later
    (``prompt``...) falls into ``**kw``."""
    # tuple.__new__ directly: a NamedTuple's own __new__ is one more Python frame per call
    return _new_tuple(
        CallArguments,
        (
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            conversation_id,
        ),
    )


_new_tuple = tuple.__new__


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


class Endpoint(NamedTuple):
    """What a model instance means for each of its calls: the span name, the attributes that
    also key the metrics (operation, provider, request model, server; ``gen_ai.system`` on
    request) and those the cost counter starts from (provider, request model). Shared by every
    call to the same model and server, so never changed."""

    span_name: str
    model_name: str
    provider: str
    attributes: Mapping[str, Any]
    cost_attributes: Mapping[str, Any]


class EndpointCache:
    """Each model's ``Endpoint``, built once rather than on every call (a few microseconds:
    the URL's text, its parse, five keys). Keyed by the model name and the identity of the
    client's ``base_url`` object, so pointing the client elsewhere is seen at once; bounded."""

    _LIMIT = 256

    def __init__(self, legacy_system: bool) -> None:
        self._legacy_system = legacy_system
        self._entries: dict[tuple[str, int], tuple[object, Endpoint]] = {}

    def endpoint(self, model: Any) -> Endpoint:
        model_name = getattr(model, "model", "")
        if type(model_name) is not str:
            model_name = str(model_name or "")
        base_url = getattr(getattr(model, "_client", None), "base_url", None)
        key = (model_name, id(base_url))
        entry = self._entries.get(key)
        if entry is not None and entry[0] is base_url:
            return entry[1]
        endpoint = self._build(model_name, base_url)
        if len(self._entries) >= self._LIMIT:  # a process talks to few models and servers
            self._entries.clear()
        self._entries[key] = (base_url, endpoint)  # holding base_url keeps its id unique
        return endpoint

    def _build(self, model_name: str, base_url: Any) -> Endpoint:
        provider, host, port = provider_and_server(base_url)
        attributes: dict[str, Any] = {_OPERATION: OPERATION_CHAT, _PROVIDER: provider}
        if model_name:
            attributes[_REQUEST_MODEL] = model_name
        if host is not None:
            attributes[SERVER_ADDRESS] = host
        if port is not None:
            attributes[SERVER_PORT] = port
        if self._legacy_system:
            attributes[gen_ai.GEN_AI_SYSTEM] = provider
        cost_attributes = {_PROVIDER: provider}
        if model_name:
            cost_attributes[_REQUEST_MODEL] = model_name
        span_name = f"{OPERATION_CHAT} {model_name}" if model_name else OPERATION_CHAT
        return Endpoint(span_name, model_name, provider, attributes, cost_attributes)


_OPERATION = gen_ai.GEN_AI_OPERATION_NAME
_PROVIDER = gen_ai.GEN_AI_PROVIDER_NAME
_REQUEST_MODEL = gen_ai.GEN_AI_REQUEST_MODEL


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


def request_attributes(
    call: CallArguments, stream: bool, endpoint: Mapping[str, Any]
) -> dict[str, Any]:
    """The endpoint's attributes and the request attributes that have a value, in one new dict.
    Straight-line on purpose: it runs on every call, and most settings are None."""
    settings = call.model_settings
    attributes: dict[str, Any] = {**endpoint, _STREAM: stream}
    for field, key in _SCALAR_SETTINGS:
        value = getattr(settings, field, None)
        if value is not None and isinstance(value, _SCALARS):
            attributes[key] = value
    extra_args = getattr(settings, "extra_args", None)
    if extra_args and isinstance(extra_args, Mapping):
        for name, key in _EXTRA_ARGS:
            value = extra_args.get(name)
            if value is not None and isinstance(value, _SCALARS):
                attributes[key] = value
        stop = _stop_sequences(extra_args)
        if stop is not None:
            attributes[_STOP_SEQUENCES] = stop
    tool_choice = getattr(settings, "tool_choice", None)
    if tool_choice is not None:
        choice = _tool_choice(tool_choice)
        if choice is not None:
            attributes[_TOOL_CHOICE] = choice
    if call.tools or call.handoffs:
        parallel = getattr(settings, "parallel_tool_calls", None)
        if isinstance(parallel, _SCALARS):
            attributes[_PARALLEL_TOOL_CALLS] = parallel
    output_type = _output_type(call.output_schema, extra_args)
    if output_type is not None:
        attributes[_OUTPUT_TYPE] = output_type
    conversation_id = call.conversation_id
    if conversation_id is not None and isinstance(conversation_id, _SCALARS):
        attributes[_CONVERSATION_ID] = conversation_id
    return attributes


# Only values an attribute can hold: `NOT_GIVEN`/`Omit` sentinels and objects drop out.
_SCALARS = (bool, int, float, str)
_STREAM = gen_ai.GEN_AI_REQUEST_STREAM
_STOP_SEQUENCES = gen_ai.GEN_AI_REQUEST_STOP_SEQUENCES
_OUTPUT_TYPE = gen_ai.GEN_AI_OUTPUT_TYPE
_CONVERSATION_ID = gen_ai.GEN_AI_CONVERSATION_ID
_TEXT = gen_ai.GenAiOutputTypeValues.TEXT.value
_JSON = gen_ai.GenAiOutputTypeValues.JSON.value


def _stop_sequences(extra_args: Mapping[str, Any]) -> tuple[str, ...] | None:
    stop = extra_args.get("stop")
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop):
        return tuple(stop)
    return None


def _tool_choice(choice: Any) -> str | None:
    if isinstance(choice, str):
        return choice
    name = getattr(choice, "name", None)  # MCPToolChoice and friends
    return "function" if isinstance(name, str) else None


def _output_type(output_schema: Any, extra_args: Any) -> str | None:
    """The output format the request asks for, as the conventions want it: only when it asks
    for one. The SDK sends ``response_format`` for a structured output schema, never for plain
    text; a caller may also pass one through ``extra_args``."""
    if output_schema is not None:
        is_plain_text = getattr(output_schema, "is_plain_text", None)
        try:
            plain = bool(is_plain_text()) if callable(is_plain_text) else False
        except Exception:
            plain = False
        if not plain:
            return _JSON
    if extra_args and isinstance(extra_args, Mapping):
        response_format = extra_args.get("response_format")
        kind = response_format.get("type") if isinstance(response_format, Mapping) else None
        if kind == "text":
            return _TEXT
        if kind in ("json_object", "json_schema"):
            return _JSON
    return None


def server_attributes(host: str | None, port: int | None) -> list[tuple[str, Any]]:
    return [(SERVER_ADDRESS, host), (SERVER_PORT, port)]
