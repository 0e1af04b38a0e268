"""OpenTelemetry context that follows the Agents SDK's current span, in lockstep.

The SDK keeps its current trace and span in two ``ContextVar``s, always changed through
``agents.tracing.scope.Scope``: ``set_current_*`` returns a token, ``reset_current_*(token)``
restores. While the bridge is installed, each ``set`` that makes a bridged SDK trace or span
current also attaches an OTel context holding our span for it, and the ``reset`` of that same
token detaches it. Both variables live in the same ``contextvars.Context`` and change at the same
moment, so OTel's current span follows the SDK's exactly: it is our ``execute_tool`` span while a
tool function runs (an HTTP or database span made there nests under it, in its own task or in a
thread the tool starts with a copied context) and our agent or turn span while the model is called.

Why not attach from the processor's ``on_span_start`` / ``on_span_end``? Those do not say whether
the span is made current, and may run in another context than the one that set it. Here the
discipline is the SDK's own: where the SDK holds its span across a ``yield`` (a model's stream),
ours is held exactly as long; where its ``reset`` fails (a generator finalized from another task
raises ``ValueError``, which the SDK tolerates) we do not detach either, so we never detach out of
order or from a foreign context. The token pairs live in a ``ContextVar`` of our own, so they
vanish with their context; a later reset of an outer token drops pairs left above it.

The hooks are process-wide because the SDK's scope is; they call straight through when no bridge
is active. Uninstalling removes them (if still outermost); a run in flight at that moment keeps
its attached OTel context until its task ends.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

from . import class_patch
from .guard import report_failure

__all__ = [
    "BRIDGE_SPAN_KEY",
    "Lookup",
    "activate",
    "chat_parent",
    "hook_scope",
    "unhook_scope",
]

BRIDGE_SPAN_KEY = otel_context.create_key("chatspan.bridge_span")
"""In every context we attach: our span for the SDK's current trace or span."""

_SCOPE_MODULE = "agents.tracing.scope"
_Links = tuple[tuple[Any, object], ...]
_links: contextvars.ContextVar[_Links] = contextvars.ContextVar("chatspan_bridge_links", default=())


class Lookup(Protocol):
    """What the hooks and the chat span ask the active bridge."""

    def context_for_trace(self, sdk_trace: Any) -> Context | None: ...
    def context_for_span(self, sdk_span: Any) -> Context | None: ...
    def enclosing(self, sdk_span: Any) -> tuple[trace.Span | None, str | None]: ...


_active: Lookup | None = None


def activate(lookup: Lookup | None) -> None:
    """Make ``lookup`` the bridge the hooks consult (``None``: hooks pass straight through)."""
    global _active
    _active = lookup


# -- the hooks on Scope ---------------------------------------------------------------------------
# Plain classmethods rather than wrapt wrappers: every SDK span made current passes two of them
# (a model call at least its generation span's set and reset), and a wrapt wrapper on a
# classmethod builds a bound wrapper on each access (bench/README.md, "instructions.py").


def _set_hook(sdk_set: Callable[..., Any], find: str) -> Callable[..., Any]:
    def set_current(cls: Any, *args: Any, **kwargs: Any) -> Any:
        token = sdk_set(*args, **kwargs)
        lookup = _active
        if lookup is None:
            return token
        try:  # the SDK's own set already happened; never undo it
            sdk_object = args[0] if args else next(iter(kwargs.values()), None)
            context = getattr(lookup, find)(sdk_object)
            if context is not None:
                _links.set((*_links.get(), (token, otel_context.attach(context))))
        except Exception as error:
            report_failure("following the Agents SDK's current span", error)
        return token

    return set_current


def _reset_hook(sdk_reset: Callable[..., Any]) -> Callable[..., Any]:
    def reset_current(cls: Any, *args: Any, **kwargs: Any) -> Any:
        links = _links.get()
        if not links:
            return sdk_reset(*args, **kwargs)
        token = args[0] if args else next(iter(kwargs.values()), None)
        result = sdk_reset(*args, **kwargs)  # raises in a foreign context: ours stay
        for index in range(len(links) - 1, -1, -1):
            if links[index][0] is token:
                _links.set(links[:index])
                otel_context.detach(links[index][1])  # type: ignore[arg-type]
                break
        return result

    return reset_current


# Scope's classmethod -> its hook, built around the SDK's method bound to Scope.
_HOOKS: tuple[tuple[str, Callable[[Callable[..., Any]], Callable[..., Any]]], ...] = (
    ("set_current_trace", functools.partial(_set_hook, find="context_for_trace")),
    ("set_current_span", functools.partial(_set_hook, find="context_for_span")),
    ("reset_current_trace", _reset_hook),
    ("reset_current_span", _reset_hook),
)


def hook_scope() -> bool:
    """Put the hooks on ``Scope`` unless they are there already; False if it has no such API."""
    scope = getattr(importlib.import_module(_SCOPE_MODULE), "Scope", None)
    if scope is None or not all(name in scope.__dict__ for name, _ in _HOOKS):
        return False
    for name, build in _HOOKS:
        original = scope.__dict__[name]  # the SDK's classmethod, or someone's wrapper of it
        if not class_patch.is_ours(original):
            hook = build(original.__get__(None, scope))  # bound to Scope once, here
            hook.__name__ = hook.__qualname__ = name
            class_patch.install(scope, name, classmethod(hook), original)
    return True


def unhook_scope() -> None:
    """Remove our hooks where they are still the outermost ones; leave others' alone."""
    scope = getattr(sys.modules.get(_SCOPE_MODULE), "Scope", None)
    if scope is not None:
        for name, _ in _HOOKS:
            class_patch.uninstall(scope, name)


# -- for the chat span -------------------------------------------------------------------------


# ``Scope.get_current_span``, bound on the first chat call (the SDK is imported by then) and
# kept: the SDK's public ``get_current_span`` reaches the same variable through its trace
# provider, three Python calls deep, and every chat call asks.
_scope_current_span: Callable[[], Any] | None = None


def _bind_scope_current_span() -> Callable[[], Any]:
    """The SDK's current span, from ``Scope``: where the hooks above see it made current."""
    global _scope_current_span
    _scope_current_span = importlib.import_module(_SCOPE_MODULE).Scope.get_current_span
    return _scope_current_span


def _agent_name_of(sdk_span: Any) -> str | None:
    data = getattr(sdk_span, "span_data", None)
    name = getattr(data, "name", None) if getattr(data, "type", None) == "agent" else None
    name = name or getattr(data, "agent_name", None)  # a turn span knows its agent
    return name if isinstance(name, str) else None


def chat_parent(current: Context) -> tuple[Context, str | None]:
    """The chat span's parent context and ``gen_ai.agent.name``, from the enclosing SDK span:
    our span for it (from the bridge's record), and the agent's name (from the record, else from
    the SDK span itself: no bridge, or a span opened before it). Contained inline: every chat
    call asks.

    Lockstep attaching normally puts our agent or turn span in ``current`` already (then
    ``BRIDGE_SPAN_KEY`` holds it, possibly under spans opened since): ``current`` is kept. Only
    a context that lacks it (code that swapped the OTel context) gets our span as the parent.
    """
    try:
        sdk_span = (_scope_current_span or _bind_scope_current_span())()
        if sdk_span is None:  # a model called outside any agent run
            return current, None
        lookup = _active
        span, agent_name = (None, None) if lookup is None else lookup.enclosing(sdk_span)
        agent_name = agent_name or _agent_name_of(sdk_span)
    except Exception as error:
        report_failure("finding the chat span's agent span", error)
        return current, None
    if span is None or current.get(BRIDGE_SPAN_KEY) is span:
        return current, agent_name
    context = trace.set_span_in_context(
        span, otel_context.set_value(BRIDGE_SPAN_KEY, span, current)
    )
    return context, agent_name
