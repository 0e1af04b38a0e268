"""The built wheel carries the ``.pth``, and activation works from a fresh venv installed from it.

This is what a user gets from ``pip install chatspan``: the wheel is built from a copy of the
source (no build artefacts in the work tree), installed with its dependencies (pinned to this
environment's versions, so the pip cache serves them) into an empty venv, and the unmodified
example runs there with ``CHATSPAN_ENABLED=1``. Takes about a minute.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.activation.conftest import EXAMPLE, ROOT, chat_spans, clean_env, run
from tests.activation.fake_openai_server import FakeOpenAI

pytestmark = pytest.mark.wheel

PTH = "chatspan-activate.pth"
SOURCES = ("pyproject.toml", "setup.py", "README.md", "instrumentation", "exporters")
REPORT_MODULES = "import sys; print(sorted(m for m in sys.modules if m.startswith('chatspan')))"


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        elif (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        clean_env(),
    )
    (wheel,) = tmp_path.glob("chatspan-*.whl")
    return wheel


def _venv_with(wheel: Path, tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], clean_env())
    python = venv / "bin" / "python"
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(frozen, encoding="utf-8")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-compile",
            "-c",
            str(constraints),
            str(wheel),
            "openai-agents",
        ],
        clean_env(),
    )
    return python


@pytest.fixture(scope="module")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp_path)
    return wheel, _venv_with(wheel, tmp_path)


def test_wheel_has_the_pth_at_its_root(wheel_install: tuple[Path, Path]):
    wheel, _ = wheel_install
    with zipfile.ZipFile(wheel) as archive:
        line = archive.read(PTH).decode()
        record = archive.read("chatspan-0.1.0.dist-info/RECORD").decode()

    assert line.startswith("import os; os.environ.get('CHATSPAN_ENABLED'")
    assert line.count("\n") == 1
    assert f"{PTH}," in record  # so pip uninstall removes it


def test_fresh_install_activates_the_unmodified_example(
    wheel_install: tuple[Path, Path], app_env: dict[str, str], fake_openai: FakeOpenAI, jsonl: Path
):
    _, python = wheel_install
    site_packages = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], clean_env()
    )
    assert (Path(site_packages.stdout.strip()) / PTH).is_file()

    done = run([str(python), str(EXAMPLE)], {**app_env, "CHATSPAN_ENABLED": "1"})

    assert "Weather agent> In Tokyo" in done.stdout
    assert len(chat_spans(jsonl)) == len(fake_openai.requests) == 7


def test_fresh_install_unset_imports_nothing(
    wheel_install: tuple[Path, Path], app_env: dict[str, str]
):
    _, python = wheel_install

    done = run([str(python), "-c", REPORT_MODULES], app_env)

    assert done.stdout.strip() == "[]"
