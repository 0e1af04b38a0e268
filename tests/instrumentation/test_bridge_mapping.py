"""The bridge piece by piece: each SDK span type's shape, context in lockstep, bounded state,
and life beside the SDK's own tracing (its other processors, its exporter, its off switch)."""

from __future__ import annotations

import contextvars
import logging
import tracemalloc
from types import SimpleNamespace
from typing import Any

import pytest
from agents import Agent, Runner, set_tracing_disabled
from agents.tracing import (
    SpanError,
    TracingProcessor,
    add_trace_processor,
    agent_span,
    custom_span,
    function_span,
    generation_span,
    get_current_span,
    mcp_tools_span,
    processors,
    response_span,
    trace,
)
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from chatspan.exporters.agents_sdk_export import apply_agents_sdk_export
from chatspan.exporters.scripted_backend import completion
from chatspan.instrumentation.bridge_registry import MAX_OPEN_SPANS, MAX_OPEN_TRACES
from chatspan.instrumentation.call import CALL_KEY

from .agent_runs import (
    CHAT,
    named,
    outline,
    parent_of,
    plan,
    planned_model,
    say,
    sdk_processors,
    sdk_tracing,  # noqa: F401 (a fixture)
    weather_agents,
)
from .calls import get_response, make_model

pytestmark = pytest.mark.usefixtures("sdk_tracing")


def only(spans: Any, name: str) -> Any:
    (span,) = named(spans, name)
    return span


def test_a_custom_span_keeps_its_name_and_its_data_only_under_content_capture(
    instrument, span_exporter
):
    instrumentor = instrument(capture_content=True)
    with trace("wf"), custom_span("load profile", {"user": "u-1", "token": "ghp_" + "x" * 36}):
        pass
    instrumentor.uninstrument()
    instrument(capture_content=False)
    with trace("wf"), custom_span("load profile", {"user": "u-2"}):
        pass

    captured, plain = named(span_exporter.get_finished_spans(), "load profile")
    assert captured.attributes["chatspan.agents.span_type"] == "custom"
    assert '"user":"u-1"' in captured.attributes["chatspan.custom.data"]
    assert "ghp_" not in captured.attributes["chatspan.custom.data"]
    assert "chatspan.custom.data" not in plain.attributes


def test_mcp_list_tools_follows_the_mcp_conventions(instrument, span_exporter):
    instrument()
    with trace("wf"), mcp_tools_span(server="files") as span:
        span.span_data.result = ["read_file", "list_dir"]

    span = only(span_exporter.get_finished_spans(), "tools/list")
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes) == {
        "mcp.method.name": "tools/list",
        "chatspan.mcp.server": "files",
        "chatspan.mcp.tools": ("read_file", "list_dir"),
    }


def test_an_mcp_tool_call_is_an_extension_tool(instrument, span_exporter):
    instrument()
    with trace("wf"), function_span("read_file") as span:
        span.span_data.mcp_data = {"server": "files"}

    tool = only(span_exporter.get_finished_spans(), "execute_tool read_file")
    assert tool.attributes["gen_ai.tool.type"] == "extension"
    assert tool.attributes["chatspan.mcp.server"] == "files"


def test_a_generation_span_of_another_model_becomes_a_chat_span(instrument, span_exporter):
    instrument()
    config = {"base_url": "https://api.mistral.ai/v1", "temperature": 0.1}
    with trace("wf"), generation_span(model="mistral-large", model_config=config) as span:
        span.span_data.usage = {"input_tokens": 12, "output_tokens": 3}

    chat = only(span_exporter.get_finished_spans(), "chat mistral-large")
    assert chat.kind is SpanKind.CLIENT
    assert dict(chat.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": "mistral-large",
        "server.address": "api.mistral.ai",
        "server.port": 443,
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
    }


def test_an_agent_span_has_an_output_type_only_for_a_structured_output(instrument, span_exporter):
    """The chat span's rule: gen_ai.output.type names a format asked for; plain text asks none."""
    instrument()
    with trace("wf"):
        with agent_span(name="plain", output_type="str"):
            pass
        with agent_span(name="structured", output_type="Forecast"):
            pass

    spans = span_exporter.get_finished_spans()
    plain, structured = only(spans, "invoke_agent plain"), only(spans, "invoke_agent structured")
    assert "gen_ai.output.type" not in plain.attributes
    assert plain.attributes["chatspan.agent.output_type"] == "str"
    assert structured.attributes["gen_ai.output.type"] == "json"
    assert structured.attributes["chatspan.agent.output_type"] == "Forecast"


def test_a_generation_span_inside_our_chat_span_adds_no_span(instrument, span_exporter):
    instrument()
    with trace("wf"), agent_span(name="a"):
        token = otel_context.attach(otel_context.set_value(CALL_KEY, object()))
        try:
            with generation_span(model="gpt-4o-mini"), custom_span("inside"):
                pass
        finally:
            otel_context.detach(token)

    spans = span_exporter.get_finished_spans()
    assert outline(spans) == ["invoke_workflow wf", "  invoke_agent a", "    inside"]


def test_a_response_span_becomes_a_chat_span_named_after_the_model(instrument, span_exporter):
    instrument()
    usage = SimpleNamespace(input_tokens=40, output_tokens=9)
    response = SimpleNamespace(id="resp_1", model="gpt-4.1-2025", usage=usage)
    with trace("wf"), response_span() as span:
        span.span_data.response = response

    chat = only(span_exporter.get_finished_spans(), "chat gpt-4.1-2025")
    assert chat.kind is SpanKind.CLIENT
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.response.id"] == "resp_1"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 40


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        ({"message": "Tool not found", "data": {"tool_name": "x"}}, "Tool not found"),
        ({"message": "", "data": None}, "_OTHER"),
    ],
)
def test_an_sdk_span_error_sets_status_and_error_type(instrument, span_exporter, error, error_type):
    instrument()
    with trace("wf"), function_span("lookup") as span:
        span.set_error(SpanError(**error))

    tool = only(span_exporter.get_finished_spans(), "execute_tool lookup")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"] == error_type


def test_an_exception_unwinding_through_sdk_spans_fails_them(instrument, span_exporter):
    instrument()
    with pytest.raises(KeyError), trace("wf"), agent_span(name="a"):
        raise KeyError("boom")

    for span in span_exporter.get_finished_spans():
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["error.type"] == "KeyError"


def test_otel_context_follows_the_sdk_current_span_and_is_restored(instrument, span_exporter):
    instrument()
    outside = otel_trace.get_current_span()
    with trace("wf"):
        in_trace = otel_trace.get_current_span()
        with agent_span(name="a"):
            in_agent = otel_trace.get_current_span()
        after_agent = otel_trace.get_current_span()
    spans = span_exporter.get_finished_spans()

    assert in_trace.get_span_context() == only(spans, "invoke_workflow wf").get_span_context()
    assert in_agent.get_span_context() == only(spans, "invoke_agent a").get_span_context()
    assert after_agent is in_trace
    assert otel_trace.get_current_span() is outside


def test_a_span_reset_from_a_foreign_context_leaves_otel_context_alone(instrument, caplog):
    instrument()
    with trace("wf"):
        span = custom_span("left open")
        contextvars.copy_context().run(span.start, mark_as_current=True)
        before = otel_trace.get_current_span()
        with caplog.at_level(logging.ERROR), pytest.raises(ValueError):
            span.finish(reset_current=True)  # the SDK's own ValueError, as without us
        assert otel_trace.get_current_span() is before
    assert not [r for r in caplog.records if "detach" in r.getMessage()]


def test_spans_a_user_opens_below_an_sdk_span_parent_the_next_sdk_span(
    instrument, span_exporter, tracer_provider
):
    instrument()
    user_span = tracer_provider.get_tracer("app").start_as_current_span("step")
    with trace("wf"), agent_span(name="a"), user_span, custom_span("nested"):
        pass

    assert outline(span_exporter.get_finished_spans()) == [
        "invoke_workflow wf",
        "  invoke_agent a",
        "    step",
        "      nested",
    ]


async def test_a_chat_span_finds_its_agent_when_the_otel_context_lost_it(
    instrument, span_exporter, backend
):
    instrument()
    backend.add(completion())
    with trace("wf"), agent_span(name="solo"):
        token = otel_context.attach(otel_context.Context())  # code that swapped the context
        try:
            await get_response(make_model(backend))
        finally:
            otel_context.detach(token)

    spans = span_exporter.get_finished_spans()
    chat = only(spans, "chat gpt-4o-mini")
    assert parent_of(chat, spans).name == "invoke_agent solo"
    assert chat.attributes["gen_ai.agent.name"] == "solo"


def test_a_span_outliving_its_trace_still_ends_with_its_own_status(instrument, span_exporter):
    bridge = instrument()._bridge
    workflow = trace("wf")
    workflow.start()
    late = agent_span(name="late", parent=workflow)
    late.start()
    workflow.finish()  # old SDKs end a streamed run's trace before its cancelled agent span
    late.set_error(SpanError(message="Cancelled", data=None))
    late.finish()

    assert (
        only(span_exporter.get_finished_spans(), "invoke_agent late").attributes["error.type"]
        == "Cancelled"
    )
    assert bridge.open_counts == (0, 0)


def test_shutdown_ends_what_is_left_open_as_abandoned(instrument, span_exporter):
    bridge = instrument()._bridge
    workflow = trace("wf")
    workflow.start()
    agent_span(name="a", parent=workflow).start()
    bridge.shutdown()

    spans = span_exporter.get_finished_spans()
    assert {span.name for span in spans} == {"invoke_workflow wf", "invoke_agent a"}
    assert all(span.attributes["chatspan.span.abandoned"] is True for span in spans)
    assert bridge.open_counts == (0, 0)


def test_callbacks_never_raise_when_recording_fails(instrument, caplog):
    bridge = instrument()._bridge

    class BrokenTracer:
        def start_span(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("tracer broke")

    bridge._tracer = BrokenTracer()
    with caplog.at_level(logging.DEBUG, logger="chatspan"):
        with trace("wf"), agent_span(name="a") as span:
            assert get_current_span() is span  # the SDK went on
        with trace("wf2"):
            pass

    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 3  # first of each kind a warning, then debug lines
    assert {message.split(" failed")[0] for message in failures} == {
        "chatspan: starting a workflow span",
        "chatspan: starting an agent span",
    }


def _abandon_runs(count: int, first: int = 0) -> None:
    for n in range(first, first + count):  # started and never ended: a crash, a dropped task
        workflow = trace(f"run {n}")
        workflow.start()
        agent = agent_span(name="a", parent=workflow)
        agent.start()
        function_span("tool", parent=agent).start()


def test_ten_thousand_abandoned_runs_keep_the_state_bounded(instrument):
    bridge = instrument(tracer_provider=TracerProvider())._bridge  # no exporter: nothing kept
    _abandon_runs(5_000)  # past the bound: from here on each new run evicts the oldest
    tracemalloc.start()
    try:
        _abandon_runs(MAX_OPEN_TRACES + 100, first=5_000)  # all that is held is traced now
        held, _ = tracemalloc.get_traced_memory()
        _abandon_runs(900 - 100, first=5_000 + MAX_OPEN_TRACES + 100)
        still_held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert bridge.open_counts == (MAX_OPEN_TRACES, 2 * MAX_OPEN_TRACES)
    assert still_held - held < 500_000  # hundreds more abandoned runs: no growth


def test_one_run_leaving_spans_open_forever_is_bounded_too(instrument):
    bridge = instrument(tracer_provider=TracerProvider())._bridge
    workflow = trace("endless")
    workflow.start()
    for _ in range(MAX_OPEN_SPANS + 100):
        custom_span("leak", parent=workflow).start()

    assert bridge.open_counts == (1, MAX_OPEN_SPANS)
    workflow.finish()
    assert bridge.open_counts[0] == 0


# -- installed beside the SDK's own tracing -------------------------------------------------------


async def test_with_sdk_tracing_disabled_only_chat_spans_are_made(
    instrument, span_exporter, tracer_provider, caplog
):
    set_tracing_disabled(True)  # sdk_tracing restores the flag
    instrument()
    with caplog.at_level(logging.WARNING):
        result = await Runner.run(weather_agents(tracer_provider.get_tracer("http")), "Paris?")

    assert result.final_output == "Sunny in Paris."
    names = sorted(span.name for span in span_exporter.get_finished_spans())
    assert names == ["GET /weather", CHAT, CHAT, CHAT]
    assert all(
        span.attributes.get("gen_ai.agent.name")
        for span in named(span_exporter.get_finished_spans(), CHAT)
    )
    assert not caplog.records


class RecordingProcessor(TracingProcessor):  # type: ignore[misc]
    """Another processor an application (OpenInference, say) registered beside ours."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def on_trace_start(self, trace: Any) -> None:
        self.events.append("trace_start")

    def on_trace_end(self, trace: Any) -> None:
        self.events.append("trace_end")

    def on_span_start(self, span: Any) -> None:
        self.events.append(f"start {span.span_data.type}")

    def on_span_end(self, span: Any) -> None:
        self.events.append(f"end {span.span_data.type}")

    def shutdown(self) -> None: ...
    def force_flush(self) -> None: ...


async def test_processors_registered_beside_the_bridge_still_get_every_callback(
    instrument, span_exporter
):
    before, after = RecordingProcessor(), RecordingProcessor()
    add_trace_processor(before)
    bridge = instrument()._bridge
    add_trace_processor(after)
    assert sdk_processors() == (before, bridge, after)

    agent = Agent(name="solo", instructions=plan("solo", say("Hi.")), model=planned_model())
    await Runner.run(agent, "Hello")

    assert before.events == after.events
    assert before.events[0] == "trace_start" and before.events[-1] == "trace_end"
    assert "start agent" in before.events and "end generation" in before.events
    assert outline(span_exporter.get_finished_spans())[-1] == f"    {CHAT}"


async def test_the_sdk_default_exporter_is_kept_and_still_fed(
    instrument, span_exporter, monkeypatch
):
    exported: list[Any] = []
    monkeypatch.setattr(processors.default_exporter(), "export", exported.extend)
    add_trace_processor(processors.default_processor())
    bridge = instrument()._bridge
    assert sdk_processors() == (processors.default_processor(), bridge)

    agent = Agent(name="solo", instructions=plan("solo", say("Hi.")), model=planned_model())
    await Runner.run(agent, "Hello")
    processors.default_processor().force_flush()

    assert {type(item).__name__ for item in exported} >= {"TraceImpl", "SpanImpl"}
    assert outline(span_exporter.get_finished_spans())[-1] == f"    {CHAT}"


async def test_removing_the_sdk_default_exporter_keeps_the_bridge(instrument, span_exporter):
    add_trace_processor(processors.default_processor())
    bridge = instrument()._bridge
    assert apply_agents_sdk_export({"CHATSPAN_AGENTS_SDK_EXPORT": "off"}) is True
    assert sdk_processors() == (bridge,)

    agent = Agent(name="solo", instructions=plan("solo", say("Hi.")), model=planned_model())
    await Runner.run(agent, "Hello")
    assert outline(span_exporter.get_finished_spans()) == [
        "invoke_workflow Agent workflow",
        "  invoke_agent solo",
        f"    {CHAT}",
    ]


async def test_uninstrument_takes_the_bridge_off_and_later_runs_make_no_spans(
    instrument, span_exporter
):
    from agents.tracing.scope import Scope

    originals = dict(vars(Scope))
    instrumentor = instrument()
    assert sdk_processors() == (instrumentor._bridge,)
    instrumentor.uninstrument()

    assert sdk_processors() == ()
    assert dict(vars(Scope)) == originals
    agent = Agent(name="solo", instructions=plan("solo", say("Hi.")), model=planned_model())
    await Runner.run(agent, "Hello")
    assert span_exporter.get_finished_spans() == ()
