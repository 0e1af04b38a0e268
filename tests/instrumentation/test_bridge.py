"""The Agents SDK bridge on real runs: one trace per run, every span where it happened."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    RunConfig,
    Runner,
    function_tool,
    input_guardrail,
    trace,
)
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, StatusCode

from .agent_runs import (
    CHAT,
    HAS_TURN_SPANS,
    by_trace,
    call,
    named,
    outline,
    parent_of,
    plan,
    planned_model,
    say,
    sdk_tracing,  # noqa: F401 (a fixture)
    settle,
    weather_agents,
)

pytestmark = pytest.mark.usefixtures("sdk_tracing")

HANDOFF_RUN = [
    "invoke_workflow Agent workflow",
    "  invoke_agent triage",
    f"    {CHAT}",
    "    handoff weather",
    "  invoke_agent weather",
    f"    {CHAT}",
    "    execute_tool get_weather",
    "      GET /weather",
    f"    {CHAT}",
]


@pytest.fixture
def tool_tracer(tracer_provider: Any) -> Any:
    """What an HTTP client instrumentation would use: the application's own tracer."""
    return tracer_provider.get_tracer("http.client")


async def run(agent: Agent[Any], streamed: bool) -> Any:
    if not streamed:
        return await Runner.run(agent, "Weather in Paris?")
    result = Runner.run_streamed(agent, "Weather in Paris?")
    async for _ in result.stream_events():
        pass
    return result


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_a_handoff_run_is_one_trace_with_each_span_where_it_happened(
    instrument, span_exporter, tool_tracer, streamed
):
    instrument()
    result = await run(weather_agents(tool_tracer), streamed)

    assert result.final_output == "Sunny in Paris."
    spans = span_exporter.get_finished_spans()
    assert len(by_trace(spans)) == 1
    assert outline(spans) == HANDOFF_RUN
    for span in spans:  # the model calls are the client spans; the rest happen in-process
        assert span.kind is (SpanKind.CLIENT if span.name == CHAT else SpanKind.INTERNAL)
    (root,) = [span for span in spans if span.parent is None]
    assert dict(root.attributes) == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "Agent workflow",
    }


async def test_agent_tool_and_handoff_spans_carry_the_conventions_attributes(
    instrument, span_exporter, tool_tracer
):
    instrument()
    await run(weather_agents(tool_tracer), streamed=False)
    spans = span_exporter.get_finished_spans()

    triage, weather = named(spans, "invoke_agent triage") + named(spans, "invoke_agent weather")
    assert triage.kind is weather.kind is SpanKind.INTERNAL
    assert dict(weather.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "weather",
        "chatspan.agent.tools": ("get_weather",),
        "chatspan.agent.handoffs": (),
        "chatspan.agent.output_type": "str",
    }
    assert triage.attributes["chatspan.agent.handoffs"] == ("weather",)
    (tool,) = named(spans, "execute_tool get_weather")
    assert dict(tool.attributes) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.agent.name": "weather",
        "gen_ai.tool.type": "function",
    }
    (handoff,) = named(spans, "handoff weather")
    assert handoff.attributes["chatspan.handoff.from_agent"] == "triage"
    assert handoff.attributes["chatspan.handoff.to_agent"] == "weather"
    chats = named(spans, CHAT)
    assert [chat.attributes["gen_ai.agent.name"] for chat in chats] == [
        "triage",
        "weather",
        "weather",
    ]
    assert all(span.status.status_code is StatusCode.UNSET for span in spans)


@pytest.mark.skipif(not HAS_TURN_SPANS, reason="this openai-agents has no task or turn spans")
async def test_task_and_turn_spans_sit_between_workflow_agent_and_chat(
    instrument, span_exporter, tool_tracer
):
    instrument()
    await run(weather_agents(tool_tracer), streamed=False)
    spans = span_exporter.get_finished_spans()

    assert outline(spans, hide=())[:5] == [
        "invoke_workflow Agent workflow",
        "  task Agent workflow",
        "    invoke_agent triage",
        "      turn triage",
        f"        {CHAT}",
    ]
    turns = named(spans, "turn weather")
    assert [turn.attributes["chatspan.turn.number"] for turn in turns] == [2, 3]
    assert {parent_of(turn, spans).name for turn in turns} == {"invoke_agent weather"}


async def test_content_capture_records_sanitized_tool_arguments_and_result(
    instrument, span_exporter
):
    @function_tool
    def lookup(account: str, api_key: str) -> str:
        return f"account {account} is active"

    secret = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 3
    agent = Agent(
        name="clerk",
        instructions=plan("clerk", call("lookup", account="A-7", api_key=secret), say("Active.")),
        model=planned_model(),
        tools=[lookup],
    )
    instrument(capture_content=True)
    await Runner.run(agent, "Is A-7 active?")

    (tool,) = named(span_exporter.get_finished_spans(), "execute_tool lookup")
    arguments = json.loads(tool.attributes["gen_ai.tool.call.arguments"])
    assert arguments["account"] == "A-7"
    assert secret not in tool.attributes["gen_ai.tool.call.arguments"]
    assert tool.attributes["gen_ai.tool.call.result"] == "account A-7 is active"


async def test_without_content_capture_no_tool_content_is_recorded(instrument, span_exporter):
    instrument(capture_content=False)
    await run(weather_agents(otel_trace.get_tracer("t")), streamed=False)
    (tool,) = named(span_exporter.get_finished_spans(), "execute_tool get_weather")
    assert "gen_ai.tool.call.arguments" not in tool.attributes
    assert "gen_ai.tool.call.result" not in tool.attributes


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_an_agent_used_as_a_tool_nests_under_that_tool(instrument, span_exporter, streamed):
    model = planned_model()
    helper = Agent(name="helper", instructions=plan("helper", say("42")), model=model)
    lead = Agent(
        name="lead",
        instructions=plan("lead", call("ask_helper", input="meaning?"), say("It is 42.")),
        model=model,
        tools=[helper.as_tool(tool_name="ask_helper", tool_description="Asks the helper.")],
    )
    instrument()
    await run(lead, streamed)

    spans = span_exporter.get_finished_spans()
    assert len(by_trace(spans)) == 1
    assert outline(spans) == [
        "invoke_workflow Agent workflow",
        "  invoke_agent lead",
        f"    {CHAT}",
        "    execute_tool ask_helper",
        "      invoke_agent helper",
        f"        {CHAT}",
        f"    {CHAT}",
    ]
    (inner_chat,) = [s for s in named(spans, CHAT) if s.attributes["gen_ai.agent.name"] == "helper"]
    assert inner_chat.attributes["gen_ai.agent.name"] == "helper"


@input_guardrail
async def no_secrets(context: Any, agent: Any, text: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)


def guarded_agent() -> Agent[Any]:
    return Agent(
        name="guarded",
        instructions=plan("guarded", say("never said")),
        model=planned_model(),
        input_guardrails=[no_secrets],
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_a_tripped_input_guardrail_is_recorded_under_its_agent(
    instrument, span_exporter, streamed
):
    instrument()
    with pytest.raises(InputGuardrailTripwireTriggered):
        await run(guarded_agent(), streamed)
    await settle()

    spans = span_exporter.get_finished_spans()
    assert len(by_trace(spans)) == 1
    (guardrail,) = named(spans, "guardrail no_secrets")
    assert dict(guardrail.attributes) == {
        "gen_ai.agent.name": "guarded",
        "chatspan.guardrail.name": "no_secrets",
        "chatspan.guardrail.triggered": True,
    }
    tree = outline(spans)  # directly under the agent, or under its turn (lifted out here)
    assert tree[:2] == ["invoke_workflow Agent workflow", "  invoke_agent guarded"]
    assert "    guardrail no_secrets" in tree


async def test_a_tripped_input_guardrail_fails_the_agent_and_the_workflow(
    instrument, span_exporter
):
    instrument()
    with pytest.raises(InputGuardrailTripwireTriggered):
        await Runner.run(guarded_agent(), "Here is my password")

    spans = span_exporter.get_finished_spans()
    (agent_span,) = named(spans, "invoke_agent guarded")
    (workflow,) = named(spans, "invoke_workflow Agent workflow")
    for span in (agent_span, workflow):
        assert span.status.status_code is StatusCode.ERROR
    # The SDK's own error where it sets one, else the exception unwinding through the span.
    assert agent_span.attributes["error.type"] in (
        "Guardrail tripwire triggered",
        "agents.exceptions.InputGuardrailTripwireTriggered",
    )
    assert workflow.attributes["error.type"] == "agents.exceptions.InputGuardrailTripwireTriggered"


async def test_a_tool_that_raises_marks_its_span_failed_and_the_run_goes_on(
    instrument, span_exporter, metric_reader
):
    @function_tool
    def flaky() -> str:
        raise RuntimeError("backend down")

    agent = Agent(
        name="ops",
        instructions=plan("ops", call("flaky"), say("The backend is down.")),
        model=planned_model(),
        tools=[flaky],
    )
    instrument()
    result = await Runner.run(agent, "Status?")

    assert result.final_output == "The backend is down."
    spans = span_exporter.get_finished_spans()
    (tool,) = named(spans, "execute_tool flaky")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.attributes["error.type"].startswith("Error running tool")
    assert named(spans, "invoke_agent ops")[0].status.status_code is StatusCode.UNSET


async def test_a_run_cancelled_mid_stream_ends_every_span_once(instrument, span_exporter, caplog):
    agent = Agent(
        name="talker",
        instructions=plan("talker", say(" ".join(f"word{i}" for i in range(60)))),
        model=planned_model(),
    )
    bridge = instrument()._bridge
    streaming = asyncio.Event()

    async def consume() -> None:  # the SDK wants its stream read where it was started
        async for event in Runner.run_streamed(agent, "Talk.").stream_events():
            if event.type == "raw_response_event":  # the model's answer is streaming in
                streaming.set()

    task = asyncio.create_task(consume())
    await streaming.wait()
    task.cancel()
    with caplog.at_level(logging.WARNING):
        await asyncio.gather(task, return_exceptions=True)
        await settle()

    spans = span_exporter.get_finished_spans()
    assert outline(spans) == [
        "invoke_workflow Agent workflow",
        "  invoke_agent talker",
        f"    {CHAT}",
    ]
    assert len({span.context.span_id for span in spans}) == len(spans)
    (agent_span,) = named(spans, "invoke_agent talker")
    assert agent_span.status.status_code is StatusCode.ERROR
    assert agent_span.attributes["error.type"] == "asyncio.exceptions.CancelledError"
    assert bridge.open_counts == (0, 0)
    assert not caplog.records  # no "already ended", no "failed to detach"


async def test_fifty_concurrent_runs_never_cross_traces(instrument, span_exporter, tool_tracer):
    @function_tool
    async def lookup(n: int) -> str:
        with tool_tracer.start_as_current_span("GET /orders"):
            await asyncio.sleep(0.001 * (n % 5))
        return f"order {n}"

    model = planned_model()

    async def one_run(n: int) -> Any:
        agent = Agent(
            name="clerk",
            instructions=plan("clerk", call("lookup", n=n), say(f"Order {n} found.")),
            model=model,
            tools=[lookup],
        )
        return await Runner.run(agent, f"Order {n}?", run_config=RunConfig(group_id=f"conv-{n}"))

    instrument(capture_content=True)
    results = await asyncio.gather(*(one_run(n) for n in range(50)))

    assert [result.final_output for result in results] == [f"Order {n} found." for n in range(50)]
    traces = by_trace(span_exporter.get_finished_spans())
    assert len(traces) == 50
    for spans in traces.values():
        assert outline(spans) == [
            "invoke_workflow Agent workflow",
            "  invoke_agent clerk",
            f"    {CHAT}",
            "    execute_tool lookup",
            "      GET /orders",
            f"    {CHAT}",
        ]
        (root,) = named(spans, "invoke_workflow Agent workflow")
        (tool,) = named(spans, "execute_tool lookup")
        n = json.loads(tool.attributes["gen_ai.tool.call.arguments"])["n"]
        assert root.attributes["gen_ai.conversation.id"] == f"conv-{n}"
        assert tool.attributes["gen_ai.tool.call.result"] == f"order {n}"


async def test_a_run_inside_a_caller_span_nests_under_it(
    instrument, span_exporter, tracer_provider
):
    agent = Agent(name="solo", instructions=plan("solo", say("Hi.")), model=planned_model())
    instrument()
    with tracer_provider.get_tracer("app").start_as_current_span("POST /chat"):
        await Runner.run(agent, "Hello")

    spans = span_exporter.get_finished_spans()
    assert outline(spans) == [
        "POST /chat",
        "  invoke_workflow Agent workflow",
        "    invoke_agent solo",
        f"      {CHAT}",
    ]
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN  # nothing left attached


async def test_a_named_trace_with_a_group_id_is_the_workflow_and_its_conversation(
    instrument, span_exporter
):
    agent = Agent(name="solo", instructions=plan("solo", say("Hi.")), model=planned_model())
    instrument()
    with trace("Support", group_id="thread-7"):
        await Runner.run(agent, "Hello")
        await Runner.run(agent, "Again")

    spans = span_exporter.get_finished_spans()
    assert outline(spans) == [
        "invoke_workflow Support",
        "  invoke_agent solo",
        f"    {CHAT}",
        "  invoke_agent solo",
        f"    {CHAT}",
    ]
    (root,) = named(spans, "invoke_workflow Support")
    assert root.attributes["gen_ai.conversation.id"] == "thread-7"
    assert root.attributes["gen_ai.workflow.name"] == "Support"


async def test_agent_and_tool_durations_are_recorded_by_name(
    instrument, metric_reader, tool_tracer
):
    instrument()
    await run(weather_agents(tool_tracer), streamed=False)

    points = {
        metric.name: [point.attributes for point in metric.data.data_points]
        for resource in metric_reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert sorted(p["gen_ai.agent.name"] for p in points["gen_ai.invoke_agent.duration"]) == [
        "triage",
        "weather",
    ]
    assert points["gen_ai.execute_tool.duration"] == [
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.type": "function",
            "gen_ai.agent.name": "weather",
        }
    ]
