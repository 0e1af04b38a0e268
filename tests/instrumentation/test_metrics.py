"""The GenAI client metrics: names, units, buckets, attributes, and no invented zeros; values
queued on the call path arrive at the next collection."""

from __future__ import annotations

import logging
import threading

import openai
import pytest
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.metrics import MeterProvider

from chatspan.exporters.scripted_backend import HttpError, ScriptedBackend, completion
from chatspan.instrumentation import guard
from chatspan.instrumentation import metrics as metrics_module
from chatspan.instrumentation.metrics import ChatMetrics

from .calls import get_response, make_model, model_arguments, stream_events
from .streams import USAGE, many_text_chunks

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)  # fmt: skip


def _metrics(reader) -> dict:
    data = reader.get_metrics_data()
    found = {}
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found[metric.name] = metric
    return found


async def test_a_call_records_duration_and_both_token_counts(instrument, metric_reader):
    instrument()
    await get_response(make_model(ScriptedBackend([completion(usage=USAGE)])))
    metrics = _metrics(metric_reader)

    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    (point,) = duration.data.data_points
    assert point.count == 1
    assert tuple(point.explicit_bounds) == DURATION_BUCKETS
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "server.address": "api.openai.com",
        "server.port": 443,
    }

    tokens = metrics["gen_ai.client.token.usage"]
    assert tokens.unit == "{token}"
    by_type = {p.attributes["gen_ai.token.type"]: p.sum for p in tokens.data.data_points}
    assert by_type == {"input": USAGE["prompt_tokens"], "output": USAGE["completion_tokens"]}
    assert "gen_ai.client.operation.time_to_first_chunk" not in metrics


async def test_unknown_usage_records_no_token_metric(instrument, metric_reader):
    instrument()
    await get_response(make_model(ScriptedBackend([completion(usage=None)])))
    await stream_events(make_model(ScriptedBackend([many_text_chunks(usage=None)])))
    metrics = _metrics(metric_reader)
    assert "gen_ai.client.token.usage" not in metrics
    (point,) = metrics["gen_ai.client.operation.duration"].data.data_points
    assert point.count == 2


async def test_streams_record_time_to_first_chunk_and_the_mean_chunk_gap(
    instrument, metric_reader, span_exporter
):
    instrument()
    await stream_events(make_model(ScriptedBackend([many_text_chunks(10)])))
    await stream_events(make_model(ScriptedBackend([many_text_chunks(10)])))
    metrics = _metrics(metric_reader)
    (first,) = metrics["gen_ai.client.operation.time_to_first_chunk"].data.data_points
    assert first.count == 2
    assert metrics["gen_ai.client.operation.time_to_first_chunk"].unit == "s"
    (gaps,) = metrics["gen_ai.client.operation.time_per_output_chunk"].data.data_points
    assert gaps.count == 2  # one mean gap per stream, not one value per chunk
    spans = span_exporter.get_finished_spans()
    longest = max((s.end_time - s.start_time) / 1e9 for s in spans)
    assert 0 < gaps.sum / gaps.count < longest


async def test_a_stream_closed_early_records_no_mean_gap(instrument, metric_reader):
    """Its last gap has no end (the rest never came), so only time to first chunk counts."""
    instrument()
    events = make_model(ScriptedBackend([many_text_chunks(10)])).stream_response(
        **model_arguments()
    )
    for _ in range(4):
        await events.__anext__()
    await events.aclose()
    metrics = _metrics(metric_reader)
    (first,) = metrics["gen_ai.client.operation.time_to_first_chunk"].data.data_points
    assert first.count == 1
    assert "gen_ai.client.operation.time_per_output_chunk" not in metrics


@pytest.mark.parametrize("streamed", [False, True])
async def test_failures_carry_error_type(instrument, metric_reader, streamed):
    instrument()
    model = make_model(ScriptedBackend([HttpError(503)]))
    with pytest.raises(openai.InternalServerError):
        if streamed:
            await stream_events(model)
        else:
            await get_response(model)
    (point,) = _metrics(metric_reader)["gen_ai.client.operation.duration"].data.data_points
    assert point.attributes["error.type"] == "openai.InternalServerError"


async def test_an_error_stays_with_its_call_on_a_shared_model(instrument, metric_reader):
    """A model's fixed attributes are shared by its calls; one call's error.type is its own."""
    instrument()
    metric_reader.get_metrics_data()  # values queue from here, holding their attribute dicts
    model = make_model(ScriptedBackend([HttpError(503), completion(usage=USAGE)]))
    with pytest.raises(openai.InternalServerError):
        await get_response(model)
    await get_response(model)
    points = _metrics(metric_reader)["gen_ai.client.operation.duration"].data.data_points
    assert sorted(p.attributes.get("error.type", "") for p in points) == [
        "",
        "openai.InternalServerError",
    ]


# -- ChatMetrics: queued on the call path, recorded when a reader collects ----------------------

ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
}
COST_ATTRIBUTES = {"gen_ai.provider.name": "openai", "gen_ai.agent.name": "triage"}
CHAT_METRIC_NAMES = {
    "gen_ai.client.operation.duration",
    "gen_ai.client.token.usage",
    "gen_ai.client.operation.time_to_first_chunk",
    "gen_ai.client.operation.time_per_output_chunk",
    "chatspan.client.cost",
}


@pytest.fixture
def chat_metrics(meter_provider, metric_reader) -> ChatMetrics:
    """A ChatMetrics whose meter has been collected once, so it queues."""
    chat_metrics = ChatMetrics(meter_provider.get_meter("test"))
    metric_reader.get_metrics_data()
    return chat_metrics


@pytest.fixture
def call_context(tracer_provider):
    """The context a call passes: its span, current."""
    with tracer_provider.get_tracer("test").start_as_current_span("chat") as span:
        yield trace.set_span_in_context(span)


def _record_a_streamed_call(chat_metrics: ChatMetrics, context) -> None:
    chat_metrics.record_chat(
        context, ATTRIBUTES, 1.5, (120, 30), chunk_timing=(0.3, 0.02), cost=(0.25, COST_ATTRIBUTES)
    )


def _points(metrics: dict, name: str) -> list:
    return list(metrics[name].data.data_points)


def test_queued_values_arrive_in_the_next_collection(chat_metrics, metric_reader, call_context):
    _record_a_streamed_call(chat_metrics, call_context)
    assert len(chat_metrics._pending) == 1  # one entry for the call, not yet in the SDK
    metrics = _metrics(metric_reader)
    assert len(chat_metrics._pending) == 0
    assert set(metrics) == CHAT_METRIC_NAMES  # and nothing from the drain instrument

    (duration,) = _points(metrics, "gen_ai.client.operation.duration")
    assert (duration.count, duration.sum, dict(duration.attributes)) == (1, 1.5, ATTRIBUTES)
    tokens = {
        p.attributes["gen_ai.token.type"]: p for p in _points(metrics, "gen_ai.client.token.usage")
    }
    assert {kind: p.sum for kind, p in tokens.items()} == {"input": 120, "output": 30}
    assert dict(tokens["input"].attributes) == {**ATTRIBUTES, "gen_ai.token.type": "input"}
    (first,) = _points(metrics, "gen_ai.client.operation.time_to_first_chunk")
    assert (first.count, first.sum, dict(first.attributes)) == (1, 0.3, ATTRIBUTES)
    (gap,) = _points(metrics, "gen_ai.client.operation.time_per_output_chunk")
    assert (gap.count, gap.sum, dict(gap.attributes)) == (1, 0.02, ATTRIBUTES)
    (cost,) = _points(metrics, "chatspan.client.cost")
    assert (cost.value, dict(cost.attributes)) == (0.25, COST_ATTRIBUTES)

    chat_metrics.record_chat(call_context, ATTRIBUTES, 0.5, (None, None), chunk_timing=(0.1, None))
    metrics = _metrics(metric_reader)  # cumulative: the second call adds to the first
    assert _points(metrics, "gen_ai.client.operation.duration")[0].count == 2
    assert _points(metrics, "gen_ai.client.operation.time_to_first_chunk")[0].count == 2
    assert _points(metrics, "gen_ai.client.operation.time_per_output_chunk")[0].count == 1
    assert sum(p.count for p in _points(metrics, "gen_ai.client.token.usage")) == 2


def test_the_drain_instrument_exports_nothing(chat_metrics, metric_reader, meter_provider):
    assert _metrics(metric_reader) == {}  # collected with nothing recorded: no metric at all
    meter_provider.force_flush()
    assert _metrics(metric_reader) == {}


def test_until_a_first_collection_values_go_straight_to_the_sdk(meter_provider, metric_reader):
    chat_metrics = ChatMetrics(meter_provider.get_meter("test"))
    for _ in range(3):  # a reader that never collects: nothing is held back
        chat_metrics.record_chat(None, ATTRIBUTES, 1.0, (1, 1))
    assert len(chat_metrics._pending) == 0
    without_reader = ChatMetrics(MeterProvider().get_meter("test"))
    without_reader.record_chat(None, ATTRIBUTES, 1.0, (1, 1), cost=(1.0, COST_ATTRIBUTES))
    assert len(without_reader._pending) == 0
    (duration,) = _points(_metrics(metric_reader), "gen_ai.client.operation.duration")
    assert duration.count == 3


def test_a_full_queue_records_at_once_and_drops_nothing(
    chat_metrics, metric_reader, monkeypatch, call_context
):
    monkeypatch.setattr(metrics_module, "MAX_PENDING", 8)
    metric_reader.get_metrics_data()  # the drain reads the bound
    recorded_at_once = []
    add = chat_metrics.cost.add
    monkeypatch.setattr(
        chat_metrics.cost,
        "add",
        lambda *args, **kwargs: (recorded_at_once.append(1), add(*args, **kwargs)),
    )
    for _ in range(8 + 5):
        chat_metrics.record_chat(call_context, ATTRIBUTES, 1.0, (1, 1), cost=(1.0, COST_ATTRIBUTES))
    assert len(chat_metrics._pending) == 8  # stays at the bound
    assert len(recorded_at_once) == 5  # the extra ones went into the SDK on the call
    (cost,) = _points(_metrics(metric_reader), "chatspan.client.cost")
    assert cost.value == 13
    assert len(recorded_at_once) == 6  # the eight queued ones: one sum, added once


def test_queued_costs_are_added_once_per_attribute_set_with_the_last_calls_exemplar(
    chat_metrics, metric_reader, monkeypatch, tracer_provider
):
    adds = []
    add = chat_metrics.cost.add
    monkeypatch.setattr(
        chat_metrics.cost, "add", lambda *args, **kwargs: (adds.append(args), add(*args, **kwargs))
    )
    other_agent = {**COST_ATTRIBUTES, "gen_ai.agent.name": "billing"}
    spans = []
    for amount, attributes in [(0.25, COST_ATTRIBUTES), (0.5, other_agent), (1.0, COST_ATTRIBUTES)]:
        with tracer_provider.get_tracer("test").start_as_current_span("chat") as span:
            chat_metrics.record_chat(
                trace.set_span_in_context(span), ATTRIBUTES, 1.0, (1, 1), cost=(amount, attributes)
            )
        spans.append(span.get_span_context())
    assert adds == []  # queued
    points = _points(_metrics(metric_reader), "chatspan.client.cost")
    assert sorted((amount, attrs["gen_ai.agent.name"]) for amount, attrs in adds) == [
        (0.5, "billing"),
        (1.25, "triage"),
    ]
    by_agent = {point.attributes["gen_ai.agent.name"]: point for point in points}
    assert {agent: point.value for agent, point in by_agent.items()} == {
        "triage": 1.25,
        "billing": 0.5,
    }
    (exemplar,) = by_agent["triage"].exemplars
    assert exemplar.span_id == spans[2].span_id  # the last call of the set


def test_a_cost_attribute_that_cannot_be_hashed_is_added_on_its_own(
    chat_metrics, metric_reader, call_context
):
    odd = {"gen_ai.provider.name": "openai", "tags": ["a", "b"]}  # a list: no frozenset of it
    for _ in range(2):
        chat_metrics.record_chat(call_context, ATTRIBUTES, 1.0, (1, 1), cost=(1.0, odd))
    chat_metrics.record_chat(call_context, ATTRIBUTES, 1.0, (1, 1), cost=(2.0, COST_ATTRIBUTES))
    points = _points(_metrics(metric_reader), "chatspan.client.cost")
    assert sorted(point.value for point in points) == [2.0, 2.0]
    assert sum(p.count for p in _points(_metrics(metric_reader), "gen_ai.client.token.usage")) == 6


def test_a_failing_entry_is_reported_once_and_the_rest_still_arrive(
    chat_metrics, metric_reader, monkeypatch, caplog, call_context
):
    monkeypatch.setattr(guard, "_warned", set())
    chat_metrics.record_chat(call_context, ATTRIBUTES, "not a number", (1, 1))  # type: ignore[arg-type]
    chat_metrics.record_chat(call_context, ATTRIBUTES, 2.0, (None, None))
    with caplog.at_level(logging.DEBUG, logger="chatspan"):
        metrics = _metrics(metric_reader)
        chat_metrics.record_chat(call_context, ATTRIBUTES, "again", (None, None))  # type: ignore[arg-type]
        chat_metrics.record_chat(call_context, ATTRIBUTES, 3.0, (None, None))
        later = _metrics(metric_reader)
    (duration,) = _points(metrics, "gen_ai.client.operation.duration")
    assert (duration.count, duration.sum) == (1, 2.0)
    assert _points(later, "gen_ai.client.operation.duration")[0].count == 2
    ours = [r for r in caplog.records if r.name.startswith("chatspan")]
    warnings = [r for r in ours if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "recording queued metrics" in warnings[0].getMessage()
    assert [r.levelno for r in ours] == [logging.WARNING, logging.DEBUG]
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")]


def test_exemplars_carry_the_calls_trace_and_span(chat_metrics, metric_reader, tracer_provider):
    with tracer_provider.get_tracer("test").start_as_current_span("chat") as span:
        context = trace.set_span_in_context(span)
    chat_metrics.record_chat(context, ATTRIBUTES, 1.5, (10, None))  # after the span ended
    with tracer_provider.get_tracer("test").start_as_current_span("collector"):
        metrics = _metrics(metric_reader)  # not the collecting thread's current span
    expected = span.get_span_context()
    for name in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage"):
        (point,) = _points(metrics, name)
        (exemplar,) = point.exemplars
        assert (exemplar.trace_id, exemplar.span_id) == (expected.trace_id, expected.span_id)


def test_a_no_op_meter_queues_nothing():
    chat_metrics = ChatMetrics(NoOpMeter("test"))
    _record_a_streamed_call(chat_metrics, None)
    assert len(chat_metrics._pending) == 0


def test_two_chat_metrics_on_one_meter_both_drain_without_warnings(
    meter_provider, metric_reader, caplog, call_context
):
    meter = meter_provider.get_meter("test")
    with caplog.at_level(logging.DEBUG, logger="opentelemetry"):
        first = ChatMetrics(meter)
        metric_reader.get_metrics_data()
        first.record_chat(call_context, ATTRIBUTES, 1.0, (None, None))
        del first  # as after uninstrument(): its queued value still arrives
        second = ChatMetrics(meter)  # as after instrument() again
        second.record_chat(call_context, ATTRIBUTES, 2.0, (None, None))
        assert len(second._pending) == 2
        (duration,) = _points(_metrics(metric_reader), "gen_ai.client.operation.duration")
    assert (duration.count, duration.sum) == (2, 3.0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_values_recorded_from_many_threads_while_collecting_all_arrive(
    chat_metrics, metric_reader, call_context
):
    threads, calls = 4, 2000

    def record() -> None:
        for _ in range(calls):
            chat_metrics.record_chat(
                call_context, ATTRIBUTES, 1.0, (None, None), cost=(1.0, COST_ATTRIBUTES)
            )

    workers = [threading.Thread(target=record) for _ in range(threads)]
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        metric_reader.get_metrics_data()
    for worker in workers:
        worker.join()
    (cost,) = _points(_metrics(metric_reader), "chatspan.client.cost")
    assert cost.value == threads * calls


async def test_a_call_after_a_first_collection_is_queued_and_arrives_with_its_exemplar(
    instrument, metric_reader, span_exporter
):
    instrumentor = instrument()
    metric_reader.get_metrics_data()
    await stream_events(make_model(ScriptedBackend([many_text_chunks(10)])))
    assert len(instrumentor._state.metrics._pending) == 1  # the call: cost, tokens, timing
    metrics = _metrics(metric_reader)
    assert len(instrumentor._state.metrics._pending) == 0
    (span,) = span_exporter.get_finished_spans()
    for name in ("gen_ai.client.operation.duration", "gen_ai.client.operation.time_to_first_chunk"):
        (point,) = _points(metrics, name)
        (exemplar,) = point.exemplars
        assert (exemplar.trace_id, exemplar.span_id) == (
            span.context.trace_id,
            span.context.span_id,
        )
