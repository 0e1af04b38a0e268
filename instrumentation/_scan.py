"""Find what to redact in a text, fast: the hot path of the sanitizer.

Python's ``re`` is quick only when a pattern starts with a literal; an alternation of many
patterns, or one that starts with a character class, steps through the text one character at a
time. So the text is first mapped byte for byte (latin-1, ``?`` for anything wider, so offsets
stay the same) with ``bytes.translate``: letters lower-cased, every digit ``0``, ``:`` as ``=``;
and from that, a mask of token characters. Candidates are then found with ``bytes.find`` or
literal-led patterns: runs of 15+ token characters (vendor formats, bearer tokens, IBANs), runs
of 9+ digits (cards, phones, SSNs), ``0.0`` (IPv4), ``@``, ``://``, ``-----begin``, and
assignment operators read backwards (field names). Only around a candidate does a precise
pattern run on the real text. Clean text costs a few C passes; see ``bench/sanitize.py``.

Placeholders already in the text, and a truncation marker at its end, are protected: no match
may cut into them, which with ``Scanner.redact``'s rescans keeps sanitizing idempotent.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from . import _pii
from ._secret_patterns import (
    AUTH_VALUE,
    OPERATOR,
    PRIVATE_KEY,
    REVERSED_FIELD,
    SLACK_WEBHOOK,
    TOKEN_FORMATS,
    URL_USERINFO,
    field_rule,
    plausible_secret,
    tokenish,
)

__all__ = ["PLACEHOLDER", "TRUNCATION_MARKER", "Scanner"]

PLACEHOLDER = "[REDACTED:{}]"
TRUNCATION_MARKER = "…[truncated from {} chars]"

_PROTECTED_PLACEHOLDER = re.compile(r"\[REDACTED:[A-Za-z0-9_-]{1,64}\]")
_PROTECTED_MARKER = re.compile(r"…\[truncated from \d+ chars\]\Z")


def _table(mapping: dict[int, int], default: int | None = None) -> bytes:
    return bytes(mapping.get(byte, byte if default is None else default) for byte in range(256))


_TOKEN_CHARS = b"abcdefghijklmnopqrstuvwxyz0_-"  # as they are in the normalised text
_WORD_MASK = _table({byte: ord("w") for byte in _TOKEN_CHARS}, default=ord(" "))
_NORM = _table(
    {
        **{byte: byte + 32 for byte in range(ord("A"), ord("Z") + 1)},
        **{byte: ord("0") for byte in b"0123456789"},
        ord(":"): ord("="),  # both assign; one literal to search for
        **{byte: ord("?") for byte in range(128, 256)},
    }
)
_RUN = b"w" * 15  # the shortest format with no separator in it: a Norwegian IBAN
_HEX_COLON = frozenset(b"0abcdef=.")  # ":" is "=" in the normalised text

_BEARER_BEFORE = re.compile(r"(?i)\bbearer[ \t]+\Z")
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
# Nine or more digits, lightly separated, not inside a word (hex); literal-led for speed.
_DIGIT_RUN = re.compile(rb"00(?<![a-z0]00)(?:[ .()/+-]{0,2}0){7,}(?![a-z0])")
_IPV4 = re.compile(rb"0\.0{1,3}\.0{1,3}\.0")  # widened to whole octets afterwards
# A grouped IBAN ("GB82 WEST 1234 5698 7654 32") seen from its first run of digits.
_IBAN_BEFORE = re.compile(rb"[a-z]{2}00(?: [a-z0]{4}){0,3} \Z")
_ZERO = ord("0")
_IBAN_COUNTRIES = _pii.IBAN_COUNTRIES
_HARD = frozenset(["", " ", "\t", "\r", "\n", '"', ",", ";"])  # end of string, blanks, " , ;
_GROUP = re.compile(r"\d+")
# (category, shape, check, fewest digits, most digits): longest shapes are tried first.
_NUMBER_FORMATS = (
    ("credit_card", _pii.CARD, _pii.card_ok, 13, 19),
    ("phone", _pii.INTL_PHONE, _pii.phone_ok, 8, 15),
    ("phone", _pii.NANP_PHONE, _pii.phone_ok, 10, 11),
    ("us_ssn", _pii.SSN, _pii.ssn_ok, 9, 9),
    ("phone", _pii.TRUNK_PHONE, _pii.phone_ok, 9, 11),
)
_IPV6_PAIR = re.compile(rb"=[0a-f]{0,4}=")  # two colons, up to four hex digits apart

# (start, end, priority, category); on equal spans the lower priority names the placeholder.
_Found = list[tuple[int, int, int, str]]
_FORMAT, _PII, _AUTH, _FIELD, _USER = 0, 1, 2, 3, -1


class Scanner:
    """Finds and replaces what the enabled categories (and the user's patterns) match."""

    def __init__(self, enabled: frozenset[str], extra: Sequence[tuple[str, re.Pattern[str]]]):
        self._on = enabled
        self._extra = tuple(extra)
        self._formats = tuple(f for f in TOKEN_FORMATS if f.category in enabled)
        self._prefixes = tuple(prefix for f in self._formats for prefix in f.prefixes)
        self._first_chars = frozenset(prefix[0] for prefix in self._prefixes)
        self._fields = bool(enabled & {"sensitive_key", "authorization", "aws_secret_key"})
        self._numbers = bool(enabled & {"credit_card", "us_ssn", "phone", "iban"})
        self._run_stage = bool(self._formats) or bool(enabled & {"authorization", "iban"})
        self._digit_stage = self._numbers or "ip_address" in enabled
        self._private_key = "private_key" in enabled
        self._email = "email" in enabled
        self._url_credentials = "url_credentials" in enabled
        self._slack = "slack_token" in enabled
        self._ipv6_on = "ip_address" in enabled
        self._number_formats = tuple(fmt for fmt in _NUMBER_FORMATS if fmt[0] in enabled)

    def redact(self, text: str) -> str:
        """Replace every match by its placeholder, until nothing more matches.

        A placeholder is not the text it replaced: what sits next to it can read differently
        (a phone number glued to a token is a phone number once the token is gone). So unless
        every replaced span stood between hard separators (blanks, double quotes, , ;), the
        result is scanned again, until nothing changes: sanitizing is idempotent. Each round
        only removes text, so this ends; clean text costs one round.
        """
        for _ in range(8):
            spans = self.find(text)
            if not spans:
                break
            settled = all(
                text[start - 1 : start] in _HARD and text[end : end + 1] in _HARD
                for start, end, _ in spans
            )
            parts: list[str] = []
            position = 0
            for start, end, category in spans:
                parts += (text[position:start], PLACEHOLDER.format(category))
                position = end
            parts.append(text[position:])
            text = "".join(parts)
            if settled:
                break
        return text

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping ``(start, end, category)`` spans, in order."""
        found: _Found = []
        norm = text.encode("latin-1", "replace").translate(_NORM)
        if self._run_stage and len(text) >= 15:
            self._tokens(text, norm, found)
        if self._private_key and b"-----begin" in norm:
            found += [(*m.span(), _FORMAT, "private_key") for m in PRIVATE_KEY.finditer(text)]
        if "@" in text:
            if self._email:
                self._emails(text, found)
            if self._url_credentials and "://" in text:
                self._credentials_in_urls(text, found)
        if self._slack and "hooks.slack.com/" in text:
            found += [
                (m.start() + 16, m.end(), _FORMAT, "slack_token")
                for m in SLACK_WEBHOOK.finditer(text)
            ]
        if self._fields and b"=" in norm:
            self._assignments(text, norm, found)
        if self._digit_stage and b"0" in norm and len(text) >= 7:
            self._digits(text, norm, found)
        if self._ipv6_on and ":" in text:
            self._ipv6(text, norm, found)
        for name, pattern in self._extra:
            found += [
                (*m.span(), _USER, name) for m in pattern.finditer(text) if m.end() > m.start()
            ]
        return _resolve(found, _protected(text)) if found else []

    # -- stages ----------------------------------------------------------------------------

    def _tokens(self, text: str, norm: bytes, found: _Found) -> None:
        """Runs of 15+ token characters: vendor formats, bearer tokens, compact IBANs."""
        mask = norm.translate(_WORD_MASK)
        firsts = self._first_chars
        bearer: bool | None = None if "authorization" in self._on else False  # looked up once
        iban = "iban" in self._on
        start = mask.find(_RUN)
        while start >= 0:
            if text[start] in firsts and self._format_at(text, start, found):
                pass  # a vendor format
            elif iban and norm[start + 2] == _ZERO and norm[start : start + 2] in _IBAN_COUNTRIES:
                _iban_at(text, start, found)
            elif bearer is not False:
                bearer = b"bearer" in norm if bearer is None else bearer
                if bearer and _BEARER_BEFORE.search(text, max(0, start - 24), start):
                    match = _BEARER_TOKEN.match(text, start)
                    if match and tokenish(match.group()):
                        found.append((start, match.end(), _AUTH, "authorization"))
            end = mask.find(b" ", start + 15)
            start = mask.find(_RUN, end + 1) if end >= 0 else -1

    def _format_at(self, text: str, start: int, found: _Found) -> bool:
        if not text.startswith(self._prefixes, start):
            return False
        for fmt in self._formats:
            if text.startswith(fmt.prefixes, start):
                match = fmt.pattern.match(text, start)
                if match and (not fmt.random_body or _has_digit_or_capital(match.group())):
                    found.append((start, match.end(), _FORMAT, fmt.category))
                    return True
        return False

    def _emails(self, text: str, found: _Found) -> None:
        at = text.find("@")
        while at >= 0:
            start = _pii.email_local_start(text, at)
            end = _pii.email_domain_end(text, at) if start is not None else None
            if (
                start is not None
                and end is not None
                and text[start:at] != "git"  # git@github.com:org/repo is an address, not a person
                and not _is_url_password(text, start, at)
            ):
                found.append((start, end, _PII, "email"))
                at = text.find("@", end)
            else:
                at = text.find("@", at + 1)

    def _credentials_in_urls(self, text: str, found: _Found) -> None:
        index = text.find("://")
        while index >= 0:
            match = URL_USERINFO.match(text, index)
            if match and match.group("password"):
                found.append((*match.span("password"), _FORMAT, "url_credentials"))
            elif match and match.group("password") is None and tokenish(match.group("user")):
                found.append((*match.span("user"), _FORMAT, "url_credentials"))
            index = text.find("://", index + 3)

    def _assignments(self, text: str, norm: bytes, found: _Found) -> None:
        """``password=…``, ``"api_key": "…"``, ``Authorization: Bearer …`` and the like."""
        size = len(norm)
        for match in REVERSED_FIELD.finditer(norm[::-1]):
            start, end = size - match.end("name"), size - match.start("name")
            operator = OPERATOR.match(text, end)
            if operator:
                colon = "=" not in text[end : operator.end()]
                self._assignment(text, start, end, operator.end(), colon, found)

    def _assignment(
        self, text: str, start: int, end: int, value_at: int, colon: bool, found: _Found
    ) -> None:
        rule = field_rule(text[start:end]) if end - start <= 64 else None
        if rule is None or rule[0] not in self._on:
            return
        category, value = rule
        match = value.match(text, value_at)
        if not (match and match.lastgroup):
            return
        value_start, value_end = match.span(match.lastgroup)
        quoted = match.lastgroup != "bare"
        if colon and not quoted and value is not AUTH_VALUE and not _opens_entry(text, start):
            return  # "Each token: a piece of a word" is prose; "token: abc" on its own line is not
        if plausible_secret(text, value_start, value_end, quoted=quoted):
            found.append((value_start, value_end, _FIELD, category))

    def _digits(self, text: str, norm: bytes, found: _Found) -> None:
        on = self._on
        if self._numbers:
            for run in _DIGIT_RUN.finditer(norm):
                self._number_at(text, norm, *run.span(), found)
        if "ip_address" in on and b"." in norm:
            for match in _IPV4.finditer(norm):
                start, end = match.span()
                while start > 0 and match.start() - start < 2 and norm[start - 1] == _ZERO:
                    start -= 1
                while end < len(norm) and end - match.end() < 2 and norm[end] == _ZERO:
                    end += 1
                if _pii.ipv4_ok(text, start, end):
                    found.append((start, end, _PII, "ip_address"))

    def _number_at(self, text: str, norm: bytes, start: int, end: int, found: _Found) -> None:
        """One run of digit groups: the longest card, SSN or phone number at each group.

        Each candidate is a whole number of groups, tried longest first and checked on its own,
        so "4111 1111 1111 1111 5500 0000 0000 0004" is two cards, not one 32-digit failure.
        """
        if "iban" in self._on and norm[start - 1 : start] == b" ":
            head = _IBAN_BEFORE.search(norm, max(0, start - 20), start)
            if head:
                _iban_at(text, head.start(), found)
        groups = [m.span() for m in _GROUP.finditer(text, max(0, start - 6), end)]
        index = 0
        while index < len(groups):
            hit = self._number_from(text, groups, index)
            if hit is None:
                index += 1
                continue
            found.append(hit)
            while index < len(groups) and groups[index][0] < hit[1]:
                index += 1

    def _number_from(
        self, text: str, groups: list[tuple[int, int]], first: int
    ) -> tuple[int, int, int, str] | None:
        group_start = groups[first][0]
        opener = text[group_start - 1 : group_start]
        starts = (group_start - 1, group_start) if opener in ("+", "(") else (group_start,)
        ends: list[tuple[int, int]] = []
        digits = 0
        for group in groups[first:]:
            digits += group[1] - group[0]
            if digits > 19:
                break
            ends.append((group[1], digits))
        for end, count in reversed(ends):
            for start in starts:
                for category, pattern, check, fewest, most in self._number_formats:
                    shaped = fewest <= count <= most and pattern.fullmatch(text, start, end)
                    if shaped and check(text, start, end):
                        return start, end, _PII, category
        return None

    def _ipv6(self, text: str, norm: bytes, found: _Found) -> None:
        reached = 0
        for match in _IPV6_PAIR.finditer(norm):
            if match.start() < reached:
                continue
            start, end = match.start(), match.end()
            while start > 0 and match.start() - start < 39 and norm[start - 1] in _HEX_COLON:
                start -= 1
            while end < len(norm) and end - start < 45 and norm[end] in _HEX_COLON:
                end += 1
            reached = end
            before, after = text[start - 1 : start], text[end : end + 1]
            if (before.isalnum() or before == "_") or (after.isalnum() or after == "_"):
                continue
            if _pii.ipv6_ok(text[start:end].rstrip(".")):
                found.append((start, start + len(text[start:end].rstrip(".")), _PII, "ip_address"))


def _iban_at(text: str, start: int, found: _Found) -> None:
    end = _pii.iban_end(text, start)
    if end is not None:
        found.append((start, end, _PII, "iban"))


def _has_digit_or_capital(value: str) -> bool:
    return any(char.isdigit() or char.isupper() for char in value)


def _opens_entry(text: str, start: int) -> bool:
    """Whether a field name starts a line or an entry (YAML, headers, JSON, a list item)."""
    index = start - 1
    while index >= 0 and text[index] in " \t\"'-*":
        index -= 1
    return index < 0 or text[index] in "\n\r{,;([|"


def _is_url_password(text: str, start: int, at: int) -> bool:
    """``scheme://user:pass@host``: the part before ``@`` is a password (url_credentials)."""
    scheme = text.rfind("://", max(0, start - 256), start)
    match = URL_USERINFO.match(text, scheme) if scheme >= 0 else None
    return bool(match and match.end() == at + 1 and match.group("password") is not None)


def _resolve(found: _Found, protected: list[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Clip matches around protected text, then merge overlaps (earliest, longest, priority)."""
    if protected:
        found = [piece for span in found for piece in _clip(span, protected)]
    found.sort(key=lambda span: (span[0], -span[1], span[2]))
    merged: list[tuple[int, int, str]] = []
    for start, end, _, category in found:
        if merged and start < merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end, merged[-1][2])
        else:
            merged.append((start, end, category))
    return merged


def _protected(text: str) -> list[tuple[int, int]]:
    """Placeholders, and a truncation marker at the very end."""
    regions = []
    if "[REDACTED:" in text:
        regions = [match.span() for match in _PROTECTED_PLACEHOLDER.finditer(text)]
    if text.endswith(" chars]"):
        marker = _PROTECTED_MARKER.search(text, max(0, len(text) - 48))
        if marker:
            regions.append(marker.span())
    return regions


def _clip(span: tuple[int, int, int, str], regions: list[tuple[int, int]]) -> _Found:
    start, end, priority, category = span
    pieces: _Found = []
    first = max(bisect.bisect_right(regions, (start, start)) - 1, 0)
    for region_start, region_end in regions[first:]:
        if region_start >= end:
            break
        if region_end <= start:
            continue
        if region_start > start:
            pieces.append((start, region_start, priority, category))
        start = max(start, region_end)
    if start < end:
        pieces.append((start, end, priority, category))
    return pieces
