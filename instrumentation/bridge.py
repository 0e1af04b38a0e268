"""The bridge from the Agents SDK's tracing to OpenTelemetry: one agent run, one trace.

``AgentsBridge`` is a ``TracingProcessor``: the SDK calls it synchronously as its traces and
spans start and end, and it starts and ends an OTel span for each (names and attributes from
``bridge_mapping``). Parents come from the SDK's own ids (an SDK span's parent is our span for its
parent id, or the trace's workflow span); the workflow span's parent is the caller's current OTel
context. ``bridge_context`` keeps OTel's current context in step with the SDK's current span, so
chat spans and spans made inside tools nest where they happened.

Processor contract: every callback is quick, thread-safe and never raises (each step is
guarded; the state lives in ``bridge_registry``, bounded, behind one lock that is never held
while calling OpenTelemetry). ``shutdown`` ends whatever is still open, marked abandoned.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import timeit
from typing import TYPE_CHECKING, Any

from agents.tracing import TracingProcessor
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode

from .bridge_context import BRIDGE_SPAN_KEY, activate, hook_scope, unhook_scope
from .bridge_mapping import (
    GENERIC,
    MAPPERS,
    OPERATION_EXECUTE_TOOL,
    OPERATION_INVOKE_AGENT,
    Capture,
    SpanMapper,
    content_text,
    error_type_of,
    open_workflow,
    tool_type,
)
from .bridge_registry import ROLLUP_KEY, OpenSpan, OpenTrace, Registry, UsageTotals
from .call import error_type
from .dedupe import claim_inference
from .guard import guarded
from .semconv import ABANDONED, CONTENT_SANITIZE_FAILED, ERROR_TYPE, gen_ai

if TYPE_CHECKING:
    from .metrics import AgentMetrics
    from .state import InstrumentationState

__all__ = ["AgentsBridge", "install", "uninstall"]

_logger = logging.getLogger(__name__)


class AgentsBridge(TracingProcessor):
    """Turns the SDK's traces and spans into OpenTelemetry spans; see the module docstring."""

    def __init__(
        self,
        state: InstrumentationState,
        metrics: AgentMetrics,
        registry: Registry | None = None,
    ) -> None:
        self._state = state
        self._tracer = state.tracer
        self._metrics = metrics
        self._open = registry or Registry()

    @property
    def open_counts(self) -> tuple[int, int]:
        """How many traces and spans are being followed (for tests and diagnostics)."""
        return self._open.counts()

    # -- the processor contract ----------------------------------------------------------

    def on_trace_start(self, trace: Any) -> None:
        if self._state.active:
            self._start_trace(trace)

    def on_trace_end(self, trace: Any) -> None:
        if self._state.active:
            self._end_trace(trace)

    def on_span_start(self, span: Any) -> None:
        if self._state.active:
            self._start_span(span)

    def on_span_end(self, span: Any) -> None:
        if self._state.active:
            self._end_span(span)

    @guarded("shutting down the Agents SDK bridge")
    def shutdown(self, timeout: float | None = None) -> None:
        """End whatever is still open (marked abandoned) and forget it."""
        _abandon(self._open.clear())

    def force_flush(self) -> None:
        """Nothing is buffered here; the OpenTelemetry provider's processors export."""

    # -- what bridge_context asks ----------------------------------------------------------

    def context_for_trace(self, sdk_trace: Any) -> Context | None:
        record = self._open.trace(getattr(sdk_trace, "trace_id", ""))
        return None if record is None else record.context

    def context_for_span(self, sdk_span: Any) -> Context | None:
        record = self._open.span(getattr(sdk_span, "span_id", ""))
        return None if record is None else record.context

    def enclosing(self, sdk_span: Any) -> tuple[trace.Span | None, str | None]:
        record = self._open.span(getattr(sdk_span, "span_id", ""))
        return (None, None) if record is None else (record.span, record.agent_name)

    # -- traces ----------------------------------------------------------------------------

    @guarded("starting a workflow span")
    def _start_trace(self, sdk_trace: Any) -> None:
        opening = open_workflow(sdk_trace)
        current = otel_context.get_current()  # the caller's: a run inside a span nests under it
        span = self._tracer.start_span(
            opening.name, context=current, kind=opening.kind, attributes=opening.attributes
        )
        totals = UsageTotals()
        context = otel_context.set_value(ROLLUP_KEY, (totals,), _context_with(span, current))
        _abandon(self._open.add_trace(sdk_trace.trace_id, OpenTrace(span, context, totals=totals)))

    @guarded("ending a workflow span")
    def _end_trace(self, sdk_trace: Any) -> None:
        record = self._open.pop_trace(sdk_trace.trace_id)
        if record is None:
            return
        _set_in_flight_error(record.span)
        _set_totals(record.span, record.totals)
        record.span.end()

    # -- spans -----------------------------------------------------------------------------

    @guarded("starting an agent span")
    def _start_span(self, sdk_span: Any) -> None:
        data = sdk_span.span_data
        mapper = MAPPERS.get(getattr(data, "type", None), GENERIC)  # type: ignore[arg-type]
        parent, parent_span = self._open.parents(sdk_span.parent_id, sdk_span.trace_id)
        agent_name = parent.agent_name if parent else None
        opening = mapper.open(data)
        if opening is None:  # transparent: its children nest under its parent
            if parent_span is None:
                return
            record = OpenSpan(parent_span, None, sdk_span.trace_id, agent_name)
        else:
            attributes = opening.attributes
            if mapper.names_agent:
                agent_name = attributes.get(gen_ai.GEN_AI_AGENT_NAME)
            elif mapper.with_agent and agent_name:
                attributes = {gen_ai.GEN_AI_AGENT_NAME: agent_name, **attributes}
            current = otel_context.get_current()
            parent_context = _parent_context(parent_span, current)
            span = self._tracer.start_span(
                opening.name, context=parent_context, kind=opening.kind, attributes=attributes
            )
            context = _context_with(span, parent_context)
            if mapper.claims_inference:
                context = claim_inference(dict(context))
            totals = None
            if mapper.names_agent:  # its chat spans add up here and in the workflow's totals
                totals = UsageTotals()
                owner = self._open.trace(sdk_span.trace_id)
                sinks = (totals, owner.totals) if owner else (totals,)
                context = otel_context.set_value(ROLLUP_KEY, sinks, context)
            started = timeit.default_timer()
            record = OpenSpan(span, context, sdk_span.trace_id, agent_name, mapper, started, totals)
        _abandon(self._open.add_span(sdk_span.span_id, record))

    @guarded("ending an agent span")
    def _end_span(self, sdk_span: Any) -> None:
        record = self._open.pop_span(sdk_span.span_id)
        if record is None or record.mapper is None:
            return
        duration = timeit.default_timer() - record.started
        try:
            self._close(record.mapper, sdk_span.span_data, record.span)
            failure = _set_error(record.span, getattr(sdk_span, "error", None))
            self._record_metric(record, sdk_span.span_data, duration, failure)
            if record.totals is not None:
                _set_totals(record.span, record.totals)
        finally:
            record.span.end()

    @guarded("reading what an agent span recorded")
    def _close(self, mapper: SpanMapper, data: Any, span: trace.Span) -> None:
        closing = mapper.close(data, self._capture_for(span))
        for key, value in closing.attributes:
            if value is not None:
                span.set_attribute(key, value)
        if closing.name:
            span.update_name(closing.name)

    def _capture_for(self, span: trace.Span) -> Capture:
        if not self._state.settings.capture.on_span:
            return _no_capture
        sanitizer = self._state.sanitizer

        def failed() -> None:
            span.set_attribute(CONTENT_SANITIZE_FAILED, True)

        def capture(value: Any) -> str | None:
            return content_text(sanitizer.sanitize_value(_structured(value), on_error=failed))

        return capture

    @guarded("recording an agent metric")
    def _record_metric(
        self, record: OpenSpan, data: Any, duration: float, failure: str | None
    ) -> None:
        kind = record.mapper.metric if record.mapper else None
        if kind == "agent":
            attributes = {
                gen_ai.GEN_AI_OPERATION_NAME: OPERATION_INVOKE_AGENT,
                gen_ai.GEN_AI_AGENT_NAME: record.agent_name,
                ERROR_TYPE: failure,
            }
            self._metrics.record_agent(duration, _strings(attributes), record.context)
        elif kind == "tool":
            attributes = {
                gen_ai.GEN_AI_OPERATION_NAME: OPERATION_EXECUTE_TOOL,
                gen_ai.GEN_AI_TOOL_NAME: getattr(data, "name", None),
                gen_ai.GEN_AI_TOOL_TYPE: tool_type(data),
                gen_ai.GEN_AI_AGENT_NAME: record.agent_name,
                ERROR_TYPE: failure,
            }
            self._metrics.record_tool(duration, _strings(attributes), record.context)


def _context_with(span: trace.Span, parent: Context) -> Context:
    return otel_context.set_value(BRIDGE_SPAN_KEY, span, trace.set_span_in_context(span, parent))


def _parent_context(parent_span: trace.Span | None, current: Context) -> Context:
    """The SDK parent's span; or ``current`` when spans were opened below it since (a user's
    span around a nested run, inside a tool); or ``current`` when the parent is unknown."""
    if parent_span is None:
        return current
    if current.get(BRIDGE_SPAN_KEY) is parent_span:
        below = trace.get_current_span(current).get_span_context()
        ours = parent_span.get_span_context()
        if below.is_valid and below.span_id != ours.span_id and below.trace_id == ours.trace_id:
            return current
    return trace.set_span_in_context(parent_span, current)


def _set_error(span: trace.Span, sdk_error: Any) -> str | None:
    """Status and ``error.type`` from the SDK's span error, else from an exception in flight."""
    if sdk_error:
        kind = error_type_of(sdk_error)
        span.set_attribute(ERROR_TYPE, kind)
        span.set_status(Status(StatusCode.ERROR, kind))
        return kind
    return _set_in_flight_error(span)


def _set_in_flight_error(span: trace.Span) -> str | None:
    """The SDK ends spans in ``finally``/``__exit__``: an exception unwinding through is theirs."""
    error = sys.exc_info()[1]
    if error is None or isinstance(error, GeneratorExit | StopAsyncIteration | StopIteration):
        return None
    kind = error_type(error)
    span.set_attribute(ERROR_TYPE, kind)
    message = "cancelled" if isinstance(error, asyncio.CancelledError) else type(error).__name__
    span.set_status(Status(StatusCode.ERROR, message))
    return kind


@guarded("writing the summed cost and tokens")
def _set_totals(span: trace.Span, totals: UsageTotals) -> None:
    for key, value in totals.attributes():
        span.set_attribute(key, value)


def _abandon(spans: list[trace.Span]) -> None:
    for span in spans:
        try:
            span.set_attribute(ABANDONED, True)
            span.end()
        except Exception:  # an exporter's on_end failing must not stop the others
            _logger.debug("chatspan: ending an abandoned span failed", exc_info=True)


def _strings(attributes: dict[str, Any]) -> dict[str, str]:
    return {key: value for key, value in attributes.items() if isinstance(value, str)}


def _no_capture(value: Any) -> None:
    return None


def _structured(value: Any) -> Any:
    """Tool arguments arrive as JSON text: sanitize the structure, so keys guide redaction."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- installing ---------------------------------------------------------------------------------


@guarded("installing the Agents SDK tracing bridge")
def install(state: InstrumentationState, metrics: AgentMetrics) -> AgentsBridge:
    """Register a new bridge with the SDK (beside its other processors) and hook its scope."""
    from agents import tracing

    bridge = AgentsBridge(state, metrics)
    if not hook_scope():
        _logger.debug("chatspan: this openai-agents has no Scope; OTel context follows no SDK span")
    activate(bridge)
    tracing.add_trace_processor(bridge)
    return bridge


@guarded("uninstalling the Agents SDK tracing bridge")
def uninstall(bridge: AgentsBridge) -> None:
    """Stop following the SDK, end what is open, and take the bridge off the SDK's list."""
    activate(None)
    unhook_scope()
    bridge.shutdown()
    _remove_processor(bridge)


@guarded("removing the Agents SDK bridge")
def _remove_processor(bridge: AgentsBridge) -> None:
    # The SDK has no "remove one processor"; its list is read the way agents_sdk_export reads it.
    # Where it is not readable the bridge stays registered, inactive (its state says so).
    from agents import tracing
    from agents.tracing import setup

    getter = getattr(setup, "get_trace_provider", None)
    provider = getter() if getter else getattr(setup, "GLOBAL_TRACE_PROVIDER", None)
    current = getattr(getattr(provider, "_multi_processor", None), "_processors", None)
    if current is not None and any(processor is bridge for processor in current):
        tracing.set_trace_processors(
            [processor for processor in current if processor is not bridge]
        )
