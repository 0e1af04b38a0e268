"""Settings of one ``instrument()`` call, parsed once from the environment and frozen.

Reading the environment per call would cost time on the hot path and give two sources of truth;
reading it at import would freeze whatever happened to be set then. We read it when the user
instruments, and re-read it when they instrument again.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["CaptureMode", "Settings", "parse_choice", "parse_switch", "warn_once"]

_logger = logging.getLogger(__name__)
_warned: set[str] = set()
_warned_lock = threading.Lock()

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
SEMCONV_OPT_IN_ENV = "OTEL_SEMCONV_STABILITY_OPT_IN"
STREAM_USAGE_ENV = "CHATSPAN_STREAM_USAGE"
PRICES_FILE_ENV = "CHATSPAN_PRICES_FILE"


# GenAI entries of OTEL_SEMCONV_STABILITY_OPT_IN; the rest belong to other instrumentations.
_GENAI_OPT_INS = ("gen_ai/dup", "gen_ai_latest_experimental")


def warn_once(message: str) -> None:
    """Log a configuration warning once per process, however often the same value is read (the
    instrumentor built again, the activation ``.pth`` line that site.py runs twice in a venv)."""
    with _warned_lock:
        if message in _warned:
            return
        _warned.add(message)
    _logger.warning("chatspan: %s", message)


class CaptureMode(enum.Enum):
    """Where captured message content goes, as ``opentelemetry-util-genai`` names the modes."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_span(self) -> bool:
        return self in (CaptureMode.SPAN_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def as_event(self) -> bool:
        return self in (CaptureMode.EVENT_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def any(self) -> bool:
        return self is not CaptureMode.NO_CONTENT


# `true`/`false` are what older OpenTelemetry instrumentations accepted; keep them working.
_CAPTURE_ALIASES = {
    **{mode.value: mode for mode in CaptureMode},
    "TRUE": CaptureMode.SPAN_ONLY,
    "FALSE": CaptureMode.NO_CONTENT,
}


_SWITCH = {
    **dict.fromkeys(("1", "TRUE", "ON", "YES"), True),
    **dict.fromkeys(("0", "FALSE", "OFF", "NO"), False),
}


def parse_choice(name: str, raw: str, choices: Mapping[str, object]) -> object:
    """Look ``raw`` up case-insensitively; a miss is a ConfigError naming the variable."""
    key = raw.strip().upper()
    if key in choices:
        return choices[key]
    allowed = ", ".join(sorted(k.lower() for k in choices))
    raise ConfigError(f"{name}={raw!r} is not valid; allowed values (any case): {allowed}")


@dataclass(frozen=True)
class Settings:
    """What the wrappers need to know, fixed for the life of one instrumentation."""

    capture: CaptureMode = CaptureMode.NO_CONTENT
    emit_legacy_system: bool = False  # also set `gen_ai.system` (OTEL_SEMCONV_STABILITY_OPT_IN)
    # CHATSPAN_STREAM_USAGE: streamed calls ask for `stream_options.include_usage` when the SDK
    # would not (it changes the request, so it is opt-in).
    stream_usage: bool = False
    prices_file: str | None = None  # CHATSPAN_PRICES_FILE; read and validated by cost.py

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, capture_content: bool | CaptureMode | None = None
    ) -> Settings:
        """Build settings; a bad value is logged once and replaced by its safe default.

        ``capture_content`` (the ``instrument()`` argument) wins over the environment.
        """
        return cls(
            capture=_capture_mode(env, capture_content),
            emit_legacy_system=_wants_legacy_system(env),
            stream_usage=parse_switch(env, STREAM_USAGE_ENV, "leaving it off"),
            prices_file=env.get(PRICES_FILE_ENV, "").strip() or None,
        )


def _capture_mode(env: Mapping[str, str], override: bool | CaptureMode | None) -> CaptureMode:
    if isinstance(override, CaptureMode):
        return override
    if override is not None:
        return CaptureMode.SPAN_ONLY if override else CaptureMode.NO_CONTENT
    raw = env.get(CAPTURE_CONTENT_ENV, "")
    if not raw.strip():
        return CaptureMode.NO_CONTENT
    try:
        return parse_choice(CAPTURE_CONTENT_ENV, raw, _CAPTURE_ALIASES)  # type: ignore[return-value]
    except ConfigError as error:
        warn_once(f"{error}; capturing no content")
        return CaptureMode.NO_CONTENT


def parse_switch(env: Mapping[str, str], name: str, when_bad: str) -> bool:
    """An on/off variable (1/0, true/false, on/off, yes/no, any case): unset or empty is off; a
    bad value is one warning (the error, then ``when_bad``), then off."""
    raw = env.get(name, "")
    if not raw.strip():
        return False
    try:
        return bool(parse_choice(name, raw, _SWITCH))
    except ConfigError as error:
        warn_once(f"{error}; {when_bad}")
        return False


def _wants_legacy_system(env: Mapping[str, str]) -> bool:
    """`gen_ai/dup` asks for the pre-1.37 `gen_ai.system` beside `gen_ai.provider.name`.

    It follows the `http/dup` pattern the stability opt-in uses for HTTP conventions.
    """
    opted = {part.strip().lower() for part in env.get(SEMCONV_OPT_IN_ENV, "").split(",")}
    for entry in sorted(opted):
        if entry.startswith("gen_ai") and entry not in _GENAI_OPT_INS:
            warn_once(
                f"{SEMCONV_OPT_IN_ENV}: {entry!r} is not a GenAI option; allowed for gen_ai: "
                f"{', '.join(_GENAI_OPT_INS)} (other entries are other instrumentations'); "
                "ignoring it"
            )
    return "gen_ai/dup" in opted
