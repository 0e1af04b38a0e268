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
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import messages
from .bridge_context import chat_parent
from .bridge_registry import ROLLUP_KEY, UsageTotals
from .dedupe import claim_inference
from .guard import guarded
from .request import CallArguments, provider_and_server, request_attributes
from .sanitize import valid_unicode
from .semconv import (
    ABANDONED,
    CONTENT_SANITIZE_FAILED,
    ERROR_TYPE,
    OPERATION_CHAT,
    SERVER_ADDRESS,
    SERVER_PORT,
    STREAM_CLOSED_EARLY,
    USAGE_COST,
    USAGE_MISSING,
    gen_ai,
)

if TYPE_CHECKING:
    from .state import InstrumentationState

__all__ = ["CALL_KEY", "COMPLETED_EVENT", "ChatCall", "error_type"]

CALL_KEY = otel_context.create_key("chatspan.chat_call")
COMPLETED_EVENT = "response.completed"  # the terminal stream event: output items and usage
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_OPERATION_NAME = gen_ai.GEN_AI_OPERATION_NAME
_PROVIDER_NAME = gen_ai.GEN_AI_PROVIDER_NAME
_REQUEST_MODEL = gen_ai.GEN_AI_REQUEST_MODEL


def error_type(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class ChatCall:
    """The span of one ``get_response``/``stream_response`` call and what it has seen."""

    __slots__ = (
        "_agent_name",
        "_cached",
        "_chunks",
        "_chunks_ended_at",
        "_content_failed",
        "_context",
        "_ended",
        "_event_content",
        "_finish_reasons",
        "_first_chunk_s",
        "_late_attributes",
        "_metric_attributes",
        "_reasoning",
        "_response_model",
        "_rollup",
        "_saw_completed",
        "_start",
        "_state",
        "_usage",
        "_usage_seen",
        "fetched",
        "span",
        "stream",
    )

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
        # What the response says goes on the span in one batch at the end: one lock, one call.
        self._late_attributes: dict[str, Any] = {}

        model_name = str(getattr(model, "model", "") or "")
        provider, host, port = provider_and_server(
            getattr(getattr(model, "_client", None), "base_url", None)
        )
        metric_attributes = {_OPERATION_NAME: OPERATION_CHAT, _PROVIDER_NAME: provider}
        if model_name:
            metric_attributes[_REQUEST_MODEL] = model_name
        if host is not None:
            metric_attributes[SERVER_ADDRESS] = host
        if port is not None:
            metric_attributes[SERVER_PORT] = port
        if state.settings.emit_legacy_system:
            metric_attributes[gen_ai.GEN_AI_SYSTEM] = provider
        self._metric_attributes = metric_attributes
        start_attributes = {**metric_attributes, **request_attributes(call, stream)}
        # Parent and agent name from the Agents SDK bridge's span for the SDK's current span.
        parent, agent_name = chat_parent(current)
        rollup = parent.get(ROLLUP_KEY)  # the bridge's agent and workflow totals, if any
        self._rollup: tuple[UsageTotals, ...] = rollup if isinstance(rollup, tuple) else ()
        self._agent_name = agent_name
        if agent_name:
            start_attributes[gen_ai.GEN_AI_AGENT_NAME] = agent_name
        self.span = state.tracer.start_span(
            f"{OPERATION_CHAT} {model_name}" if model_name else OPERATION_CHAT,
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=start_attributes,
        )
        state.open_calls.add(self)  # a stream still open at exit is ended before the flush
        self._context = claim_inference(
            trace.set_span_in_context(self.span, parent), {CALL_KEY: self}
        )
        if state.settings.capture.any:
            self._capture_request(call)

    # -- context -------------------------------------------------------------------------

    def activate(self) -> object:
        """Make our span current for one step of the model; pair with ``deactivate``."""
        return otel_context.attach(self._context)

    @staticmethod
    def deactivate(token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]

    # -- what the provider said (the model's fetch step) ----------------------------------

    @guarded("reading the chat completion")
    def observe_completion(self, completion: Any) -> None:
        self._response_identity(completion)
        for choice in getattr(completion, "choices", None) or ():
            self._finish_reason(choice)
        self._observe_usage(getattr(completion, "usage", None))

    # Every streamed chunk passes the chunk proxy's relay (``stream._relay_chunks``), which does
    # the per-chunk work itself (a count and two attribute reads) and calls these only where
    # there is more to read: the
    # clock at the first chunk and when the chunks run out, not per chunk; usage and finish
    # reasons only in a chunk without choices or one that finishes them (continuous-usage
    # servers repeat the running total there).

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
            self._finish_reasons[getattr(choice, "index", 0) or 0] = _provider_text(reason)

    def _response_identity(self, response: Any) -> None:
        response_id = getattr(response, "id", None)
        if isinstance(response_id, str):
            self._late_attributes[gen_ai.GEN_AI_RESPONSE_ID] = _provider_text(response_id)
        response_model = getattr(response, "model", None)
        if isinstance(response_model, str):
            self._response_model = _provider_text(response_model)
            self._late_attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = self._response_model

    @guarded("reading token usage")
    def _observe_usage(self, usage: Any) -> None:
        if usage is None:
            return
        input_tokens = _int_or_none(getattr(usage, "prompt_tokens", None))
        output_tokens = _int_or_none(getattr(usage, "completion_tokens", None))
        self._usage = (input_tokens, output_tokens)
        self._usage_seen = True
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
        reasoning = getattr(
            getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None
        )
        self._cached, self._reasoning = _int_or_none(cached), _int_or_none(reasoning)
        for key, value in (
            (gen_ai.GEN_AI_USAGE_INPUT_TOKENS, input_tokens),
            (gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens),
            (gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, self._cached),
            (gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, self._reasoning),
        ):
            if value is not None:
                self._late_attributes[key] = value

    # -- what the agent receives ---------------------------------------------------------

    def observe_completed(self, event: Any) -> None:
        """The terminal stream event (``COMPLETED_EVENT``): the output items the agent receives."""
        self._saw_completed = True
        if self._state.settings.capture.any:
            self._capture_output(getattr(getattr(event, "response", None), "output", None))

    # -- ending --------------------------------------------------------------------------

    def finish(self, result: Any = None) -> None:
        """The call returned (``result``: a ``ModelResponse``) or the stream was exhausted."""
        if self._ended:
            return
        if result is not None and self._state.settings.capture.any:
            self._capture_output(getattr(result, "output", None))
        self._end(completed=True)

    def fail(self, error: BaseException) -> None:
        """The call raised ``error``; the caller re-raises the same object."""
        if self._ended:
            return
        self._record_error(error)
        self._end()

    def close_early(self) -> None:
        """The consumer closed or dropped the stream: not an error, but worth knowing."""
        if self._ended:
            return
        if not self._saw_completed:
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
        kind = error_type(error)
        self.span.set_attribute(ERROR_TYPE, kind)
        self._metric_attributes[ERROR_TYPE] = kind
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
        self._ended = True
        self._state.open_calls.discard(self)
        duration = timeit.default_timer() - self._start
        cost = self._cost()
        self._set_summary(completed)
        self._record_metrics(duration, cost)
        if self._rollup:
            self._roll_up(cost)
        if self._event_content:
            self._emit_content_event()
        self._end_span()

    @guarded("setting the response attributes")
    def _set_summary(self, completed: bool) -> None:
        late = self._late_attributes
        if completed and not self._usage_seen:  # say so, rather than record zeros
            late[USAGE_MISSING] = True
        if self._finish_reasons:
            # a tuple: the SDK cleans a list attribute value at several times the cost
            reasons = tuple(self._finish_reasons[i] for i in sorted(self._finish_reasons))
            late[gen_ai.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        if self._first_chunk_s is not None:
            late[gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self._first_chunk_s
        if self._content_failed:
            late[CONTENT_SANITIZE_FAILED] = True
        if late:
            self.span.set_attributes(late)

    @guarded("computing the cost", default=None)
    def _cost(self) -> float | None:
        """USD from the usage and the prices, set on the span; None when either is unknown."""
        pricing = self._state.pricing
        input_tokens, output_tokens = self._usage
        if pricing is None or input_tokens is None or output_tokens is None:
            return None
        attributes = self._metric_attributes
        cost = pricing.cost(
            attributes.get(gen_ai.GEN_AI_PROVIDER_NAME, ""),
            self._response_model,
            attributes.get(gen_ai.GEN_AI_REQUEST_MODEL),
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

    @guarded("recording metrics")
    def _record_metrics(self, duration: float, cost: float | None) -> None:
        attributes = self._metric_attributes
        if cost is not None:  # provider, request model and the agent (for "top agents by cost")
            cost_attributes: dict[str, Any] = {
                key: attributes[key]
                for key in (gen_ai.GEN_AI_PROVIDER_NAME, gen_ai.GEN_AI_REQUEST_MODEL)
                if key in attributes
            }
            if self._agent_name:
                cost_attributes[gen_ai.GEN_AI_AGENT_NAME] = self._agent_name
            self._state.metrics.record_cost(cost, cost_attributes, context=self._context)
        if self._response_model is not None:
            attributes[gen_ai.GEN_AI_RESPONSE_MODEL] = self._response_model
        metrics = self._state.metrics
        metrics.record_call(attributes, duration, *self._usage, context=self._context)
        first_chunk_s = self._first_chunk_s
        if first_chunk_s is not None:
            ended_at = self._chunks_ended_at
            mean_gap = (
                (ended_at - self._start - first_chunk_s) / (self._chunks - 1)
                if ended_at is not None and self._chunks > 1
                else None
            )
            metrics.record_chunk_timing(attributes, first_chunk_s, mean_gap, context=self._context)

    @guarded("emitting the content event")
    def _emit_content_event(self) -> None:
        """The conventions' event for content kept off the span (``EVENT_ONLY`` and friends)."""
        attributes: dict[str, Any] = {**self._metric_attributes, **(self._event_content or {})}
        self._state.event_logger.emit(
            event_name=_DETAILS_EVENT, attributes=attributes, context=self._context
        )

    @guarded("ending the span")
    def _end_span(self) -> None:
        self.span.end()

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


_PROVIDER_TEXT_LIMIT = 256


def _provider_text(value: str) -> str:
    """A provider's id, model or finish reason: bounded, and exportable as UTF-8 (a lone
    surrogate would make the OTLP encoder drop the attribute)."""
    return valid_unicode(value[:_PROVIDER_TEXT_LIMIT])


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
