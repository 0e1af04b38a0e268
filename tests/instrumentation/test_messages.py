"""SDK items -> conventions' messages: a table of the item kinds the Runner sends."""

from __future__ import annotations

import pytest
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
)

from chatspan.instrumentation import messages

PNG_DATA_URL = "data:image/png;base64," + "A" * 4000


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ("hello", [{"role": "user", "parts": [{"type": "text", "content": "hello"}]}]),
        (
            [{"role": "developer", "content": "be nice"}],
            [{"role": "system", "parts": [{"type": "text", "content": "be nice"}]}],
        ),
        (
            [
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what is this?"},
                        {"type": "input_image", "image_url": PNG_DATA_URL, "detail": "auto"},
                        {"type": "input_image", "image_url": "https://example.com/cat.png"},
                        {"type": "input_file", "file_id": "file-123", "filename": "report.pdf"},
                        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                    ],
                }
            ],
            [
                {
                    "role": "user",
                    "parts": [
                        {"type": "text", "content": "what is this?"},
                        {
                            "type": "blob",
                            "modality": "image",
                            "mime_type": "image/png",
                            "size": 3000,
                            "content": "[omitted]",
                        },
                        {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
                        {
                            "type": "file",
                            "modality": "file",
                            "file_id": "file-123",
                            "name": "report.pdf",
                        },
                        {
                            "type": "blob",
                            "modality": "audio",
                            "mime_type": "audio/wav",
                            "size": 3,
                            "content": "[omitted]",
                        },
                    ],
                }
            ],
        ),
        (
            [
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [{"type": "summary_text", "text": "think"}],
                },
                {"role": "assistant", "content": "Let me check."},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"a":1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "42"},
                {"type": "function_call_output", "call_id": "c2", "output": "43"},
            ],
            [
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "reasoning", "content": "think"},
                        {"type": "text", "content": "Let me check."},
                        {"type": "tool_call", "id": "c1", "name": "f", "arguments": "{}"},
                        {"type": "tool_call", "id": "c2", "name": "g", "arguments": '{"a":1}'},
                    ],
                },
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": "c1", "response": "42"}],
                },
                {
                    "role": "tool",
                    "parts": [{"type": "tool_call_response", "id": "c2", "response": "43"}],
                },
            ],
        ),
        (
            [{"type": "web_search_call", "id": "ws_1", "status": "completed"}, object()],
            [{"role": "assistant", "parts": [{"type": "web_search_call"}, {"type": "object"}]}],
        ),
        (None, []),
    ],
    ids=["string", "developer-role", "multimodal", "tool-round-trip", "unknown-items", "none"],
)
def test_input_messages(items, expected):
    assert messages.input_messages(items) == expected


def test_output_items_become_one_assistant_message_with_the_finish_reason():
    items = [
        ResponseOutputMessage(
            id="m",
            type="message",
            role="assistant",
            status="completed",
            content=[
                ResponseOutputText(type="output_text", text="Hi", annotations=[]),
                ResponseOutputRefusal(type="refusal", refusal="but no"),
            ],
        ),
        ResponseFunctionToolCall(type="function_call", call_id="c", name="f", arguments="{}"),
    ]
    assert messages.output_messages(items, "tool_calls") == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Hi"},
                {"type": "refusal", "content": "but no"},
                {"type": "tool_call", "id": "c", "name": "f", "arguments": "{}"},
            ],
            "finish_reason": "tool_calls",
        }
    ]


def test_system_instructions_absent_when_empty():
    assert messages.system_instructions("") is None
    assert messages.system_instructions("x") == [{"type": "text", "content": "x"}]


def test_odd_content_never_raises():
    odd = [{"role": "user", "content": 12}, {"role": "user", "content": b"\xff\xfe"}]
    assert [m["parts"][0]["content"] for m in messages.input_messages(odd)] == [12, b"\xff\xfe"]


class _RaisingType:
    @property
    def type(self):
        raise RuntimeError("odd")


@pytest.mark.parametrize(
    "items",
    [
        5,
        (item for item in [{"role": "user", "content": "x"}]),  # never consumed
        [{"type": ["unhashable"], "role": "user", "content": "x"}],
        [{"type": "reasoning", "summary": 5}],
        [{"role": "user", "content": [{"type": "input_audio", "input_audio": "str"}]}],
    ],
)
def test_odd_input_never_raises(items):
    assert isinstance(messages.input_messages(items), list)


def test_an_item_whose_fields_raise_keeps_its_place_and_the_rest():
    out = messages.input_messages([_RaisingType(), {"role": "user", "content": "kept"}])
    assert out == [
        {"role": "assistant", "parts": [{"type": "_RaisingType"}]},
        {"role": "user", "parts": [{"type": "text", "content": "kept"}]},
    ]


def test_a_generator_input_is_not_consumed():
    generator = (item for item in [{"role": "user", "content": "x"}])
    messages.input_messages(generator)
    assert next(generator) == {"role": "user", "content": "x"}


def test_audio_format_is_not_read_off_a_string():
    part = {"type": "input_audio", "input_audio": "not a dict"}
    (message,) = messages.input_messages([{"role": "user", "content": [part]}])
    assert message["parts"] == [{"type": "blob", "modality": "audio", "content": "[omitted]"}]
