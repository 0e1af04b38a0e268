"""Loading a ``bench/`` script as a module: they are scripts, not part of the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

_BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench_script(name: str) -> ModuleType:
    """``bench/<name>.py``, freshly executed (each test gets its own module state)."""
    spec = importlib.util.spec_from_file_location(f"chatspan_bench_{name}", _BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
