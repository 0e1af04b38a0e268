"""A tracer provider that configures chatspan's exporters when its first span starts.

``CHATSPAN_ENABLED`` activation passes it to ``instrument()``. Its tracers call
``chatspan.exporters.configure()`` (once per process) just before the first span, then delegate to
the global provider's tracer. Configuring earlier, at interpreter start or at ``import agents``,
would claim the global provider before an application that sets its own (typically right after
its imports) got the chance, and its ``set_tracer_provider`` would be refused with a warning. At
the first span, a provider the application set any time before its first model call is used as it
is, and a server's workers (forked or spawned) start their export threads in the worker itself.
Metrics need no such help: the instrumentor's meter comes from the API's proxy, which follows
whatever meter provider ``configure()`` (or the application) sets.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import trace

from .guard import report_failure

__all__ = ["ConfigureOnFirstSpan"]

_configured = False
_configure_lock = threading.RLock()  # re-entrant: a span started while configuring passes through


def _configure_exporters() -> None:
    """``configure()`` once per process; it leaves a provider the application set alone.

    Held under the lock, so a span starting on another thread meanwhile waits for the provider
    rather than going to the no-op one.
    """
    global _configured
    with _configure_lock:
        if _configured:
            return
        _configured = True
        try:
            from chatspan.exporters.configure import configure

            from .instrumentor import end_open_calls_at_exit

            configure()
            end_open_calls_at_exit()  # open calls end before the exit flush just registered
        except Exception as error:
            report_failure("configuring exporters", error)


class ConfigureOnFirstSpan(trace.TracerProvider):
    """Tracers that configure exporters at their first span, then use the global provider."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _ConfigureOnFirstSpanTracer(args, kwargs)


class _ConfigureOnFirstSpanTracer(trace.Tracer):
    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._args = args
        self._kwargs = kwargs
        self._tracer: trace.Tracer | None = None

    def _resolve(self) -> trace.Tracer:
        if self._tracer is None:
            _configure_exporters()
            # Still the API's proxy if nothing was built (OTEL_SDK_DISABLED, no exporter): its
            # tracer then follows whatever provider is set later.
            provider = trace.get_tracer_provider()
            self._tracer = provider.get_tracer(*self._args, **self._kwargs)
        return self._tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._resolve().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve().start_as_current_span(*args, **kwargs)
