"""Binding the model's arguments by name across SDK signatures, and request attributes."""

from __future__ import annotations

import enum
import types

import pytest
from agents import ModelSettings
from hypothesis import given
from hypothesis import strategies as st

from chatspan.exporters.scripted_backend import ScriptedBackend
from chatspan.instrumentation.request import (
    CallArguments,
    EndpointCache,
    bind_call,
    provider_and_server,
    request_attributes,
)

from .calls import make_model


def test_positional_arguments_of_the_early_signature_bind():
    settings = ModelSettings(temperature=0.5)
    bound = bind_call("sys", "hi", settings, [], None, [], "tracing", None)
    assert (bound.system_instructions, bound.input, bound.model_settings) == ("sys", "hi", settings)
    assert bound.conversation_id is None


def test_keyword_arguments_of_todays_signature_bind():
    bound = bind_call(
        system_instructions=None,
        input=[],
        model_settings=ModelSettings(),
        tools=[],
        output_schema=None,
        handoffs=[],
        tracing=None,
        previous_response_id=None,
        conversation_id="conv_9",
        prompt={"id": "p"},
        some_future_argument=1,
    )
    assert bound.conversation_id == "conv_9"


_PARAMETERS = (
    "system_instructions",
    "input",
    "model_settings",
    "tools",
    "output_schema",
    "handoffs",
    "tracing",
    "previous_response_id",
    "conversation_id",
)


@given(
    positional=st.integers(0, len(_PARAMETERS)),
    left_out=st.sets(st.sampled_from(_PARAMETERS)),
    extra=st.dictionaries(st.sampled_from(["prompt", "some_future_argument"]), st.integers()),
)
def test_every_way_of_passing_the_arguments_binds_as_the_signature_does(
    positional, left_out, extra
):
    values = {name: f"value of {name}" for name in _PARAMETERS}
    args = tuple(values[name] for name in _PARAMETERS[:positional])
    kwargs = {
        name: values[name] for name in _PARAMETERS[positional:] if name not in left_out
    } | extra
    expected = {
        name: None if name in left_out and index >= positional else values[name]
        for index, name in enumerate(_PARAMETERS)
    }
    bound = bind_call(*args, **kwargs)
    assert type(bound) is CallArguments
    assert bound._asdict() == {field: expected[field] for field in CallArguments._fields}


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


def test_a_models_endpoint_is_built_once_and_again_when_its_client_moves():
    endpoints = EndpointCache(legacy_system=False)
    model = make_model(ScriptedBackend([]))
    first = endpoints.endpoint(model)
    assert first.span_name == "chat gpt-4o-mini"
    assert dict(first.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "api.openai.com",
        "server.port": 443,
    }
    assert dict(first.cost_attributes) == {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
    }
    assert endpoints.endpoint(model) is first
    model._client.base_url = "http://localhost:8000/v1/"  # a new URL object: seen at once
    moved = endpoints.endpoint(model)
    assert (moved.provider, moved.attributes["server.port"]) == ("openai_compatible", 8000)
    model.model = "llama3"
    assert endpoints.endpoint(model).span_name == "chat llama3"


def test_the_legacy_system_attribute_joins_the_endpoint_when_asked():
    endpoint = EndpointCache(legacy_system=True).endpoint(make_model(ScriptedBackend([])))
    assert endpoint.attributes["gen_ai.system"] == "openai"


class _Level(enum.IntEnum):
    HIGH = 900


class _Float(float):  # as numpy.float64 is
    pass


def _scalars(settings) -> dict:
    attributes = request_attributes(bind_call("", "hi", settings), False, {})
    return {key: value for key, value in attributes.items() if key != "gen_ai.request.stream"}


def test_scalar_settings_that_are_set_become_attributes_and_unset_ones_do_not():
    settings = ModelSettings(temperature=0.25, top_p=1, max_tokens=_Level.HIGH)
    assert _scalars(settings) == {
        "gen_ai.request.temperature": 0.25,
        "gen_ai.request.top_p": 1,
        "gen_ai.request.max_tokens": _Level.HIGH,  # a subclass of int is an int
    }
    assert _scalars(ModelSettings()) == {}


def test_a_setting_no_attribute_can_hold_is_left_out():
    settings = ModelSettings(temperature=_Float(0.5))
    object.__setattr__(settings, "frequency_penalty", object())  # past its validation: a sentinel
    assert _scalars(settings) == {"gen_ai.request.temperature": 0.5}


def test_a_settings_object_lacking_fields_still_gives_those_it_has():
    older = types.SimpleNamespace(temperature=0.1, presence_penalty=0.3)  # no top_p, max_tokens
    assert _scalars(older) == {
        "gen_ai.request.temperature": 0.1,
        "gen_ai.request.presence_penalty": 0.3,
    }
    assert _scalars(None) == {}
