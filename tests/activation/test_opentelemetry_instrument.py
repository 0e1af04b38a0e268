"""``opentelemetry-instrument python app.py``: the entry point, the off switch, both at once.

``opentelemetry-instrument`` sets up the SDK only through a distro (``opentelemetry-distro``, in the
``test`` extra); spans are printed by its ``console`` exporter. The client-level ``openai``
instrumentation is switched off here, so every ``chat`` span printed is ours.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.activation.conftest import EXAMPLE, console_spans, run
from tests.activation.fake_openai_server import FakeOpenAI

INSTRUMENT = str(Path(sys.executable).with_name("opentelemetry-instrument"))

# Runs the example, then says how many of our wrappers sit on get_response (1 = instrumented once).
WRAPPER_COUNTING_APP = """
    import runpy, sys
    import wrapt
    runpy.run_path(sys.argv[1], run_name="__main__")
    from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel as Model
    method, layers = Model.__dict__["get_response"], 0
    while isinstance(method, wrapt.FunctionWrapper):
        method, layers = method.__wrapped__, layers + 1
    print("wrapper layers:", layers)
"""


@pytest.fixture
def instrument_env(app_env: dict[str, str]) -> dict[str, str]:
    return {
        **app_env,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",  # its OpenAI export has no chatspan to remove it
    }


def _chat(stdout: str) -> list[dict[str, object]]:
    return [span for span in console_spans(stdout) if str(span["name"]).startswith("chat ")]


def _app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(WRAPPER_COUNTING_APP), encoding="utf-8")
    return path


def test_opentelemetry_instrument_records_each_call_once(
    instrument_env: dict[str, str], fake_openai: FakeOpenAI, jsonl: Path, tmp_path: Path
):
    done = run([INSTRUMENT, sys.executable, str(_app(tmp_path)), str(EXAMPLE)], instrument_env)

    assert len(_chat(done.stdout)) == len(fake_openai.requests) == 7
    assert "wrapper layers: 1" in done.stdout
    assert not jsonl.exists()  # the distro set the providers; nothing of ours was built


def test_both_activations_together_instrument_once(
    instrument_env: dict[str, str], fake_openai: FakeOpenAI, jsonl: Path, tmp_path: Path
):
    env = {**instrument_env, "CHATSPAN_ENABLED": "1"}

    done = run([INSTRUMENT, sys.executable, str(_app(tmp_path)), str(EXAMPLE)], env)

    assert len(_chat(done.stdout)) == len(fake_openai.requests) == 7
    assert "wrapper layers: 1" in done.stdout
    assert "already instrumented" not in done.stderr
    assert not jsonl.exists()


@pytest.mark.parametrize("enabled", ["0", "1"])
def test_otel_disabled_instrumentations_turns_the_entry_point_off(
    enabled: str, instrument_env: dict[str, str], jsonl: Path, tmp_path: Path
):
    env = {
        **instrument_env,
        "CHATSPAN_ENABLED": enabled,
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,chatspan",
    }

    done = run([INSTRUMENT, sys.executable, str(_app(tmp_path)), str(EXAMPLE)], env)

    assert _chat(done.stdout) == []
    assert "wrapper layers: 0" in done.stdout
    assert not jsonl.exists()
