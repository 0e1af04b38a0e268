"""Errors chatspan raises from its explicit APIs.

    ChatspanError
     └── ConfigError   a configuration value (argument or environment variable) we cannot accept

Only explicit calls raise them (``Sanitizer(...)``, ``Settings.from_env(..., strict=True)``, the
CLI); the instrumentation itself logs and carries on, so the host application never sees one.
"""

from __future__ import annotations

__all__ = ["ChatspanError", "ConfigError"]


class ChatspanError(Exception):
    """Base class, so a caller can catch everything chatspan raises in one clause."""


class ConfigError(ChatspanError, ValueError):
    """A configuration value is not one we accept; the message names it and the allowed values."""
