"""The three wrappers chatspan puts on ``OpenAIChatCompletionsModel``.

Each is a factory taking the instrumentation state and returning a thin ``wrapt`` wrapper:
gate, bind, start, call, record. Only the wrapped call's own exception ever propagates, as the
same object; our recording is guarded inside ``ChatCall``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context

from .call import CALL_KEY, ChatCall, open_call
from .dedupe import inference_already_open
from .guard import guarded, report_failure
from .request import bind_arguments
from .state import InstrumentationState
from .stream import ObservedChunkStream, TracedEventStream

__all__ = ["fetch_response_wrapper", "get_response_wrapper", "stream_response_wrapper"]

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def _start_or_none(
    state: InstrumentationState,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    stream: bool,
) -> ChatCall | None:
    """A new ChatCall, or None when we are switched off, another chat span is already open, or
    starting failed (reported; contained inline, as this runs on every call)."""
    try:
        current = otel_context.get_current()
        if not state.active or current.get(CALL_KEY) is not None or inference_already_open(current):
            return None
        return ChatCall(state, instance, bind_arguments(args, kwargs), stream, current)
    except Exception as error:
        report_failure("starting the chat span", error)
        return None


def get_response_wrapper(state: InstrumentationState) -> Wrapper:
    async def traced_get_response(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        call = _start_or_none(state, instance, args, kwargs, False)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = call.activate()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        call.finish(result)
        return result

    return traced_get_response


def stream_response_wrapper(state: InstrumentationState) -> Wrapper:
    def traced_stream_response(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        call = _start_or_none(state, instance, args, kwargs, True)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            events = wrapped(*args, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        return TracedEventStream(events, call)

    return traced_stream_response


def fetch_response_wrapper(state: InstrumentationState) -> Wrapper:
    """Observe the provider's answer inside our span: the completion, or its chunk stream."""

    async def observed_fetch_response(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        call = open_call()
        if call is None:
            return await wrapped(*args, **kwargs)
        if call.stream and state.settings.stream_usage:
            args, kwargs = _asking_for_usage(args, kwargs) or (args, kwargs)
        result = await wrapped(*args, **kwargs)
        call.fetched = True
        if isinstance(result, tuple) and len(result) == 2 and hasattr(result[1], "__anext__"):
            response, chunks = result
            return response, ObservedChunkStream(chunks, call)
        call.observe_completion(result)
        return result

    return observed_fetch_response


@guarded("asking for streamed usage")
def _asking_for_usage(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """``CHATSPAN_STREAM_USAGE``: the same arguments, with a copy of ``model_settings`` that has
    ``include_usage=True``, when the caller left it unset (None: the SDK then asks only
    OpenAI's own endpoint). An explicit True or False is the caller's and stays."""
    settings = bind_arguments(args, kwargs).model_settings  # same three leading parameters
    if not dataclasses.is_dataclass(settings) or getattr(settings, "include_usage", 0) is not None:
        return None
    asking = dataclasses.replace(settings, include_usage=True)  # type: ignore[type-var]
    if "model_settings" in kwargs:
        return args, {**kwargs, "model_settings": asking}
    return (*args[:2], asking, *args[3:]), kwargs
