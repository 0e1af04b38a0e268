"""Export settings read once from the environment: which exporters, where the file goes, how long
to wait at exit.

Pure (apart from listing the installed exporter entry points), so it is table-tested without any
provider. Exporter names resolve like the SDK's own auto-configuration: ``otlp`` becomes
``otlp_proto_grpc`` or ``otlp_proto_http`` by ``OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL``, and any name
in the ``opentelemetry_{traces,metrics}_exporter`` entry points (``console``, third-party
exporters) is accepted, plus our ``jsonl``. A bad value is one warning naming the variable and the
allowed values, logged once per process, and a safe fallback; ``strict=True`` (the CLI) raises
``ConfigError`` instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)

from chatspan.instrumentation.errors import ConfigError

__all__ = [
    "CHATSPAN_JSONL_PATH",
    "DEFAULT_EXIT_TIMEOUT_MILLIS",
    "DEFAULT_JSONL_PATH",
    "ENTRY_POINT_GROUP",
    "EXPORTER_VAR",
    "ExportSettings",
    "Signal",
    "config_problem",
]

_logger = logging.getLogger(__name__)

Signal = Literal["traces", "metrics"]
CHATSPAN_JSONL_PATH = "CHATSPAN_JSONL_PATH"
DEFAULT_JSONL_PATH = "chatspan-traces.jsonl"
# The spec's 30 s default (unused by the Python SDK) is far too long to hang an exit on.
DEFAULT_EXIT_TIMEOUT_MILLIS = 5_000
EXPORTER_VAR = {"traces": OTEL_TRACES_EXPORTER, "metrics": OTEL_METRICS_EXPORTER}
ENTRY_POINT_GROUP = {
    "traces": "opentelemetry_traces_exporter",
    "metrics": "opentelemetry_metrics_exporter",
}
_PROTOCOL_VARS = {
    "traces": (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL),
    "metrics": (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL),
}
_ENDPOINT_VARS = {
    "traces": (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT),
    "metrics": (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT),
}
_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
_OWN_NAMES = ("otlp", "console", "jsonl", "none")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def config_problem(message: str, *, strict: bool) -> None:
    """Raise ``ConfigError`` on the strict path; otherwise log ``message`` once per process."""
    if strict:
        raise ConfigError(message)
    with _warned_lock:
        if message in _warned:
            return
        _warned.add(message)
    _logger.warning("chatspan: %s", message)


@dataclass(frozen=True)
class ExportSettings:
    """What to build, as read from the environment once; exporter names are entry-point names."""

    traces_exporters: tuple[str, ...] = ("jsonl",)
    metrics_exporters: tuple[str, ...] = ()
    jsonl_path: Path = Path(DEFAULT_JSONL_PATH)
    exit_timeout_millis: int = DEFAULT_EXIT_TIMEOUT_MILLIS
    service_name_default: str = "chatspan-app"
    sdk_disabled: bool = False

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        service_name_default: str = "chatspan-app",
        strict: bool = False,
    ) -> ExportSettings:
        """Read the settings from ``env``; pure apart from listing installed exporter entry points.

        :raises ConfigError: with ``strict=True``, for a value we cannot accept.
        """
        return cls(
            traces_exporters=_exporter_names(env, "traces", strict),
            metrics_exporters=_exporter_names(env, "metrics", strict),
            jsonl_path=Path(env.get(CHATSPAN_JSONL_PATH) or DEFAULT_JSONL_PATH).expanduser(),
            exit_timeout_millis=_exit_timeout(env, strict),
            service_name_default=service_name_default,
            sdk_disabled=env.get(OTEL_SDK_DISABLED, "").strip().lower() == "true",
        )


def _exporter_names(env: Mapping[str, str], signal: Signal, strict: bool) -> tuple[str, ...]:
    """Resolve ``OTEL_{SIGNAL}_EXPORTER``; unset means our embedded default (see ``_default``)."""
    var = EXPORTER_VAR[signal]
    entries = [item.strip() for item in env.get(var, "").lower().split(",") if item.strip()]
    if not entries:
        return _default(env, signal, strict)
    names: list[str] = []
    invalid = False
    for entry in entries:
        name = None if entry == "none" else _resolve(entry, env, signal, strict)
        invalid = invalid or (name is None and entry != "none")
        if name is not None and name not in names:
            names.append(name)
    if not names and invalid and "none" not in entries:
        return _default(env, signal, strict)
    return tuple(names)


def _default(env: Mapping[str, str], signal: Signal, strict: bool) -> tuple[str, ...]:
    """A collector endpoint in the environment means OTLP (the standard default); else local.

    Locally, spans go to the JSONL file and metrics nowhere: the span lines already carry the
    durations and token counts the metrics aggregate, and no reader thread is started.
    """
    if any(env.get(var) for var in _ENDPOINT_VARS[signal]):
        otlp = _resolve("otlp", env, signal, strict)
        if otlp is not None:
            return (otlp,)
    return ("jsonl",) if signal == "traces" else ()


def _resolve(name: str, env: Mapping[str, str], signal: Signal, strict: bool) -> str | None:
    installed = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP[signal])}
    var = EXPORTER_VAR[signal]
    if name == "jsonl":
        return name
    if name == "otlp":
        name = _otlp_for_protocol(env, signal, strict)
        if name not in installed:
            config_problem(
                f"{var}: OTLP export needs opentelemetry-exporter-otlp "
                "(pip install 'chatspan[otlp]'); not exporting there",
                strict=strict,
            )
            return None
    if name in installed:
        return name
    allowed = ", ".join(dict.fromkeys([*_OWN_NAMES, *sorted(installed)]))
    config_problem(f"{var}: unknown exporter {name!r}; allowed: {allowed}", strict=strict)
    return None


def _otlp_for_protocol(env: Mapping[str, str], signal: Signal, strict: bool) -> str:
    for var in _PROTOCOL_VARS[signal]:
        value = env.get(var, "").strip().lower()
        if not value:
            continue
        if value in _OTLP_BY_PROTOCOL:
            return _OTLP_BY_PROTOCOL[value]
        allowed = ", ".join(_OTLP_BY_PROTOCOL)
        config_problem(
            f"{var}={value!r} is not supported; allowed: {allowed}; using grpc", strict=strict
        )
        break
    return _OTLP_BY_PROTOCOL["grpc"]  # the Python SDK's default, matching its localhost:4317


def _exit_timeout(env: Mapping[str, str], strict: bool) -> int:
    raw = env.get(OTEL_BSP_EXPORT_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_EXIT_TIMEOUT_MILLIS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        config_problem(
            f"{OTEL_BSP_EXPORT_TIMEOUT}={raw!r} is not a whole number of milliseconds >= 0; "
            f"using {DEFAULT_EXIT_TIMEOUT_MILLIS}",
            strict=strict,
        )
        return DEFAULT_EXIT_TIMEOUT_MILLIS
    return value
