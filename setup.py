"""Build step for what ``pyproject.toml`` cannot say: ship ``chatspan-activate.pth``.

A ``.pth`` file must sit at the top of site-packages, outside every package, and setuptools has no
declarative way to put a file there. ``build_py`` below writes it next to the packages:

- regular wheel (``pip wheel .``, ``pip install .``): into ``build_lib``, the wheel's root;
- editable wheel (``pip install -e .``, PEP 660): setuptools runs ``build_py`` with
  ``editable_mode`` set and maps the packages with its own ``.pth`` + finder; files written to the
  ``install`` command's ``install_lib``, which it points at the unpacked editable wheel, are
  packed into that wheel. Our file sorts after ``__editable__.*.pth``, so the finder that maps
  ``chatspan`` to the source tree is installed before our line runs.

The line is generated here rather than kept as a file, so an sdist carries it with no manifest.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "chatspan-activate.pth"
# One line, run by site.py at every interpreter start. Unset or off: one dict lookup and nothing
# imported. Otherwise chatspan registers its import hook. A failure (a broken install) is one line
# on stderr, never a traceback, and said once although site.py runs a venv's .pth lines twice.
PTH_LINE = (
    "import os; os.environ.get('CHATSPAN_ENABLED', '').strip().lower() "
    "not in ('', '0', 'false', 'off', 'no') and exec("
    '"try:\\n'
    " from chatspan.instrumentation.activation import activate_from_env\\n"
    " activate_from_env()\\n"
    "except Exception as e:\\n"
    " import sys\\n"
    " getattr(sys, '_chatspan_pth_failed', 0) or print('chatspan: not activated:', repr(e),"
    " file=sys.stderr)\\n"
    ' sys._chatspan_pth_failed = 1")'
)


class BuildPyWithPth(build_py):
    """``build_py`` that also writes the activation ``.pth`` where the wheel's root is."""

    def run(self) -> None:
        super().run()
        os.makedirs(self._pth_dir(), exist_ok=True)
        with open(os.path.join(self._pth_dir(), PTH_NAME), "w", encoding="utf-8") as pth:
            pth.write(PTH_LINE + "\n")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            outputs.append(os.path.join(self.build_lib, PTH_NAME))
        return outputs

    def _pth_dir(self) -> str:
        if getattr(self, "editable_mode", False):
            return str(self.get_finalized_command("install").install_lib)
        return str(self.build_lib)


setup(cmdclass={"build_py": BuildPyWithPth})
