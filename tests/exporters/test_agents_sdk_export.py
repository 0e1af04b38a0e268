"""``CHATSPAN_AGENTS_SDK_EXPORT``: keep leaves the Agents SDK alone; off drops only its default."""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from agents import tracing
from agents.tracing import processors, setup
from agents.tracing.processor_interface import TracingProcessor

from chatspan.exporters.agents_sdk_export import agents_sdk_export_mode, apply_agents_sdk_export
from chatspan.instrumentation.errors import ConfigError

VAR = "CHATSPAN_AGENTS_SDK_EXPORT"


class _AppProcessor(TracingProcessor):
    """Stands for a processor the application registered itself."""

    def on_trace_start(self, trace: Any) -> None: ...
    def on_trace_end(self, trace: Any) -> None: ...
    def on_span_start(self, span: Any) -> None: ...
    def on_span_end(self, span: Any) -> None: ...
    def shutdown(self) -> None: ...
    def force_flush(self) -> None: ...


def _processors() -> tuple[Any, ...]:
    return setup.get_trace_provider()._multi_processor._processors


@pytest.fixture
def sdk_processors() -> Iterator[None]:
    """The SDK's processor list as a fresh process has it, restored afterwards."""
    saved = list(_processors())
    tracing.set_trace_processors([processors.default_processor()])
    yield
    tracing.set_trace_processors(saved)


@pytest.mark.parametrize(
    ("value", "mode"), [(None, "keep"), ("", "keep"), ("keep", "keep"), (" OFF ", "off")]
)
def test_mode_from_env(value: str | None, mode: str):
    env = {} if value is None else {VAR: value}
    assert agents_sdk_export_mode(env) == mode


def test_bad_mode_warns_once_naming_the_variable_and_keeps(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="chatspan"):
        modes = [agents_sdk_export_mode({VAR: "nope-1"}) for _ in range(2)]

    assert modes == ["keep", "keep"]
    (record,) = caplog.records
    assert VAR in record.getMessage()
    assert "keep, off" in record.getMessage()


def test_bad_mode_on_the_strict_path_raises():
    with pytest.raises(ConfigError, match=VAR):
        agents_sdk_export_mode({VAR: "nope-2"}, strict=True)


@pytest.mark.usefixtures("sdk_processors")
def test_off_removes_only_the_default_processor():
    app_processor = _AppProcessor()
    tracing.add_trace_processor(app_processor)

    assert apply_agents_sdk_export({VAR: "off"}) is True
    assert _processors() == (app_processor,)
    assert apply_agents_sdk_export({VAR: "off"}) is False  # nothing left to remove


@pytest.mark.usefixtures("sdk_processors")
def test_keep_leaves_the_processors_alone():
    before = _processors()

    assert apply_agents_sdk_export({VAR: "keep"}) is False
    assert _processors() == before


@pytest.mark.usefixtures("sdk_processors")
def test_unreadable_processor_list_warns_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(setup, "get_trace_provider", lambda: object())

    with caplog.at_level(logging.WARNING, logger="chatspan"):
        assert apply_agents_sdk_export({VAR: "off"}) is False

    monkeypatch.undo()
    assert _processors() == (processors.default_processor(),)
    assert any(VAR in record.getMessage() for record in caplog.records)


def test_without_the_agents_sdk_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "agents" else real_find_spec(name, *args),
    )

    assert apply_agents_sdk_export({VAR: "off"}) is False


def test_keep_does_not_import_the_agents_sdk():
    script = (
        "import json, sys\n"
        "from chatspan.exporters import apply_agents_sdk_export\n"
        f"apply_agents_sdk_export({{{VAR!r}: 'keep'}})\n"
        "print(json.dumps('agents' in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert json.loads(done.stdout) is False
