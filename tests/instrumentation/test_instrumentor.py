"""Wrapping and unwrapping: class-level, idempotent, exactly reversible, version-agnostic."""

from __future__ import annotations

import importlib.metadata
import logging

import pytest
import wrapt
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from wrapt import FunctionWrapper

from chatspan.exporters.scripted_backend import ScriptedBackend, completion
from chatspan.instrumentation import ChatCompletionsInstrumentor

from .calls import get_response, make_model

WRAPPED = ("get_response", "stream_response")  # with wrapt
FETCH = "_fetch_response"  # the private fetch step: a plain function of ours
METHODS = (*WRAPPED, FETCH)


def test_uninstrument_restores_the_original_functions_exactly(instrument):
    originals = {name: OpenAIChatCompletionsModel.__dict__[name] for name in METHODS}
    instrumentor = instrument()
    for name in WRAPPED:
        assert isinstance(OpenAIChatCompletionsModel.__dict__[name], FunctionWrapper)
    observed = OpenAIChatCompletionsModel.__dict__[FETCH]
    assert observed is not originals[FETCH] and observed.__wrapped__ is originals[FETCH]
    instrumentor.uninstrument()
    for name in METHODS:
        assert OpenAIChatCompletionsModel.__dict__[name] is originals[name]


async def test_a_wrapper_put_on_our_fetch_step_is_left_in_place(instrument, span_exporter, backend):
    seen = []

    def theirs(wrapped, instance, args, kwargs):
        seen.append(instance)
        return wrapped(*args, **kwargs)

    original = OpenAIChatCompletionsModel.__dict__[FETCH]
    instrumentor = instrument()
    wrapt.wrap_function_wrapper(OpenAIChatCompletionsModel, FETCH, theirs)
    try:
        instrumentor.uninstrument()
        wrapper = OpenAIChatCompletionsModel.__dict__[FETCH]
        assert isinstance(wrapper, FunctionWrapper)  # theirs stays, with ours inside it
        model = make_model(backend)
        backend.add(completion("through both"))
        response = await get_response(model)
        assert response.output[0].content[0].text == "through both"
        assert seen == [model]
        assert span_exporter.get_finished_spans() == ()  # ours passes straight through
    finally:
        setattr(OpenAIChatCompletionsModel, FETCH, original)


async def test_a_wrapper_already_on_the_fetch_step_is_called_bound(
    instrument, span_exporter, backend
):
    seen = []

    def theirs(wrapped, instance, args, kwargs):
        seen.append(instance)
        return wrapped(*args, **kwargs)

    original = OpenAIChatCompletionsModel.__dict__[FETCH]
    wrapt.wrap_function_wrapper(OpenAIChatCompletionsModel, FETCH, theirs)
    theirs_on_class = OpenAIChatCompletionsModel.__dict__[FETCH]
    try:
        instrumentor = instrument()
        model = make_model(backend)
        backend.add(completion())
        await get_response(model)
        assert seen == [model]  # bound to the instance, as without us
        (span,) = span_exporter.get_finished_spans()
        assert span.attributes["gen_ai.response.id"] == "chatcmpl-scripted"
        instrumentor.uninstrument()
        assert OpenAIChatCompletionsModel.__dict__[FETCH] is theirs_on_class
    finally:
        setattr(OpenAIChatCompletionsModel, FETCH, original)


def test_instrument_twice_wraps_once_and_warns(instrument, caplog):
    instrument()
    wrapped = OpenAIChatCompletionsModel.__dict__["get_response"]
    with caplog.at_level(logging.WARNING):
        instrument()
    assert OpenAIChatCompletionsModel.__dict__["get_response"] is wrapped
    assert not isinstance(wrapped.__wrapped__, FunctionWrapper)


async def test_instances_created_before_instrument_are_traced(instrument, span_exporter, backend):
    model = make_model(backend)
    backend.add(completion())
    instrument()
    await get_response(model)
    assert [span.name for span in span_exporter.get_finished_spans()] == ["chat gpt-4o-mini"]


async def test_subclasses_calling_up_are_traced(instrument, span_exporter, backend):
    class Custom(OpenAIChatCompletionsModel):
        async def get_response(self, *args, **kwargs):
            return await super().get_response(*args, **kwargs)

    instrument()
    backend.add(completion())
    await get_response(Custom(model="gpt-4o-mini", openai_client=backend.client()))
    assert len(span_exporter.get_finished_spans()) == 1


async def test_a_wrapper_cached_before_uninstrument_passes_through(
    instrument, span_exporter, backend
):
    instrumentor = instrument()
    model = make_model(backend)
    cached = model.get_response  # bound through our wrapper
    instrumentor.uninstrument()
    backend.add(completion("still works"))
    from .calls import model_arguments

    response = await cached(**model_arguments())
    assert response.output[0].content[0].text == "still works"
    assert span_exporter.get_finished_spans() == ()


async def test_uninstrumented_calls_make_no_span(span_exporter, backend):
    backend.add(completion())
    await get_response(make_model(backend))
    assert span_exporter.get_finished_spans() == ()


def test_declares_the_supported_agents_sdk_range():
    (requirement,) = ChatCompletionsInstrumentor().instrumentation_dependencies()
    assert requirement.startswith("openai-agents")


def test_entry_point_names_the_instrumentor():
    (entry_point,) = [
        ep
        for ep in importlib.metadata.entry_points(group="opentelemetry_instrumentor")
        if ep.name == "chatspan"
    ]
    assert entry_point.load() is ChatCompletionsInstrumentor


@pytest.mark.parametrize("capture", [True, False])
async def test_reinstrumenting_rereads_the_settings(instrument, span_exporter, capture):
    backend = ScriptedBackend([completion(), completion()])
    instrumentor = instrument(capture_content=not capture)
    instrumentor.uninstrument()
    instrument(capture_content=capture)
    await get_response(make_model(backend))
    (span,) = span_exporter.get_finished_spans()
    assert ("gen_ai.input.messages" in span.attributes) is capture
