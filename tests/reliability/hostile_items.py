"""Hypothesis strategies for hostile Agents SDK input and hostile provider answers.

What an application or a provider can hand the model that our conversion and sanitizing code
must survive: unknown item types, missing fields, wrong types, huge strings, deeply nested and
invalid JSON in tool arguments, lone surrogates, NUL bytes, ``bytes`` in text fields, objects
whose attributes raise. Every value is plain data or one of the small classes below, whose
``repr`` is fixed, so an exception message quoting an item is the same on every run.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from chatspan.exporters.scripted_backend import chunk, completion

__all__ = [
    "HugeInt",
    "Odd",
    "RaisingAttributes",
    "chunk_sequences",
    "completions",
    "huge",
    "input_values",
    "instructions",
    "json_texts",
    "tool_lists",
]


class Odd:
    """An object where a dict or string was expected; ``str()`` works, nothing else does."""

    def __repr__(self) -> str:
        return "Odd()"


class RaisingAttributes:
    """An item whose every field read raises, and whose ``str()`` raises too."""

    @property
    def type(self) -> Any:
        raise RuntimeError("type read")

    @property
    def role(self) -> Any:
        raise RuntimeError("role read")

    @property
    def content(self) -> Any:
        raise RuntimeError("content read")

    def __str__(self) -> str:
        raise RuntimeError("str read")

    def __repr__(self) -> str:
        return "RaisingAttributes()"


class HugeInt(int):
    """An integer beyond CPython's 4,300-digit limit for ``str(int)`` (and so ``json.dumps``)."""

    def __new__(cls) -> HugeInt:
        return super().__new__(cls, 10**5000)

    def __repr__(self) -> str:
        return "HugeInt()"

    def __deepcopy__(self, memo: Any) -> HugeInt:
        return self


def huge(size: int) -> st.SearchStrategy[str]:
    """A string of ``size`` characters, built by repetition (generating it would be slow)."""
    seeds = st.sampled_from(["a", "x y ", "\x00", "\ud800", "é", "sk-", "😀", '{"a":'])
    return seeds.map(lambda seed: (seed * (size // len(seed) + 1))[:size])


# Every code point: lone surrogates, NUL and other controls included.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
edge_text = st.sampled_from(
    ["", "\x00", "\ud800", "\udfff", "a\ud83dz", "\ufffe", "\u2028", "…", "[REDACTED:email]"]
)
texts = any_text | edge_text
binary = st.binary(max_size=24)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.builds(HugeInt),
    st.floats(allow_nan=True, allow_infinity=True),
    binary,
    st.builds(Odd),
)
junk = scalars | texts | st.lists(scalars | texts, max_size=3)


def _plain(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


wire_junk = junk.filter(_plain)  # what a provider's JSON can carry


def _nested(depth: int, opener: str, closer: str, leaf: str) -> str:
    return opener * depth + leaf + closer * depth


json_texts = st.one_of(
    st.builds(_nested, st.integers(1, 5000), st.just("["), st.just("]"), st.just("1")),
    st.builds(_nested, st.integers(1, 3000), st.just('{"a":'), st.just("}"), st.just('"x"')),
    st.sampled_from(
        [
            "",
            "{",
            '{"a": ',
            "[1,]",
            '{"a": NaN, "b": Infinity, "c": -Infinity}',
            '{"\\ud800": "\\udfff", "k\\u0000": "\\u0000"}',
            '{"password": "hunter2-hunter2", "n": 1e999}',
            "[" + "9" * 5000 + "]",
            '{"a": 1} trailing',
            "null",
            '"just a string"',
        ]
    ),
    st.builds(json.dumps, st.dictionaries(st.text(max_size=5), wire_junk, max_size=4)),
    texts,
)


def _plain(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _dicts(
    fields: dict[str, st.SearchStrategy[Any]], extra: st.SearchStrategy[Any] = junk
) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with any subset of ``fields`` (missing fields), sometimes an unknown key too."""
    return st.fixed_dictionaries({}, optional={**fields, "unexpected": extra})


part_types = st.sampled_from(
    ["input_text", "output_text", "text", "refusal", "input_image", "input_file", "input_audio"]
)
content_parts = _dicts(
    {
        "type": part_types | texts | junk,
        "text": texts | junk,
        "refusal": texts,
        "image_url": st.sampled_from(["data:image/png;base64,AAAA", "data:", "https://x/y"])
        | texts,
        "file_data": st.sampled_from(["data:application/pdf;base64,AAAA"]) | binary,
        "file_id": texts,
        "filename": texts | junk,
        "input_audio": _dicts({"data": texts | binary, "format": texts | junk}) | junk,
    }
)
contents = texts | binary | junk | st.lists(content_parts | junk, max_size=3)
item_types = st.sampled_from(
    ["message", "function_call", "function_call_output", "reasoning", "item_reference", "zzz"]
)
input_items = st.one_of(
    _dicts(
        {
            "type": item_types | junk,
            "role": st.sampled_from(["user", "assistant", "system", "developer", "tool"]) | junk,
            "content": contents,
            "call_id": texts | junk,
            "name": texts | junk,
            "arguments": json_texts | junk,
            "output": contents | json_texts | st.dictionaries(texts, junk, max_size=3),
            "summary": st.lists(_dicts({"text": texts | junk}), max_size=2) | junk,
        }
    ),
    junk,
    st.builds(Odd),
    st.builds(RaisingAttributes),
)
input_values = texts | binary | junk | st.lists(input_items, max_size=5)
instructions = st.none() | texts | binary | json_texts


class OddTool:
    """Something in ``tools`` that is not a tool the SDK knows (its name and schema are junk)."""

    def __init__(self, name: Any, description: Any, schema: Any) -> None:
        self.name, self.description, self.params_json_schema = name, description, schema

    def __repr__(self) -> str:
        return "OddTool()"


def _function_tool(name: str, description: str, schema: dict[str, Any]) -> Any:
    from agents import FunctionTool

    async def invoke(context: Any, arguments: str) -> str:
        return "never called"

    return FunctionTool(
        name=name,
        description=description,
        params_json_schema=schema,
        on_invoke_tool=invoke,
        strict_json_schema=False,
    )


schemas = st.dictionaries(texts, wire_junk, max_size=3) | st.builds(
    lambda depth: json.loads(_nested(depth, '{"p":', "}", "{}")), st.integers(1, 120)
)
tools = st.one_of(
    st.builds(_function_tool, texts.filter(lambda t: t.isprintable() and t), texts, schemas),
    st.builds(OddTool, texts | junk, texts | junk, schemas | junk),
)
tool_lists = st.lists(tools, max_size=3)

# -- what the provider answers ------------------------------------------------------------------


def _wire(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return _dicts(fields, wire_junk)


finish_reasons = st.sampled_from(["stop", "length", "tool_calls", "content_filter", "zzz"]) | texts
usages = st.none() | _wire(
    {
        "prompt_tokens": st.integers(-5, 10**12) | wire_junk,
        "completion_tokens": st.integers(0, 10**6) | st.text(max_size=3),
        "total_tokens": st.integers(0, 10**6),
        "prompt_tokens_details": _wire({"cached_tokens": st.integers(-1, 10**6) | st.none()}),
    }
)
tool_call_bodies = _wire(
    {
        "id": texts,
        "type": st.sampled_from(["function", "custom", "zzz"]),
        "function": _wire({"name": texts, "arguments": json_texts}),
    }
)


def _completion(content: Any, calls: list[Any], finish: Any, usage: Any, ident: Any) -> dict:
    return completion(
        content, tool_calls=calls, finish_reason=finish, usage=usage, response_id=ident
    )


ids = st.sampled_from(["chatcmpl-1", ""]) | texts
completions = st.builds(
    _completion,
    st.none() | texts,
    st.lists(tool_call_bodies, max_size=3),
    finish_reasons,
    usages,
    ids,
)


def _delta_chunk(delta: Any, finish: Any, ident: Any) -> dict[str, Any]:
    return chunk(delta, finish_reason=finish, response_id=ident)


deltas = _wire(
    {
        "role": st.just("assistant") | texts,
        "content": st.none() | texts,
        "refusal": st.none() | texts,
        "tool_calls": st.lists(
            _wire(
                {
                    "index": st.integers(0, 3),
                    "id": texts,
                    "type": st.just("function"),
                    "function": _wire({"name": texts, "arguments": json_texts}),
                }
            ),
            max_size=2,
        ),
    }
)
chunk_sequences = st.lists(
    st.one_of(
        st.builds(_delta_chunk, deltas, st.none() | finish_reasons, ids),
        st.builds(lambda usage: chunk(None, usage=usage), usages.filter(bool)),
        st.just({"id": "chatcmpl-odd", "object": "chat.completion.chunk"}),  # no choices
    ),
    max_size=8,
)
