"""Subprocess helpers: the example app, a clean environment, the spans a child recorded.

Every child is a fresh interpreter started with ``sys.executable`` (or another venv's python), so
the ``.pth`` file, the import hook and the exit flush run as they do for a user. Waits are bounded
by each subprocess' timeout; nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.activation.fake_openai_server import FakeOpenAI, serve

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "weather_agent.py"
CHAT_SCOPE = "chatspan.instrumentation"
TIMEOUT = 180  # seconds for one child: importing the Agents SDK alone takes seconds


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "wheel: builds the wheel into a fresh venv (part of the default run, ~1 min)"
    )


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with serve() as server:
        yield server


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    return tmp_path / "spans.jsonl"


def clean_env() -> dict[str, str]:
    """This process' environment without any chatspan, OpenTelemetry or OpenAI setting."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CHATSPAN_", "OTEL_", "OPENAI_"))
    }


@pytest.fixture
def app_env(fake_openai: FakeOpenAI, jsonl: Path) -> dict[str, str]:
    """A clean environment plus the fake server and the JSONL path; the Agents SDK's export to
    OpenAI is removed by chatspan when it activates."""
    env = clean_env()
    env.update(
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_API_KEY="sk-test-not-a-real-key",
        CHATSPAN_JSONL_PATH=str(jsonl),
        CHATSPAN_AGENTS_SDK_EXPORT="off",
    )
    return env


def run(
    args: list[str], env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def python(*args: str | Path) -> list[str]:
    return [sys.executable, *map(str, args)]


def spans_in(path: Path) -> list[dict[str, Any]]:
    """Every span in an OTLP JSON lines file (none if the file does not exist)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):  # not a span line
            records.append(json.loads(line))
    return [
        {**span, "scope": scope["scope"]["name"]}
        for record in records
        for resource in record.get("resourceSpans", [])
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def chat_spans(path: Path) -> list[dict[str, Any]]:
    """Our model-call spans (the agent-level spans of the same scope are named otherwise)."""
    return [
        span
        for span in spans_in(path)
        if span["scope"] == CHAT_SCOPE and span["name"].startswith("chat ")
    ]


def console_spans(stdout: str) -> list[dict[str, Any]]:
    """The spans ``ConsoleSpanExporter`` printed (indented JSON objects) among other output."""
    decoder, spans, position = json.JSONDecoder(), [], 0
    while (start := stdout.find("{\n", position)) != -1:
        try:
            span, position = decoder.raw_decode(stdout, start)
        except ValueError:
            position = start + 1
            continue
        spans.append(span)
    return spans
