"""chatspan's instrumentation of the OpenAI Agents SDK Chat Completions model.

The instrumentor is imported on first use (PEP 562), so the activation hook that
``CHATSPAN_ENABLED=1`` installs at interpreter start pays for it only when the application
imports the Agents SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .instrumentor import ChatCompletionsInstrumentor

__all__ = ["ChatCompletionsInstrumentor"]


def __getattr__(name: str) -> Any:
    if name == "ChatCompletionsInstrumentor":
        from .instrumentor import ChatCompletionsInstrumentor

        return ChatCompletionsInstrumentor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
