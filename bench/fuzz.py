"""Coverage-guided fuzzing (atheris) of message conversion and sanitizing, for a bounded time.

Each input's bytes become a JSON-like value (parsed as JSON when they are JSON, else decoded with
lone surrogates kept) that is used as input items, tool arguments, tools and output items. The
properties: nothing raises, and every captured attribute is strict JSON, valid UTF-8 and within
the sanitizer's bound. A violation raises, and atheris saves the input as ``crash-*``.

    .venv/bin/pip install -e '.[fuzz]'
    .venv/bin/python bench/fuzz.py -max_total_time=60       # any libFuzzer flag works
"""

from __future__ import annotations

import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from chatspan.instrumentation import messages
    from chatspan.instrumentation.sanitize import Sanitizer

SANITIZERS = (Sanitizer(max_length=64), Sanitizer(), Sanitizer(redact=False, max_length=64))


def _strict(constant: str) -> Any:
    raise ValueError(f"not JSON: {constant}")


def _value(data: bytes) -> Any:
    text = data.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _check(sanitizer: Sanitizer, value: Any) -> None:
    sanitized = sanitizer.sanitize_value(value)
    text = json.dumps(sanitized, ensure_ascii=False, separators=(",", ":"), default=str)
    text.encode("utf-8")
    bound = sanitizer.json_bound
    if len(text) > bound:
        raise AssertionError(f"attribute of {len(text)} chars over {bound}")
    json.loads(text, parse_constant=_strict)


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    sanitizer = SANITIZERS[provider.ConsumeIntInRange(0, len(SANITIZERS) - 1)]
    value = _value(provider.ConsumeBytes(provider.ConsumeIntInRange(0, 4096)))
    arguments = provider.ConsumeUnicode(512)  # may hold lone surrogates
    items = value if isinstance(value, list) else [value]
    items = [*items, {"type": "function_call", "call_id": "c", "name": "f", "arguments": arguments}]
    _check(sanitizer, messages.input_messages(items))
    _check(sanitizer, messages.input_messages(value))
    _check(sanitizer, messages.output_messages(items, "stop"))
    _check(sanitizer, messages.tool_definitions(items, items))
    _check(sanitizer, messages.system_instructions(arguments))
    sanitizer.sanitize_text(arguments).encode("utf-8")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
