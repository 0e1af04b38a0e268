"""``CHATSPAN_ENABLED=1`` instruments an unmodified application, in every way Python starts one.

Each test starts the example (or a few lines around it) in a fresh interpreter, talking to the
local fake OpenAI server; the spans are read back from the JSONL file the child wrote. "Once" is
checked by comparing the chat spans with the requests the server received.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.activation.conftest import EXAMPLE, chat_spans, python, run
from tests.activation.fake_openai_server import FakeOpenAI

ANSWERS = ("Weather agent> In Paris: 18°C", "Weather agent> In Tokyo: 24°C")

# Runs the example, then reports which chatspan modules were imported along the way.
REPORTING_APP = """
    import runpy, sys
    runpy.run_path(sys.argv[1], run_name="__main__")
    print("chatspan modules:", sorted(m for m in sys.modules if m.startswith("chatspan")))
"""


def _script(tmp_path: Path, source: str, name: str = "app.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def _assert_answered(stdout: str) -> None:
    for answer in ANSWERS:
        assert answer in stdout


def test_enabled_script_records_one_chat_span_per_model_call(
    app_env: dict[str, str], fake_openai: FakeOpenAI, jsonl: Path
):
    done = run(python(EXAMPLE), {**app_env, "CHATSPAN_ENABLED": "1"})

    _assert_answered(done.stdout)
    spans = chat_spans(jsonl)
    assert len(spans) == len(fake_openai.requests) == 7
    assert {span["name"] for span in spans} == {"chat gpt-4o-mini"}
    assert done.stderr == ""


@pytest.mark.parametrize("value", [None, "0", "off"])
def test_unset_or_off_records_nothing_and_imports_no_chatspan(
    value: str | None, app_env: dict[str, str], jsonl: Path, tmp_path: Path
):
    env = {**app_env, "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    if value is not None:
        env["CHATSPAN_ENABLED"] = value

    done = run(python(_script(tmp_path, REPORTING_APP), EXAMPLE), env)

    _assert_answered(done.stdout)
    assert done.stdout.splitlines()[-1] == "chatspan modules: []"
    assert not jsonl.exists()


def test_bad_value_is_one_warning_line_and_the_agent_still_runs(
    app_env: dict[str, str], jsonl: Path
):
    env = {**app_env, "CHATSPAN_ENABLED": "maybe", "OPENAI_AGENTS_DISABLE_TRACING": "1"}

    done = run(python(EXAMPLE), env)

    _assert_answered(done.stdout)
    (line,) = done.stderr.splitlines()
    assert "CHATSPAN_ENABLED='maybe'" in line
    assert "0, 1, false, no, off, on, true, yes" in line
    assert not jsonl.exists()


def test_otel_disabled_instrumentations_naming_chatspan_turns_it_off(
    app_env: dict[str, str], jsonl: Path
):
    env = {
        **app_env,
        "CHATSPAN_ENABLED": "1",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "requests, chatspan",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
    }

    done = run(python(EXAMPLE), env)

    _assert_answered(done.stdout)
    assert not jsonl.exists()


def test_python_dash_m_package_is_instrumented(
    app_env: dict[str, str], fake_openai: FakeOpenAI, jsonl: Path, tmp_path: Path
):
    package = tmp_path / "weatherpkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy(EXAMPLE, package / "__main__.py")

    done = run(python("-m", "weatherpkg"), {**app_env, "CHATSPAN_ENABLED": "1"}, cwd=tmp_path)

    _assert_answered(done.stdout)
    assert len(chat_spans(jsonl)) == len(fake_openai.requests) == 7


def test_child_process_inheriting_the_environment_is_instrumented(
    app_env: dict[str, str], fake_openai: FakeOpenAI, jsonl: Path, tmp_path: Path
):
    parent = _script(
        tmp_path,
        """
        import subprocess, sys
        code = subprocess.call([sys.executable, sys.argv[1]])
        print("parent imported agents:", "agents" in sys.modules)
        sys.exit(code)
        """,
    )

    done = run(python(parent, EXAMPLE), {**app_env, "CHATSPAN_ENABLED": "1"})

    _assert_answered(done.stdout)
    assert "parent imported agents: False" in done.stdout
    assert len(chat_spans(jsonl)) == len(fake_openai.requests) == 7


# A server's workers: spawned (uvicorn --workers), or forked after the master imported the app
# (gunicorn --preload); either way the agent runs, and exporters start, in the worker.
WORKER_APP = """
    import multiprocessing, runpy, sys

    def work(path):
        runpy.run_path(path, run_name="__main__")

    if __name__ == "__main__":
        method = sys.argv[2]
        if method == "fork":
            import agents  # preloaded in the master: instrumented here, inherited by the fork
        worker = multiprocessing.get_context(method).Process(target=work, args=(sys.argv[1],))
        worker.start()
        worker.join(150)
        sys.exit(worker.exitcode)
"""


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_worker_processes_are_instrumented(
    method: str, app_env: dict[str, str], fake_openai: FakeOpenAI, jsonl: Path, tmp_path: Path
):
    done = run(
        python(_script(tmp_path, WORKER_APP), EXAMPLE, method), {**app_env, "CHATSPAN_ENABLED": "1"}
    )

    _assert_answered(done.stdout)
    assert len(chat_spans(jsonl)) == len(fake_openai.requests) == 7


# Sets its own provider after importing the SDK, as apps do: the hook has run by then.
OWN_PROVIDER_APP = """
    import runpy, sys
    import agents
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    runpy.run_path(sys.argv[1], run_name="__main__")
    chat = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    print("own provider kept:", trace.get_tracer_provider() is provider)
    print("chat spans in own exporter:", len(chat))
"""


def test_app_that_sets_its_own_tracer_provider_keeps_it(
    app_env: dict[str, str], fake_openai: FakeOpenAI, jsonl: Path, tmp_path: Path
):
    done = run(
        python(_script(tmp_path, OWN_PROVIDER_APP), EXAMPLE), {**app_env, "CHATSPAN_ENABLED": "1"}
    )

    _assert_answered(done.stdout)
    assert "own provider kept: True" in done.stdout
    assert f"chat spans in own exporter: {len(fake_openai.requests)}" in done.stdout
    assert not jsonl.exists()
    assert "Overriding" not in done.stderr
