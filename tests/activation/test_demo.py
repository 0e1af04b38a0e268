"""``chatspan demo``: the traced agent on the embedded backend, its tree, and where spans go."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chatspan.exporters.demo import child_env, sanitized_prompt, uses_real_backend
from tests.activation.conftest import chat_spans, clean_env, run, spans_in
from tests.exporters.test_configure import http_receiver  # noqa: F401 (the OTLP/HTTP fixture)

RUN_DEMO = "import sys; from chatspan.exporters.cli import main; sys.exit(main(sys.argv[1:]))"
SCRIPTED_CALLS = 7  # handoff, two tools and an answer; then two tools and an answer, streamed


@pytest.fixture
def offline_env() -> dict[str, str]:
    """No OpenAI key or server, no OpenTelemetry settings: the demo must pick its defaults."""
    return clean_env()


def test_demo_runs_the_agent_and_prints_its_tree_with_redacted_content(
    offline_env: dict[str, str], tmp_path: Path
):
    path = tmp_path / "demo.jsonl"

    done = run([sys.executable, "-c", RUN_DEMO, "demo", "--jsonl", str(path)], offline_env)

    out = done.stdout
    assert "embedded scripted backend" in out
    assert "Weather agent> In Paris: 18°C, light rain." in out
    assert "Weather agent> In Tokyo: 24°C, clear skies." in out  # the streamed turn
    assert out.count("chat gpt-4o-mini") == SCRIPTED_CALLS
    assert "[REDACTED:email]" in out
    assert "[REDACTED:openai_key]" in out
    assert f"chatspan view {path}" in out
    assert len(chat_spans(path)) == SCRIPTED_CALLS
    assert "jane.doe@example.com" not in path.read_text(encoding="utf-8")


def test_demo_appends_and_shows_only_its_own_run(offline_env: dict[str, str], tmp_path: Path):
    path = tmp_path / "demo.jsonl"
    path.write_text("not a span line\n", encoding="utf-8")

    done = run(
        [sys.executable, "-c", RUN_DEMO, "demo"],
        {**offline_env, "CHATSPAN_JSONL_PATH": str(path)},
    )

    assert "skipped" not in done.stdout  # the earlier line is not part of this run's tree
    assert path.read_text(encoding="utf-8").startswith("not a span line\n")
    assert len(chat_spans(path)) == SCRIPTED_CALLS


def test_demo_also_exports_to_an_otlp_endpoint(
    http_receiver: tuple[object, str],  # noqa: F811
    offline_env: dict[str, str],
    tmp_path: Path,
):
    received, endpoint = http_receiver
    env = {
        **offline_env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    path = tmp_path / "demo.jsonl"

    done = run([sys.executable, "-c", RUN_DEMO, "demo", "--jsonl", str(path)], env)

    assert "traces: jsonl,otlp" in done.stdout
    assert received.wait_for(  # type: ignore[attr-defined]
        lambda: (
            received.span_names.count("chat gpt-4o-mini") == SCRIPTED_CALLS  # type: ignore[attr-defined]
            and "gen_ai.client.operation.duration" in received.metric_names
        )  # type: ignore[attr-defined]
    )
    assert len(received.span_names) == len(spans_in(path))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "jsonl"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, "jsonl,otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, "jsonl,otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "jsonl,console"),
        ({"OTEL_TRACES_EXPORTER": "otlp, jsonl"}, "jsonl,otlp"),
        ({"OTEL_TRACES_EXPORTER": "none"}, "jsonl"),
    ],
)
def test_child_env_always_writes_jsonl_and_adds_what_the_user_asked_for(
    env: dict[str, str], expected: str, tmp_path: Path
):
    child = child_env(env, tmp_path / "x.jsonl", real_backend=False)

    assert child["OTEL_TRACES_EXPORTER"] == expected
    assert child["CHATSPAN_ENABLED"] == "1"
    assert child["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] == "SPAN_ONLY"
    assert child["CHATSPAN_JSONL_PATH"] == str(tmp_path / "x.jsonl")


@pytest.mark.parametrize(
    ("real_backend", "user_choice", "expected"),
    [(False, None, "off"), (False, "keep", "off"), (True, None, "off"), (True, "keep", "keep")],
)
def test_agents_sdk_export_is_off_unless_a_real_backend_user_keeps_it(
    real_backend: bool, user_choice: str | None, expected: str, tmp_path: Path
):
    env = {} if user_choice is None else {"CHATSPAN_AGENTS_SDK_EXPORT": user_choice}

    child = child_env(env, tmp_path / "x.jsonl", real_backend=real_backend)

    assert child["CHATSPAN_AGENTS_SDK_EXPORT"] == expected


@pytest.mark.parametrize(
    ("env", "scripted", "real"),
    [
        ({}, False, False),
        ({"OPENAI_API_KEY": "sk-x"}, False, True),
        ({"OPENAI_BASE_URL": "http://localhost:8000/v1"}, False, True),
        ({"OPENAI_API_KEY": "sk-x"}, True, False),
    ],
)
def test_backend_choice(env: dict[str, str], scripted: bool, real: bool):
    assert uses_real_backend(env, scripted) is real


def test_sanitized_prompt_is_the_first_user_message_recorded():
    messages = [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi [REDACTED:email]"}]},
    ]
    attribute = {"key": "gen_ai.input.messages", "value": {"stringValue": json.dumps(messages)}}
    span = {"name": "chat m", "attributes": [attribute]}
    line = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})

    assert sanitized_prompt(["garbage", line]) == "hi [REDACTED:email]"
    assert sanitized_prompt(["garbage"]) is None
