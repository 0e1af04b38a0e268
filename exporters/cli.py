"""The ``chatspan`` command: ``view`` a JSONL file as trees, check the ``config``, run the ``demo``.

Kept apart from the library: ``print`` lives only here, configuration is read on the strict path,
and ``main`` turns a ``ChatspanError`` into one line on stderr and exit status 1. The demo is
imported only when asked for, so ``chatspan view`` never loads the Agents SDK.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from chatspan.exporters.agents_sdk_export import agents_sdk_export_mode
from chatspan.exporters.settings import (
    CHATSPAN_JSONL_PATH,
    DEFAULT_JSONL_PATH,
    ExportSettings,
    jsonl_path,
)
from chatspan.exporters.view import render_file
from chatspan.instrumentation.errors import ChatspanError

__all__ = ["main"]


def _version() -> str:
    try:
        return version("chatspan")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatspan", description="OpenTelemetry tracing for OpenAI Agents SDK apps."
    )
    parser.add_argument("--version", action="version", version=f"chatspan {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    view = commands.add_parser("view", help="print the traces in a JSONL file as trees")
    view.add_argument(
        "file",
        nargs="?",
        help=f"OTLP JSON lines file (default: ${CHATSPAN_JSONL_PATH} or {DEFAULT_JSONL_PATH})",
    )
    commands.add_parser(
        "config", help="show where telemetry would go with this environment, or what is wrong"
    )
    commands.add_parser(
        "demo", add_help=False, help="run the traced demo agent (arguments go to the demo)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command != "demo" and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "view":
            return _view(args.file)
        if args.command == "config":
            return _config()
        if args.command == "demo":
            return _demo(extra)
    except ChatspanError as exc:
        print(f"chatspan: {exc}", file=sys.stderr)
        return 1
    parser.print_help(sys.stderr)
    return 2


def _view(file: str | None) -> int:
    path = file or jsonl_path(os.environ, used=False)
    try:
        text = render_file(path)
    except OSError as exc:
        print(f"chatspan view: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(text)
    return 0


def _config() -> int:
    settings = ExportSettings.from_env(os.environ, strict=True)
    mode = agents_sdk_export_mode(os.environ, strict=True)
    rows = {
        "traces": ", ".join(settings.traces_exporters) or "none",
        "metrics": ", ".join(settings.metrics_exporters) or "none",
        "jsonl file": str(settings.jsonl_path),
        "exit flush bound": f"{settings.exit_timeout_millis} ms",
        "Agents SDK export to OpenAI": mode,
    }
    if settings.sdk_disabled:
        rows["OTEL_SDK_DISABLED"] = "true (nothing is exported)"
    width = max(len(key) for key in rows)
    for key, value in rows.items():
        print(f"{key:<{width}}  {value}")
    return 0


def _demo(args: list[str]) -> int:
    try:
        demo = importlib.import_module("chatspan.exporters.demo")
    except ModuleNotFoundError as exc:
        if exc.name == "chatspan.exporters.demo":
            print("chatspan demo: not part of this installation", file=sys.stderr)
        else:
            print(
                f"chatspan demo: needs the {exc.name!r} module (pip install 'chatspan[agents]')",
                file=sys.stderr,
            )
        return 1
    status = demo.main(args)
    return int(status or 0)
