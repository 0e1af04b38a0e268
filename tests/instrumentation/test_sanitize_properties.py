"""Properties of the sanitizer over generated input (hypothesis, derandomized: same every run).

Never raises, output is exportable UTF-8, planted secrets never come out, benign text comes out
unchanged, sanitizing twice changes nothing, output respects ``max_length``.
"""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatspan.instrumentation.sanitize import Sanitizer

CHECK = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)
SANITIZER = Sanitizer()
SMALL = Sanitizer(max_length=60)
SANITIZERS = st.sampled_from([SANITIZER, SMALL])

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits

# Any code point, lone surrogates and NUL included.
any_text = st.text(st.characters(exclude_categories=()), max_size=300)
# Text dense in the characters the recognisers care about, so edge cases come up.
dense_text = st.lists(
    st.sampled_from([*"0123456789 -+().:=@/_\"'[]{}\nabAZskghx…", "[REDACTED:email]"]),
    max_size=200,
).map("".join)
keys = st.sampled_from(["password", "apiKey", "role", "content", "max_tokens", "token", "x"])
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text | dense_text
)
json_like = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys | st.text(max_size=8), inner, max_size=4)
        | st.builds(json.dumps, st.dictionaries(keys, inner, max_size=3))
    ),
    max_leaves=20,
)


def _chars(alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=size, max_size=size)


def _luhn_complete(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits + "0")):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return digits + str((10 - total % 10) % 10)


def _iban(bank: str, account: str) -> str:
    digits = "".join(str(int(char, 36)) for char in bank + account + "GB00")
    return f"GB{98 - int(digits) % 97:02d}{bank}{account}"


# (what to plant, the part that must not come out)
secrets = st.one_of(
    st.builds(lambda b: ("sk-" + b, b), _chars(ALNUM, 40).filter(lambda b: b != b.lower())),
    st.builds(lambda b: ("ghp" + "_" + b, b), _chars(ALNUM, 36)),
    st.builds(lambda b: ("AKIA" + b, b), _chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
    st.builds(lambda b: ("AIza" + b, b), _chars(ALNUM + "_-", 35)),
    st.builds(lambda b: ("sk_" + "live_" + b, b), _chars(ALNUM, 24)),
    st.builds(lambda b: ("xoxb-123456789012-" + b, b), _chars(ALNUM, 24)),
    st.builds(lambda b: ("glpat-" + b, b), _chars(ALNUM, 20)),
    st.builds(lambda b: ("hf" + "_" + b, b), _chars(string.ascii_letters, 34)),
    st.builds(lambda b: ("Authorization: Bearer " + b, b), _chars(UPPER_DIGITS, 32)),
    st.builds(lambda b: ("password=" + b, b), _chars(UPPER_DIGITS, 12)),
    st.builds(lambda b: ('{"client_secret": "' + b + '"}', b), _chars(UPPER_DIGITS, 12)),
    st.builds(lambda b: ("mysql://root:" + b + "@db:3306", b), _chars(UPPER_DIGITS, 12)),
    st.builds(lambda b: (b + "@example.com", b), _chars(UPPER_DIGITS, 10)),
    st.builds(lambda d: (_luhn_complete("4" + d),) * 2, _chars(string.digits, 14)),
    st.builds(lambda d: (_luhn_complete("51" + d),) * 2, _chars(string.digits, 13)),
    st.builds(
        lambda b, a: (_iban(b, a),) * 2,
        _chars(string.ascii_uppercase, 4),
        _chars(string.digits, 14),
    ),
    st.builds(
        lambda a, e, n: (f"({a}) {e}-{n}", f"{e}-{n}"),
        st.integers(200, 999),
        st.integers(200, 999),
        st.integers(1000, 9999),
    ),
    st.builds(
        lambda a, g, n: (f"{a:03d}-{g:02d}-{n:04d}",) * 2,
        st.integers(1, 665) | st.integers(667, 899),
        st.integers(1, 99),
        st.integers(1, 9999),
    ),
    st.builds(
        lambda o: (".".join(map(str, o)),) * 2,
        st.tuples(st.integers(11, 126), *[st.integers(11, 254)] * 3),
    ),
)
words = st.lists(
    st.sampled_from(["the", "agent", "said", "token", "key", "pass", "ok", "..."]), max_size=6
)
separators = st.sampled_from([" ", "\n", ", ", " (", ") ", "; ", "\t"])


@CHECK
@given(any_text | dense_text, SANITIZERS)
def test_text_never_raises_and_comes_out_as_valid_unicode(text, sanitizer):
    out = sanitizer.sanitize_text(text)
    assert isinstance(out, str)
    out.encode("utf-8")
    assert len(out) <= sanitizer._max_length


@CHECK
@given(json_like, SANITIZERS)
def test_values_never_raise_and_stay_json_serialisable(value, sanitizer):
    calls = []
    out = sanitizer.sanitize_value(value, lambda: calls.append(1))
    json.dumps(out).encode("utf-8")
    assert calls == []


@CHECK
@given(secrets, words, words, separators, separators)
def test_planted_secrets_never_come_out(secret, before, after, left, right):
    planted, part = secret
    text = " ".join(before) + left + planted + right + " ".join(after)
    for sanitizer in (SANITIZER, SMALL):
        assert part not in sanitizer.sanitize_text(text)
        assert part not in json.dumps(sanitizer.sanitize_value({"note": text, "n": [text]}))


BENIGN_WORDS = [
    *("the", "agent", "token", "key", "pass", "secret", "password", "author", "said", "sent"),
    *("a", "tool", "call", "for", "order", "refund", "shipped", "AKIA", "ghp_", "sk-", "eyJ"),
    *("basic", "std::vector", "a[1::2]", "12:30:45"),
]
benign_tokens = st.one_of(
    st.sampled_from(BENIGN_WORDS),
    st.builds(
        "{}-{:02d}-{:02d}".format, st.integers(1990, 2030), st.integers(1, 12), st.integers(1, 28)
    ),
    st.builds("${:,}.{:02d}".format, st.integers(0, 10**6), st.integers(0, 99)),
    st.builds("v{}.{}.{}".format, st.integers(0, 20), st.integers(0, 99), st.integers(0, 999)),
    st.builds("#{}".format, st.integers(10000, 99999999)),
    st.builds("{}%".format, st.integers(0, 100)),
    st.builds(lambda n: f"{n:040x}", st.integers(0, 2**160 - 1)),
    st.builds(lambda n: f"{n:064x}", st.integers(0, 2**256 - 1)),
    st.uuids().map(str),
)


@CHECK
@given(st.lists(benign_tokens, max_size=30), st.lists(separators, min_size=1))
def test_benign_text_comes_out_unchanged(tokens, seps):
    text = "".join(token + seps[i % len(seps)] for i, token in enumerate(tokens))
    assert SANITIZER.sanitize_text(text) == text


@CHECK
@given(
    any_text | dense_text | st.builds(lambda s: s[0][0] + s[1], st.tuples(secrets, dense_text)),
    SANITIZERS,
)
def test_sanitizing_text_twice_changes_nothing(text, sanitizer):
    once = sanitizer.sanitize_text(text)
    assert sanitizer.sanitize_text(once) == once


@CHECK
@given(json_like, SANITIZERS)
def test_sanitizing_values_twice_changes_nothing(value, sanitizer):
    once = sanitizer.sanitize_value(value)
    assert sanitizer.sanitize_value(once) == once
