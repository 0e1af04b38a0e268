"""Binding the model's arguments by name across SDK signatures, and request attributes."""

from __future__ import annotations

import pytest
from agents import ModelSettings

from chatspan.instrumentation.request import bind_arguments, provider_and_server


def test_positional_arguments_of_the_early_signature_bind():
    settings = ModelSettings(temperature=0.5)
    bound = bind_arguments(("sys", "hi", settings, [], None, [], "tracing", None), {})
    assert (bound.system_instructions, bound.input, bound.model_settings) == ("sys", "hi", settings)
    assert bound.conversation_id is None


def test_keyword_arguments_of_todays_signature_bind():
    bound = bind_arguments(
        (),
        {
            "system_instructions": None,
            "input": [],
            "model_settings": ModelSettings(),
            "tools": [],
            "output_schema": None,
            "handoffs": [],
            "tracing": None,
            "previous_response_id": None,
            "conversation_id": "conv_9",
            "prompt": {"id": "p"},
            "some_future_argument": 1,
        },
    )
    assert bound.conversation_id == "conv_9"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.openai.com/v1/", ("openai", "api.openai.com", 443)),
        ("https://x.openai.azure.com", ("azure.ai.openai", "x.openai.azure.com", 443)),
        ("https://api.groq.com/openai/v1", ("groq", "api.groq.com", 443)),
        ("http://[::1]:8000/v1", ("openai_compatible", "::1", 8000)),
        ("not a url", ("openai_compatible", None, None)),
        ("http://host:notaport/", ("openai_compatible", None, None)),
        (None, ("openai_compatible", None, None)),
    ],
)
def test_provider_and_server(url, expected):
    assert provider_and_server(url) == expected
