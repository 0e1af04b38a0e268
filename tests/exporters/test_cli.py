"""The ``chatspan`` command line: exit codes and output lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from chatspan.exporters.cli import main
from tests.exporters.test_view import AGENT_TRACE


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(AGENT_TRACE) + "\n", encoding="utf-8")
    return path


def test_view_prints_the_tree(trace_file: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["view", str(trace_file)]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("agent Triage")


def test_view_defaults_to_the_configured_path(
    trace_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("CHATSPAN_JSONL_PATH", str(trace_file))

    assert main(["view"]) == 0
    assert "agent Triage" in capsys.readouterr().out


def test_view_reads_the_configured_path_with_the_home_expanded(
    trace_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("HOME", str(trace_file.parent))
    monkeypatch.setenv("CHATSPAN_JSONL_PATH", f"~/{trace_file.name}")  # as the exporter writes it

    assert main(["view"]) == 0
    assert "agent Triage" in capsys.readouterr().out


def test_demo_shows_the_file_its_agent_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from chatspan.exporters import demo

    written: list[str] = []
    monkeypatch.setattr(
        demo.subprocess, "call", lambda command, env: written.append(env["CHATSPAN_JSONL_PATH"])
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CHATSPAN_JSONL_PATH", "~/demo.jsonl")

    assert main(["demo", "--scripted"]) == 0
    assert written == [str(tmp_path / "demo.jsonl")]
    assert f"chatspan view {tmp_path / 'demo.jsonl'}" in capsys.readouterr().out


def test_view_of_a_missing_file_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["view", str(tmp_path / "absent.jsonl")]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert "absent.jsonl" in line


def test_config_shows_where_telemetry_goes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console,jsonl")
    monkeypatch.setenv("CHATSPAN_AGENTS_SDK_EXPORT", "off")

    assert main(["config"]) == 0

    out = capsys.readouterr().out
    assert "console, jsonl" in out
    assert "Agents SDK export to OpenAI  off" in out


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkinn"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("CHATSPAN_AGENTS_SDK_EXPORT", "disabled"),
    ],
)
def test_config_with_a_bad_value_is_one_line_naming_it_and_exit_1(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv(variable, value)

    assert main(["config"]) == 1

    (line,) = capsys.readouterr().err.splitlines()
    assert variable in line
    assert "allowed" in line


def test_demo_passes_its_arguments_through(monkeypatch: pytest.MonkeyPatch):
    received: list[list[str]] = []

    def fake_main(args: list[str]) -> int:
        received.append(args)
        return 3

    monkeypatch.setitem(
        sys.modules, "chatspan.exporters.demo", types.SimpleNamespace(main=fake_main)
    )

    assert main(["demo", "--turns", "2"]) == 3
    assert received == [["--turns", "2"]]


def test_demo_missing_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setitem(sys.modules, "chatspan.exporters.demo", None)  # import fails

    assert main(["demo"]) == 1
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_no_command_prints_help_and_exit_2(capsys: pytest.CaptureFixture[str]):
    assert main([]) == 2
    assert "view" in capsys.readouterr().err


def test_unknown_arguments_are_a_usage_error():
    with pytest.raises(SystemExit) as exit_info:
        main(["view", "a.jsonl", "--bogus"])
    assert exit_info.value.code == 2


def test_console_script_is_installed(trace_file: Path):
    script = Path(sys.executable).with_name("chatspan")
    command = str(script) if script.exists() else shutil.which("chatspan")
    assert command, "the chatspan console script is not installed"

    done = subprocess.run(
        [command, "view", str(trace_file)], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert "agent Triage" in done.stdout
