"""Everything one ``instrument()`` call set up, in one object the wrappers read.

The instrumentor is a process-wide singleton (``BaseInstrumentor``); keeping its mutable state
here, built by ``_instrument`` and switched off by ``_uninstrument``, means a wrapper that some
code cached before ``uninstrument()`` simply passes through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry._logs import Logger
from opentelemetry.trace import Tracer

from .config import Settings
from .metrics import ChatMetrics

if TYPE_CHECKING:
    from .cost import Pricing
    from .sanitize import Sanitizer

__all__ = ["InstrumentationState"]


@dataclass(eq=False)
class InstrumentationState:
    settings: Settings
    tracer: Tracer
    metrics: ChatMetrics
    sanitizer: Sanitizer
    event_logger: Logger
    active: bool = field(default=True)
    pricing: Pricing | None = None  # None: no cost is computed
    open_calls: set[Any] = field(default_factory=set)  # ChatCalls started and not yet ended

    def end_open_streams(self) -> None:
        """End the spans of streams still open, as closed early; run at interpreter exit.

        A stream still referenced when the interpreter exits (kept in a global, on a loop never
        closed, open during ``sys.exit``) would end its span only at module teardown, after the
        exporters' exit flush: lost. Ending it here, before that flush, exports it.
        """
        for call in list(self.open_calls):
            if call.stream:
                call.close_early()
