"""Plain functions put on a class in place of one of its attributes, and taken off again.

Two of chatspan's patches are hot enough that a ``wrapt`` wrapper's per-access binding shows
(the Agents SDK's ``Scope`` hooks and the model's private fetch step; bench/README.md), so they
are plain functions (in a ``classmethod`` for ``Scope``) that remember the attribute they
replaced. Taking one off restores that attribute only while ours is still the outermost: a
wrapper someone put on top stays, with ours inside it passing through.
"""

from __future__ import annotations

from types import FunctionType
from typing import Any

__all__ = ["install", "is_ours", "uninstall"]

_REPLACED = "_chatspan_replaced"  # on our functions: the class attribute they replaced


def install(owner: type, name: str, replacement: Any, replaced: Any) -> None:
    """Put ``replacement`` (a function, or a classmethod of one) on ``owner`` as ``name``,
    remembering ``replaced``, the attribute that was there."""
    setattr(_function(replacement), _REPLACED, replaced)
    setattr(owner, name, replacement)


def is_ours(attribute: Any) -> bool:
    # type(), not isinstance(): a wrapt proxy put over ours passes isinstance, and hands on
    # attribute lookups (the marker too) to what it wraps
    function = _function(attribute)
    return type(function) is FunctionType and hasattr(function, _REPLACED)


def uninstall(owner: type, name: str) -> None:
    """Restore what ours replaced, if ours is still ``owner``'s own attribute ``name``."""
    attribute = getattr(owner, "__dict__", {}).get(name)
    if is_ours(attribute):
        setattr(owner, name, getattr(_function(attribute), _REPLACED))


def _function(attribute: Any) -> Any:
    return attribute.__func__ if type(attribute) is classmethod else attribute
