"""Containment of chatspan's own failures: log once per kind, never raise into the agent.

Every recording entry point goes through ``guarded`` so the call sites need no ``try``, except
the few that run on every call (starting the span, the agent-span lookup, reading the
completion, each part of the end), which contain their failures inline with ``report_failure``:
a ``try`` costs nothing in CPython 3.11, a decorated guard a frame. The first failure of each
kind is a warning (so users see it), later ones are debug lines.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["guarded", "report_failure"]

_logger = logging.getLogger("chatspan.instrumentation")
_warned: set[str] = set()
_warned_lock = threading.Lock()

P = ParamSpec("P")
R = TypeVar("R")


def report_failure(kind: str, error: BaseException) -> None:
    """Log ``error`` at warning the first time ``kind`` fails, at debug afterwards."""
    with _warned_lock:
        first = kind not in _warned
        _warned.add(kind)
    if first:
        _logger.warning(
            "chatspan: %s failed (%s: %s); the call goes on untraced in that part. "
            "Further failures of this kind are logged at debug level.",
            kind,
            type(error).__name__,
            error,
            exc_info=error,
        )
    else:
        _logger.debug("chatspan: %s failed again", kind, exc_info=error)


def guarded(kind: str, default: Any = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a recording step so an ``Exception`` in it is reported and ``default`` returned."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except Exception as error:
                report_failure(kind, error)
                return default  # type: ignore[no-any-return]

        return wrapper

    return decorate
