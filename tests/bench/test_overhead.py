"""``bench/overhead.py`` pairs what it says it pairs: the SDK untouched, the bare reference's one
span, the floor's, and chatspan's span, in the same rounds; and it reports every row. Timings are
not checked."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from chatspan.instrumentation import ChatCompletionsInstrumentor

from .scripts import load_bench_script


async def test_only_the_bare_and_chatspan_models_make_spans(
    span_exporter, meter_provider, metric_reader
):
    bench = load_bench_script("overhead")
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    chatspan_pass = bench._Pass("off", tracer_provider, meter_provider, metric_reader)
    try:
        await chatspan_pass.run("get_response", 2)
        await chatspan_pass.run("stream_20", 2)
    finally:
        chatspan_pass.close()
    assert not ChatCompletionsInstrumentor().is_instrumented_by_opentelemetry
    by_scope: dict[str, list[str]] = {}
    for span in span_exporter.get_finished_spans():
        by_scope.setdefault(span.instrumentation_scope.name, []).append(span.name)
    # two rounds of two workloads: four calls each; the baseline's calls make no span at all
    assert by_scope == {
        "bare": ["chat"] * 4,
        "floor": ["chat"] * 4,
        "chatspan.instrumentation": ["chat gpt-4o-mini"] * 4,
    }
    for name in ("baseline", "bare", "floor", "off"):
        assert len(chatspan_pass.times(name, "get_response")) == 2
        assert len(chatspan_pass.overheads(name, "stream_20")) == 2


async def test_the_report_has_every_workload_mode_and_figure(capsys):
    bench = load_bench_script("overhead")
    rounds = {"get_response": 3, "stream_20": 3, "stream_200": 3}
    bench._report(await bench._measure(rounds), rounds)
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.split()[:1] and line.split()[0] in rounds]
    table = [row for row in rows if len(row) >= 6]  # the overhead table; the rest: phases
    phases = {(row[0], row[1]) for row in rows if len(row) == 4}
    assert phases == {
        (w, m) for w in ("stream_20", "stream_200") for m in ("bare", "floor", "off", "on")
    }
    assert {(row[0], row[1]) for row in table} == {
        (workload, mode)
        for workload in rounds
        for mode in ("baseline", "bare", "floor", "off", "on")
    }
    ratios = [row[-1] for row in table if row[1] in ("floor", "off", "on")]
    assert len(ratios) == 9 and all(ratio.endswith("x") for ratio in ratios)
    assert sum("µs/event" in line for line in lines) == 4 + 7  # the figure, steady state
    assert any(line.strip().startswith("off") and "µs/call" in line for line in lines)


async def test_streams_come_as_openais_own_type_unless_asked_for_a_plain_iterator():
    import openai

    bench = load_bench_script("overhead")
    chunks = bench._chunks(3)
    streams = {kind: kind(chunks) for kind in (bench.OpenAIChunkStream, bench.PlainChunkStream)}
    for kind, stream in streams.items():
        assert [chunk async for chunk in stream] == chunks  # the very objects, in order
        assert isinstance(stream, openai.AsyncStream) is (kind is bench.OpenAIChunkStream)
    default, plain = bench._FakeClient(), bench._FakeClient(bench.PlainChunkStream)
    assert isinstance(await default.chat.completions.create(stream=True), openai.AsyncStream)
    assert isinstance(await plain.chat.completions.create(stream=True), bench.PlainChunkStream)
