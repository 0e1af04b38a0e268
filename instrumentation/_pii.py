"""Personal-data formats the sanitizer recognises, and the checks that keep look-alikes out.

Each recogniser is a regular expression for the shape plus a check on the candidate: Luhn and an
issuer prefix for payment cards, the ISO 13616 length table and mod-97 checksum for IBANs, the
SSA's never-issued ranges for US social security numbers, octet ranges and reserved addresses for
IPs. Boundary rules (what may stand next to a match) live in the checks too, so the scanner can
run the expressions over short windows of the text.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "CARD",
    "IBAN_COUNTRIES",
    "INTL_PHONE",
    "NANP_PHONE",
    "SSN",
    "TRUNK_PHONE",
    "card_ok",
    "email_domain_end",
    "email_local_start",
    "iban_end",
    "ipv4_ok",
    "ipv6_ok",
    "phone_ok",
    "ssn_ok",
]

_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGITS = frozenset("0123456789")


def _char(text: str, index: int) -> str:
    return text[index] if 0 <= index < len(text) else ""


def _isolated(text: str, start: int, end: int, joiners: str = ".-") -> bool:
    """Nothing word-like touches the match, nor a joiner that continues it with a digit."""
    before, after = _char(text, start - 1), _char(text, end)
    if before in _WORD or (
        before and before in joiners + "+" and _char(text, start - 2) in _DIGITS
    ):
        return False
    return not (after in _WORD or (after and after in joiners and _char(text, end + 1) in _DIGITS))


# -- payment cards -------------------------------------------------------------------------

CARD = re.compile(r"\d(?:[ -]?\d){12,18}")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _issuer_ok(digits: str) -> bool:
    """Visa, Mastercard (51-55, 2221-2720), Amex, Diners, JCB, Discover, UnionPay, Maestro."""
    if digits[0] in "3456":
        return True
    return digits[0] == "2" and 2221 <= int(digits[:4]) <= 2720


def card_ok(text: str, start: int, end: int) -> bool:
    candidate = text[start:end]
    separators = {char for char in candidate if char in " -"}
    digits = candidate.replace(" ", "").replace("-", "")
    return (
        len(separators) <= 1
        and "  " not in candidate
        and _isolated(text, start, end)
        and _issuer_ok(digits)
        and _luhn_ok(digits)
    )


# -- US social security numbers ------------------------------------------------------------

SSN = re.compile(r"\d{3}([- ])\d{2}\1\d{4}")


def ssn_ok(text: str, start: int, end: int) -> bool:
    """Areas 000, 666 and 900-999, group 00 and serial 0000 are never issued."""
    area, group, serial = text[start : start + 3], text[start + 4 : start + 6], text[end - 4 : end]
    return (
        area not in ("000", "666")
        and area[0] != "9"
        and group != "00"
        and serial != "0000"
        and _isolated(text, start, end, joiners=".- ")
    )


# -- phone numbers -------------------------------------------------------------------------

# E.164 written with a leading +: country code, then groups; "+44 (0) 20 7946 0958" included.
INTL_PHONE = re.compile(r"\+[1-9]\d{0,2}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,6}")
# North American Numbering Plan: (415) 555-2671, 415-555-2671, 415.555.2671, 1-800-555-0199.
NANP_PHONE = re.compile(r"(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[.-])[2-9]\d{2}[.-]\d{4}")
# National numbers with a trunk 0, grouped: 020 7946 0958, 01 23 45 67 89, 07700 900123.
TRUNK_PHONE = re.compile(r"0[1-9]\d{0,3}(?:[ -]\d{2,4}){2,4}|0[1-9]\d{2,3} \d{6}")


def phone_ok(text: str, start: int, end: int) -> bool:
    digits = sum(char in _DIGITS for char in text[start:end])
    if not 8 <= digits <= 15:
        return False
    if text[start] == "0" and digits < 9:
        return False
    return _isolated(text, start, end)


# -- IBAN ----------------------------------------------------------------------------------

# ISO 13616 registry: IBAN length by country.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
IBAN_COUNTRIES = frozenset(country.lower().encode() for country in _IBAN_LENGTHS)


def iban_end(text: str, start: int) -> int | None:
    """End of the IBAN starting at ``start`` (compact or in groups of four), if it is one."""
    if _char(text, start - 1) in _WORD:
        return None
    expected = _IBAN_LENGTHS.get(text[start : start + 2].upper())
    if expected is None:
        return None
    chars: list[str] = []
    index = start
    while len(chars) < expected and index < len(text):
        char = text[index].upper()
        if char in _ALNUM:
            chars.append(char)
        elif not (char == " " and len(chars) % 4 == 0 and _char(text, index + 1) != " "):
            return None
        index += 1
    if len(chars) < expected or _char(text, index) in _WORD:
        return None
    if not (chars[2] in _DIGITS and chars[3] in _DIGITS):
        return None
    rearranged = "".join(chars[4:] + chars[:4])
    number = int("".join(str(int(char, 36)) for char in rearranged))
    return index if number % 97 == 1 else None


# -- e-mail addresses ----------------------------------------------------------------------

_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
)
_RETINA = re.compile(r"\d+x\.")  # icon@2x.png is a file name, not an address


def email_local_start(text: str, at: int) -> int | None:
    """Start of the local part ending before ``text[at] == "@"``, if there is one."""
    start = at
    while start > 0 and at - start < 64 and text[start - 1] in _LOCAL:
        start -= 1
    while start < at and text[start] in ".%+-":  # an address does not open with these
        start += 1
    return start if start < at else None


def email_domain_end(text: str, at: int) -> int | None:
    if _RETINA.match(text, at + 1):
        return None
    match = _DOMAIN.match(text, at + 1)
    return match.end() if match else None


# -- IP addresses --------------------------------------------------------------------------

_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild)[ :=]{0,2}\Z")


def ipv4_ok(text: str, start: int, end: int) -> bool:
    octets = text[start:end].split(".")
    if any(len(octet) > 1 and octet[0] == "0" for octet in octets):
        return False
    values = [int(octet) for octet in octets]
    if any(value > 255 for value in values) or values[0] in (0, 127, 255):
        return False  # unspecified, loopback, netmasks and broadcast say nothing about anyone
    if _VERSION_BEFORE.search(text, max(0, start - 10), start):
        return False
    return _isolated(text, start, end)


def ipv6_ok(candidate: str) -> bool:
    """Three or more written groups, so ``a[1::2]`` and ``std::`` stay; loopback stays too."""
    if sum(1 for group in candidate.split(":") if group) < 3:
        return False
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)
