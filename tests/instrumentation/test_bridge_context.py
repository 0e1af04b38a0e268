"""The hooks on the Agents SDK's ``Scope``: what they leave of the SDK's behaviour, and how
they live beside another library's wrappers."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from typing import Any

import pytest
import wrapt
from agents.tracing.scope import Scope
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from chatspan.instrumentation import bridge_context

_NAMES = ("set_current_trace", "set_current_span", "reset_current_trace", "reset_current_span")
_KEY = otel_context.create_key("test.bridge_context")


class _Lookup:
    """A bridge that knows one SDK span and no trace."""

    def __init__(self, known: object) -> None:
        self.known = known

    def context_for_trace(self, sdk_trace: Any) -> Context | None:
        return None

    def context_for_span(self, sdk_span: Any) -> Context | None:
        return otel_context.set_value(_KEY, sdk_span) if sdk_span is self.known else None

    def enclosing(self, sdk_span: Any) -> tuple[None, None]:
        return None, None


@pytest.fixture
def pristine_scope() -> Iterator[dict[str, Any]]:
    """Scope as the SDK defines it, restored afterwards whatever the test put on it."""
    bridge_context.unhook_scope()
    originals = {name: vars(Scope)[name] for name in _NAMES}
    yield originals
    bridge_context.activate(None)
    for name, original in originals.items():
        setattr(Scope, name, original)


def test_hooks_follow_a_known_span_and_leave_the_sdks_variable_as_it_was(pristine_scope):
    known, other = object(), object()
    assert bridge_context.hook_scope()
    bridge_context.activate(_Lookup(known))

    outer = Scope.set_current_span(other)  # unknown to the bridge: nothing attached
    assert otel_context.get_value(_KEY) is None
    inner = Scope.set_current_span(span=known)  # by keyword, as a caller may
    assert Scope.get_current_span() is known
    assert otel_context.get_value(_KEY) is known
    Scope.reset_current_span(inner)
    assert Scope.get_current_span() is other
    assert otel_context.get_value(_KEY) is None
    Scope.reset_current_span(token=outer)
    assert Scope.get_current_span() is None


def test_hooking_twice_hooks_once_and_unhooking_restores_the_sdks_own(pristine_scope):
    assert bridge_context.hook_scope()
    hooked = {name: vars(Scope)[name] for name in _NAMES}
    assert bridge_context.hook_scope()
    assert {name: vars(Scope)[name] for name in _NAMES} == hooked
    assert all(hooked[name] is not pristine_scope[name] for name in _NAMES)

    bridge_context.unhook_scope()
    assert {name: vars(Scope)[name] for name in _NAMES} == pristine_scope


def _count_calls(calls: list[str]) -> Any:
    def counting(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        calls.append(wrapped.__name__)
        return wrapped(*args, **kwargs)

    return counting


def test_a_wrapper_put_on_top_of_ours_stays_and_still_reaches_the_sdk(pristine_scope):
    known = object()
    assert bridge_context.hook_scope()
    bridge_context.activate(_Lookup(known))
    calls: list[str] = []
    wrapt.wrap_function_wrapper(Scope, "set_current_span", _count_calls(calls))
    theirs = vars(Scope)["set_current_span"]

    bridge_context.unhook_scope()  # ours is no longer outermost there: left in place
    assert vars(Scope)["set_current_span"] is theirs
    assert vars(Scope)["reset_current_span"] is pristine_scope["reset_current_span"]

    def a_run() -> None:  # in a context of its own: the SDK's reset, unhooked, leaves ours on
        Scope.set_current_span(known)
        assert calls == ["set_current_span"]
        assert Scope.get_current_span() is known
        assert otel_context.get_value(_KEY) is known  # our hook below theirs still follows

    contextvars.copy_context().run(a_run)


def test_a_wrapper_already_there_is_kept_under_ours_and_restored_exactly(pristine_scope):
    known = object()
    calls: list[str] = []
    wrapt.wrap_function_wrapper(Scope, "set_current_span", _count_calls(calls))
    theirs = vars(Scope)["set_current_span"]
    assert bridge_context.hook_scope()
    bridge_context.activate(_Lookup(known))

    token = Scope.set_current_span(known)
    assert calls == ["set_current_span"]
    assert otel_context.get_value(_KEY) is known
    Scope.reset_current_span(token)
    assert otel_context.get_value(_KEY) is None

    bridge_context.unhook_scope()
    assert vars(Scope)["set_current_span"] is theirs
