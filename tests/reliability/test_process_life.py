"""Process life: fork, threads with their own loops, ``asyncio.run`` again and again, exit with a
stream open, and ``uninstrument()`` with calls in flight.

The in-process checks use the shared fixtures (in-memory spans, the scripted backend). What only
a real process shows (``os.fork`` after instrumenting, the interpreter's exit) runs the scripts in
``process_scripts/`` in fresh interpreters with ``CHATSPAN_ENABLED=1``, exporting over OTLP/HTTP
to a sink in this process and to a JSONL file. Sizes come from ``sizes.scale``; waits are bounded.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import itertools
import json
import logging
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import openai
import pytest
from agents import Agent, Runner
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from chatspan.exporters.scripted_backend import ScriptedBackend, chunk, completion, http_module
from chatspan.instrumentation.request import EndpointCache
from tests.activation.conftest import chat_spans, clean_env
from tests.instrumentation.agent_runs import (
    CHAT,
    by_trace,
    outline,
    plan,
    planned_model,
    reply,
    say,
    sdk_tracing,  # noqa: F401 (a fixture)
)
from tests.instrumentation.calls import model_arguments, stream_events
from tests.instrumentation.streams import comparable, many_text_chunks
from tests.reliability.process_scripts.otlp_http_sink import ReceivedSpan, serve_traces
from tests.reliability.sizes import LONG, scale

pytestmark = pytest.mark.usefixtures("sdk_tracing")

SCRIPTS = Path(__file__).parent / "process_scripts"
ROOT = Path(__file__).resolve().parents[2]
CHILD_TIMEOUT = 180  # seconds for one child interpreter (importing the Agents SDK takes seconds)
USAGE = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
CLOSED_EARLY = "chatspan.stream.closed_early"
ABANDONED = "chatspan.span.abandoned"
AGENT_RUN = ["invoke_workflow Agent workflow", "  invoke_agent {name}", f"    {CHAT}"]


# -- answers that say who asked ----------------------------------------------------------------


def labelled_answers(label: str) -> Callable[[dict[str, Any]], Any]:
    """A backend fallback whose every answer (text and response id) is ``{label}-{n}``."""
    counter = itertools.count()

    def answer(body: dict[str, Any]) -> Any:
        name = f"{label}-{next(counter)}"
        if not body.get("stream"):
            return completion(name, usage=USAGE, response_id=name)
        deltas = [{"role": "assistant", "content": ""}, {"content": f"{label}-"}, {"content": "x"}]
        chunks = [chunk(delta, response_id=name) for delta in deltas]
        chunks.append(chunk({}, finish_reason="stop", response_id=name))
        chunks.append(chunk(None, usage=USAGE, response_id=name))
        return chunks

    return answer


def labelled_model(label: str, model: str | None = None) -> OpenAIChatCompletionsModel:
    """Answers labelled ``label``; the model name is the label unless given."""
    client = ScriptedBackend(fallback=labelled_answers(label)).client()
    return OpenAIChatCompletionsModel(model=model or label, openai_client=client)


def final_text(events: Sequence[Any]) -> str:
    (completed,) = [event for event in events if event.type == "response.completed"]
    return "".join(
        part.text for item in completed.response.output for part in getattr(item, "content", [])
    )


def chat(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith("chat ")]


# -- threads, each running its own event loop ----------------------------------------------------


def test_threads_with_their_own_event_loops_keep_their_calls_apart(
    instrument, span_exporter, tracer_provider
):
    """N threads, each in ``asyncio.run``: plain and streamed calls under the thread's own span,
    plus one agent run; every chat span is its own thread's, under its own parent."""
    instrument()
    threads, rounds = scale(4, 16), scale(3, 25)
    user = tracer_provider.get_tracer("app")
    start = threading.Barrier(threads, timeout=60)
    roots: dict[int, Any] = {}
    texts: dict[int, list[str]] = {}
    failures: list[BaseException] = []

    async def work(index: int) -> None:
        label = f"thread{index}"
        model = labelled_model(label)
        start.wait()  # all loops start their calls together
        with user.start_as_current_span(label) as root:
            roots[index] = root.get_span_context()
            seen: list[str] = []
            for _ in range(rounds):
                plain, events = await asyncio.gather(
                    model.get_response(**model_arguments()), stream_events(model)
                )
                seen += [plain.output[0].content[0].text, final_text(events)]
            texts[index] = seen
        instructions = plan(label, say(f"done {label}"))
        agent = Agent(name=label, instructions=instructions, model=planned_model())
        result = await Runner.run(agent, "go")
        assert result.final_output == f"done {label}"

    def thread_main(index: int) -> None:
        try:
            asyncio.run(work(index))
        except BaseException as error:  # surfaced below, in the test's own thread
            failures.append(error)

    workers = [threading.Thread(target=thread_main, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not failures, failures
    assert not any(worker.is_alive() for worker in workers)

    spans = span_exporter.get_finished_spans()
    for index in range(threads):
        label, root = f"thread{index}", roots[index]
        mine = [span for span in chat(spans) if span.attributes["gen_ai.request.model"] == label]
        assert len(mine) == 2 * rounds
        assert {span.parent.span_id for span in mine} == {root.span_id}
        assert {span.context.trace_id for span in mine} == {root.trace_id}
        ids = sorted(span.attributes["gen_ai.response.id"] for span in mine)
        assert ids == sorted(f"{label}-{n}" for n in range(2 * rounds))
        assert all(span.attributes["gen_ai.usage.output_tokens"] == 5 for span in mine)
        assert sorted(texts[index]) == sorted(_expected_texts(mine))
    agent_runs = [
        group
        for group in by_trace(spans).values()
        if any(span.name.startswith("invoke_workflow") for span in group)
    ]
    assert len(agent_runs) == threads
    assert sorted(outline(group)[1] for group in agent_runs) == sorted(
        f"  invoke_agent thread{i}" for i in range(threads)
    )
    assert all(outline(group) == _agent_run(group) for group in agent_runs)
    assert len(chat(spans)) == threads * (2 * rounds + 1)


def _expected_texts(spans: Sequence[ReadableSpan]) -> list[str]:
    """What each call's answer said: the id for a plain call, ``{label}-x`` for a stream."""
    return [
        f"{span.attributes['gen_ai.request.model']}-x"
        if span.attributes["gen_ai.request.stream"]
        else span.attributes["gen_ai.response.id"]
        for span in spans
    ]


def _agent_run(group: Sequence[ReadableSpan]) -> list[str]:
    (agent,) = [span for span in group if span.name.startswith("invoke_agent ")]
    name = agent.name.removeprefix("invoke_agent ")
    return [line.format(name=name) for line in AGENT_RUN]


# -- asyncio.run again and again -----------------------------------------------------------------


class CountingSpanExporter(SpanExporter):
    """Keeps counts, not spans, so memory measured across many runs is chatspan's, not ours."""

    def __init__(self) -> None:
        self.by_name: collections.Counter[str] = collections.Counter()
        self.closed_early = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            self.by_name[span.name.split(" ", 1)[0]] += 1
            self.closed_early += bool((span.attributes or {}).get(CLOSED_EARLY))
        return SpanExportResult.SUCCESS


def _our_code(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces(
        [
            tracemalloc.Filter(True, str(ROOT / "instrumentation" / "*")),
            tracemalloc.Filter(True, str(ROOT / "exporters" / "*")),
        ]
    )


def _growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> int:
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def test_asyncio_run_again_and_again_leaks_nothing(instrument):
    """Each ``asyncio.run`` makes a plain call, a full stream, a stream closed half-way and an
    agent run; after warm-up no thread, task or chatspan allocation outlives its loop."""
    exporter = CountingSpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = instrument(tracer_provider=provider)
    runs, warm = scale(30, 1000), scale(10, 100)
    agent = Agent(name="looper", instructions=plan("looper", say("again")), model=planned_model())
    left_over: list[int] = []

    async def one_round(n: int) -> None:
        model = labelled_model(f"run{n}", "gpt-4o-mini")  # one model: no new metric series
        await model.get_response(**model_arguments())
        assert final_text(await stream_events(model)) == f"run{n}-x"
        events = model.stream_response(**model_arguments())
        await events.__anext__()
        await events.aclose()
        assert (await Runner.run(agent, "go")).final_output == "again"
        left_over.append(len(asyncio.all_tasks()) - 1)

    # Each round's model has a client of its own, so the endpoint cache gains an entry per round
    # wherever the new client's base_url does not reuse the old one's id (3.12+ rarely does):
    # bounded, and not this test's subject, so it is emptied before each snapshot.
    endpoints = instrumentor._state.endpoints
    for n in range(warm):
        asyncio.run(one_round(n))
    gc.collect()
    threads_before = threading.active_count()
    tracemalloc.start(1)
    try:
        endpoints._entries.clear()
        before = tracemalloc.take_snapshot()
        for n in range(warm, runs):
            asyncio.run(one_round(n))
        cached = len(endpoints._entries)
        endpoints._entries.clear()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()

    assert cached <= EndpointCache._LIMIT  # the cache's own bound held
    assert threading.active_count() == threads_before
    assert set(left_over) == {0}  # no task of ours (or anyone's) still pending at the end
    assert instrumentor._bridge.open_counts == (0, 0)
    assert exporter.by_name["chat"] == 4 * runs
    assert exporter.closed_early == runs
    assert exporter.by_name["invoke_workflow"] == exporter.by_name["invoke_agent"] == runs
    ours, total = _growth(_our_code(before), _our_code(after)), _growth(before, after)
    print(f"{runs - warm} runs after warm-up: chatspan +{ours} B, process +{total} B (tracemalloc)")
    assert ours < 32 * 1024  # measured: +1 KB after 20 runs, +9.8 KB after 900
    assert total < 4 * 1024 * (runs - warm)  # mostly the SDKs' own: 1.7 KB a run after 900


# -- uninstrument() while calls are in flight ----------------------------------------------------


class Gate:
    """A backend whose answers wait until ``open()``: calls pile up 'awaiting the provider'."""

    def __init__(self, answers: Callable[[dict[str, Any]], Any]) -> None:
        self._answers = answers
        self._open = asyncio.Event()
        self.waiting = 0
        self._http = http_module()

    @classmethod
    def opened(cls, answers: Callable[[dict[str, Any]], Any]) -> Gate:
        gate = cls(answers)
        gate.open()
        return gate

    def open(self) -> None:
        self._open.set()

    async def until_waiting(self, count: int) -> None:
        async def poll() -> None:
            while self.waiting < count:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(poll(), timeout=30)

    async def _handle(self, request: Any) -> Any:
        self.waiting += 1
        await self._open.wait()
        return self._http.Response(200, json=self._answers(json.loads(request.content)))

    def model(self, name: str = "gpt-4o-mini") -> OpenAIChatCompletionsModel:
        client = openai.AsyncOpenAI(
            api_key="sk-scripted-not-a-real-key",
            max_retries=0,
            http_client=self._http.AsyncClient(transport=self._http.MockTransport(self._handle)),
        )
        return OpenAIChatCompletionsModel(model=name, openai_client=client)


@pytest.fixture
def spied_events(monkeypatch) -> list[Any]:
    """The event objects the SDK's own generator yields, before anything of ours sees them."""
    yielded: list[Any] = []
    original = OpenAIChatCompletionsModel.stream_response

    async def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        async for event in original(self, *args, **kwargs):
            yielded.append(event)
            yield event

    monkeypatch.setattr(OpenAIChatCompletionsModel, "stream_response", spy)
    return yielded


def _texts(count: int) -> Callable[[dict[str, Any]], Any]:
    return lambda body: many_text_chunks(count)


def _answer_or_plan(body: dict[str, Any]) -> Any:
    """An agent's plan step when there are instructions, else always the same answer."""
    if body["messages"][0]["role"] == "system":
        return reply(body)
    return completion("the same answer", usage=USAGE)


def _arguments() -> dict[str, Any]:
    return model_arguments(instructions=None)


async def test_uninstrument_with_calls_in_flight(instrument, span_exporter, spied_events, caplog):
    """Streams half read, ``get_response`` calls and an agent run awaiting the provider: after
    ``uninstrument()`` they all complete unchanged, their spans end once; later calls are not
    traced until ``instrument()`` again."""
    streams, waiting = scale(3, 50), scale(3, 50)
    half = 8
    plain_stream = await stream_events(
        OpenAIChatCompletionsModel("gpt-4o-mini", ScriptedBackend(fallback=_texts(20)).client())
    )
    plain_answer = (await Gate.opened(_answer_or_plan).model().get_response(**_arguments())).output
    spied_events.clear()
    instrumentor = instrument()
    caplog.set_level(logging.WARNING)

    stream_model = OpenAIChatCompletionsModel(
        "gpt-4o-mini", ScriptedBackend(fallback=_texts(20)).client()
    )
    open_streams = [stream_model.stream_response(**model_arguments()) for _ in range(streams)]
    received: list[list[Any]] = [[] for _ in open_streams]
    for events, got in zip(open_streams, received, strict=True):
        got += [await events.__anext__() for _ in range(half)]
    gate = Gate(_answer_or_plan)
    gated = gate.model()
    calls = [asyncio.create_task(gated.get_response(**_arguments())) for _ in range(waiting)]
    agent = Agent(name="inflight", instructions=plan("inflight", say("finished")), model=gated)
    run = asyncio.create_task(Runner.run(agent, "go"))
    await gate.until_waiting(waiting + 1)
    assert chat(span_exporter.get_finished_spans()) == []

    instrumentor.uninstrument()
    gate.open()
    for events, got in zip(open_streams, received, strict=True):
        got += [event async for event in events]
    results = await asyncio.gather(*calls)
    assert (await run).final_output == "finished"

    for got in received:  # the same objects the SDK yielded, equal to the uninstrumented run
        assert [comparable(e) for e in got] == [comparable(e) for e in plain_stream]
    assert all(any(event is e for e in spied_events) for got in received for event in got)
    assert all(
        [comparable(item) for item in result.output] == [comparable(i) for i in plain_answer]
        for result in results
    )
    spans = span_exporter.get_finished_spans()
    chats = chat(spans)
    assert len(chats) == streams + waiting + 1
    assert len({span.context.span_id for span in spans}) == len(spans)
    assert not [r for r in caplog.records if "ended span" in r.getMessage()]
    streamed = [span for span in chats if span.attributes["gen_ai.request.stream"]]
    assert len(streamed) == streams
    assert all(CLOSED_EARLY not in span.attributes for span in streamed)
    assert all(span.attributes["gen_ai.response.finish_reasons"] == ("stop",) for span in streamed)
    assert all("gen_ai.response.id" in span.attributes for span in chats)
    assert all(span.status.status_code is StatusCode.UNSET for span in chats)
    (workflow,) = [span for span in spans if span.name.startswith("invoke_workflow")]
    assert workflow.attributes[ABANDONED] is True  # the run outlived the bridge

    finished = len(spans)
    await stream_events(stream_model)
    await gated.get_response(**_arguments())
    assert len(span_exporter.get_finished_spans()) == finished  # off means off

    instrument()
    await stream_events(stream_model)
    await gated.get_response(**_arguments())
    assert len(chat(span_exporter.get_finished_spans())) == len(chats) + 2


# -- fork after instrumenting (gunicorn --preload) -----------------------------------------------


def _child_env(**extra: str) -> dict[str, str]:
    env = clean_env()
    env.update(CHATSPAN_ENABLED="1", CHATSPAN_AGENTS_SDK_EXPORT="off", OTEL_METRICS_EXPORTER="none")
    env.update(extra)
    return env


class Forked:
    """One run of ``preload_fork.py``: its output, what the sink and the JSONL file received."""

    def __init__(self, parent_call: bool, tmp: Path) -> None:
        self.workers, self.calls = scale(3, 8), scale(4, 20)
        self.parent_call = parent_call
        jsonl = tmp / "spans.jsonl"
        args = [sys.executable, str(SCRIPTS / "preload_fork.py"), "--last-os-exit"]
        args += ["--workers", str(self.workers), "--calls", str(self.calls)]
        args += ["--parent-call"] if parent_call else []
        with serve_traces() as (sink, url):
            env = _child_env(
                OTEL_TRACES_EXPORTER="otlp,jsonl",
                OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=url,
                OTEL_BSP_SCHEDULE_DELAY="60000",  # the parent's span is still queued at fork
                CHATSPAN_JSONL_PATH=str(jsonl),
            )
            started = time.monotonic()
            self.done = subprocess.run(
                args, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=ROOT
            )
            self.seconds = time.monotonic() - started
            expected = self.workers * (self.calls + 1) + parent_call
            self.received = [s for s in sink.wait_for(expected, 10) if s.name.startswith("chat ")]
        self.jsonl = chat_spans(jsonl)
        self.report = json.loads(self.done.stdout.splitlines()[-1]) if self.done.stdout else {}


@pytest.fixture(scope="module", params=[True, False] if LONG else [True], ids=lambda p: f"{p=}")
def forked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Forked:
    return Forked(request.param, tmp_path_factory.mktemp("fork"))


def test_forked_workers_export_their_own_spans_once(forked: Forked):
    done, report = forked.done, forked.report
    assert done.returncode == 0, done.stderr
    statuses = {child["exit"]: child["status"] for child in report["children"].values()}
    assert statuses == {"sys.exit": 0, "os._exit": 0}
    assert "Traceback" not in done.stderr
    parent = report["parent"]
    for received in (forked.received, [_jsonl_as_received(span) for span in forked.jsonl]):
        ids = collections.Counter(span.attributes["gen_ai.response.id"] for span in received)
        assert set(ids.values()) == {1}  # nothing twice: not from the parent's queue, not at all
        by_pid = collections.Counter(response_id.split("-")[1] for response_id in ids)
        expected = {pid: forked.calls + 1 for pid in report["children"]}
        if forked.parent_call:
            expected[str(parent)] = 1
        assert by_pid == expected
        for pid, child in report["children"].items():
            mine = {
                s.name for s in received if s.attributes["gen_ai.response.id"].split("-")[1] == pid
            }
            assert mine == {f"chat worker-{child['index']}"}


def _jsonl_as_received(span: dict[str, Any]) -> ReceivedSpan:
    return ReceivedSpan(span["name"], span["spanId"], span["traceId"], "", _attributes(span), {})


def _attributes(span: dict[str, Any]) -> dict[str, Any]:
    """A JSONL span's attributes as plain values."""
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def test_a_forked_worker_reports_no_loss_it_did_not_have(forked: Forked):
    """The parent's span still queued at fork is the parent's to export, not the child's loss."""
    assert forked.done.returncode == 0, forked.done.stderr  # it ran to the end, where it would warn
    assert "spans not exported" not in forked.done.stderr, forked.done.stderr


# -- interpreter exit with a stream still open ---------------------------------------------------

EXIT_MODES = ["return", "global", "loop-open", "sys-exit"] if LONG else ["return", "global"]
_UNINSTRUMENTED = "-uninstrumented"  # the same script with chatspan off: how it exits without us
_UNINSTRUMENTED_PENDING_CALL = "pending-call" + _UNINSTRUMENTED
# A stream still referenced when the exit flush runs would end its span only afterwards (at
# module teardown), on a shut-down provider; chatspan's exit hook ends it before the flush.


@pytest.fixture(scope="module")
def exits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """All exit modes started at once (each child imports the Agents SDK: seconds)."""
    tmp = tmp_path_factory.mktemp("exit")
    running = {}
    for how in [*EXIT_MODES, "pending-call", _UNINSTRUMENTED_PENDING_CALL]:
        path = tmp / f"{how}.jsonl"
        args = [sys.executable, str(SCRIPTS / "open_stream_at_exit.py")]
        args += ["--how", how.removesuffix(_UNINSTRUMENTED)]
        env = _child_env(OTEL_TRACES_EXPORTER="jsonl", CHATSPAN_JSONL_PATH=str(path))
        if how.endswith(_UNINSTRUMENTED):
            env["CHATSPAN_ENABLED"] = "0"
        process = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        running[how] = (process, path, time.monotonic())
    results: dict[str, Any] = {}
    try:
        for how, (process, path, started) in running.items():
            stdout, stderr = process.communicate(timeout=CHILD_TIMEOUT)
            results[how] = (process.returncode, stdout, stderr, path, time.monotonic() - started)
        yield results
    finally:
        for process, _, _ in running.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)


def _our_trouble(stderr: str) -> list[str]:
    """Lines on stderr that are chatspan's: its log lines, the SDK refusing a span we ended
    after shutdown, or a traceback frame in our code other than a pass-through to the SDK."""
    lines = stderr.splitlines()
    trouble = []
    for index, line in enumerate(lines):
        ours = f'File "{ROOT / "instrumentation"}' in line or f'File "{ROOT / "exporters"}' in line
        passing_through = (
            ours
            and "bridge_context.py" in line
            and index + 1 < len(lines)
            and lines[index + 1].strip() == "return wrapped(*args, **kwargs)"
        )
        if (ours and not passing_through) or "chatspan:" in line or "already shutdown" in line:
            trouble.append(line)
    return trouble


@pytest.mark.parametrize("how", EXIT_MODES)
def test_exit_with_a_stream_open_ends_its_span(exits: dict[str, Any], how: str):
    code, stdout, stderr, path, seconds = exits[how]
    assert code == 0, stderr
    assert stdout == "read 3\n"
    assert seconds < 60
    assert _our_trouble(stderr) == []
    (span,) = chat_spans(path)
    attributes = _attributes(span)
    assert attributes[CLOSED_EARLY] is True
    assert span["status"].get("code", 0) == 0  # UNSET: closing early is not an error


def test_exit_with_a_call_still_waiting_ends_its_span_as_abandoned(exits: dict[str, Any]):
    """A get_response task left pending on a loop never closed: the span is exported, marked,
    and the process exits as it does without chatspan (status 0; CPython 3.13.0 crashes in the
    garbage collection of this teardown, in httpx2's stream, with chatspan or without it)."""
    code, stdout, stderr, path, seconds = exits["pending-call"]
    assert code == exits[_UNINSTRUMENTED_PENDING_CALL][0], stderr
    assert stdout == "pending 1\n"
    assert seconds < 60
    # The app left a task pending: asyncio and the Agents SDK say so at teardown, as they do
    # without chatspan; none of it is chatspan's own report, and no span met a closed exporter.
    ours = [line for line in stderr.splitlines() if "chatspan:" in line or "already shut" in line]
    assert ours == []
    (span,) = chat_spans(path)
    attributes = _attributes(span)
    assert attributes[ABANDONED] is True
    assert CLOSED_EARLY not in attributes
