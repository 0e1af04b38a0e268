"""Helpers for the dashboard tests: the generator module, the shipped files, real servers.

Binaries (``prometheus``, ``jaeger``) are found through ``CHATSPAN_{NAME}_BIN``, then ``PATH``,
then ``$HOME/.cache/chatspan/bin`` (where ``.ci/run`` builds Jaeger). A missing binary fails the
test that needs it, with how to get it: CI provisions both, and a skipped check would look green.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
CACHE_BIN = Path.home() / ".cache" / "chatspan" / "bin"
HOW_TO_GET = {
    "prometheus": "apt-get install -y prometheus (Debian), or set CHATSPAN_PROMETHEUS_BIN",
    "jaeger": (
        "build it as .ci/run does (go build of github.com/jaegertracing/jaeger@v1.76.0 "
        f"./cmd/jaeger into {CACHE_BIN}), or set CHATSPAN_JAEGER_BIN"
    ),
}
T = TypeVar("T")


def load_build() -> ModuleType:
    """``dashboards/build.py`` (a script, not a package), imported by path."""
    spec = importlib.util.spec_from_file_location(
        "chatspan_dashboards_build", DASHBOARDS / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard_files() -> list[Path]:
    return sorted((DASHBOARDS / "grafana").glob("*.json"))


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in dashboard_files()}


def find_binary(name: str) -> str:
    """The path of ``name``, or fail the test saying how to provision it."""
    override = os.environ.get(f"CHATSPAN_{name.upper()}_BIN")
    candidates = [override] if override else []
    candidates += [shutil.which(name), str(CACHE_BIN / name)]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    pytest.fail(f"{name} binary not found (CHATSPAN_{name.upper()}_BIN, PATH, {CACHE_BIN}): "
                f"{HOW_TO_GET[name]}", pytrace=False)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """Call ``probe`` until it returns something other than None (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except (OSError, ValueError, KeyError, AssertionError) as exc:
            last, result = exc, None
        if result is not None:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def get_json(url: str, **params: str) -> Any:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment minus anything that would send telemetry or model calls elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "CHATSPAN_", "OPENAI_"))
    }
    env.update(extra)
    return env


class Server:
    """A child process with its output in a file; stopped (and reaped) by ``stop``."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            command, stdout=self._file, stderr=subprocess.STDOUT, env=env, cwd=ROOT
        )

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            output = self.log.read_text(errors="replace")[-4000:]
            raise AssertionError(
                f"{self.process.args[0]} exited ({self.process.returncode}):\n{output}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._file.close()
