"""Transparent proxies for the two streams of a streamed call.

``TracedEventStream`` wraps the async generator ``stream_response`` returns: the agent receives
the very same event objects, in the same order, one ``__anext__`` at a time. Until the model has
fetched its response, each step is a coroutine of ours that makes our span current while the
model's own code runs (so its HTTP client's spans nest under ours) and restores the caller's
context before the event is handed over. After that, steps only read chunks already requested,
and ``__anext__`` hands out the step of a small relay generator directly, with no coroutine of
ours around it. The span ends exactly once: exhaustion, error, ``aclose()``, cancellation, or
garbage collection of an abandoned stream.

``ObservedChunkStream`` wraps the provider's ``AsyncStream`` of ``ChatCompletionChunk`` inside
the model's fetch step, to read what only the chunks carry (response id and model, finish
reasons, usage, chunk timing) while handing each chunk on untouched.

Both are plain slotted classes rather than ``wrapt`` proxies: a step through a ``wrapt`` proxy's
``__anext__`` cost 0.48 µs against 0.19 µs here (``bench/README.md``), and every event passes
both. Everything but iteration is forwarded to the wrapped object, including ``__class__``, so
``isinstance``/``inspect.isasyncgen`` answer as they would for the original.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

from .call import COMPLETED_EVENT, ChatCall
from .guard import report_failure

__all__ = ["ObservedChunkStream", "TracedEventStream"]

_OWN_SLOTS = frozenset({"_wrapped", "_next", "_call", "_relay"})


class _CallStream:
    """An async iterator over ``wrapped``, tied to the ChatCall it reports to."""

    __slots__ = ("__weakref__", "_call", "_next", "_relay", "_wrapped")

    def __init__(self, wrapped: Any, call: ChatCall) -> None:
        object.__setattr__(self, "_wrapped", wrapped)
        object.__setattr__(self, "_call", call)
        object.__setattr__(self, "_next", None)  # the relay's step, once there is one
        object.__setattr__(self, "_relay", None)

    def __aiter__(self) -> _CallStream:
        # The proxy is its own iterator: `async for` must come back to our `__anext__`.
        return self

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._wrapped)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN_SLOTS:
            object.__setattr__(self, name, value)
        else:
            setattr(self._wrapped, name, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self._wrapped!r}>"

    def _start_relay(self, relay: AsyncGenerator[Any, None]) -> Callable[[], Awaitable[Any]]:
        """From now on each step is the relay's own ``__anext__``: no coroutine of ours in
        between (a step through one cost twice a generator's)."""
        step = relay.__anext__
        object.__setattr__(self, "_relay", relay)
        object.__setattr__(self, "_next", step)
        return step


def _observe_event(call: ChatCall, event: Any) -> None:
    """Only the terminal event matters; an event whose ``type`` misbehaves passes untouched."""
    try:
        if getattr(event, "type", None) == COMPLETED_EVENT:
            call.observe_completed(event)
    except Exception as error:
        report_failure("reading a stream event", error)


async def _relay_events(events: AsyncIterator[Any], call: ChatCall) -> AsyncIterator[Any]:
    """The SDK's events once the request is made: handed on, the terminal one read, the end
    (exhaustion or the model's exception, re-raised as the same object) recorded."""
    try:
        async for event in events:
            try:  # `_observe_event`, inlined: a function call would be a fifth of the step
                if event.type == COMPLETED_EVENT:
                    call.observe_completed(event)
            except AttributeError:  # not a Responses event: nothing for us in it
                pass
            except Exception as error:
                report_failure("reading a stream event", error)
            yield event
    except GeneratorExit:  # the relay itself closed (the proxy's aclose, or collected)
        raise
    except BaseException as error:
        call.fail(error)
        raise
    call.finish()


class TracedEventStream(_CallStream):
    __slots__ = ()

    def __anext__(self) -> Awaitable[Any]:
        step = self._next
        if step is not None:
            return step()
        call = self._call
        if call.fetched:
            return self._start_relay(_relay_events(self._wrapped, call))()
        return self._first_steps(call)

    async def _first_steps(self, call: ChatCall) -> Any:
        """A step before the request is made: the model's code runs with our span current."""
        token = call.activate()
        try:
            event = await self._wrapped.__anext__()
        except StopAsyncIteration:
            call.finish()
            raise
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        _observe_event(call, event)
        return event

    async def aclose(self) -> None:
        call = self._call
        token = call.activate()
        try:
            await self._wrapped.aclose()
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            call.deactivate(token)
        call.close_early()
        await _close_quietly(self._relay)

    async def athrow(self, *args: Any) -> Any:
        call = self._call
        token = call.activate()
        try:
            event = await self._wrapped.athrow(*args)
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
        self._call.close_early()


class ObservedChunkStream(_CallStream):
    """Each step is one coroutine of ours around the provider's own (cheaper here than a relay
    generator behind the proxy, which would add a frame), with the reading inlined."""

    __slots__ = ()

    def __init__(self, wrapped: Any, call: ChatCall) -> None:
        super().__init__(wrapped, call)
        object.__setattr__(self, "_next", wrapped.__anext__)

    async def __anext__(self) -> Any:
        call = self._call
        try:
            chunk = await self._next()  # type: ignore[misc]
        except StopAsyncIteration:
            call.chunks_ended()
            raise
        call.chunks += 1
        try:
            if call.chunks == 1:
                call.first_chunk(chunk)
            choices = chunk.choices
            if not choices or choices[0].finish_reason is not None:
                call.last_chunks(chunk, choices)
        except Exception as error:  # odd chunks from a client must not break the stream
            report_failure("reading a streamed chunk", error)
        return chunk


async def _close_quietly(relay: AsyncGenerator[Any, None] | None) -> None:
    """Close our relay after the SDK's generator; a relay still running elsewhere is left to
    finish on its own (it only hands on what the closed generator gives it)."""
    if relay is None:
        return
    try:
        await relay.aclose()
    except Exception as error:
        report_failure("closing the event relay", error)
