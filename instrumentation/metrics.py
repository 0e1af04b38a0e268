"""The GenAI client metrics, created once per instrumentation from the given meter.

Units and advisory bucket boundaries are the conventions' (the same lists
``opentelemetry-util-genai`` uses). Attributes stay low-cardinality: operation, provider,
models, server address/port and ``error.type``; never ids or content.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, Meter

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


class ChatMetrics:
    """The four histograms and the cost counter of a chat call; ``record_*`` take the span's
    context for exemplars."""

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

    def record_cost(self, cost_usd: float, attributes: Mapping[str, Any], context: Context) -> None:
        """``attributes``: provider, request model and, when known, the agent's name."""
        self.cost.add(cost_usd, attributes, context=context)

    def record_call(
        self,
        attributes: Mapping[str, Any],
        duration_s: float,
        input_tokens: int | None,
        output_tokens: int | None,
        context: Context,
    ) -> None:
        self.duration.record(max(duration_s, 0.0), attributes, context=context)
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

    def record_chunk_timing(
        self,
        attributes: Mapping[str, Any],
        first_chunk_s: float,
        mean_chunk_gap_s: float | None,
        context: Context,
    ) -> None:
        """Time to first chunk, and the stream's mean gap between later chunks.

        The conventions record a value for every chunk after the first; at several microseconds
        per SDK histogram record that would cost more than the rest of our per-event work many
        times over, so a stream records its mean gap once (see the README, "Metrics").
        """
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
