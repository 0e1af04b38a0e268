"""The GenAI client metrics: names, units, buckets, attributes, and no invented zeros."""

from __future__ import annotations

import openai
import pytest

from chatspan.exporters.scripted_backend import HttpError, ScriptedBackend, completion

from .calls import get_response, make_model, stream_events
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
