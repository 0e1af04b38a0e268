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
