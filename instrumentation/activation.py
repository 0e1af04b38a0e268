"""Activation by environment: ``CHATSPAN_ENABLED=1`` instruments an unmodified application.

The wheel ships ``chatspan-activate.pth`` (written by ``setup.py``). At interpreter start it tests
``CHATSPAN_ENABLED`` with ``os`` alone, so with the variable unset (or 0/false/off/no) nothing of
chatspan is imported; otherwise it calls ``activate_from_env()``, which registers one
``wrapt`` post-import hook for ``agents`` and does nothing else at start-up. When the application
imports the Agents SDK, the hook:

1. instruments ``OpenAIChatCompletionsModel`` with ``ChatCompletionsInstrumentor``, unless it is
   instrumented already or being instrumented right now (``opentelemetry-instrument`` loads our
   entry point, whose ``instrument()`` imports ``agents`` and so fires this hook from inside itself:
   that one instruments, we step aside, and the two activations instrument once);
2. through ``instrument()``, applies ``CHATSPAN_AGENTS_SDK_EXPORT``, on every activation path.

Exporters are configured lazily, at the first span (``first_span.py`` says why), so a provider the
application sets any time before its first model call is used as it is.

Start-up cost: with the variable unset, the ``.pth`` line only (tens of microseconds). Enabled,
this module imports nothing heavy itself (``wrapt`` is needed for the hook), so what a process that
never imports ``agents`` pays is ``wrapt`` plus whatever ``chatspan.instrumentation``'s
``__init__`` imports.

``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` containing ``chatspan`` (or ``*``) turns activation off,
as it turns off the entry point under ``opentelemetry-instrument``. Nothing here raises into the
application: a bad ``CHATSPAN_ENABLED`` is one warning line naming the variable and the values
allowed; a failure inside the hook is reported once and the import of ``agents`` goes on.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from .config import parse_switch
from .guard import report_failure

__all__ = [
    "DISABLED_INSTRUMENTATIONS_ENV",
    "ENABLED_ENV",
    "activate_from_env",
    "disabled_by_otel",
    "enabled_from_env",
    "is_activated",
]

ENABLED_ENV = "CHATSPAN_ENABLED"
DISABLED_INSTRUMENTATIONS_ENV = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
_ENTRY_POINT_NAME = "chatspan"  # our name in the opentelemetry_instrumentor entry points
_TARGET = "agents"

_lock = threading.Lock()
_registered = False


def enabled_from_env(env: Mapping[str, str]) -> bool:
    """Whether ``CHATSPAN_ENABLED`` asks for activation; unset or empty means no.

    A value outside 1/0/true/false/on/off/yes/no (any case) is logged once as a warning naming the
    variable and the allowed values, and means no. Once per value: site.py runs the ``import``
    lines of a venv's .pth files twice (in ``venv()`` and again in ``main()``).
    """
    return parse_switch(env, ENABLED_ENV, "chatspan stays off")


def disabled_by_otel(env: Mapping[str, str]) -> bool:
    """Whether ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names chatspan, or is ``*`` (all)."""
    names = {name.strip() for name in env.get(DISABLED_INSTRUMENTATIONS_ENV, "").split(",")}
    return _ENTRY_POINT_NAME in names or "*" in names


def is_activated() -> bool:
    """Whether ``activate_from_env()`` has registered the ``agents`` hook in this process."""
    return _registered


def activate_from_env(env: Mapping[str, str] | None = None) -> bool:
    """Register the post-import hook for ``agents`` if the environment asks; never raises.

    Called by the ``.pth`` file at interpreter start. Idempotent: returns True if the hook is
    registered (by this call or an earlier one). If ``agents`` is already imported the hook runs
    at once, so calling this late, before the first agent run, works too.
    """
    global _registered
    try:
        env = os.environ if env is None else env
        if not enabled_from_env(env) or disabled_by_otel(env):
            return False
        with _lock:
            first, _registered = not _registered, True
        if first:
            try:
                import wrapt  # only when enabled: importing it takes tens of milliseconds

                # Outside the lock: with ``agents`` already imported the hook runs right here.
                wrapt.register_post_import_hook(_on_agents_imported, _TARGET)
            except BaseException:
                _registered = False
                raise
        return True
    except Exception as error:
        report_failure("activating chatspan", error)
        return False


def _on_agents_imported(_module: Any) -> None:
    """The hook: instrument once (which also applies the SDK export mode). A raising hook would
    make the application's ``import agents`` fail, so it is contained."""
    try:
        _instrument_once()
    except Exception as error:
        report_failure("instrumenting the Agents SDK", error)


def _instrument_once() -> None:
    from .first_span import ConfigureOnFirstSpan
    from .instrumentor import ChatCompletionsInstrumentor

    instrumentor = ChatCompletionsInstrumentor()  # a process-wide singleton
    if instrumentor.is_instrumented_by_opentelemetry or _instrumenting_now(instrumentor):
        return
    instrumentor.instrument(tracer_provider=ConfigureOnFirstSpan())


def _instrumenting_now(instrumentor: Any) -> bool:
    """Whether this hook fired from inside that instrumentor's ``_instrument`` (which imports
    ``agents``) on this thread: its ``is_instrumented_by_opentelemetry`` flag is set only after."""
    code = type(instrumentor)._instrument.__code__
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False
