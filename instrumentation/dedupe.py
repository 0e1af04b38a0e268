"""One chat span per model call, even with a client-level OpenAI instrumentation running too.

Users often also run an instrumentation of the ``openai`` client itself. Our span already
covers that client call, so while it is current we claim the inference the way those
instrumentations look for it:

- OpenTelemetry's ``opentelemetry-util-genai`` (used by ``opentelemetry-instrumentation-genai-
  openai``): an ``InferenceData`` under ``CLIENT_INFERENCE_CONTEXT_KEY`` makes the inner call a
  suppressed, span-less, metric-less invocation. Built only when that library is loaded, since
  it costs about 3 µs.
- OpenLLMetry: the context value ``suppress_language_model_instrumentation``.

And the other way round: when an inference is already open around us (someone traced the agent
call with ``opentelemetry-util-genai`` themselves), we step aside rather than nest a second one.
"""

from __future__ import annotations

import sys

from opentelemetry import context as otel_context
from opentelemetry.context import Context

__all__ = ["claim_inference", "inference_already_open"]

_UTIL_GENAI = "opentelemetry.util.genai.invocation"
_OPENLLMETRY_SUPPRESS_KEY = "suppress_language_model_instrumentation"


def claim_inference(values: dict[str, object]) -> Context:
    """``values`` (a new dict: the caller's context and its own keys) with the claims added, as
    a ``Context``: one copy of the context per span, where merging in here made two."""
    values[_OPENLLMETRY_SUPPRESS_KEY] = True
    genai = sys.modules.get(_UTIL_GENAI)
    if genai is not None:
        values[genai.CLIENT_INFERENCE_CONTEXT_KEY] = genai.InferenceData()
    return Context(values)


def inference_already_open(context: Context) -> bool:
    genai = sys.modules.get(_UTIL_GENAI)
    if genai is None:
        return False
    return isinstance(
        otel_context.get_value(genai.CLIENT_INFERENCE_CONTEXT_KEY, context), genai.InferenceData
    )
