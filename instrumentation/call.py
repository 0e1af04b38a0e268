"""One model call's span: started with the request, fed what passes, ended exactly once.

The wrappers (``patch.py``) and the stream proxy (``stream.py``) drive a ``ChatCall``; every
method here that does our own work is guarded, so nothing it does can change the call's outcome.
What the provider said (response id, model, finish reasons, usage) arrives through the model's
own fetch step (``observe_completion``, or the chunk proxy's ``first_chunk``/``last_chunks``);
what the agent receives (output items) through the result or the terminal stream event.
"""

from __future__ import annotations

import asyncio
import json
import timeit
import weakref
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import messages
from .bridge_context import chat_parent
from .bridge_registry import ROLLUP_KEY, UsageTotals
from .context_keys import SPAN_KEY
from .dedupe import claim_inference
from .guard import guarded, report_failure
from .request import CallArguments, request_attributes
from .sanitize import valid_unicode
from .semconv import (
    ABANDONED,
    CONTENT_SANITIZE_FAILED,
    ERROR_TYPE,
    STREAM_CLOSED_EARLY,
    USAGE_COST,
    USAGE_MISSING,
    gen_ai,
)

if TYPE_CHECKING:
    from .state import InstrumentationState

__all__ = ["CALL_KEY", "COMPLETED_EVENT", "ChatCall", "error_type", "open_call"]

CALL_KEY = otel_context.create_key("chatspan.chat_call")
"""In our span's context: a weak reference to its ``ChatCall`` (read it with ``open_call``). The
call holds that context, so a strong one would make every call a reference cycle, freed only by
the garbage collector with its span and attributes: about 9,000 CPU instructions a
``get_response`` call in the collections it brought."""
COMPLETED_EVENT = "response.completed"  # the terminal stream event: output items and usage
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_INPUT_TOKENS = gen_ai.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT_TOKENS = gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS
_CACHED_TOKENS = gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
_REASONING_TOKENS = gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS
_FINISH_REASONS = gen_ai.GEN_AI_RESPONSE_FINISH_REASONS


def error_type(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class ChatCall:
    """The span of one ``get_response``/``stream_response`` call and what it has seen."""

    __slots__ = (
        "__weakref__",
        "_agent_name",
        "_cached",
        "_chunks",
        "_chunks_ended_at",
        "_content_failed",
        "_ended",
        "_endpoint",
        "_error_type",
        "_event_content",
        "_finish_reasons",
        "_first_chunk_s",
        "_late_attributes",
        "_reasoning",
        "_response_model",
        "_rollup",
        "_saw_completed",
        "_start",
        "_state",
        "_usage",
        "_usage_seen",
        "context",
        "events_relay",  # a weak reference to a stream's event relay; unset for the rest
        "fetched",
        "span",
        "stream",
    )
    events_relay: weakref.ref[Any]  # set by a stream's proxy only: read with getattr

    def __init__(
        self,
        state: InstrumentationState,
        model: Any,
        call: CallArguments,
        stream: bool,
        current: Context,
    ) -> None:
        self._state = state
        self._start = timeit.default_timer()
        self._ended = False
        self.stream = stream
        self.fetched = False  # set once the model's fetch step returned: the request is made
        self._usage: tuple[int | None, int | None] = (None, None)
        self._usage_seen = False
        self._cached: int | None = None
        self._reasoning: int | None = None
        self._finish_reasons: dict[int, str] = {}
        self._response_model: str | None = None
        self._first_chunk_s: float | None = None
        self._chunks_ended_at: float | None = None
        self._chunks = 0
        self._saw_completed = False
        self._content_failed = False
        self._event_content: dict[str, str] | None = None
        self._error_type: str | None = None
        # What the response says goes on the span in one batch at the end: one lock, one call.
        self._late_attributes: dict[str, Any] = {}

        endpoint = state.endpoints.endpoint(model)
        self._endpoint = endpoint
        start_attributes = request_attributes(call, stream, endpoint.attributes)
        # Parent and agent name from the Agents SDK bridge's span for the SDK's current span.
        parent, agent_name = chat_parent(current)
        rollup = parent.get(ROLLUP_KEY)  # the bridge's agent and workflow totals, if any
        self._rollup: tuple[UsageTotals, ...] = rollup if isinstance(rollup, tuple) else ()
        self._agent_name = agent_name
        if agent_name:
            start_attributes[gen_ai.GEN_AI_AGENT_NAME] = agent_name
        span = self.span = state.tracer.start_span(
            endpoint.span_name, context=parent, kind=SpanKind.CLIENT, attributes=start_attributes
        )
        try:  # the span made current and our keys, in one copy of the parent context
            self.context = claim_inference({**parent, SPAN_KEY: span, CALL_KEY: weakref.ref(self)})
        except BaseException:  # the call goes on without us: no span left open behind it
            span.end()
            raise
        state.open_calls.add(self)  # a stream still open at exit is ended before the flush
        if state.capturing:
            self._capture_request(call)

    @property
    def capturing(self) -> bool:
        """Whether content is captured: a stream's event relay then reads every event."""
        return self._state.capturing

    # -- what the provider said (the model's fetch step) ----------------------------------

    def observe_completion(self, completion: Any) -> None:
        try:
            self._response_identity(completion)
            for choice in getattr(completion, "choices", None) or ():
                self._finish_reason(choice)
            usage = getattr(completion, "usage", None)
            if usage is not None:
                self._observe_usage(usage)
        except Exception as error:  # inline rather than @guarded: this runs on every call
            report_failure("reading the chat completion", error)

    # Every streamed chunk passes the chunk proxy's relay (``stream._relay_chunks``), which does
    # the per-chunk work itself (a count and two attribute reads) and calls these only where
    # there is more to read: the clock at the first chunk and when the chunks run out, not per
    # chunk; usage and finish reasons only in a chunk without choices or one that finishes them
    # (continuous-usage servers repeat the running total there). The relay guards them.

    def first_chunk(self, chunk: Any) -> None:
        self._first_chunk_s = timeit.default_timer() - self._start
        self._response_identity(chunk)

    def last_chunks(self, chunk: Any, choices: Any) -> None:
        for choice in choices or ():
            self._finish_reason(choice)
        usage = chunk.usage
        if usage is not None:
            self._observe_usage(usage)

    def chunks_ended(self, count: int) -> None:
        """The provider's ``count`` chunks ran out: the end of the last gap between them. A
        stream closed early or failed has no such moment, and records no mean gap."""
        self._chunks_ended_at = timeit.default_timer()
        self._chunks = count

    def _finish_reason(self, choice: Any) -> None:
        reason = getattr(choice, "finish_reason", None)
        if isinstance(reason, str):
            if len(reason) > _PROVIDER_TEXT_LIMIT or not reason.isascii():  # nearly never
                reason = _provider_text(reason)
            self._finish_reasons[getattr(choice, "index", 0) or 0] = reason

    def _response_identity(self, response: Any) -> None:
        """The response's id and model; the bound on their text inline, as it nearly never
        applies and a call per value was a third of this step."""
        late = self._late_attributes
        response_id = getattr(response, "id", None)
        if isinstance(response_id, str):
            if len(response_id) > _PROVIDER_TEXT_LIMIT or not response_id.isascii():
                response_id = _provider_text(response_id)
            late[gen_ai.GEN_AI_RESPONSE_ID] = response_id
        response_model = getattr(response, "model", None)
        if isinstance(response_model, str):
            if len(response_model) > _PROVIDER_TEXT_LIMIT or not response_model.isascii():
                response_model = _provider_text(response_model)
            late[gen_ai.GEN_AI_RESPONSE_MODEL] = self._response_model = response_model

    def _observe_usage(self, usage: Any) -> None:
        """A usage object (never None); a part that is not a whole number stays unknown."""
        late = self._late_attributes
        input_tokens = getattr(usage, "prompt_tokens", None)
        if type(input_tokens) is int or _is_count(input_tokens):
            late[_INPUT_TOKENS] = input_tokens
        else:
            input_tokens = None
        output_tokens = getattr(usage, "completion_tokens", None)
        if type(output_tokens) is int or _is_count(output_tokens):
            late[_OUTPUT_TOKENS] = output_tokens
        else:
            output_tokens = None
        self._usage = (input_tokens, output_tokens)
        self._usage_seen = True
        details = getattr(usage, "prompt_tokens_details", None)
        if details is not None:
            cached = getattr(details, "cached_tokens", None)
            if type(cached) is int or _is_count(cached):
                late[_CACHED_TOKENS] = self._cached = cached
        details = getattr(usage, "completion_tokens_details", None)
        if details is not None:
            reasoning = getattr(details, "reasoning_tokens", None)
            if type(reasoning) is int or _is_count(reasoning):
                late[_REASONING_TOKENS] = self._reasoning = reasoning

    # -- what the agent receives ---------------------------------------------------------

    def observe_completed(self, event: Any) -> None:
        """The terminal stream event (``COMPLETED_EVENT``): the output items the agent receives."""
        self._saw_completed = True
        if self._state.capturing:
            self._capture_output(getattr(getattr(event, "response", None), "output", None))

    # -- ending --------------------------------------------------------------------------

    def finish(self, result: Any = None) -> None:
        """The call returned (``result``: a ``ModelResponse``) or the stream was exhausted."""
        if self._ended:
            return
        if result is not None and self._state.capturing:
            self._capture_output(getattr(result, "output", None))
        self._end(True)

    def fail(self, error: BaseException) -> None:
        """The call raised ``error``; the caller re-raises the same object."""
        if self._ended:
            return
        self._record_error(error)
        self._end()

    def close_early(self) -> None:
        """The consumer closed the stream, or it went unfinished (the relay asks
        ``close_early_after``): not an error, but worth knowing, unless it had the terminal
        event already."""
        if not self._ended:
            relay_ref = getattr(self, "events_relay", None)
            relay = relay_ref() if relay_ref is not None else None
            self._close_early(self._saw_completed or _relay_handed_on_completed(relay))

    def close_early_after(self, last_event: Any) -> None:
        """The event relay was closed at its ``yield`` of ``last_event`` (None before any)."""
        if not self._ended:
            try:
                handed_on = getattr(last_event, "type", None) == COMPLETED_EVENT
            except Exception as error:  # an odd event: judged as not the terminal one
                report_failure("looking at the last stream event", error)
                handed_on = False
            self._close_early(self._saw_completed or handed_on)

    def _close_early(self, had_completed: bool) -> None:
        if not had_completed:
            self._mark_closed_early()
        self._end()

    def end_at_exit(self) -> None:
        """The interpreter is exiting with this call still open (``state.end_open_calls``)."""
        if self._ended:
            return
        if self.stream:
            self.close_early()
            return
        self._mark_abandoned()
        self._end()

    @guarded("recording an error")
    def _record_error(self, error: BaseException) -> None:
        kind = self._error_type = error_type(error)
        self.span.set_attribute(ERROR_TYPE, kind)
        if isinstance(error, asyncio.CancelledError):
            self.span.set_status(Status(StatusCode.ERROR, "cancelled"))
            return
        self.span.record_exception(error)
        self.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:1024]))

    @guarded("marking an abandoned call")
    def _mark_abandoned(self) -> None:
        self.span.set_attribute(ABANDONED, True)

    @guarded("marking an early close")
    def _mark_closed_early(self) -> None:
        self.span.set_attribute(STREAM_CLOSED_EARLY, True)

    def _end(self, completed: bool = False) -> None:
        """Each part is contained on its own, inline (every call ends here, and a decorated
        guard costs a frame): a failing one is reported and the others still run."""
        self._ended = True
        self._state.open_calls.discard(self)
        duration = timeit.default_timer() - self._start
        cost = None
        try:
            cost = self._cost()
        except Exception as error:
            report_failure("computing the cost", error)
        try:
            self._set_summary(completed)
        except Exception as error:
            report_failure("setting the response attributes", error)
        try:
            self._record_metrics(duration, cost)
        except Exception as error:
            report_failure("recording metrics", error)
        if self._rollup:
            self._roll_up(cost)
        if self._event_content:
            self._emit_content_event()
        try:
            self.span.end()
        except Exception as error:
            report_failure("ending the span", error)

    def _set_summary(self, completed: bool) -> None:
        late = self._late_attributes
        if completed and not self._usage_seen:  # say so, rather than record zeros
            late[USAGE_MISSING] = True
        reasons = self._finish_reasons
        if reasons:  # by choice index; a tuple, as the SDK cleans a list at several times the cost
            late[_FINISH_REASONS] = (
                tuple(reasons.values())
                if len(reasons) == 1
                else tuple(reasons[index] for index in sorted(reasons))
            )
        if self._first_chunk_s is not None:
            late[gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self._first_chunk_s
        if self._content_failed:
            late[CONTENT_SANITIZE_FAILED] = True
        if late:
            self.span.set_attributes(late)

    def _cost(self) -> float | None:
        """USD from the usage and the prices, set on the span; None when either is unknown."""
        pricing = self._state.pricing
        input_tokens, output_tokens = self._usage
        if pricing is None or input_tokens is None or output_tokens is None:
            return None
        endpoint = self._endpoint
        cost = pricing.cost(
            endpoint.provider,
            self._response_model,
            endpoint.model_name or None,
            input_tokens,
            output_tokens,
            self._cached or 0,
            self._reasoning or 0,
        )
        if cost is not None:
            self._late_attributes[USAGE_COST] = cost
        return cost

    @guarded("adding to the agent's and workflow's totals")
    def _roll_up(self, cost: float | None) -> None:
        for totals in self._rollup:
            totals.add(cost, *self._usage)

    def _metric_attributes(self) -> dict[str, Any]:
        """The endpoint's attributes with what this call adds (response model, error type)."""
        attributes = dict(self._endpoint.attributes)
        if self._response_model is not None:
            attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = self._response_model
        if self._error_type is not None:
            attributes[ERROR_TYPE] = self._error_type
        return attributes

    def _record_metrics(self, duration: float, cost: float | None) -> None:
        cost_entry = None
        if cost is not None:  # provider, request model and the agent (for "top agents by cost")
            cost_attributes = self._endpoint.cost_attributes
            if self._agent_name:
                cost_attributes = {**cost_attributes, gen_ai.GEN_AI_AGENT_NAME: self._agent_name}
            cost_entry = (cost, cost_attributes)
        chunk_timing = None
        first_chunk_s = self._first_chunk_s
        if first_chunk_s is not None:
            ended_at = self._chunks_ended_at
            mean_gap = (
                (ended_at - self._start - first_chunk_s) / (self._chunks - 1)
                if ended_at is not None and self._chunks > 1
                else None
            )
            chunk_timing = (first_chunk_s, mean_gap)
        attributes = self._metric_attributes()
        self._state.metrics.record_chat(
            self.context, attributes, duration, self._usage, chunk_timing, cost_entry
        )

    @guarded("emitting the content event")
    def _emit_content_event(self) -> None:
        """The conventions' event for content kept off the span (``EVENT_ONLY`` and friends)."""
        attributes: dict[str, Any] = {**self._metric_attributes(), **(self._event_content or {})}
        self._state.event_logger.emit(
            event_name=_DETAILS_EVENT, attributes=attributes, context=self.context
        )

    # -- content (only with capture on) --------------------------------------------------

    @guarded("capturing the request content")
    def _capture_request(self, call: CallArguments) -> None:
        self._set_content(
            gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS,
            messages.system_instructions(call.system_instructions),
        )
        self._set_content(gen_ai.GEN_AI_INPUT_MESSAGES, messages.input_messages(call.input))
        self._set_content(
            gen_ai.GEN_AI_TOOL_DEFINITIONS, messages.tool_definitions(call.tools, call.handoffs)
        )

    @guarded("capturing the response content")
    def _capture_output(self, items: Any) -> None:
        if items is None:  # callers check that capture is on: this is not on the hot path
            return
        reason = self._finish_reasons.get(0)
        self._set_content(gen_ai.GEN_AI_OUTPUT_MESSAGES, messages.output_messages(items, reason))

    def _set_content(self, key: str, value: Any) -> None:
        if not value:
            return
        sanitized = self._state.sanitizer.sanitize_value(value, on_error=self._on_sanitize_error)
        text = json.dumps(sanitized, ensure_ascii=False, separators=(",", ":"), default=str)
        capture = self._state.settings.capture
        if capture.on_span:
            self.span.set_attribute(key, text)
        if capture.as_event:
            if self._event_content is None:
                self._event_content = {}
            self._event_content[key] = text

    def _on_sanitize_error(self) -> None:
        self._content_failed = True


def _relay_handed_on_completed(relay: Any) -> bool:
    """With capture off the event relay reads nothing per event (``stream._relay_events``), so
    whether it handed on the terminal event is asked of it when an early close comes from
    outside it: the last event it yielded is a local of its suspended frame."""
    if relay is None:  # not a stream, or its relay is gone
        return False
    try:
        frame = relay.ag_frame  # None once the relay has finished
        event = frame.f_locals.get("event") if frame is not None else None
        return getattr(event, "type", None) == COMPLETED_EVENT
    except Exception as error:
        report_failure("looking at the last stream event", error)
        return False


def open_call() -> ChatCall | None:
    """The call whose span is current, if any: what ``CALL_KEY`` refers to."""
    call_ref = otel_context.get_current().get(CALL_KEY)
    return call_ref() if type(call_ref) is weakref.ref else None


_PROVIDER_TEXT_LIMIT = 256


def _provider_text(value: str) -> str:
    """A provider's id, model or finish reason that is long or not ASCII: bounded, and
    exportable as UTF-8 (a lone surrogate would make the OTLP encoder drop the attribute). The
    callers take the common case, short ASCII kept as it is, inline."""
    return valid_unicode(value[:_PROVIDER_TEXT_LIMIT])


def _is_count(value: Any) -> bool:
    """A token count: an int, not a bool (``True`` is an int to Python, not a count). The
    callers test ``type(value) is int`` first, inline: that is nearly every count."""
    return isinstance(value, int) and not isinstance(value, bool)
