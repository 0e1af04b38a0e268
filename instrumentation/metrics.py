"""The GenAI client metrics, created once per instrumentation from the given meter.

Units and advisory bucket boundaries are the conventions' (the same lists
``opentelemetry-util-genai`` uses). Attributes stay low-cardinality: operation, provider,
models, server address/port and ``error.type``; never ids or content.

A chat call's values are only needed when a reader collects, and an SDK ``record`` costs
several microseconds, so the call path just queues them: a callback-only observable instrument
on the same meter records the queue into the real instruments at the start of each collection
(the SDK runs callbacks before reading its storage), exporting nothing itself. The queue is per
meter and bounded; until a collection has been seen (a no-op meter, an SDK provider without a
reader) and whenever it is full, values are recorded synchronously, never dropped.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context, get_current
from opentelemetry.metrics import CallbackOptions, Histogram, Meter, NoOpMeter, Observation

from .context_keys import SPAN_KEY
from .guard import report_failure
from .semconv import TOKEN_INPUT, TOKEN_OUTPUT, gen_ai, gen_ai_metrics

__all__ = ["AgentMetrics", "ChatMetrics"]

_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                     40.96, 81.92)  # fmt: skip
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                  16777216, 67108864)  # fmt: skip


# chatspan's own (the conventions have no cost metric yet): a counter of USD, attributes
# gen_ai.provider.name, gen_ai.request.model and gen_ai.agent.name (a fixed set per app).
_COST = "chatspan.client.cost"


def _histogram(
    meter: Meter, name: str, unit: str, description: str, buckets: tuple[float, ...]
) -> Histogram:
    return meter.create_histogram(
        name, unit=unit, description=description, explicit_bucket_boundaries_advisory=list(buckets)
    )


# At most this many queued entries per meter: one per chat call. An entry is a short tuple; it
# shares the call's attribute dicts and holds the span context, never the call or its span.
# Measured when full: 3.9 MB (plain calls with a cost) to 4.4 MB (streamed ones).
MAX_PENDING = 4096
# Callback-only: it records the queue into the real instruments and observes nothing.
_DRAIN = "chatspan.internal.metrics_drain"

# (its ChatMetrics, span context, attributes, duration, tokens, chunk timing, cost): see
# ChatMetrics.record_chat
_Entry = tuple[Any, ...]
# (counter, the cost's attributes as a set) -> (USD so far, those attributes, the last context)
_CostSums = dict[tuple[Any, frozenset[tuple[str, Any]]], tuple[float, Mapping[str, Any], Context]]


class _Pending(deque[_Entry]):
    """One meter's queued values; ``limit`` stays 0 (record synchronously) until a collection
    has run ``drain``, so a meter that is never collected never holds any."""

    __slots__ = ("limit",)

    def __init__(self) -> None:
        super().__init__()
        self.limit = 0

    def drain(self, options: CallbackOptions) -> Iterable[Observation]:
        """The observable instrument's callback: record what is queued now, observe nothing.

        The cost counter's values are summed per attribute set first and added once each: a
        sum is the same either way, and an SDK ``add`` costs about 7 µs of this thread, which
        holds the GIL. Its exemplar is then the last call's span of each set."""
        self.limit = MAX_PENDING
        popleft = self.popleft
        cost_sums: _CostSums = {}
        for _ in range(len(self)):  # only what is here now: later entries wait for the next one
            try:
                chat_metrics, span_context, attributes, duration_s, tokens, timing, cost = popleft()
            except IndexError:
                break
            try:
                # what the exemplar filter and reservoir read: the call's trace and span ids
                context = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
                chat_metrics.record_values(attributes, duration_s, tokens, timing, context)
                if cost is not None:
                    _sum_cost(cost_sums, chat_metrics.cost, cost, context)
            except Exception as error:  # never into the SDK's collection; go on with the rest
                report_failure("recording queued metrics", error)
        for (counter, _), (amount, attributes, context) in cost_sums.items():
            try:
                counter.add(amount, attributes, context=context)
            except Exception as error:
                report_failure("recording queued metrics", error)
        return ()


def _sum_cost(
    sums: _CostSums, counter: Any, cost: tuple[float, Mapping[str, Any]], context: Context
) -> None:
    amount, attributes = cost
    try:
        key = (counter, frozenset(attributes.items()))
        total = sums.get(key)
    except TypeError:  # a value that cannot be hashed: added on its own, as it came
        counter.add(amount, attributes, context=context)
        return
    sums[key] = (amount if total is None else total[0] + amount, attributes, context)


# meter -> its queue, and the drain instrument created once per meter: the SDK hands back the
# first instrument for a second one of the same name and drops the second one's callbacks.
_pending_by_meter: weakref.WeakKeyDictionary[Meter, _Pending] = weakref.WeakKeyDictionary()
_pending_lock = threading.Lock()


def _pending_for(meter: Meter) -> _Pending:
    if isinstance(meter, NoOpMeter):  # never collected: always synchronous (and cheap there)
        return _Pending()
    with _pending_lock:
        pending = _pending_by_meter.get(meter)
        if pending is None:
            pending = _pending_by_meter[meter] = _Pending()
            meter.create_observable_gauge(
                _DRAIN,
                callbacks=[pending.drain],
                description="chatspan's queued metric values, recorded at collection; no data.",
            )
    return pending


class ChatMetrics:
    """The four histograms and the cost counter of a chat call; ``record_chat`` takes the span's
    context for exemplars, and queues the call's values until the next collection (module
    docstring). The attribute mappings are kept until then: callers pass mappings they no
    longer change.
    """

    def __init__(self, meter: Meter) -> None:
        histogram = functools.partial(_histogram, meter)
        self.duration = histogram(
            gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION,
            "s",
            "GenAI operation duration.",
            _DURATION_BUCKETS,
        )
        self.token_usage = histogram(
            gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE,
            "{token}",
            "Number of input and output tokens used.",
            _TOKEN_BUCKETS,
        )
        self.time_to_first_chunk = histogram(
            gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
            "s",
            "Time from the request to the first chunk of a streamed response.",
            _DURATION_BUCKETS,
        )
        self.time_per_output_chunk = histogram(
            gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
            "s",
            "Mean time between consecutive chunks of a streamed response, once per stream.",
            _DURATION_BUCKETS,
        )
        self.cost = meter.create_counter(
            _COST, unit="USD", description="Cost of GenAI calls, from token usage and prices."
        )
        self._pending = _pending_for(meter)  # an entry holds its ChatMetrics until drained

    def record_chat(
        self,
        context: Context | None,
        attributes: Mapping[str, Any],
        duration_s: float,
        tokens: tuple[int | None, int | None],
        chunk_timing: tuple[float, float | None] | None = None,
        cost: tuple[float, Mapping[str, Any]] | None = None,
    ) -> None:
        """Everything one chat call records, as one queued entry.

        ``tokens``: input and output, each None when the provider sent none (no zero is
        invented). ``chunk_timing``: a stream's time to first chunk and its mean gap between
        later chunks (the gap None when the chunks had no end). The conventions record a value
        for every chunk after the first; at several microseconds per SDK histogram record that
        would cost more than the rest of our per-event work many times over, so a stream records
        its mean gap once (see the README, "Metrics"). ``cost``: USD and its attributes
        (provider, request model and, when known, the agent's name).
        """
        pending = self._pending
        # `limit` is racy by a few entries across threads: harmless
        if len(pending) < pending.limit:
            span: Any = (context if context is not None else get_current()).get(SPAN_KEY)
            span_context = (
                span.get_span_context() if span is not None else trace.INVALID_SPAN_CONTEXT
            )
            pending.append((self, span_context, attributes, duration_s, tokens, chunk_timing, cost))
        else:  # full, or not open yet: straight into the SDK
            self.record_values(attributes, duration_s, tokens, chunk_timing, context)
            if cost is not None:
                self.cost.add(cost[0], cost[1], context=context)

    # -- into the instruments: at collection (drain), or at once when not queued -------------

    def record_values(
        self,
        attributes: Mapping[str, Any],
        duration_s: float,
        tokens: tuple[int | None, int | None],
        chunk_timing: tuple[float, float | None] | None,
        context: Context | None,
    ) -> None:
        """The histograms' values of one call (the cost is the caller's: see ``drain``)."""
        self.duration.record(max(duration_s, 0.0), attributes, context=context)
        input_tokens, output_tokens = tokens
        if input_tokens is not None:
            self.token_usage.record(
                input_tokens, {**attributes, gen_ai.GEN_AI_TOKEN_TYPE: TOKEN_INPUT}, context=context
            )
        if output_tokens is not None:
            self.token_usage.record(
                output_tokens,
                {**attributes, gen_ai.GEN_AI_TOKEN_TYPE: TOKEN_OUTPUT},
                context=context,
            )
        if chunk_timing is not None:
            first_chunk_s, mean_chunk_gap_s = chunk_timing
            self.time_to_first_chunk.record(max(first_chunk_s, 0.0), attributes, context=context)
            if mean_chunk_gap_s is not None:
                self.time_per_output_chunk.record(
                    max(mean_chunk_gap_s, 0.0), attributes, context=context
                )


# The agent-level histograms, named as opentelemetry-util-genai's `_instruments.py` names them
# (not yet in the semantic-conventions package), with its bucket boundaries.
_INVOKE_AGENT_DURATION = "gen_ai.invoke_agent.duration"
_EXECUTE_TOOL_DURATION = "gen_ai.execute_tool.duration"
_INVOKE_AGENT_BUCKETS = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8,
                         409.6)  # fmt: skip


class AgentMetrics:
    """Agent invocation and tool execution durations, recorded by the Agents SDK bridge.

    Attributes: operation, ``gen_ai.agent.name``, ``gen_ai.tool.name``/``.type`` and
    ``error.type``; agents and tools are a fixed set per application, so cardinality stays low.
    """

    def __init__(self, meter: Meter) -> None:
        self.invoke_agent_duration = _histogram(
            meter,
            _INVOKE_AGENT_DURATION,
            "s",
            "Duration of an agent invocation.",
            _INVOKE_AGENT_BUCKETS,
        )
        self.execute_tool_duration = _histogram(
            meter, _EXECUTE_TOOL_DURATION, "s", "Duration of a tool execution.", _DURATION_BUCKETS
        )

    def record_agent(
        self, duration_s: float, attributes: Mapping[str, Any], context: Context | None
    ) -> None:
        self.invoke_agent_duration.record(max(duration_s, 0.0), attributes, context=context)

    def record_tool(
        self, duration_s: float, attributes: Mapping[str, Any], context: Context | None
    ) -> None:
        self.execute_tool_duration.record(max(duration_s, 0.0), attributes, context=context)
