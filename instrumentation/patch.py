"""What chatspan puts on ``OpenAIChatCompletionsModel``: the ``wrapt`` wrappers of its two
public methods and the observer of its private fetch step.

Each is a factory taking the instrumentation state: gate, bind, start, call, record. Only the
wrapped call's own exception ever propagates, as the same object; our recording is guarded
inside ``ChatCall``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from types import FunctionType
from typing import Any

from opentelemetry.context import attach, detach, get_current

from .call import CALL_KEY, ChatCall, open_call
from .dedupe import inference_already_open
from .guard import guarded, report_failure
from .request import bind_call
from .state import InstrumentationState
from .stream import ObservedChunkStream, TracedEventStream

__all__ = [
    "get_response_wrapper",
    "observed_fetch_response",
    "stream_response_wrapper",
]

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
        current = get_current()
        if not state.active or CALL_KEY in current or inference_already_open(current):
            return None
        return ChatCall(state, instance, bind_call(*args, **kwargs), stream, current)
    except Exception as error:
        report_failure("starting the chat span", error)
        return None


def get_response_wrapper(state: InstrumentationState) -> Wrapper:
    async def traced_get_response(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        call = _start_or_none(state, instance, args, kwargs, False)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = attach(call.context)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            detach(token)
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


def observed_fetch_response(state: InstrumentationState, sdk_fetch: Any) -> Callable[..., Any]:
    """The model's fetch step, observed inside our span: the completion, or its chunk stream.

    A plain function put on the class rather than a ``wrapt`` wrapper: the step is private,
    runs once in every model call, and a ``wrapt`` layer there cost about 2,200 instructions a
    call (bench/README.md). ``sdk_fetch`` is what the class held: the SDK's function, or a
    descriptor someone else put there, which is then bound to each instance as it would be."""
    # type(), not isinstance(): a wrapt proxy passes isinstance as the function it wraps
    call_sdk = sdk_fetch if type(sdk_fetch) is FunctionType else _binding(sdk_fetch)

    async def _fetch_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        call = open_call()
        if call is None:
            return await call_sdk(self, *args, **kwargs)
        stream = call.stream
        if stream and state.settings.stream_usage:
            args, kwargs = _asking_for_usage(args, kwargs) or (args, kwargs)
        result = await call_sdk(self, *args, **kwargs)
        call.fetched = True
        if stream and _is_response_and_chunks(result):
            response, chunks = result
            return response, ObservedChunkStream(chunks, call)
        call.observe_completion(result)  # a completion, or a stream's odd result: read it
        return result

    functools.update_wrapper(_fetch_response, sdk_fetch)  # its name, doc and __wrapped__
    return _fetch_response


def _is_response_and_chunks(result: Any) -> bool:
    """What the SDK's fetch step returns for a stream: the response and its chunk stream."""
    return isinstance(result, tuple) and len(result) == 2 and hasattr(result[1], "__anext__")


def _binding(descriptor: Any) -> Callable[..., Any]:
    def call_bound(instance: Any, *args: Any, **kwargs: Any) -> Any:
        return descriptor.__get__(instance, type(instance))(*args, **kwargs)

    return call_bound


@guarded("asking for streamed usage")
def _asking_for_usage(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
    """``CHATSPAN_STREAM_USAGE``: the same arguments, with a copy of ``model_settings`` that has
    ``include_usage=True``, when the caller left it unset (None: the SDK then asks only
    OpenAI's own endpoint). An explicit True or False is the caller's and stays."""
    settings = bind_call(*args, **kwargs).model_settings  # same three leading parameters
    if not dataclasses.is_dataclass(settings) or getattr(settings, "include_usage", 0) is not None:
        return None
    asking = dataclasses.replace(settings, include_usage=True)  # type: ignore[type-var]
    if "model_settings" in kwargs:
        return args, {**kwargs, "model_settings": asking}
    return (*args[:2], asking, *args[3:]), kwargs
