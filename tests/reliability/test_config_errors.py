"""Bad configuration values: one clear message each, and the agent runs as it would untraced.

Every row is (variable, bad value, phrase of the allowed values). Each runs the way a user runs an
agent: ``CHATSPAN_ENABLED=1 python app.py`` in a fresh interpreter, on the scripted backend. The
fast run puts several independent rows into one child (each still gets its own message checked:
the message is the one stderr line naming the variable); the long run (``CHATSPAN_LONG_TESTS=1``)
gives every row, plus more bad values, a child of its own, so batching cannot hide anything.

For each row: exit status 0, stdout identical to the uninstrumented run, exactly one stderr line
naming the variable, holding the allowed values, and no other line echoing the bad value (a
second, vaguer message from the SDK would); no traceback anywhere.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.activation.conftest import clean_env
from tests.reliability.exporter_scenarios import free_port
from tests.reliability.sizes import LONG

TIMEOUT = 180  # seconds for one child; importing the Agents SDK alone takes seconds

APP = """
    import asyncio

    from agents import OpenAIChatCompletionsModel, Runner, trace

    from chatspan.exporters.demo_agent import FIRST_PROMPT, SECOND_PROMPT, build_agents
    from chatspan.exporters.demo_script import scripted_reply
    from chatspan.exporters.scripted_backend import ScriptedBackend


    async def main():
        client = ScriptedBackend(fallback=scripted_reply).client()
        model = OpenAIChatCompletionsModel(model="gpt-4o-mini", openai_client=client)
        concierge = build_agents(model)
        with trace("config errors"):
            first = await Runner.run(concierge, FIRST_PROMPT)
            print(f"{first.last_agent.name}> {first.final_output}")
            history = [*first.to_input_list(), {"role": "user", "content": SECOND_PROMPT}]
            second = Runner.run_streamed(first.last_agent, history)
            async for event in second.stream_events():
                data = getattr(event, "data", None)
                print(event.type, getattr(data, "type", ""), getattr(data, "delta", ""))
            print(f"{second.last_agent.name}> {second.final_output}")


    asyncio.run(main())
"""

SWITCH = "0, 1, false, no, off, on, true, yes"


@dataclass(frozen=True)
class Row:
    variable: str
    value: str
    allowed: str  # a phrase of the allowed values the message must contain
    batch: str  # rows of one batch share a child in the fast run
    context: Mapping[str, str] = field(default_factory=dict)  # valid settings the row needs
    sdk_echo: bool = False  # the SDK itself also warns about this value (it is its variable)


# A collector that is not there (a port nobody listens on), and a short exit flush for it.
DEAD_OTLP = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{dead_port}"}
SHORT_EXIT = {"OTEL_BSP_EXPORT_TIMEOUT": "300"}
OTLP_BOTH = {**DEAD_OTLP, **SHORT_EXIT}

ROWS = [
    Row("CHATSPAN_ENABLED", "maybe", SWITCH, "off"),
    # a: JSONL export, everything else default
    Row("CHATSPAN_MAX_CONTENT_LENGTH", "lots", "a positive integer number of characters", "a"),
    Row("CHATSPAN_STREAM_USAGE", "sometimes", SWITCH, "a"),
    Row(
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        "everything",
        "event_only, false, no_content, span_and_event, span_only, true",
        "a",
    ),
    Row("CHATSPAN_AGENTS_SDK_EXPORT", "delete", "allowed: keep, off", "a"),
    Row("OTEL_SDK_DISABLED", "nope", "allowed values (any case): false, true", "a"),
    Row("OTEL_METRICS_EXPORTER", "promethius", "allowed: otlp, console, jsonl, none", "a"),
    Row("OTEL_BSP_EXPORT_TIMEOUT", "5s", "a whole number of milliseconds >= 0", "a"),
    # b: OTLP to a collector that is not there, and JSONL
    Row("CHATSPAN_REDACT", "sometimes", "0, 1, false, off, on, true", "b"),
    Row("CHATSPAN_PRICES_FILE", "/nonexistent/prices.json", "readable JSON price table", "b"),
    Row("OTEL_TRACES_EXPORTER", "otlp,jsonl,zipkinn", "allowed: otlp, console, jsonl", "b"),
    Row("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai/dupe", "gen_ai/dup, gen_ai_latest", "b"),
    Row(
        "OTEL_RESOURCE_ATTRIBUTES",
        "team.name=x,teamless",
        "comma-separated list of key=value pairs",
        "b",
        sdk_echo=True,
    ),
    # c: the collector settings are unusable, so spans stay in the local file
    Row("CHATSPAN_REDACT_DISABLE", "emails", "allowed: anthropic_key", "c"),
    Row("CHATSPAN_JSONL_PATH", "/nonexistent-dir/spans.jsonl", "existing, writable directory", "c"),
    Row("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[collector:4317", "a URL like http://host", "c"),
    Row("OTEL_EXPORTER_OTLP_TIMEOUT", "ten", "a number of seconds > 0", "c", OTLP_BOTH),
    Row("OTEL_EXPORTER_OTLP_COMPRESSION", "zip", "allowed: gzip", "c", OTLP_BOTH),
    # d: per-signal collector settings, and the shared protocol
    Row("CHATSPAN_REDACT_PATTERNS", "ticket=[unclosed", "not a valid regular expression", "d"),
    Row("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "allowed: grpc, http/protobuf", "d", DEAD_OTLP),
    Row("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector :4317", "a URL like http://host", "d"),
    Row("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://c:99999", "a URL like http://host", "d"),
    Row("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "", "a number of seconds > 0", "d", OTLP_BOTH),
    Row("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "-3", "a number of seconds > 0", "d", OTLP_BOTH),
    Row("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpcc", "allowed: grpc, http/protobuf", "b"),
    Row("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc2", "allowed: grpc, http/protobuf", "b"),
    # e: the batch processor's and metric reader's numbers (OTLP, so both are built)
    Row("OTEL_BSP_SCHEDULE_DELAY", "soon", "a whole number of milliseconds >= 1", "e", OTLP_BOTH),
    Row("OTEL_BSP_MAX_QUEUE_SIZE", "-5", "a whole number of spans >= 1", "e", OTLP_BOTH),
    Row("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0", "a whole number of spans >= 1", "e", OTLP_BOTH),
    Row("OTEL_METRIC_EXPORT_INTERVAL", "often", "a number of milliseconds > 0", "e", OTLP_BOTH),
    Row("OTEL_METRIC_EXPORT_TIMEOUT", "never", "a number of milliseconds > 0", "e", OTLP_BOTH),
]
BATCH_CONTEXT = {"b": OTLP_BOTH, "e": OTLP_BOTH}

# More bad values per variable, each alone in its child: the long run only.
MORE_ROWS = [
    Row("CHATSPAN_ENABLED", "2", SWITCH, "-"),
    Row("CHATSPAN_MAX_CONTENT_LENGTH", "0", "a positive integer number of characters", "-"),
    Row("CHATSPAN_MAX_CONTENT_LENGTH", "-1", "a positive integer number of characters", "-"),
    Row("CHATSPAN_REDACT_PATTERNS", "{not json", "a JSON object", "-"),
    Row("CHATSPAN_REDACT_PATTERNS", "email=x", "is a built-in category", "-"),
    Row("CHATSPAN_REDACT_DISABLE", "email,ssn", "allowed: anthropic_key", "-"),
    Row("OTEL_TRACES_EXPORTER", "zipkinn", "allowed: otlp, console, jsonl, none", "-"),
    Row(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "localhost:4318",
        "a URL like http://host",
        "-",
        {
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        },
    ),
    Row("OTEL_EXPORTER_OTLP_COMPRESSION", "none", "allowed: gzip", "-", DEAD_OTLP),
    Row("OTEL_EXPORTER_OTLP_TIMEOUT", "", "a number of seconds > 0", "-", DEAD_OTLP),
    Row("OTEL_BSP_EXPORT_TIMEOUT", "-1", "a whole number of milliseconds >= 0", "-"),
    Row("CHATSPAN_JSONL_PATH", "/", "existing, writable directory", "-"),
]


@dataclass
class Child:
    env: dict[str, str]
    done: subprocess.CompletedProcess[str] | None = None


def _row_env(rows: list[Row], dead_port: int) -> dict[str, str]:
    env: dict[str, str] = {"CHATSPAN_ENABLED": "1", "CHATSPAN_AGENTS_SDK_EXPORT": "off"}
    for context in [BATCH_CONTEXT.get(rows[0].batch, {}), *(row.context for row in rows)]:
        env.update({key: value.format(dead_port=dead_port) for key, value in context.items()})
    env.update({row.variable: row.value for row in rows})
    return env


def _run_all(children: dict[str, Child], app: Path, cwd: Path) -> None:
    """Start every child, two at a time (the machine is shared), and wait for them (bounded)."""

    def run(child: Child) -> None:
        child.done = subprocess.run(
            [sys.executable, str(app)],
            env={**clean_env(), **child.env},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(run, children.values()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Child]]:
    """The uninstrumented baseline plus one child per batch (fast) or per row (long)."""
    root = tmp_path_factory.mktemp("config_errors")
    app = root / "app.py"
    app.write_text(textwrap.dedent(APP), encoding="utf-8")
    dead_port = free_port()
    children = {"baseline": Child({"OPENAI_AGENTS_DISABLE_TRACING": "1"})}
    if LONG:
        for row in ROWS + MORE_ROWS:
            children[_key(row)] = Child(_row_env([row], dead_port))
    else:
        batches: dict[str, list[Row]] = {}
        for row in ROWS:
            batches.setdefault(row.batch, []).append(row)
        for name, rows in batches.items():
            children[name] = Child(_row_env(rows, dead_port))
    _run_all(children, app, root)
    yield children


def _key(row: Row) -> str:
    return f"{row.variable}={row.value!r}"


def _child_for(row: Row, runs: dict[str, Child]) -> subprocess.CompletedProcess[str]:
    child = runs[_key(row)] if LONG else runs[row.batch]
    assert child.done is not None
    return child.done


def _params(rows: list[Row]) -> list[object]:
    return [pytest.param(row, id=_key(row)) for row in rows]


@pytest.mark.parametrize("row", _params(ROWS))
def test_bad_value_is_one_clear_message_and_the_agent_runs(row: Row, runs: dict[str, Child]):
    _check(row, runs)


@pytest.mark.slow
@pytest.mark.parametrize("row", _params(MORE_ROWS))
def test_more_bad_values_each_alone(row: Row, runs: dict[str, Child]):
    _check(row, runs)


def _check(row: Row, runs: dict[str, Child]) -> None:
    baseline, done = runs["baseline"].done, _child_for(row, runs)
    assert baseline is not None and baseline.returncode == 0, baseline
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr}"
    assert done.stdout == baseline.stdout  # the agent's output, events included, unchanged
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    naming = [line for line in lines if re.search(rf"\b{row.variable}\b", line)]
    assert len(naming) == 1, f"{row.variable}: {len(naming)} lines name it\n{done.stderr}"
    (message,) = naming
    assert row.allowed in message, message
    if row.value.strip() and not row.sdk_echo:
        echoes = [line for line in lines if line != message and repr(row.value) in line]
        assert echoes == [], f"other lines about {row.value!r}: {echoes}"


def test_every_variable_chatspan_reads_is_in_the_sweep():
    """A variable added to the code without a row here fails this test."""
    root = Path(__file__).resolve().parents[2]
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for package in ("instrumentation", "exporters")
        for path in (root / package).glob("*.py")
    )
    read = set(re.findall(r"\"(CHATSPAN_[A-Z_]+)\"", source))
    no_bad_value = {"CHATSPAN_DEMO_MODEL"}  # any model name; only `chatspan demo` reads it
    assert read - no_bad_value <= {row.variable for row in ROWS}
