"""``chatspan demo``: run the demo agent traced, then show what was recorded.

The agent runs in a child interpreter (``demo_agent.py``) started with ``CHATSPAN_ENABLED=1``, so it
is traced by the very path a user's ``python app.py`` takes: the ``.pth`` at start-up, the import
hook, exporters configured at the first span, the bounded flush at exit. Doing it in this process
instead would skip the ``.pth`` and the exit flush, the two parts users cannot see. Once the child
has exited, its spans are in the JSONL file: we print the new lines as trees (``chatspan view``),
then the captured prompt of the first model call, where the sanitizer replaced the fake e-mail
address and API key.

Backend: the embedded scripted one (no key, no network), unless ``OPENAI_API_KEY`` or
``OPENAI_BASE_URL`` is set (then ``AsyncOpenAI()`` from the environment and the model in
``CHATSPAN_DEMO_MODEL``, default ``gpt-4o-mini``); ``--scripted`` forces the embedded one. With
``OTEL_EXPORTER_OTLP_ENDPOINT`` set the spans go there as well
(``OTEL_TRACES_EXPORTER=jsonl,otlp``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_SERVICE_NAME,
)

from chatspan.exporters.agents_sdk_export import CHATSPAN_AGENTS_SDK_EXPORT
from chatspan.exporters.settings import CHATSPAN_JSONL_PATH, DEFAULT_JSONL_PATH, jsonl_path
from chatspan.exporters.view import render
from chatspan.instrumentation.activation import ENABLED_ENV
from chatspan.instrumentation.config import CAPTURE_CONTENT_ENV

__all__ = ["DEMO_MODEL_ENV", "child_env", "main", "sanitized_prompt", "uses_real_backend"]

DEMO_MODEL_ENV = "CHATSPAN_DEMO_MODEL"
_DEFAULT_MODEL = "gpt-4o-mini"
_INPUT_MESSAGES = "gen_ai.input.messages"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatspan demo", description="Run a small traced agent and print its span tree."
    )
    parser.add_argument(
        "--jsonl",
        metavar="PATH",
        help=f"span file to append to (default: ${CHATSPAN_JSONL_PATH} or {DEFAULT_JSONL_PATH})",
    )
    parser.add_argument(
        "--scripted",
        action="store_true",
        help="use the embedded scripted backend even if OPENAI_API_KEY/OPENAI_BASE_URL are set",
    )
    return parser


def uses_real_backend(env: Mapping[str, str], scripted: bool) -> bool:
    """Whether the environment points at a real server (and ``--scripted`` does not override)."""
    return not scripted and bool(env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"))


def child_env(env: Mapping[str, str], jsonl_path: Path, *, real_backend: bool) -> dict[str, str]:
    """The environment the demo agent runs in: activation on, content captured, JSONL export.

    The JSONL exporter is always on (the tree is read back from it); an OTLP endpoint adds
    ``otlp``, as would any exporter the user listed. The Agents SDK's export to OpenAI is off for
    the scripted backend (there is no network to send it to) and off by default otherwise.
    """
    child = dict(env)
    child[ENABLED_ENV] = "1"
    child[CAPTURE_CONTENT_ENV] = "SPAN_ONLY"
    child[CHATSPAN_JSONL_PATH] = str(jsonl_path)
    child.setdefault(OTEL_SERVICE_NAME, "chatspan-demo")
    names = [
        name.strip()
        for name in env.get(OTEL_TRACES_EXPORTER, "").split(",")
        if name.strip() and name.strip() != "none"
    ]
    if not names and (
        env.get(OTEL_EXPORTER_OTLP_ENDPOINT) or env.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    ):
        names = ["otlp"]
    child[OTEL_TRACES_EXPORTER] = ",".join(dict.fromkeys(["jsonl", *names]))
    if real_backend:
        child.setdefault(CHATSPAN_AGENTS_SDK_EXPORT, "off")
    else:
        child[CHATSPAN_AGENTS_SDK_EXPORT] = "off"
    return child


def sanitized_prompt(lines: Iterable[str]) -> str | None:
    """The first user message text captured on a span, as recorded (that is, sanitized)."""
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        for resource in record.get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    text = _user_text(span)
                    if text is not None:
                        return text
    return None


def _user_text(span: dict[str, Any]) -> str | None:
    for attribute in span.get("attributes") or []:
        if attribute.get("key") != _INPUT_MESSAGES:
            continue
        messages = json.loads(attribute.get("value", {}).get("stringValue", "[]"))
        for message in messages:
            if message.get("role") == "user":
                return " ".join(str(part.get("content", "")) for part in message.get("parts", []))
    return None


def _appended_lines(path: Path, offset: int) -> list[str]:
    """Lines written after ``offset``; from the start if the file was replaced meanwhile."""
    try:
        with path.open("rb") as file:
            file.seek(offset if offset <= path.stat().st_size else 0)
            return file.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; the exit status is the demo agent's."""
    args = _parser().parse_args(argv)
    # Read as the child's exporter will (``~`` expanded, an unwritable path replaced), so the
    # lines shown are the ones it wrote; ``--jsonl`` stands for the variable.
    path = jsonl_path({CHATSPAN_JSONL_PATH: args.jsonl} if args.jsonl else os.environ)
    real = uses_real_backend(os.environ, args.scripted)
    model = os.environ.get(DEMO_MODEL_ENV) or _DEFAULT_MODEL
    env = child_env(os.environ, path, real_backend=real)
    where = os.environ.get("OPENAI_BASE_URL") or "the OpenAI API"
    backend = f"{where}, model {model}" if real else "the embedded scripted backend (no network)"
    print(f"chatspan demo: agent on {backend}; traces: {env[OTEL_TRACES_EXPORTER]}\n", flush=True)
    offset = path.stat().st_size if path.exists() else 0
    command = [sys.executable, "-m", "chatspan.exporters.demo_agent"]
    command += ["--backend", "env" if real else "scripted", "--model", model]
    status = subprocess.call(command, env=env)
    lines = _appended_lines(path, offset)
    print(f"\nSpans recorded ({path}):\n")
    print(render(lines))
    prompt = sanitized_prompt(lines)
    if prompt is not None:
        print(f"\nFirst prompt as captured, after redaction:\n  {prompt}")
    print(f"\nSee them again with: chatspan view {path}")
    return status
