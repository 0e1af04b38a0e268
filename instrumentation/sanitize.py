"""Redaction and truncation of captured content: ``Sanitizer``.

This module owns the configuration (arguments and ``CHATSPAN_*`` variables), the walk over
JSON-like values, truncation, and failing closed. *What* to redact is found by ``_scan.Scanner``;
the formats live in ``_secret_patterns`` (secrets) and ``_pii`` (personal data).

Guarantees: ``sanitize_text`` and ``sanitize_value`` never raise; a value whose sanitizing fails
becomes ``[REDACTED:error]`` and ``on_error()`` is called; sanitizing is idempotent; a huge input
costs about what ``max_length`` costs, because it is cut (with a margin, so a secret straddling the
cut is still recognised) before it is scanned; and one value's JSON stays bounded (see
``budget``), whatever its shape, so a captured attribute is never unbounded.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._scan import PLACEHOLDER, TRUNCATION_MARKER, Scanner
from ._secret_patterns import is_sensitive_key
from .config import parse_choice
from .errors import ConfigError

__all__ = ["CATEGORIES", "PII_CATEGORIES", "SECRET_CATEGORIES", "Sanitizer", "valid_unicode"]

_logger = logging.getLogger(__name__)

SECRET_CATEGORIES = (
    "openai_key",
    "anthropic_key",
    "aws_access_key",
    "aws_secret_key",
    "github_token",
    "gitlab_token",
    "slack_token",
    "stripe_key",
    "google_api_key",
    "huggingface_token",
    "jwt",
    "private_key",
    "authorization",
    "url_credentials",
    "sensitive_key",
)
PII_CATEGORIES = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address")
CATEGORIES = SECRET_CATEGORIES + PII_CATEGORIES

REDACT_ENV = "CHATSPAN_REDACT"
MAX_LENGTH_ENV = "CHATSPAN_MAX_CONTENT_LENGTH"
PATTERNS_ENV = "CHATSPAN_REDACT_PATTERNS"
DISABLE_ENV = "CHATSPAN_REDACT_DISABLE"

_ERROR = PLACEHOLDER.format("error")
_SENSITIVE = PLACEHOLDER.format("sensitive_key")
_TOO_DEEP = PLACEHOLDER.format("depth_limit")
_TOO_MANY = PLACEHOLDER.format("size_limit")
_RESERVED = frozenset(CATEGORIES) | {"error", "depth_limit", "size_limit"}
_MAX_DEPTH = 64
_MAX_NODES = 100_000  # strings and containers per sanitize_value call
_BUDGET_FACTOR = 64  # one value's text, in units of max_length (1 Mi characters by default)
_MAX_INT_BITS = 13_000  # below CPython's 4,300-digit limit on int -> str (json.dumps raises)
_MARGIN = 1024  # scanned past the cut, so a secret straddling it is still matched whole
_SWITCH = {"ON": True, "OFF": False, "TRUE": True, "FALSE": False, "1": True, "0": False}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_JSON_START = re.compile(r"[ \t\r\n]*[\[{]")
_JSON_FIRST = frozenset("[{ \t\r\n")
_SCALARS = frozenset({bool, int, float})
_CONTAINERS = frozenset({dict, list, tuple})
# A few short words and punctuation: no built-in format fits in it (no @ : = / -, no run of 15
# token characters, no number standing alone). Only used when there are no extra patterns.
_PLAIN = re.compile(
    r"[ ,.;!?'\"()\n]*(?:[A-Za-z_]\w{0,13}[ ,.;!?'\"()\n]+)*(?:[A-Za-z_]\w{0,13})?", re.ASCII
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_PATTERNS_SYNTAX = 'a JSON object {"name": "regex", ...} or name=regex;name2=regex2'
_sensitive_key = functools.lru_cache(maxsize=4096)(is_sensitive_key)

Hook = Callable[[str, Any], Any]


class Sanitizer:
    """Redacts secrets and personal data from captured content and truncates it.

    ``redact=False`` leaves only truncation. ``extra_patterns`` maps a name to a regular
    expression whose matches become ``[REDACTED:<name>]``. ``disabled_categories`` switches
    built-in categories (``CATEGORIES``) or extra patterns off. ``hook(path, value)`` sees every
    value before the built-in rules (``path`` like ``messages[0].content``, ``""`` at the top) and
    returns a replacement, or ``None`` to let the rules run.

    :raises ConfigError: for a bad argument; the message names it and what is allowed.
    """

    def __init__(
        self,
        *,
        redact: bool = True,
        max_length: int = 16384,
        extra_patterns: Mapping[str, str] | None = None,
        disabled_categories: Iterable[str] = (),
        hook: Hook | None = None,
    ) -> None:
        if not isinstance(redact, bool):
            raise ConfigError(f"redact must be True or False, got {redact!r}")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ConfigError(f"max_length must be a positive integer, got {max_length!r}")
        if hook is not None and not callable(hook):
            raise ConfigError(
                f"hook must be a callable (path, value) -> value or None, got {hook!r}"
            )
        extra = _compile_patterns(extra_patterns or {}, "extra_patterns")
        disabled = _check_categories(disabled_categories, "disabled_categories", extra)
        self._redact = redact
        self._max_length = max_length
        self.budget = _BUDGET_FACTOR * max_length
        # The most characters compact JSON of one sanitized value can take (see sanitize_value).
        self.json_bound = 6 * (self.budget + max_length) + _MAX_DEPTH * 64
        self._hook = hook if redact else None
        self._sensitive = redact and "sensitive_key" not in disabled
        self._plain_limit = 0 if extra else min(64, max_length)  # see _PLAIN
        enabled = frozenset(CATEGORIES) - disabled
        kept = [(name, pattern) for name, pattern in extra if name not in disabled]
        self._scanner = Scanner(enabled, kept) if redact else None

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Sanitizer:
        """Build from ``CHATSPAN_*`` variables; keyword ``overrides`` win over them.

        :raises ConfigError: naming every bad variable and the values it accepts, all in one
            message, so two mistakes are not found one run at a time.
        """
        kwargs: dict[str, Any] = {}
        problems: list[str] = []
        if raw := env.get(REDACT_ENV, "").strip():
            _collect(problems, lambda: kwargs.update(redact=parse_choice(REDACT_ENV, raw, _SWITCH)))
        if raw := env.get(MAX_LENGTH_ENV, "").strip():
            if re.fullmatch(r"[0-9]+", raw) and int(raw) >= 1:
                kwargs["max_length"] = int(raw)
            else:
                problems.append(
                    f"{MAX_LENGTH_ENV}={raw!r} is not valid; expected a positive integer"
                    " number of characters (default 16384)"
                )
        if raw := env.get(PATTERNS_ENV, "").strip():
            _collect(problems, lambda: kwargs.update(extra_patterns=_parse_patterns(raw)))
        if raw := env.get(DISABLE_ENV, "").strip():
            kwargs["disabled_categories"] = [n.strip() for n in raw.split(",") if n.strip()]
        from_env = {name for name in kwargs if name not in overrides}
        kwargs.update(overrides)
        source = PATTERNS_ENV if "extra_patterns" in from_env else "extra_patterns"
        extra: list[tuple[str, re.Pattern[str]]] = []
        patterns = kwargs.get("extra_patterns") or {}
        patterns_ok = _collect(problems, lambda: extra.extend(_compile_patterns(patterns, source)))
        if "disabled_categories" in from_env and patterns_ok:  # names may be pattern names
            _collect(
                problems,
                lambda: _check_categories(kwargs["disabled_categories"], DISABLE_ENV, extra),
            )
        if problems:
            raise ConfigError("; ".join(problems))
        return cls(**kwargs)

    # -- public ----------------------------------------------------------------------------

    def sanitize_text(self, text: str, on_error: Callable[[], None] | None = None) -> str:
        """Redact and truncate one text; anything not a ``str`` is converted first."""
        try:
            if self._hook is not None:
                replaced = self._hook("", text)
                if replaced is not None:
                    return self._limit(valid_unicode(_as_text(replaced)))
            return self._text(_as_text(text))
        except Exception as error:
            _Walk(on_error).fail(error)
            return _ERROR

    def sanitize_value(self, value: Any, on_error: Callable[[], None] | None = None) -> Any:
        """Sanitize a JSON-like value: containers walked, JSON text parsed, scalars kept.

        The result always serialises with ``json.dumps(..., allow_nan=False)`` to valid UTF-8:
        dict keys become strings (cut to ``max_length``, lone surrogates replaced), ``NaN`` and
        infinities become strings, integers too long for ``str()`` become ``[REDACTED:size_limit]``.
        Its size is bounded: once ``budget`` characters (``64 * max_length``) of strings, keys and
        scalars, or 100,000 strings and containers, have been kept, every container still open
        ends with ``[REDACTED:size_limit]`` (a list item, or a dict entry under that key) and
        the rest is dropped. Compact JSON of the result is then at most ``json_bound``
        characters, ``6 * (budget + max_length) + 4096`` (a control character is escaped as six;
        the last item kept may overshoot by one text; each of at most 64 open containers adds
        its marker and brackets), and about ``budget`` for ordinary text.
        """
        return self._value(value, "", 0, _Walk(on_error), sensitive=False)

    # -- text ------------------------------------------------------------------------------

    def _text(self, text: str) -> str:
        length = len(text)
        if length <= self._plain_limit and _PLAIN.fullmatch(text):
            return text  # a few short words: nothing built in can match
        window = text if length <= self._max_length else text[: self._max_length + _MARGIN]
        window = valid_unicode(window)
        out = self._scanner.redact(window) if self._scanner else window
        if length <= self._max_length and len(out) <= self._max_length:
            return out
        return self._cut(out, length)

    def _limit(self, text: str) -> str:
        return text if len(text) <= self._max_length else self._cut(text, len(text))

    def _cut(self, text: str, original_length: int) -> str:
        """Keep a head of ``text`` plus a marker, within ``max_length``.

        The head is re-scanned: cutting can make a look-alike whole (a longer number cut down to
        a valid card number), and what we return must come back unchanged when sanitized again.
        A ``max_length`` shorter than the marker gets the marker's head alone.
        """
        marker = TRUNCATION_MARKER.format(original_length)
        keep = self._max_length - len(marker)
        if keep <= 0:
            return marker[: self._max_length]
        opened = text.rfind("[", max(0, keep - 80), keep)
        if opened >= 0 and text.startswith("[REDACTED:", opened) and text.find("]", opened) >= keep:
            keep = opened  # do not leave half a placeholder
        low = max(0, keep - 64)
        blank = max(text.rfind(" ", low, keep + 1), text.rfind("\n", low, keep + 1))
        if blank >= 0:
            # Cut before a blank: whatever ends there ended there before the cut too, so the
            # head needs no second look (and no word is cut in two).
            return text[:blank] + marker
        body = text[:keep]
        if self._scanner is None:
            return body + marker
        for _ in range(4):
            out = self._scanner.redact(body + marker)
            if out == body + marker:
                return out
            body = out[: -len(marker)][:keep]
        while spans := self._scanner.find(body + marker):
            body = body[: spans[0][0]]
        return body + marker

    # -- values ----------------------------------------------------------------------------

    def _value(self, value: Any, path: str, depth: int, walk: _Walk, *, sensitive: bool) -> Any:
        try:
            if self._hook is not None:
                replaced = self._hook(path, value)
                if replaced is not None:
                    return (
                        self._limit(valid_unicode(replaced)) if type(replaced) is str else replaced
                    )
            kind = type(value)
            if sensitive and self._sensitive and value is not None and kind is not bool:
                return _SENSITIVE  # whatever it looks like; None and booleans tell nothing
            if value is None or isinstance(value, (int, float)):
                return _scalar(value)
            if kind is str or kind in _CONTAINERS or isinstance(value, (str, Mapping, list, tuple)):
                walk.nodes += 1
                if walk.nodes > _MAX_NODES:
                    return _TOO_MANY
                if isinstance(value, str):
                    return self._string(str.__str__(value), path, depth, walk)
                return self._container(value, path, depth, walk)
            return self._text(_as_text(value))
        except Exception as error:
            walk.fail(error)
            return _ERROR

    def _string(self, value: str, path: str, depth: int, walk: _Walk) -> str:
        if (
            self._redact
            and value[:1] in _JSON_FIRST
            and len(value) <= self._max_length + _MARGIN
            and _JSON_START.match(value)
        ):
            try:
                parsed = json.loads(value)
            except (ValueError, RecursionError):
                parsed = None
            if type(parsed) is dict or type(parsed) is list:
                chars = walk.chars
                walked = self._container(parsed, path, depth, walk)
                walk.chars = chars  # the caller counts the text it becomes, not both
                dumped = json.dumps(walked, ensure_ascii=False, separators=(",", ":"), default=str)
                return self._limit(dumped)
        return self._text(value)

    def _container(self, value: Any, path: str, depth: int, walk: _Walk) -> Any:
        if depth >= _MAX_DEPTH:
            return _TOO_DEEP
        hooked = self._hook is not None
        if type(value) is dict or isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                if walk.spent(self.budget):
                    out[_TOO_MANY] = _TOO_MANY
                    break
                plain = type(key) is str and key.isascii() and len(key) <= self._max_length
                name = key if plain else self._key(key)
                secret = (
                    self._sensitive
                    and type(key) is str
                    and (_sensitive_key(key) if len(key) <= 64 else is_sensitive_key(key))
                )
                if not (hooked or secret) and self._inert(item):
                    kept = item if type(item) is str else _scalar(item)
                else:
                    child = (f"{path}.{key}" if path else str(key)) if hooked else ""
                    kept = self._value(item, child, depth + 1, walk, sensitive=secret)
                walk.chars += len(name) + 4 + _cost(kept)
                out[name] = kept
            walk.chars += 2
            return out
        items = []
        for index, item in enumerate(value):
            if walk.spent(self.budget):
                items.append(_TOO_MANY)
                break
            if not hooked and self._inert(item):
                kept = item if type(item) is str else _scalar(item)
            else:
                child = f"{path}[{index}]" if hooked else ""
                kept = self._value(item, child, depth + 1, walk, sensitive=False)
            walk.chars += 1 + _cost(kept)
            items.append(kept)
        walk.chars += 2
        return tuple(items) if isinstance(value, tuple) else items

    def _key(self, key: Any) -> str:
        """A dict key as JSON can hold it: a string, valid UTF-8, at most ``max_length``."""
        if key is None or type(key) is bool:
            return json.dumps(key)  # what json.dumps would make of it
        if isinstance(key, (int, float)):
            return str(_scalar(key))
        return self._limit(valid_unicode(_as_text(key)))

    def _inert(self, item: Any) -> bool:
        """A scalar, or a few short words: returned as it is, without the full walk."""
        kind = type(item)
        if kind is str:
            return len(item) <= self._plain_limit and _PLAIN.fullmatch(item) is not None
        return item is None or kind in _SCALARS


class _Walk:
    """Per-call state: the error callback (called at most once), the node and size budgets."""

    __slots__ = ("chars", "failed", "nodes", "on_error")

    def __init__(self, on_error: Callable[[], None] | None) -> None:
        self.on_error = on_error
        self.failed = False
        self.nodes = 0
        self.chars = 0

    def spent(self, budget: int) -> bool:
        """Whether the value kept so far has used up the size budget or the node budget."""
        return self.chars > budget or self.nodes > _MAX_NODES

    def fail(self, error: BaseException) -> None:
        # The type only: an exception's message may quote the content it choked on.
        _logger.debug("chatspan: sanitizing failed (%s); value replaced", type(error).__name__)
        if self.failed or self.on_error is None:
            return
        self.failed = True
        with contextlib.suppress(Exception):
            self.on_error()


def _scalar(value: Any) -> Any:
    """A plain number JSON can hold: NaN and infinities as text, ints beyond ``str()`` replaced.

    A subclass becomes the plain number ``json.dumps`` writes for it anyway: none of its
    overrides (``bit_length``, ``__str__``) is asked, and ``_cost`` sees its true size.
    """
    if value is None or type(value) is bool:
        return value
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else str(number)  # "nan", "inf", "-inf"
    number = int.__int__(value)
    return _TOO_MANY if number.bit_length() > _MAX_INT_BITS else number


def _cost(kept: Any) -> int:
    """What a kept item adds to the size budget (containers have counted themselves)."""
    if type(kept) is str:
        return len(kept) + 2
    if type(kept) is int:
        return kept.bit_length() // 3 + 2  # at least its digits, and a sign
    return 0 if type(kept) in _CONTAINERS else 24


def _as_text(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def valid_unicode(text: str) -> str:
    """Lone surrogates cannot be exported (UTF-8); they become U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _collect(problems: list[str], step: Callable[[], object]) -> bool:
    """Run one parsing step; a ConfigError joins ``problems`` instead of stopping the rest."""
    try:
        step()
    except ConfigError as error:
        problems.append(str(error))
        return False
    return True


def _parse_patterns(raw: str) -> dict[str, str]:
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except ValueError as error:
            raise ConfigError(
                f"{PATTERNS_ENV} is not valid JSON ({error}); expected {_PATTERNS_SYNTAX}"
            ) from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(
                f"{PATTERNS_ENV} must map names to regex strings; expected {_PATTERNS_SYNTAX}"
            )
        return data
    patterns = {}
    for entry in raw.split(";"):
        if not entry.strip():
            continue
        name, equals, regex = entry.partition("=")
        if not equals or not name.strip() or not regex.strip():
            raise ConfigError(
                f"{PATTERNS_ENV}: {entry.strip()!r} is not name=regex; expected {_PATTERNS_SYNTAX}"
            )
        patterns[name.strip()] = regex.strip()
    return patterns


def _compile_patterns(patterns: Any, source: str) -> list[tuple[str, re.Pattern[str]]]:
    if not isinstance(patterns, Mapping):
        raise ConfigError(
            f"{source} must map pattern names to regular expressions, got {patterns!r}"
        )
    compiled = []
    for name, regex in patterns.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                f"{source}: pattern name {name!r} must be 1-64 letters, digits, _ or -"
            )
        if name in _RESERVED:
            raise ConfigError(f"{source}: {name!r} is a built-in category; choose another name")
        if not isinstance(regex, str):
            raise ConfigError(f"{source}: pattern {name!r} must be a regex string, got {regex!r}")
        try:
            pattern = re.compile(regex)
        except (re.error, ValueError, OverflowError, RecursionError) as error:
            raise ConfigError(
                f"{source}: pattern {name!r} is not a valid regular expression: {error}"
            ) from None
        if pattern.fullmatch(""):
            raise ConfigError(f"{source}: pattern {name!r} matches the empty string")
        compiled.append((name, pattern))
    return compiled


def _check_categories(
    names: Any, source: str, extra: list[tuple[str, re.Pattern[str]]]
) -> frozenset[str]:
    if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
        raise ConfigError(f"{source} must be a collection of category names, got {names!r}")
    chosen = list(names)
    allowed = set(CATEGORIES) | {name for name, _ in extra}
    unknown = sorted(repr(n) for n in chosen if not isinstance(n, str) or n not in allowed)
    if unknown:
        raise ConfigError(
            f"{source}: unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)};"
            f" allowed: {', '.join(sorted(allowed))}"
        )
    return frozenset(chosen)
