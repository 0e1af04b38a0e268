"""Attribute keys and values we emit, taken from ``opentelemetry-semantic-conventions``.

Only what the package lacks is spelled here, each with a note on where it comes from.
"""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes, server_attributes

__all__ = ["gen_ai", "gen_ai_metrics"]

OPERATION_CHAT = gen_ai.GenAiOperationNameValues.CHAT.value
ERROR_TYPE = error_attributes.ERROR_TYPE
SERVER_ADDRESS = server_attributes.SERVER_ADDRESS
SERVER_PORT = server_attributes.SERVER_PORT
TOKEN_INPUT = gen_ai.GenAiTokenTypeValues.INPUT.value
TOKEN_OUTPUT = gen_ai.GenAiTokenTypeValues.OUTPUT.value

# Not (yet) in the semconv package; chatspan's own, documented in the README.
STREAM_CLOSED_EARLY = "chatspan.stream.closed_early"  # the consumer stopped before the end
ABANDONED = "chatspan.span.abandoned"  # ended by chatspan: evicted, left open, open at exit
CONTENT_SANITIZE_FAILED = "chatspan.content.sanitize_failed"  # a value was replaced, fail-closed
# A provider that is neither OpenAI's nor one the conventions list (vLLM, Ollama, a proxy...).
PROVIDER_OPENAI_COMPATIBLE = "openai_compatible"
# Added with streamed usage and cost (issue 6). `gen_ai.usage.cost` is not in the conventions
# (semantic-conventions 1.37 has no cost attribute); named like its `gen_ai.usage.*` siblings, in
# USD, on chat spans and summed on the bridge's agent and workflow spans.
USAGE_COST = "gen_ai.usage.cost"
USAGE_MISSING = "chatspan.usage.missing"  # a successful call whose provider sent no usage
