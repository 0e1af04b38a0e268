"""``CHATSPAN_ENABLED`` and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``, read in-process.

Registering the import hook is process-wide and cannot be undone, so everything that registers
it is tested in subprocesses (``test_auto_instrumentation.py``); here only the pure parts.
"""

from __future__ import annotations

import logging

import pytest

from chatspan.instrumentation import activation, config


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "On", "yes", " Yes "])
def test_on_values_enable(value: str):
    assert activation.enabled_from_env({"CHATSPAN_ENABLED": value}) is True


@pytest.mark.parametrize("value", ["0", "false", "Off", "NO", "", "  "])
def test_off_values_and_empty_disable_without_a_warning(
    value: str, caplog: pytest.LogCaptureFixture
):
    assert activation.enabled_from_env({"CHATSPAN_ENABLED": value}) is False
    assert caplog.records == []


def test_unset_disables():
    assert activation.enabled_from_env({}) is False


def test_bad_value_is_one_warning_naming_the_variable_and_the_allowed_values(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(config, "_warned", set())

    for _ in range(2):  # site.py runs a venv's .pth lines twice: still one line
        assert activation.enabled_from_env({"CHATSPAN_ENABLED": "maybe"}) is False

    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "\n" not in message
    assert "CHATSPAN_ENABLED='maybe'" in message
    assert "0, 1, false, no, off, on, true, yes" in message


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        ("chatspan", True),
        ("requests, chatspan ,flask", True),
        ("*", True),
        ("", False),
        ("openai", False),
        ("chatspan-extra", False),
    ],
)
def test_otel_disabled_instrumentations(value: str, disabled: bool):
    env = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": value}
    assert activation.disabled_by_otel(env) is disabled


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"CHATSPAN_ENABLED": "0"},
        {"CHATSPAN_ENABLED": "1", "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "chatspan"},
    ],
)
def test_activate_does_nothing_when_not_asked(env: dict[str, str]):
    was = activation.is_activated()

    assert activation.activate_from_env(env) is False
    assert activation.is_activated() is was
