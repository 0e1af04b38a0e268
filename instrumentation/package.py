"""The instrumented library and the versions chatspan supports (kept apart so the entry point
and ``opentelemetry-instrument``'s dependency check can read it without importing the rest)."""

_instruments = ("openai-agents >= 0.0.11, < 0.25",)
