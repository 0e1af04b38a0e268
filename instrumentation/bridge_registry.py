"""The bridge's bounded state: the SDK traces and spans it follows, by SDK id.

A trace's record goes when the trace ends; a span's when the span ends. Spans that outlive
their trace (old SDKs end a streamed run's trace before the agent span they cancel next) stay
until they end. Runs that never end (a crash, a task dropped mid-run) cannot grow the maps
forever: beyond ``max_traces`` traces or ``max_spans`` spans the oldest are dropped, and their
OTel spans handed back for the bridge to end, marked abandoned. Nothing here calls
OpenTelemetry, so the lock is only ever held for a few dict operations.

Roll-up: each workflow and agent record has a ``UsageTotals``. The contexts the bridge attaches
carry, under ``ROLLUP_KEY``, the totals a chat span there adds to (its agent's and its
workflow's); the bridge writes the sums on those spans as they end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from .semconv import USAGE_COST, gen_ai

if TYPE_CHECKING:  # at runtime only call.py's import cycle would need it
    from .bridge_mapping import SpanMapper

__all__ = [
    "MAX_OPEN_SPANS",
    "MAX_OPEN_TRACES",
    "ROLLUP_KEY",
    "OpenSpan",
    "OpenTrace",
    "Registry",
    "UsageTotals",
]

MAX_OPEN_TRACES = 4096  # concurrent runs; the SDK itself remembers 4096 started trace ids
MAX_OPEN_SPANS = 16384  # a run has a handful open at a time (its nesting depth)


ROLLUP_KEY = otel_context.create_key("chatspan.usage_rollup")
"""In the contexts the bridge attaches: the ``UsageTotals`` a chat span there adds to."""


class UsageTotals:
    """Sums of the chat spans' cost and tokens under one agent or workflow span; thread-safe.

    A part no chat span reported stays unknown (no attribute), never zero.
    """

    __slots__ = ("_cost", "_input", "_lock", "_output")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cost: float | None = None
        self._input: int | None = None
        self._output: int | None = None

    def add(self, cost: float | None, input_tokens: int | None, output_tokens: int | None) -> None:
        with self._lock:
            if cost is not None:
                self._cost = (self._cost or 0.0) + cost
            if input_tokens is not None:
                self._input = (self._input or 0) + input_tokens
            if output_tokens is not None:
                self._output = (self._output or 0) + output_tokens

    def attributes(self) -> list[tuple[str, float | int]]:
        with self._lock:
            parts = (
                (USAGE_COST, self._cost),
                (gen_ai.GEN_AI_USAGE_INPUT_TOKENS, self._input),
                (gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, self._output),
            )
        return [(key, value) for key, value in parts if value is not None]


@dataclass(eq=False, slots=True)
class OpenSpan:
    """An SDK span being followed. ``mapper`` None: transparent, ``span`` is its parent's."""

    span: Span
    context: Context | None  # attached while the SDK span is current
    trace_id: str
    agent_name: str | None
    mapper: SpanMapper | None = None
    started: float = 0.0
    totals: UsageTotals | None = None  # agent spans: the sums of their chat spans


@dataclass(eq=False, slots=True)
class OpenTrace:
    span: Span
    context: Context
    spans: set[str] = field(default_factory=set)  # SDK ids of its spans still open
    totals: UsageTotals = field(default_factory=UsageTotals)


class Registry:
    def __init__(self, max_traces: int = MAX_OPEN_TRACES, max_spans: int = MAX_OPEN_SPANS):
        self._max_traces = max_traces
        self._max_spans = max_spans
        self._lock = threading.Lock()
        self._traces: OrderedDict[str, OpenTrace] = OrderedDict()
        self._spans: OrderedDict[str, OpenSpan] = OrderedDict()
        # The two lookups run on every model call and every SDK span made current: the dicts'
        # own ``get`` (a C call, no frame; the dicts are only ever changed in place). A single
        # ``get`` on the C ``OrderedDict`` is atomic, so they take no lock; everything that
        # changes the dicts, or reads two things that must agree, does.
        self.trace: Callable[[str], OpenTrace | None] = self._traces.get
        self.span: Callable[[str], OpenSpan | None] = self._spans.get

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._traces), len(self._spans)

    def parents(self, parent_id: str | None, trace_id: str) -> tuple[OpenSpan | None, Span | None]:
        """The parent span's record (if followed) and the OTel span to parent under."""
        with self._lock:
            parent = self._spans.get(parent_id) if parent_id else None
            owner = self._traces.get(trace_id)
        return parent, parent.span if parent else (owner.span if owner else None)

    def add_trace(self, trace_id: str, record: OpenTrace) -> list[Span]:
        """Follow a trace; the OTel spans dropped to make room (or one it replaces) to end."""
        with self._lock:
            replaced = self._traces.pop(trace_id, None)
            self._traces[trace_id] = record
            dropped = self._evict()
        return [*dropped, replaced.span] if replaced else dropped

    def pop_trace(self, trace_id: str) -> OpenTrace | None:
        with self._lock:
            return self._traces.pop(trace_id, None)

    def add_span(self, span_id: str, record: OpenSpan) -> list[Span]:
        with self._lock:
            self._spans[span_id] = record
            owner = self._traces.get(record.trace_id)
            if owner is not None:
                owner.spans.add(span_id)
            return self._evict()

    def pop_span(self, span_id: str) -> OpenSpan | None:
        with self._lock:
            record = self._spans.pop(span_id, None)
            owner = self._traces.get(record.trace_id) if record else None
            if owner is not None:
                owner.spans.discard(span_id)
        return record

    def clear(self) -> list[Span]:
        """Forget everything; the OTel spans still open, to end."""
        with self._lock:
            left = [record.span for record in self._spans.values() if record.mapper]
            left += [record.span for record in self._traces.values()]
            self._spans.clear()
            self._traces.clear()
        return left

    def _evict(self) -> list[Span]:
        """Drop the oldest traces (with their spans), then spans, beyond the bounds. Locked."""
        dropped: list[Span] = []
        while len(self._traces) > self._max_traces:
            _, old = self._traces.popitem(last=False)
            for span_id in old.spans:
                record = self._spans.pop(span_id, None)
                if record is not None and record.mapper:
                    dropped.append(record.span)
            dropped.append(old.span)
        while len(self._spans) > self._max_spans:
            span_id, record = self._spans.popitem(last=False)
            owner = self._traces.get(record.trace_id)
            if owner is not None:
                owner.spans.discard(span_id)
            if record.mapper:
                dropped.append(record.span)
        return dropped
