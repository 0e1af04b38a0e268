"""chatspan's instrumentation of the OpenAI Agents SDK Chat Completions model."""

from .instrumentor import ChatCompletionsInstrumentor

__all__ = ["ChatCompletionsInstrumentor"]
