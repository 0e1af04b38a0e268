"""Everything one ``instrument()`` call set up, in one object the wrappers read.

The instrumentor is a process-wide singleton (``BaseInstrumentor``); keeping its mutable state
here, built by ``_instrument`` and switched off by ``_uninstrument``, means a wrapper that some
code cached before ``uninstrument()`` simply passes through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry._logs import Logger
from opentelemetry.trace import Tracer

from .config import Settings
from .metrics import ChatMetrics
from .request import EndpointCache

if TYPE_CHECKING:
    from .call import ChatCall
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
    open_calls: set[ChatCall] = field(default_factory=set)  # started and not yet ended
    endpoints: EndpointCache = field(init=False)  # each model's span name and fixed attributes
    capturing: bool = field(init=False)  # any content capture: asked on every call, so a bool

    def __post_init__(self) -> None:
        self.endpoints = EndpointCache(self.settings.emit_legacy_system)
        self.capturing = self.settings.capture.any

    def end_open_calls(self) -> None:
        """End the spans of calls still open; run at interpreter exit, before the exit flush.

        A call still referenced when the interpreter exits (a stream kept in a global, a task on
        a loop never closed, a stream open during ``sys.exit``) would end its span only at module
        teardown, after the exporters' exit flush: lost. Ending it here exports it: a stream as
        closed early, a call still waiting for its answer as abandoned.
        """
        for call in list(self.open_calls):
            call.end_at_exit()
