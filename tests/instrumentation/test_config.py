"""Settings parsing: the capture variable's values and aliases, the semconv opt-in."""

from __future__ import annotations

import pytest

from chatspan.instrumentation.config import CaptureMode, Settings, parse_choice
from chatspan.instrumentation.errors import ConfigError

VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        ("", CaptureMode.NO_CONTENT),
        ("NO_CONTENT", CaptureMode.NO_CONTENT),
        ("span_only", CaptureMode.SPAN_ONLY),
        ("Event_Only", CaptureMode.EVENT_ONLY),
        (" SPAN_AND_EVENT ", CaptureMode.SPAN_AND_EVENT),
        ("true", CaptureMode.SPAN_ONLY),
        ("FALSE", CaptureMode.NO_CONTENT),
        ("yes-please", CaptureMode.NO_CONTENT),
    ],
)
def test_capture_mode_from_environment(raw, mode):
    assert Settings.from_env({VARIABLE: raw}).capture is mode


@pytest.mark.parametrize(("argument", "mode"), [(True, "SPAN_ONLY"), (False, "NO_CONTENT")])
def test_the_argument_wins_over_the_environment(argument, mode):
    settings = Settings.from_env({VARIABLE: "EVENT_ONLY"}, capture_content=argument)
    assert settings.capture is CaptureMode(mode)


def test_a_bad_value_names_the_variable_and_the_allowed_values():
    with pytest.raises(ConfigError) as raised:
        parse_choice(VARIABLE, "bogus", {"A": 1, "B": 2})
    assert str(raised.value) == f"{VARIABLE}='bogus' is not valid; allowed values (any case): a, b"


@pytest.mark.parametrize(
    ("opt_in", "legacy"),
    [("", False), ("gen_ai_latest_experimental", False), ("http, gen_ai/dup", True)],
)
def test_legacy_system_attribute_only_on_request(opt_in, legacy):
    env = {"OTEL_SEMCONV_STABILITY_OPT_IN": opt_in}
    assert Settings.from_env(env).emit_legacy_system is legacy
