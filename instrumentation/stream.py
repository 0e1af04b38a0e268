"""Transparent proxies for the two streams of a streamed call.

``TracedEventStream`` wraps the async generator ``stream_response`` returns: the agent receives
the very same event objects, in the same order, one ``__anext__`` at a time. Until the model has
fetched its response, our span is current while the model's own code runs (so its HTTP client's
spans nest under ours), and the caller's context is restored before each event is handed over;
after that, steps only read chunks already requested, and the attach is skipped (it was a fifth
of our per-event cost). It ends the span exactly once: exhaustion, error, ``aclose()``,
cancellation, or garbage collection of an abandoned stream.

``ObservedChunkStream`` wraps the provider's ``AsyncStream`` of ``ChatCompletionChunk`` inside
the model's fetch step, to read what only the chunks carry (response id and model, finish
reasons, usage, chunk timing) while handing each chunk on untouched.
"""

from __future__ import annotations

from typing import Any

from wrapt import BaseObjectProxy

from .call import COMPLETED_EVENT, ChatCall
from .guard import report_failure

__all__ = ["ObservedChunkStream", "TracedEventStream"]


class _CallStream(BaseObjectProxy):  # type: ignore[misc]
    """A proxy over an async iterator, tied to the ChatCall it reports to."""

    def __init__(self, wrapped: Any, call: ChatCall) -> None:
        super().__init__(wrapped)
        self._self_call = call

    def __aiter__(self) -> _CallStream:
        # The proxy is its own iterator: `async for` must come back to our `__anext__`.
        return self


def _observe_event(call: ChatCall, event: Any) -> None:
    """Only the terminal event matters; an event whose ``type`` misbehaves passes untouched."""
    try:
        if getattr(event, "type", None) == COMPLETED_EVENT:
            call.observe_completed(event)
    except Exception as error:
        report_failure("reading a stream event", error)


class TracedEventStream(_CallStream):
    async def __anext__(self) -> Any:
        call = self._self_call
        token = None if call.fetched else call.activate()
        try:
            event = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            call.finish()
            raise
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            if token is not None:
                call.deactivate(token)
        _observe_event(call, event)
        return event

    async def aclose(self) -> None:
        call = self._self_call
        token = call.activate()
        try:
            await self.__wrapped__.aclose()
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        call.close_early()

    async def athrow(self, *args: Any) -> Any:
        call = self._self_call
        token = call.activate()
        try:
            event = await self.__wrapped__.athrow(*args)
        except StopAsyncIteration:
            call.close_early()
            raise
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        _observe_event(call, event)
        return event

    def __del__(self) -> None:
        # An abandoned stream (the consumer broke out and dropped it) still ends its span.
        self._self_call.close_early()


class ObservedChunkStream(_CallStream):
    async def __anext__(self) -> Any:
        chunk = await self.__wrapped__.__anext__()
        self._self_call.observe_chunk(chunk)
        return chunk
