"""Sanitizer: what it redacts, what it leaves alone, configuration, failing closed, truncation.

Fake secrets are assembled from parts at run time, so no secret scanner mistakes this file for a
leak; they have the vendors' formats and no meaning.
"""

from __future__ import annotations

import json
import random
import time

import pytest

from chatspan.instrumentation.errors import ConfigError
from chatspan.instrumentation.sanitize import CATEGORIES, Sanitizer

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def fake(length: int, alphabet: str = ALNUM, seed: int = 0) -> str:
    rng = random.Random(f"{seed}{length}{alphabet}")
    return "".join(rng.choice(alphabet) for _ in range(length))


def jwt() -> str:
    return (
        "eyJ"
        + "hbGciOiJIUzI1NiJ9"
        + ".eyJ"
        + "zdWIiOiIxMjM0NTY3ODkwIn0"
        + "."
        + fake(43, ALNUM + "_-")
    )


PEM = (
    "-----BEGIN RSA "
    + "PRIVATE KEY-----\n"
    + fake(64)
    + "\n"
    + fake(64)
    + "\n-----END RSA PRIVATE KEY-----"
)

# (category, text before, the secret, text after)
POSITIVES = [
    ("openai_key", "key ", "sk-" + fake(48), " done"),
    ("openai_key", "OPENAI_API_KEY=", "sk-" + "proj-" + fake(156, ALNUM + "_-"), ""),
    ("anthropic_key", "", "sk-" + "ant-api03-" + fake(93, ALNUM + "_-") + "AA", "\n"),
    ("aws_access_key", "id: ", "AKIA" + fake(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), "."),
    ("aws_access_key", "temp ", "ASIA" + fake(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), " ok"),
    ("aws_secret_key", "aws_secret_access_key = ", fake(40, ALNUM + "/+"), "\n"),
    ("github_token", "use ", "ghp" + "_" + fake(36), " for the repo"),
    ("github_token", "token ", "github_pat_" + fake(82, ALNUM + "_"), ""),
    ("gitlab_token", "GITLAB ", "glpat" + "-" + fake(20, ALNUM + "-_"), " x"),
    ("slack_token", "bot ", "xoxb-" + fake(12, "0123456789") + "-" + fake(24), " y"),
    ("slack_token", "https://hooks.slack.com/", "services/T0/B0/" + fake(24), ""),
    ("stripe_key", "stripe ", "sk" + "_live_" + fake(24), " z"),
    ("stripe_key", "", "rk" + "_test_" + fake(24), ""),
    ("google_api_key", "maps ", "AIza" + fake(35, ALNUM + "_-"), ""),
    ("huggingface_token", "HF ", "hf" + "_" + fake(34, ALNUM[:52]), " !"),
    ("jwt", "Cookie jar: ", jwt(), ";"),
    ("private_key", "my key:\n", PEM, "\nthanks"),
    ("private_key", "half a key:\n", PEM[:120], ""),  # cut off before its END line
    ("authorization", "Authorization: Bearer ", fake(40), "\n"),
    ("authorization", '"Authorization": "Basic ', "dXNlcjpwYXNzd29yZA==", '"'),
    ("authorization", "curl -H 'Bearer ", fake(30), "' https://api"),
    ("url_credentials", "postgres://admin:", "s3cr3t-P4ss", "@db.internal:5432/app"),
    ("url_credentials", "redis://:", "hunter2", "@cache:6379"),
    ("sensitive_key", "password=", "hunter2", " and more"),
    ("sensitive_key", '{"api_key": "', fake(20), '"}'),
    ("sensitive_key", "DB_PASSWORD: ", "correct-horse", "\n"),
    ("sensitive_key", "client_secret = '", "a b c d", "'"),
    ("sensitive_key", "X-Api-Key: ", fake(32), "\r\n"),
    ("sensitive_key", 'args: {\\"token\\": \\"', "abc123", '\\"}'),
    ("email", "write to ", "jane.doe+agents@example.co.uk", " today"),
    ("phone", "call ", "+1 (415) 555-2671", " now"),
    ("phone", "call ", "415-555-2671", "."),
    ("phone", "tel ", "+44 20 7946 0958", ""),
    ("phone", "tel ", "+33 1 23 45 67 89", ""),
    ("phone", "Festnetz ", "030 1234 5678", ""),
    ("phone", "mobile ", "07700 900123", ""),
    ("credit_card", "card ", "4111 1111 1111 1111", " exp 12/27"),
    ("credit_card", "card ", "5500-0000-0000-0004", ""),
    ("credit_card", "amex ", "378282246310005", ""),
    ("credit_card", "disc ", "6011111111111117", "."),
    ("iban", "IBAN ", "GB82 WEST 1234 5698 7654 32", "."),
    ("iban", "IBAN: ", "DE89370400440532013000", ""),
    ("iban", "to ", "FR14 2004 1010 0505 0001 3M02 606", ""),
    ("iban", "", "NL91ABNA0417164300", ""),
    ("iban", "konto ", "NO93 8601 1117 947", ""),
    ("us_ssn", "SSN ", "123-45-6789", ""),
    ("ip_address", "host ", "203.0.113.42", ":8080"),
    ("ip_address", "from ", "10.20.30.40", ","),
    ("ip_address", "v6 ", "2001:db8:85a3::8a2e:370:7334", " up"),
]


@pytest.mark.parametrize(("category", "before", "secret", "after"), POSITIVES)
def test_each_format_is_redacted_and_not_echoed(category, before, secret, after):
    out = Sanitizer().sanitize_text(before + secret + after)
    assert out == before + f"[REDACTED:{category}]" + after


NEGATIVES = [
    "request 123e4567-e89b-12d3-a456-426614174000 done",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b merged",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "order #123456789 and ORD-2024-000123 shipped",
    "upgrade to v1.2.3.4, version 2.10.0, Python 3.11.7, build 10.0.19045.2965",
    "dates 2024-01-15, 15/01/2024, 2024.01.15, 12:30:45, 2024-01-15T12:30:45Z",
    "prices $1,299.99, €1.299,00, 19.99 USD, 1,000,000 units, 45%",
    "card-like 4111 1111 1111 1112 fails Luhn; 1700000000000 is a timestamp",
    "IBAN-like GB82 WEST 1234 5698 7654 33 has a bad checksum",
    "not SSNs: 000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567",
    "loopback 127.0.0.1, any 0.0.0.0, mask 255.255.255.0, ::1",
    "python slices a[1::2], C++ std::vector<int>, time 12:30:45",
    "assets logo@2x.png and @decorator and user@localhost",
    "the sk-learn-style-kebab-case-name and risk-free desk-top",
    "ISBN 978-0-306-40615-7 and 123-456-7890",
    "git clone git@github.com:org/repo.git",
    '{"max_tokens": 100, "author": "Ann", "public_key": "ssh-ed25519", "session_id": "s-1"}',
    "token = tokenizer.encode(text)[:max_tokens]",
    'api_key = os.environ["OPENAI_API_KEY"]',
    "client = OpenAI(api_key=api_key, timeout=settings.TIMEOUT)",
    "password = getpass.getpass()  # asked at run time",
    "secret: null, token: None, password: '', api_key: ${API_KEY}, pwd: <your password>",
    "Each token: a piece of a word. The key insight: pass the context.",
    "sorted(orders, key=lambda order: order.updated_at, reverse=True)",
    "https://docs.example.com/guide/3?page=2#top and ssh://git@github.com/org/repo",
    "Bearer of bad news; basic understanding; authorization is required",
    'AKIA is a prefix; ghp_ too; eyJ is base64 for {"',
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_look_alikes_are_left_alone(text):
    assert Sanitizer().sanitize_text(text) == text


def test_numbers_listed_side_by_side_are_each_found():
    text = "cards 4111 1111 1111 1111 5500 0000 0000 0004; call 020 7946 0958 020 7946 0959"
    card, phone = "[REDACTED:credit_card]", "[REDACTED:phone]"
    assert Sanitizer().sanitize_text(text) == f"cards {card} {card}; call {phone} {phone}"


def test_an_extra_pattern_matching_inside_placeholders_keeps_sanitizing_idempotent():
    sanitizer = Sanitizer(extra_patterns={"shout": "[A-Z]{3,}"})
    once = sanitizer.sanitize_text("HEY jane@example.com")
    assert once == "[REDACTED:shout] [REDACTED:email]"
    assert sanitizer.sanitize_text(once) == once


def test_placeholders_never_carry_any_part_of_the_secret():
    secret = "sk-" + fake(48)
    out = Sanitizer().sanitize_text(f"a {secret} b")
    assert not any(secret[i : i + 4] in out for i in range(3, len(secret) - 4))


# -- JSON-aware values -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["apiKey", "API-KEY", "api_key", "x-api-key", "Api Key"])
def test_sensitive_keys_match_whatever_the_case_and_separators(key):
    assert Sanitizer().sanitize_value({key: "plain"}) == {key: "[REDACTED:sensitive_key]"}


def test_nested_sensitive_values_are_redacted_whole_and_the_rest_survives():
    value = {
        "messages": [{"role": "user", "content": "mail jane@example.com"}],
        "auth": {"user": "ann", "Password": "x"},
        "config": {"clientSecret": {"nested": [1, 2]}, "retries": 3, "ratio": 0.5},
        "flags": (True, None),
        "credentials": None,
        "refresh_token": True,
    }
    assert Sanitizer().sanitize_value(value) == {
        "messages": [{"role": "user", "content": "mail [REDACTED:email]"}],
        "auth": "[REDACTED:sensitive_key]",
        "config": {"clientSecret": "[REDACTED:sensitive_key]", "retries": 3, "ratio": 0.5},
        "flags": (True, None),
        "credentials": None,
        "refresh_token": True,
    }


def test_json_text_is_sanitized_structurally_and_stays_valid_json():
    arguments = json.dumps(
        {"query": "orders for jane@example.com", "headers": {"X-Api-Key": 12345}, "limit": 5}
    )
    out = Sanitizer().sanitize_value({"name": "search", "arguments": arguments})
    assert json.loads(out["arguments"]) == {
        "query": "orders for [REDACTED:email]",
        "headers": {"X-Api-Key": "[REDACTED:sensitive_key]"},
        "limit": 5,
    }
    assert out["name"] == "search"


def test_json_inside_json_text_is_reached():
    inner = json.dumps({"password": "hunter2"})
    out = Sanitizer().sanitize_value(json.dumps({"payload": inner}))
    assert json.loads(json.loads(out)["payload"]) == {"password": "[REDACTED:sensitive_key]"}


def test_scalars_are_kept_and_other_objects_become_sanitized_text():
    class Note:
        def __str__(self) -> str:
            return "reach me at jane@example.com"

    value = [1, 2.5, True, None, Note(), b"ip 10.1.2.3"]
    assert Sanitizer().sanitize_value(value) == [
        1,
        2.5,
        True,
        None,
        "reach me at [REDACTED:email]",
        "ip [REDACTED:ip_address]",
    ]


def test_deep_and_cyclic_structures_end_in_a_placeholder():
    deep: list = []
    node = deep
    for _ in range(500):
        node.append([])
        node = node[0]
    cyclic: dict = {"a": 1}
    cyclic["self"] = cyclic
    out = Sanitizer().sanitize_value({"deep": deep, "cyclic": cyclic})
    assert "[REDACTED:depth_limit]" in json.dumps(out)
    assert out["cyclic"]["a"] == 1


def test_json_text_nested_too_deep_for_the_parser_is_sanitized_as_text():
    text = "[" * 100_000 + "jane@example.com"
    out = Sanitizer(max_length=200_000).sanitize_value(text)
    assert out.endswith("[REDACTED:email]")


# -- configuration -----------------------------------------------------------------------------


def test_extra_patterns_and_disabled_categories():
    sanitizer = Sanitizer(
        extra_patterns={"ticket": r"TICKET-\d+"}, disabled_categories={"email", "ip_address"}
    )
    out = sanitizer.sanitize_text(
        "TICKET-42 from jane@example.com at 10.1.2.3, card 4111111111111111"
    )
    assert out == "[REDACTED:ticket] from jane@example.com at 10.1.2.3, card [REDACTED:credit_card]"


def test_redact_off_only_truncates():
    sanitizer = Sanitizer(redact=False, max_length=60)
    secret = "sk-" + fake(48)
    assert sanitizer.sanitize_text(secret) == secret
    assert sanitizer.sanitize_value({"password": "x"}) == {"password": "x"}
    assert sanitizer.sanitize_text("a" * 100) == "a" * 33 + "…[truncated from 100 chars]"


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"max_length": 0}, "max_length"),
        ({"max_length": "16384"}, "max_length"),
        ({"redact": "yes"}, "redact"),
        ({"hook": "not callable"}, "hook"),
        ({"extra_patterns": {"bad": "("}}, "extra_patterns"),
        ({"extra_patterns": {"has space": "x"}}, "extra_patterns"),
        ({"extra_patterns": {"email": "x"}}, "extra_patterns"),
        ({"extra_patterns": {"empty": "x*"}}, "extra_patterns"),
        ({"disabled_categories": ["emails"]}, "disabled_categories"),
        ({"disabled_categories": "email"}, "disabled_categories"),
    ],
)
def test_bad_arguments_are_config_errors_naming_the_argument(kwargs, names):
    with pytest.raises(ConfigError, match=names):
        Sanitizer(**kwargs)


def test_from_env_reads_every_variable():
    sanitizer = Sanitizer.from_env(
        {
            "CHATSPAN_REDACT": " ON ",
            "CHATSPAN_MAX_CONTENT_LENGTH": "80",
            "CHATSPAN_REDACT_PATTERNS": r"ticket=TICKET-\d+; employee = EMP\d{4}",
            "CHATSPAN_REDACT_DISABLE": "email, phone",
        }
    )
    out = sanitizer.sanitize_text("TICKET-1 EMP1234 jane@example.com " + "x" * 40)
    assert out == "[REDACTED:ticket] [REDACTED:employee] jane@example.com…[truncated from 74 chars]"


@pytest.mark.parametrize("raw", ["off", "FALSE", "0", "Off"])
def test_redaction_can_be_switched_off_by_variable(raw):
    assert Sanitizer.from_env({"CHATSPAN_REDACT": raw}).sanitize_text("jane@example.com") == (
        "jane@example.com"
    )


def test_patterns_variable_takes_a_json_object_and_overrides_win():
    env = {"CHATSPAN_REDACT_PATTERNS": '{"ticket": "T-[0-9]+;x"}', "CHATSPAN_REDACT": "off"}
    assert Sanitizer.from_env(env).sanitize_text("T-1;x") == "T-1;x"
    assert Sanitizer.from_env(env, redact=True).sanitize_text("T-1;x") == "[REDACTED:ticket]"


@pytest.mark.parametrize(
    ("variable", "raw", "allowed"),
    [
        ("CHATSPAN_REDACT", "maybe", "on"),
        ("CHATSPAN_MAX_CONTENT_LENGTH", "0", "positive integer"),
        ("CHATSPAN_MAX_CONTENT_LENGTH", "16k", "positive integer"),
        ("CHATSPAN_REDACT_PATTERNS", "ticket", "name=regex"),
        ("CHATSPAN_REDACT_PATTERNS", "ticket=(", "not a valid regular expression"),
        ("CHATSPAN_REDACT_PATTERNS", '{"ticket": 1}', "name=regex"),
        ("CHATSPAN_REDACT_PATTERNS", "{not json", "JSON"),
        ("CHATSPAN_REDACT_DISABLE", "email,mail", "allowed: .*ip_address"),
    ],
)
def test_bad_variables_name_the_variable_and_what_is_allowed(variable, raw, allowed):
    with pytest.raises(ConfigError, match=variable) as caught:
        Sanitizer.from_env({variable: raw})
    assert caught.match(allowed)


def test_every_bad_variable_is_named_in_one_error():
    env = {
        "CHATSPAN_REDACT": "maybe",
        "CHATSPAN_MAX_CONTENT_LENGTH": "16k",
        "CHATSPAN_REDACT_PATTERNS": "ticket=(",
        "CHATSPAN_REDACT_DISABLE": "mail",
    }
    with pytest.raises(ConfigError) as caught:
        Sanitizer.from_env(env)
    message = str(caught.value)
    assert "\n" not in message  # one log line
    for variable in ("CHATSPAN_REDACT=", "CHATSPAN_MAX_CONTENT_LENGTH", "CHATSPAN_REDACT_PATTERNS"):
        assert variable in message
    # The categories are checked only when the patterns (whose names they may use) are valid.
    with pytest.raises(ConfigError, match=r"CHATSPAN_REDACT_DISABLE.*allowed") as caught:
        Sanitizer.from_env({**env, "CHATSPAN_REDACT_PATTERNS": "ticket=T-[0-9]+"})
    assert caught.match("CHATSPAN_REDACT=")


def test_every_category_can_be_disabled():
    Sanitizer(disabled_categories=CATEGORIES)


# -- failing closed ----------------------------------------------------------------------------


def test_a_raising_hook_fails_closed_for_that_value_only():
    calls = []

    def hook(path, value):
        if path == "b":
            raise RuntimeError("boom")
        return None

    out = Sanitizer(hook=hook).sanitize_value(
        {"a": "ok", "b": "x", "c": 1}, lambda: calls.append(1)
    )
    assert out == {"a": "ok", "b": "[REDACTED:error]", "c": 1}
    assert calls == [1]


def test_hook_sees_paths_and_its_replacement_wins():
    seen = []

    def hook(path, value):
        seen.append(path)
        return "<image>" if path == "parts[1].data" else None

    value = {"parts": [{"text": "hi"}, {"data": "aGVsbG8="}]}
    out = Sanitizer(hook=hook).sanitize_value(value)
    assert out == {"parts": [{"text": "hi"}, {"data": "<image>"}]}
    assert seen == ["", "parts", "parts[0]", "parts[0].text", "parts[1]", "parts[1].data"]


def test_sanitize_text_fails_closed_too():
    class Unprintable:
        def __str__(self) -> str:
            raise ValueError("no")

    calls = []
    assert Sanitizer().sanitize_text(Unprintable(), lambda: calls.append(1)) == "[REDACTED:error]"
    assert Sanitizer().sanitize_value([Unprintable()], lambda: 1 / 0) == ["[REDACTED:error]"]
    assert calls == [1]


def test_a_broken_mapping_fails_closed():
    class Broken(dict):
        def items(self):
            raise RuntimeError("no items")

    assert Sanitizer().sanitize_value({"ok": 1, "bad": Broken(a=1)}) == {
        "ok": 1,
        "bad": "[REDACTED:error]",
    }


@pytest.mark.parametrize("value", [42, None, b"caf\xc3\xa9 jane@example.com", 3.5])
def test_sanitize_text_converts_what_is_not_text(value):
    assert isinstance(Sanitizer().sanitize_text(value), str)


def test_lone_surrogates_and_nul_do_not_break_it():
    out = Sanitizer().sanitize_text("a\ud800b\x00c jane@example.com \udfff")
    assert out == "a\ufffdb\x00c [REDACTED:email] \ufffd"
    out.encode("utf-8")


# -- truncation --------------------------------------------------------------------------------


def test_long_text_is_cut_with_a_marker_giving_the_original_length():
    out = Sanitizer(max_length=100).sanitize_text("word " * 1000)
    assert out == "word " * 13 + "word…[truncated from 5000 chars]"  # cut between words


def test_a_ten_megabyte_text_costs_about_what_max_length_costs():
    sanitizer = Sanitizer()
    huge = ("call +1 (415) 555-2671 or jane@example.com. " * 250_000)[:10_000_000]
    started = time.perf_counter()
    out = sanitizer.sanitize_text(huge)
    assert time.perf_counter() - started < 0.5
    assert len(out) <= 16384
    assert out.endswith("…[truncated from 10000000 chars]")
    assert "jane@" not in out and "555-2671" not in out


@pytest.mark.parametrize("offset", range(-40, 10, 7))
def test_a_secret_straddling_the_cut_is_not_leaked(offset):
    secret = "sk-" + fake(60)
    max_length = 200
    prefix = "x " * ((max_length + offset) // 2)
    out = Sanitizer(max_length=max_length).sanitize_text(prefix + secret + " tail" * 100)
    assert not any(secret[i : i + 6] in out for i in range(3, len(secret) - 6))


def test_a_private_key_longer_than_the_margin_is_not_leaked():
    body = "\n".join(fake(64, seed=i) for i in range(200))
    text = "key:\n-----BEGIN " + "PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----"
    out = Sanitizer(max_length=1000).sanitize_text(text)
    assert out.startswith("key:\n[REDACTED:private_key]") and fake(64, seed=3) not in out


def test_truncation_never_leaves_half_a_placeholder():
    text = "a" * 40 + " jane@example.com " + "b" * 100
    out = Sanitizer(max_length=70).sanitize_text(text)
    assert "[REDACTED:em" not in out.replace("[REDACTED:email]", "")


@pytest.mark.parametrize("max_length", [1, 10, 28, 29, 60, 200])
def test_truncated_output_is_stable(max_length):
    sanitizer = Sanitizer(max_length=max_length)
    text = "card 4111 1111 1111 1111 2, mail jane@example.com, " * 10
    once = sanitizer.sanitize_text(text)
    assert sanitizer.sanitize_text(once) == once
    assert len(once) <= max_length


# -- end to end --------------------------------------------------------------------------------


async def test_a_streamed_call_with_secrets_in_prompt_and_tool_arguments_exports_none(
    instrument, span_exporter
):
    from chatspan.exporters.scripted_backend import ScriptedBackend, chunk

    from .calls import make_model, stream_events

    key, token = "sk-" + "proj-" + fake(60), "ghp" + "_" + fake(36)
    arguments = json.dumps({"email": "jane@example.com", "api_key": "plain-value-42"})
    call = {"index": 0, "id": "call_1", "type": "function"}
    stream = [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [{**call, "function": {"name": "lookup", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:25]}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[25:]}}]}),
        chunk({}, finish_reason="tool_calls"),
    ]
    instrument(capture_content=True, sanitizer=Sanitizer())
    prompt = f"use {key} or {token}; card 4111 1111 1111 1111; call +1 (415) 555-2671"
    await stream_events(make_model(ScriptedBackend([stream])), input=prompt)
    (span,) = span_exporter.get_finished_spans()
    exported = json.dumps(dict(span.attributes))
    for secret in (key, token, "4111 1111", "555-2671", "jane@example.com", "plain-value-42"):
        assert secret not in exported
    assert "[REDACTED:openai_key]" in exported and "[REDACTED:sensitive_key]" in exported


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"\\ud800": "x"}', '{"\ufffd":"x"}'),  # a lone surrogate escaped in JSON text
        ({"\ud800": 1}, {"\ufffd": 1}),
        ({(1, 2): 1, None: 2, 1.5: 3}, {"(1, 2)": 1, "null": 2, "1.5": 3}),
        ({"a": float("nan"), "b": float("-inf")}, {"a": "nan", "b": "-inf"}),
        ({"n": 10**5000}, {"n": "[REDACTED:size_limit]"}),
    ],
)
def test_sanitized_values_always_dump_as_strict_utf8_json(value, expected):
    out = Sanitizer().sanitize_value(value)
    assert out == expected
    json.dumps(out, ensure_ascii=False, allow_nan=False).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        [0] * 1_000_000,
        ["x y z " * 2000] * 1000,
        {"k" * 1_000_000: 1},
        [{"a": ["x y " * 30]}] * 10**5,
    ],
)
def test_one_value_stays_within_the_size_budget(value):
    sanitizer = Sanitizer(max_length=1000)
    out = json.dumps(sanitizer.sanitize_value(value), ensure_ascii=False, separators=(",", ":"))
    assert len(out) <= sanitizer.json_bound
    assert "[REDACTED:size_limit]" in out or len(out) < sanitizer.budget


class _SmallBitLength(int):
    def bit_length(self) -> int:
        return 0


@pytest.mark.parametrize(
    "value", [[_SmallBitLength(10**3900)] * 20_000, [_SmallBitLength(10**5000)]]
)
def test_an_int_subclass_is_counted_and_dumped_as_the_int_it_is(value):
    sanitizer = Sanitizer(max_length=256)
    out = json.dumps(sanitizer.sanitize_value(value), separators=(",", ":"), allow_nan=False)
    assert len(out) <= sanitizer.json_bound


def test_json_text_counts_once_against_the_size_budget():
    sanitizer = Sanitizer(max_length=256)
    json_text = json.dumps({"a": "x y " * 45})
    plain_text = "x y " * (len(json_text) // 4)
    kept_json = sanitizer.sanitize_value([json_text] * 200)
    kept_plain = sanitizer.sanitize_value([plain_text] * 200)
    assert len(kept_json) == len(kept_plain) < 200
