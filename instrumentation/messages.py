"""Agents SDK items -> the GenAI conventions' message JSON (plain dicts, no ``null`` noise).

Pure functions: no I/O, no sanitizing (the caller sanitizes the whole structure once), and no
exceptions for odd data: an item we do not know becomes a generic part named after its type.
Items may be dicts (input items) or pydantic models (output items), so fields are read through
``_field`` which accepts both. Input from an application can be anything, so only lists and
tuples are iterated (a generator would be consumed before the model saw it), a type or role is
used only when it is a string, and an item whose conversion still fails becomes a generic part:
one odd item never costs the rest of the attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "input_messages",
    "output_messages",
    "system_instructions",
    "tool_definitions",
]

_MISSING = object()
# Values that are never an item: reading "format" or "index" off a str finds its methods.
_PLAIN_VALUES = (str, bytes, bytearray, int, float, list, tuple)


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        try:
            return item.get(name, default)
        except Exception:  # a Mapping whose get() fails, or an unhashable key type
            return default
    if item is None or isinstance(item, _PLAIN_VALUES):
        return default
    try:
        value = getattr(item, name, _MISSING)
    except Exception:  # a property that raises
        return default
    return default if value is _MISSING else value


def _sequence(value: Any) -> list[Any] | tuple[Any, ...]:
    """The items of a list or tuple; anything else has none we may read."""
    return value if isinstance(value, list | tuple) else ()


def _name_of(value: Any, fallback: Any) -> str:
    return value if isinstance(value, str) and value else type(fallback).__name__


def _drop_none(part: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in part.items() if value is not None}


def system_instructions(instructions: str | None) -> list[dict[str, Any]] | None:
    if not instructions:
        return None
    return [{"type": "text", "content": instructions}]


def input_messages(items: str | Iterable[Any] | None) -> list[dict[str, Any]]:
    """Convert the model's input into messages, merging adjacent assistant parts.

    The SDK sends a reasoning item, an assistant text and its function calls as one Chat
    Completions assistant message; merging keeps the captured history shaped like that.
    """
    if items is None:
        return []
    if not isinstance(items, list | tuple):  # a str; anything else the sanitizer makes text of
        return [{"role": "user", "parts": [_text(items)]}]
    messages: list[dict[str, Any]] = []
    for item in items:
        role, parts, extra = _item_to_message(item)
        if _assistant(role) and messages and _assistant(messages[-1]["role"]) and not extra:
            messages[-1]["parts"].extend(parts)
            continue
        messages.append({"role": role, "parts": parts, **extra})
    return messages


def output_messages(items: Iterable[Any] | None, finish_reason: str | None) -> list[dict[str, Any]]:
    """The model's output items as one assistant message (the SDK reads only the first choice)."""
    parts: list[dict[str, Any]] = []
    for item in _sequence(items):
        parts.extend(_item_to_message(item)[1])
    return [_drop_none({"role": "assistant", "parts": parts, "finish_reason": finish_reason})]


def tool_definitions(tools: Iterable[Any] | None, handoffs: Iterable[Any] | None) -> list[Any]:
    """Tools as the model is told about them; handoffs are function tools to the model too."""
    definitions: list[Any] = []
    for tool in _sequence(tools):
        schema = _field(tool, "params_json_schema")
        definitions.append(
            _drop_none(
                {
                    "type": "function" if isinstance(schema, Mapping) and schema else None,
                    "name": _name_of(_field(tool, "name"), tool),
                    "description": _field(tool, "description") or None,
                    "parameters": schema,
                }
            )
        )
    for handoff in _sequence(handoffs):
        definitions.append(
            _drop_none(
                {
                    "type": "function",
                    "name": _field(handoff, "tool_name"),
                    "description": _field(handoff, "tool_description") or None,
                    "parameters": _field(handoff, "input_json_schema"),
                }
            )
        )
    return definitions


def _item_to_message(item: Any) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    """One SDK item -> (role, parts, extra message fields)."""
    try:
        item_type = _field(item, "type")
        item_type = item_type if isinstance(item_type, str) else None
        role = _field(item, "role")
        if role is not None and item_type in (None, "message"):
            return _role(role), _content_parts(_field(item, "content")), {}
        converter = _ITEM_CONVERTERS.get(item_type)  # type: ignore[arg-type]
        if converter is not None:
            return converter(item)
        return "assistant", [{"type": _name_of(item_type, item)}], {}
    except Exception:  # odd data we did not foresee: keep its place, not its content
        return "assistant", [{"type": type(item).__name__}], {}


def _assistant(role: Any) -> bool:
    return isinstance(role, str) and role == "assistant"


def _role(role: Any) -> Any:
    # `developer` is the newer name of `system`; the conventions know only `system`.
    # Not a string: kept as it is, and the sanitizer makes text of it.
    return "system" if isinstance(role, str) and role == "developer" else role


def _function_call(item: Any) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    part = {
        "type": "tool_call",
        "id": _field(item, "call_id"),
        "name": _field(item, "name"),
        "arguments": _field(item, "arguments"),
    }
    return "assistant", [_drop_none(part)], {}


def _function_call_output(item: Any) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    output = _field(item, "output")
    if isinstance(output, list):  # structured tool output: a list of content parts
        output = _content_parts(output)
    part = {"type": "tool_call_response", "id": _field(item, "call_id"), "response": output}
    return "tool", [_drop_none(part)], {}


def _reasoning(item: Any) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    pieces = _sequence(_field(item, "content")) or _sequence(_field(item, "summary"))
    texts = [_field(piece, "text") for piece in pieces]
    content = "\n".join(text for text in texts if isinstance(text, str))
    return "assistant", [{"type": "reasoning", "content": content}], {}


_ITEM_CONVERTERS = {
    "function_call": _function_call,
    "function_call_output": _function_call_output,
    "reasoning": _reasoning,
}


def _text(content: Any) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if not isinstance(content, list | tuple):  # a str; anything else the sanitizer makes text of
        return [_text(content)]
    return [_content_part(part) for part in content]


def _content_part(part: Any) -> dict[str, Any]:
    part_type = _field(part, "type")
    part_type = part_type if isinstance(part_type, str) else None
    if part_type in ("input_text", "output_text", "text"):
        return _text(_field(part, "text"))
    if part_type == "refusal":
        return {"type": "refusal", "content": _field(part, "refusal")}
    if part_type == "input_image":
        return _media_part("image", _field(part, "image_url"), _field(part, "file_id"))
    if part_type == "input_file":
        data = _field(part, "file_data") or _field(part, "file_url")
        return _media_part("file", data, _field(part, "file_id"), _field(part, "filename"))
    if part_type == "input_audio":
        audio = _field(part, "input_audio") or {}
        fmt = _field(audio, "format")
        return _blob_placeholder("audio", f"audio/{fmt}" if fmt else None, _field(audio, "data"))
    return {"type": _name_of(part_type, part)}


def _media_part(modality: str, url: Any, file_id: Any, filename: Any = None) -> dict[str, Any]:
    """Images and files are never inlined: a data URL becomes a size-only placeholder."""
    if isinstance(url, str) and url.startswith("data:"):
        mime_type = url[5:].split(";", 1)[0].split(",", 1)[0] or None
        return _blob_placeholder(modality, mime_type, url.split(",", 1)[-1], filename)
    if isinstance(url, str) and url:
        return _drop_none({"type": "uri", "modality": modality, "uri": url, "name": filename})
    return _drop_none({"type": "file", "modality": modality, "file_id": file_id, "name": filename})


def _blob_placeholder(
    modality: str, mime_type: str | None, base64_data: Any, filename: Any = None
) -> dict[str, Any]:
    size = len(base64_data) * 3 // 4 if isinstance(base64_data, str | bytes) else None
    return _drop_none(
        {
            "type": "blob",
            "modality": modality,
            "mime_type": mime_type,
            "name": filename,
            "size": size,
            "content": "[omitted]",
        }
    )
