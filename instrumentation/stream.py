"""Transparent proxies for the two streams of a streamed call.

``TracedEventStream`` wraps the async generator ``stream_response`` returns: the agent receives
the very same event objects, in the same order, one step at a time. Until the model has
fetched its response, our span is current while the model's own code runs (so its HTTP client's
spans nest under ours), and the caller's context is restored before each event is handed over;
after that, steps only read chunks already requested, and the attach is skipped. The span ends
exactly once: exhaustion, error, ``aclose()``, cancellation, or the relay's finalization when an
abandoned stream is dropped (asyncio closes it, as it does the SDK's own generator).

``ObservedChunkStream`` wraps the provider's ``AsyncStream`` of ``ChatCompletionChunk`` inside
the model's fetch step, to read what only the chunks carry (response id and model, finish
reasons, usage, chunk timing) while handing each chunk on untouched.

Every event passes both, and a step costs no Python frame of ours beyond one relay generator per
proxy: ``__aiter__`` hands ``async for`` the relay itself (an async generator, stepped by the
interpreter as directly as the SDK's own; a step through a proxy's slot cost 0.3-0.4 µs more in
place), and ``__anext__`` is a slot holding the relay's own ``__anext__`` (a C method) for
whoever steps the proxy by hand. The chunk relay steps openai's stream where openai's own
``__aiter__`` relay would (``_chunk_source``), so it replaces a generator on every chunk rather
than adding one (``bench/README.md``).
Everything but iteration is forwarded to the wrapped object, including ``__class__``, so
``isinstance``/``inspect.isasyncgen`` answer as they would for the original.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from types import CodeType
from typing import Any

from opentelemetry.context import attach, detach

from .call import COMPLETED_EVENT, ChatCall
from .guard import report_failure

__all__ = ["ObservedChunkStream", "TracedEventStream"]


class _CallStream:
    """An async iterator over ``wrapped`` whose steps are those of ``relay``."""

    # `__anext__` is a slot holding the relay's bound C method: `async for` looks it up on the
    # type, finds the slot's member descriptor and calls what it holds, so no Python frame of
    # ours runs per step (a property handing it out measured 0.03 µs more per step).
    __slots__ = ("__anext__", "__weakref__", "_call", "_relay", "_wrapped")

    def __init__(self, wrapped: Any, call: ChatCall, relay: AsyncGenerator[Any, None]) -> None:
        _set(self, "_wrapped", wrapped)  # past our own __setattr__, which forwards
        _set(self, "_call", call)
        _set(self, "_relay", relay)
        _set(self, "__anext__", relay.__anext__)  # bound once, not per step

    def __aiter__(self) -> AsyncGenerator[Any, None]:
        # `async for` steps the relay itself: an async generator, which the interpreter steps
        # directly, where a step through this proxy's slot cost 0.3-0.4 µs an event in place
        # (bench/README.md). The proxy holds the relay, so a stream kept and iterated again
        # later goes on where it was.
        return self._relay

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


_OWN_SLOTS = frozenset(_CallStream.__slots__)  # every other attribute is the wrapped object's
_set = object.__setattr__


def _observe_event(call: ChatCall, event: Any) -> None:
    """Only the terminal event matters; an event whose ``type`` misbehaves passes untouched."""
    try:
        if getattr(event, "type", None) == COMPLETED_EVENT:
            call.observe_completed(event)
    except Exception as error:
        report_failure("reading a stream event", error)


async def _relay_events(
    events: AsyncIterator[Any], call: ChatCall, _lifetime: _EndWhenDropped
) -> AsyncGenerator[Any, None]:
    """The SDK's events, handed on; the terminal one read; the end recorded: exhaustion, the
    model's exception re-raised as the same object, or the relay closed from outside at a
    ``yield`` (the proxy's ``aclose``, or asyncio finalizing a dropped stream, as it does the
    SDK's own generator: ``GeneratorExit``, or ``CancelledError`` when the loop shuts down
    first), which is an early close. ``_lifetime`` is there for a relay dropped unstarted."""
    _lifetime.started = True
    event = None
    try:
        while not call.fetched:  # until the request is made, the model's code runs in our span
            token = attach(call.context)
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                call.finish()
                return
            finally:
                detach(token)
            _observe_event(call, event)
            try:
                yield event
            except BaseException:
                call.close_early_after(event)
                raise
        if call.capturing:
            async for event in events:
                try:  # `_observe_event`, inlined: a function call would double this step
                    if event.type == COMPLETED_EVENT:
                        call.observe_completed(event)
                except AttributeError:  # not a Responses event: nothing for us in it
                    pass
                except Exception as error:
                    report_failure("reading a stream event", error)
                try:
                    yield event
                except BaseException:
                    call.close_early_after(event)
                    raise
        else:  # nothing to read per event: an early close looks at the last one
            async for event in events:
                try:
                    yield event
                except BaseException:  # thrown in at the `yield`: closed from outside
                    call.close_early_after(event)
                    raise
    except BaseException as error:  # from the SDK's generator (or ended already, above)
        call.fail(error)
        raise
    call.finish()


class _EndWhenDropped:
    """Held only by an event relay's frame, for a relay dropped before its first step: its code
    never runs, so its call ends (closed early) when the frame lets go of this. A relay that
    started ends its call itself, at its ``yield`` when it is closed or finalized (the cyclic
    collector may finalize this first, while that relay still has its last event)."""

    __slots__ = ("_call", "started")

    def __init__(self, call: ChatCall) -> None:
        self._call = call
        self.started = False

    def __del__(self) -> None:
        if not self.started:
            self._call.close_early()


class TracedEventStream(_CallStream):
    __slots__ = ()

    def __init__(self, events: Any, call: ChatCall) -> None:
        relay = _relay_events(events, call, _EndWhenDropped(call))
        _CallStream.__init__(self, events, call, relay)
        # An early close from outside the relay (exit, the proxy's aclose) asks it for its last
        # event; weakly, as the relay's frame holds the call.
        call.events_relay = weakref.ref(relay)

    async def aclose(self) -> None:
        call = self._call
        token = attach(call.context)
        try:
            await self._wrapped.aclose()
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            detach(token)
        call.close_early()
        await _close_quietly(self._relay)

    async def athrow(self, *args: Any) -> Any:
        # Straight into the SDK's generator, as without us; the relay, waiting at its `yield`,
        # goes on from wherever that generator is when the next step comes.
        call = self._call
        token = attach(call.context)
        try:
            event = await self._wrapped.athrow(*args)
        except StopAsyncIteration:
            call.close_early()
            raise
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            detach(token)
        _observe_event(call, event)
        return event


async def _relay_chunks(chunks: Any, call: ChatCall) -> AsyncGenerator[Any, None]:
    """The provider's chunks, each handed on as it comes.

    Per chunk only a count and two attribute reads: the clock is read at the first chunk and
    when the chunks run out, usage and finish reasons only in a chunk without choices or one
    that finishes them (continuous-usage servers repeat the running total there)."""
    count = 0
    async for chunk in _chunk_source(chunks):
        count += 1
        try:
            if count == 1:
                call.first_chunk(chunk)
            choices = chunk.choices
            if not choices or choices[0].finish_reason is not None:
                call.last_chunks(chunk, choices)
        except Exception as error:  # odd chunks from a client must not break the stream
            report_failure("reading a streamed chunk", error)
        yield chunk
    call.chunks_ended(count)  # only a stream the provider finished records its mean gap


def _chunk_source(chunks: Any) -> Any:
    """What the chunk relay iterates. openai's ``AsyncStream`` is iterated through a relay of
    its own (``__aiter__``: every item of ``_iterator`` re-yielded, nothing else); ours takes
    that relay's place instead of stacking a second generator on every chunk (above openai's
    stream alone, 0.29-0.31 µs a chunk against 0.51-0.52, ``bench/chunk_relay.py``). Only an
    ``__aiter__`` whose bytecode is exactly that re-yield is passed over: a replaced or wrapped
    one, another client's stream or a changed openai release is iterated as it is."""
    try:
        code = getattr(getattr(type(chunks), "__aiter__", None), "__code__", None)
        if code is not None and (code is _seen_bare_relay or _is_bare_relay(code)):
            return chunks._iterator
    except Exception as error:  # odd streams are iterated as they are
        report_failure("looking at the chunk stream", error)
    return chunks


async def _bare_relay(self: Any) -> AsyncIterator[Any]:  # the shape of openai's __aiter__
    async for item in self._iterator:
        yield item


_BARE_RELAY = _bare_relay.__code__
_seen_bare_relay: CodeType | None = None  # the last code object found to be that shape


def _is_bare_relay(code: CodeType) -> bool:
    global _seen_bare_relay
    same = (
        code.co_flags & inspect.CO_ASYNC_GENERATOR
        and code.co_code == _BARE_RELAY.co_code
        and code.co_names == _BARE_RELAY.co_names
        and code.co_consts == _BARE_RELAY.co_consts
        and code.co_exceptiontable == _BARE_RELAY.co_exceptiontable
    )
    if same:
        _seen_bare_relay = code
    return bool(same)


class ObservedChunkStream(_CallStream):
    """The SDK keeps this proxy (to close the stream and read its response) and iterates it."""

    __slots__ = ()

    def __init__(self, chunks: Any, call: ChatCall) -> None:
        _CallStream.__init__(self, chunks, call, _relay_chunks(chunks, call))


async def _close_quietly(relay: AsyncGenerator[Any, None]) -> None:
    """Close our relay after the SDK's generator; one still running elsewhere is left to end on
    its own (it only hands on what the closed generator gives it)."""
    try:
        await relay.aclose()
    except Exception as error:
        report_failure("closing the event relay", error)
