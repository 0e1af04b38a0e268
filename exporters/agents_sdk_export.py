"""``CHATSPAN_AGENTS_SDK_EXPORT``: whether the Agents SDK keeps sending its traces to OpenAI.

The Agents SDK has its own tracing, separate from OpenTelemetry: by default a
``BatchTraceProcessor`` wrapping a ``BackendSpanExporter`` ships every trace to OpenAI's traces
service (when an OpenAI key is around). chatspan reads those same traces through a processor of its
own, so turning the SDK's export off does not lose the agent spans in OpenTelemetry.

``keep`` (default) leaves the SDK exactly as it is. ``off`` removes only that default processor and
keeps every other processor registered (the app's, and chatspan's bridge), so traces stay in-house.
The SDK publishes no getter for its processor list, so it is read from the provider's
``_multi_processor._processors`` (the same in every release from 0.1 on); if that ever moves, we
warn and leave the SDK unchanged rather than guess.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from typing import Any

from chatspan.exporters.settings import config_problem

__all__ = ["CHATSPAN_AGENTS_SDK_EXPORT", "agents_sdk_export_mode", "apply_agents_sdk_export"]

CHATSPAN_AGENTS_SDK_EXPORT = "CHATSPAN_AGENTS_SDK_EXPORT"
_MODES = ("keep", "off")

_logger = logging.getLogger(__name__)


def agents_sdk_export_mode(env: Mapping[str, str], *, strict: bool = False) -> str:
    """``"keep"`` or ``"off"`` from ``env``; unset or empty means keep, and so does a bad value.

    :raises ConfigError: with ``strict=True``, for a value other than keep or off.
    """
    value = env.get(CHATSPAN_AGENTS_SDK_EXPORT, "").strip().lower()
    if not value:
        return "keep"
    if value not in _MODES:
        config_problem(
            f"{CHATSPAN_AGENTS_SDK_EXPORT}={value!r} is not accepted; allowed: "
            f"{', '.join(_MODES)}; keeping the Agents SDK's export",
            strict=strict,
        )
        return "keep"
    return value


def apply_agents_sdk_export(env: Mapping[str, str] | None = None, *, strict: bool = False) -> bool:
    """Apply the mode; True if the SDK's default OpenAI exporter was removed by this call.

    A no-op (False) with ``keep``, or when ``openai-agents`` is not installed; it imports
    ``agents.tracing`` only in ``off`` mode. Call it once the app imports ``agents`` and before the
    first run, so nothing is queued for OpenAI yet. Never raises unless ``strict``.
    """
    mode = agents_sdk_export_mode(os.environ if env is None else env, strict=strict)
    if mode == "keep" or importlib.util.find_spec("agents") is None:
        return False
    try:
        return _remove_default_processor()
    except Exception:
        _logger.warning(
            "chatspan: could not remove the Agents SDK's default trace exporter", exc_info=True
        )
        return False


def _remove_default_processor() -> bool:
    # Imported here, not at the top: the SDK is optional, and heavy for apps that keep its export.
    from agents import tracing
    from agents.tracing import processors, setup

    provider: Any = (
        setup.get_trace_provider()
        if hasattr(setup, "get_trace_provider")
        else getattr(setup, "GLOBAL_TRACE_PROVIDER", None)
    )
    current = getattr(getattr(provider, "_multi_processor", None), "_processors", None)
    if current is None:
        config_problem(
            f"{CHATSPAN_AGENTS_SDK_EXPORT}=off: this openai-agents version does not expose its "
            "trace processors; its export to OpenAI is left on",
            strict=False,
        )
        return False
    default = processors.default_processor()
    kept = [processor for processor in current if processor is not default]
    if len(kept) == len(current):
        return False
    tracing.set_trace_processors(kept)
    _logger.debug("chatspan: removed the Agents SDK's default OpenAI trace exporter")
    return True
