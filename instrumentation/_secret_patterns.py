"""Secrets the sanitizer recognises by format, and the field names whose values are secret.

Token formats are matched where a run of token characters starts (the scanner finds the runs), so
each format is a prefix plus a body. Formats and lengths follow the vendors' published token
formats as encoded in gitleaks' default rules (rule ids in the comments); where a vendor has
changed or may grow its lengths we accept longer bodies. Field names (``password``, ``apiKey``,
``X-API-KEY``…) are compared after lower-casing and dropping separators, the way Logfire's scrubber
and detect-secrets' keyword plugin treat them, with the exceptions (``max_tokens``, ``author``)
that generative-AI payloads need.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = [
    "AUTH_VALUE",
    "OPERATOR",
    "PRIVATE_KEY",
    "REVERSED_FIELD",
    "SLACK_WEBHOOK",
    "TOKEN_FORMATS",
    "URL_USERINFO",
    "TokenFormat",
    "field_rule",
    "is_sensitive_key",
    "plausible_secret",
    "tokenish",
]


@dataclass(frozen=True)
class TokenFormat:
    category: str
    prefixes: tuple[str, ...]
    pattern: re.Pattern[str]
    random_body: bool = False  # the bare prefix is common in prose: require a digit or capital


def _format(category: str, prefixes: tuple[str, ...], regex: str, **kw: bool) -> TokenFormat:
    return TokenFormat(category, prefixes, re.compile(regex), **kw)


_END = r"(?![A-Za-z0-9_-])"

TOKEN_FORMATS: tuple[TokenFormat, ...] = (
    # gitleaks anthropic-api-key, anthropic-admin-api-key: sk-ant-api03-…, sk-ant-admin01-…
    _format("anthropic_key", ("sk-ant-",), r"sk-ant-[a-z]{2,8}\d{2}-[A-Za-z0-9_-]{20,}"),
    # gitleaks openai-api-key: sk-…, sk-proj-…, sk-svcacct-…, sk-admin-…; any length from 20 on
    _format("openai_key", ("sk-",), r"sk-(?!ant-)[A-Za-z0-9_-]{20,}", random_body=True),
    # gitleaks stripe-access-token (secret and restricted keys) plus webhook signing secrets
    _format(
        "stripe_key",
        ("sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_", "whsec_"),
        r"(?:[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})",
    ),
    # gitleaks github-pat, github-oauth, github-app-token, github-refresh-token,
    # github-fine-grained-pat
    _format(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})",
    ),
    # gitleaks gitlab-* rules: personal, deploy, pipeline-trigger, runner, SCIM, feed, mail,
    # agent, CI job, OAuth, feature-flag tokens and runner registration tokens
    _format(
        "gitlab_token",
        (
            *(f"gl{kind}-" for kind in ("pat", "dt", "ptt", "rt", "soat", "ft", "imt", "agent")),
            *(f"gl{kind}-" for kind in ("cbt", "oas", "ffct")),
            "GR1348941",
        ),
        r"(?:gl(?:pat|dt|ptt|rt|soat|ft|imt|agent|cbt|oas|ffct)-[A-Za-z0-9_.-]{20,}"
        r"|GR1348941[A-Za-z0-9_-]{20,})",
    ),
    # gitleaks slack-bot-token, slack-user-token, slack-legacy-*, slack-config-*, slack-app-token
    _format(
        "slack_token",
        (*(f"xox{kind}-" for kind in "abposre"), "xapp-"),
        r"(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})",
    ),
    # gitleaks gcp-api-key: AIza + 35
    _format("google_api_key", ("AIza",), r"AIza[A-Za-z0-9_-]{35}" + _END),
    # gitleaks aws-access-token: access key ids (long-term AKIA, temporary ASIA, …)
    _format(
        "aws_access_key",
        ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}" + _END,
    ),
    # gitleaks huggingface-access-token: hf_ + 34 letters
    _format("huggingface_token", ("hf_",), r"hf_[A-Za-z]{34}" + _END),
    # gitleaks jwt: header.payload[.signature], both base64url JSON objects ("eyJ" = '{"')
    _format("jwt", ("eyJ",), r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]*)?"),
)

# gitleaks private-key: any PEM "… PRIVATE KEY" block (RSA, EC, DSA, OPENSSH, PGP, PKCS#8).
# A block with no END line (cut off, or pasted half) is redacted to the end of the text.
PRIVATE_KEY = re.compile(
    r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
    re.DOTALL,
)

# RFC 3986 userinfo (detect-secrets' basic-auth plugin looks for the same "://user:pass@").
# Matched at "://"; the password is redacted, a user name alone only if it looks like a token.
URL_USERINFO = re.compile(
    r"://(?P<user>[^\s:/?#@\[\]\"<>…]*)(?::(?P<password>[^\s/?#@\[\]\"<>…]*))?@"
)
# gitleaks slack-webhook-url; the path after "hooks.slack.com/" is the secret
SLACK_WEBHOOK = re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{20,}")

# -- sensitive field names -----------------------------------------------------------------

# fmt: off
_EXACT = frozenset({
    "auth", "pass", "pwd", "pin", "otp", "ssn", "cvv", "cvc", "cvv2", "jwt", "bearer", "session",
    "creds", "sessionkey",
})
# fmt: on
_SUFFIXES = (
    *("token", "pwd", "apikey", "secretkey", "accesskey", "authkey", "signingkey"),
    *("encryptionkey", "masterkey", "clientkey", "privkey"),
)
_PARTS = (
    *("password", "passwd", "passphrase", "secret", "credential", "privatekey", "apikey"),
    *("accesskey", "authorization", "cookie", "csrf", "xsrf", "cardnumber", "creditcard"),
    "socialsecurity",
)
_NOT_SECRET_PARTS = ("secretary",)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _normal(key: str) -> str:
    return _NON_ALNUM.sub("", key.lower())


def _sensitive(name: str) -> bool:
    if name in _EXACT or name.endswith(_SUFFIXES):
        return True
    return any(part in name for part in _PARTS) and not any(
        part in name for part in _NOT_SECRET_PARTS
    )


def is_sensitive_key(key: str) -> bool:
    """``apiKey``, ``API-KEY``, ``api_key``, ``x-api-key``, ``client_secret``, ``access_token``…

    Not ``max_tokens``, ``token_count``, ``author``, ``public_key``, ``session_id`` or ``key``.
    """
    return _sensitive(_normal(key))


# -- free-text assignments: `password=…`, `"api_key": "…"`, `Authorization: Bearer …` -------

# Field names are found from their assignment operator backwards: the scanner runs this on the
# *reversed* normalised text (letters lower-cased, digits as "0", ":" as "="), so the pattern
# starts with a literal and costs little where there is no operator. Read backwards it says: an
# operator, blanks, an optional closing quote (or an escaped one), then a field name with one of
# the anchor words in it. The field name itself decides (``field_rule``), and ``OPERATOR``
# checks the real operator on the text: = == === : := (not ::).
# pass pwd secret token key cred auth cookie, reversed; a bare "key" is never a secret's name
_ANCHORS = rb"(?:ssap|dwp|terces|nekot|yek(?=[a-z0_.-])|derc|htua|eikooc)"
REVERSED_FIELD = re.compile(
    rb"=[ \t\"'\\=]{0,6}(?P<name>[a-z0_.-]*" + _ANCHORS + rb"[a-z0_.-]*+)"
)  # flat single-character repeats: sre runs them fastest
OPERATOR = re.compile(r"(?:\\?[\"'])?[ \t]*(?:={1,3}|:(?!:)=?)[ \t]*")

_VALUE = re.compile(
    r'\\"(?P<escaped>(?:[^"\\\r\n]|\\[^"\r\n])*)\\"'
    r'|"(?P<double>(?:[^"\\\r\n]|\\.)*)"'
    r"|'(?P<single>(?:[^'\\\r\n]|\\.)*)'"
    r"|(?P<braced>\$\{[^}\r\n]*\})"  # ${VAR}: a template, left alone
    r"|(?P<bare>[^\s\"'`,;&<>(){}\[\]\\…]+)"
)
# Keep the scheme readable: "Authorization: Bearer [REDACTED:authorization]".
AUTH_VALUE = re.compile(
    r"(?:\\?[\"'])?(?:(?i:bearer|basic|token|digest|negotiate|ntlm|apikey)[ \t]+)?"
    r"(?P<bare>[^\s\"'`,;\\…]+)"
)
_LINE_VALUE = re.compile(r"(?:\\?[\"'])?(?P<bare>[^\r\n\"'\\…]+)")  # Cookie: a=1; b=2


@functools.lru_cache(maxsize=4096)
def field_rule(key: str) -> tuple[str, re.Pattern[str]] | None:
    """For a sensitive field name in free text: its category and how its value is written."""
    name = _normal(key)
    if not _sensitive(name):
        return None
    if "authorization" in name:
        return "authorization", AUTH_VALUE
    if "secretaccesskey" in name or ("aws" in name and "secret" in name):
        return "aws_secret_key", _VALUE
    return "sensitive_key", _LINE_VALUE if "cookie" in name else _VALUE


# fmt: off
_PLACEHOLDER_VALUES = frozenset({
    "none", "null", "nil", "true", "false", "undefined", "empty", "required", "optional", "string",
    "str", "redacted",
})
# fmt: on
_TEMPLATE = re.compile(
    r"\$\{[^}]*\}|\$[A-Za-z_]\w*|\{\{.*\}\}|<[^<>]*>|%[A-Za-z_]\w*%|[*x•.…]+|X+|\[REDACTED:.*",
    re.DOTALL,
)
# fmt: off
_CODE_ROOTS = frozenset({
    "self", "cls", "this", "os", "sys", "env", "environ", "settings", "config", "cfg", "conf",
    "process", "args", "options", "opts", "request", "req", "ctx", "context", "params", "app",
    "secrets", "vault",
})
# fmt: on
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]*")


def plausible_secret(text: str, start: int, end: int, *, quoted: bool) -> bool:
    """Whether an assigned value is a literal worth redacting, not code or a template.

    ``api_key = os.environ["KEY"]``, ``token = get_token()``, ``api_key=api_key``,
    ``password: "${DB_PASSWORD}"`` and ``secret: null`` are left as they are.
    """
    value = text[start:end]
    if not value or value.lower() in _PLACEHOLDER_VALUES or _TEMPLATE.fullmatch(value):
        return False
    if quoted:
        return True
    parts = value.split(".")
    if not all(_IDENTIFIER.fullmatch(part) for part in parts):
        return True  # not a name: a literal
    if text[end : end + 1] in ("(", "[") and value != value.upper():
        return False  # get_token(), config["key"]
    if len(parts) > 1 and (parts[0] in _CODE_ROOTS or _CONSTANT.fullmatch(parts[-1])):
        return False  # os.environ, self.token, settings.API_KEY
    return not is_sensitive_key(value)  # api_key=api_key


def tokenish(value: str) -> bool:
    """Long and not a plain word: a digit, a symbol, or capitals after the first letter."""
    if len(value) < 16:
        return False
    if any(char.isdigit() or char in "._~+/=-" for char in value):
        return True
    return any(char.isupper() for char in value[1:]) and any(char.islower() for char in value)
