"""The key under which OpenTelemetry's API keeps the current span in a ``Context``.

The API names it with a fresh suffix per process (``create_key``) and offers only
``set_span_in_context``/``get_current_span``, each a copy or a lookup through two calls. On the
chat path we build one context holding our span and our own keys in a single copy, and read the
span back with one ``dict.get``, so we take the key from the API itself rather than spell it.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context

__all__ = ["SPAN_KEY"]

SPAN_KEY: str = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, Context())))
