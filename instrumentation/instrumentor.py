"""``ChatCompletionsInstrumentor``: wraps and unwraps ``OpenAIChatCompletionsModel``.

Wrapping happens on the class, so instances created before ``instrument()`` and subclasses that
call up to it are covered. Unwrapping removes only our own wrapper; if something else wrapped
on top of ours we leave the chain alone and our wrapper, now inactive, just passes through.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
from collections.abc import Collection
from typing import Any

from opentelemetry._logs import get_logger
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.metrics import get_meter
from opentelemetry.trace import get_tracer
from wrapt import FunctionWrapper, wrap_function_wrapper

from . import class_patch
from .config import Settings
from .cost import Pricing
from .guard import guarded
from .metrics import AgentMetrics, ChatMetrics
from .package import _instruments
from .patch import get_response_wrapper, observed_fetch_response, stream_response_wrapper
from .state import InstrumentationState

__all__ = ["ChatCompletionsInstrumentor"]

_logger = logging.getLogger(__name__)
_MODULE = "agents.models.openai_chatcompletions"
_CLASS = "OpenAIChatCompletionsModel"
_TARGETS = (  # wrapped with wrapt
    ("get_response", get_response_wrapper),
    ("stream_response", stream_response_wrapper),
)
_FETCH = "_fetch_response"  # the model's private fetch step: replaced by a plain function
_SCOPE = "chatspan.instrumentation"
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("chatspan")
    except Exception:
        return "0"


class ChatCompletionsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instrument the Agents SDK's Chat Completions model; see the README for the arguments.

    ``instrument(tracer_provider=None, meter_provider=None, logger_provider=None,
    capture_content=None, sanitizer=None)``: providers default to the global ones;
    ``capture_content`` (bool) overrides ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``;
    ``sanitizer`` replaces the one built from the ``CHATSPAN_*`` variables.
    """

    _state: InstrumentationState | None = None
    _bridge: Any = None  # the Agents SDK tracing bridge (bridge.py), when installed

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        env = os.environ
        settings = Settings.from_env(env, capture_content=kwargs.get("capture_content"))
        sanitizer = kwargs.get("sanitizer") or _sanitizer_from_env(env)
        version = _version()
        tracer = get_tracer(_SCOPE, version, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL)
        meter = get_meter(_SCOPE, version, kwargs.get("meter_provider"), schema_url=_SCHEMA_URL)
        event_logger = get_logger(
            _SCOPE, version, kwargs.get("logger_provider"), schema_url=_SCHEMA_URL
        )
        state = InstrumentationState(
            settings,
            tracer,
            ChatMetrics(meter),
            sanitizer,
            event_logger,
            pricing=_pricing(settings),
        )
        module = importlib.import_module(_MODULE)
        cls = getattr(module, _CLASS)
        for name, factory in _TARGETS:
            if hasattr(cls, name):
                wrap_function_wrapper(module, f"{_CLASS}.{name}", factory(state))
        sdk_fetch = cls.__dict__.get(_FETCH)
        if sdk_fetch is not None:
            class_patch.install(cls, _FETCH, observed_fetch_response(state, sdk_fetch), sdk_fetch)
        self._state = state
        from .bridge import install  # imports agents.tracing: only once we instrument

        self._bridge = install(state, AgentMetrics(meter))
        _apply_agents_sdk_export()
        end_open_calls_at_exit()

    def _uninstrument(self, **kwargs: Any) -> None:
        state, self._state = self._state, None
        if state is None:
            return
        state.active = False
        atexit.unregister(_end_open_calls)
        bridge, self._bridge = self._bridge, None
        if bridge is not None:
            from .bridge import uninstall

            uninstall(bridge)
        cls = getattr(importlib.import_module(_MODULE), _CLASS)
        for name, _ in _TARGETS:
            _unwrap_ours(cls, name)
        class_patch.uninstall(cls, _FETCH)


def end_open_calls_at_exit() -> None:
    """(Re-)register the exit hook so it runs before every exit flush registered so far.

    ``atexit`` runs the last registered first: called again right after chatspan configures its
    exporters (``first_span``), the streams still open are ended before those exporters flush.
    """
    atexit.unregister(_end_open_calls)
    atexit.register(_end_open_calls)


@guarded("ending open calls at exit")
def _end_open_calls() -> None:
    state = ChatCompletionsInstrumentor()._state
    if state is not None:
        state.end_open_calls()


def _sanitizer_from_env(env: Any) -> Any:
    """A bad ``CHATSPAN_*`` value is logged once; then the default sanitizer redacts."""
    from .sanitize import Sanitizer

    try:
        return Sanitizer.from_env(env)
    except Exception as error:
        _logger.warning("chatspan: %s; redacting with the default settings", error)
        return Sanitizer()


def _pricing(settings: Settings) -> Pricing | None:
    """Prices for ``gen_ai.usage.cost``; a failure here costs the cost, never the instrumenting."""
    try:
        return Pricing.from_settings(settings)
    except Exception as error:
        _logger.warning("chatspan: loading prices failed (%s); no cost is recorded", error)
        return None


def _apply_agents_sdk_export() -> None:
    """``CHATSPAN_AGENTS_SDK_EXPORT`` on every path that instruments (activation, the
    ``opentelemetry-instrument`` entry point, explicit calls); it never raises."""
    from chatspan.exporters.agents_sdk_export import apply_agents_sdk_export

    apply_agents_sdk_export()


def _unwrap_ours(cls: type, name: str) -> None:
    attribute = cls.__dict__.get(name)
    if isinstance(attribute, FunctionWrapper) and _is_ours(attribute):
        setattr(cls, name, attribute.__wrapped__)


def _is_ours(wrapper: FunctionWrapper) -> bool:
    inner = getattr(wrapper, "_self_wrapper", None)
    return getattr(inner, "__module__", None) == f"{__package__}.patch"
