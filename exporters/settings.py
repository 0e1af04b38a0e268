"""Export settings read once from the environment: which exporters, where the file goes, how long
to wait at exit.

Pure (apart from listing the installed exporter entry points), so it is table-tested without any
provider. Exporter names resolve like the SDK's own auto-configuration: ``otlp`` becomes
``otlp_proto_grpc`` or ``otlp_proto_http`` by ``OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL``, and any name
in the ``opentelemetry_{traces,metrics}_exporter`` entry points (``console``, third-party
exporters) is accepted, plus our ``jsonl``. A bad value is one warning naming the variable and the
allowed values, logged once per process, and a safe fallback; ``strict=True`` (the CLI) raises
``ConfigError`` instead.

Variables the SDK reads itself are checked here too, because the SDK is no help with garbage: the
batch processor logs a traceback for a non-integer ``OTEL_BSP_*`` and raises for a non-positive
one (which would leave no exporter at all), and the gRPC exporter raises at construction for a bad
timeout or compression. So the numbers are resolved here (``batch_options``, ``reader_options``,
for the builder to pass on), and an OTLP exporter whose variables would break it is not built: the
signal falls back to its local default, and the message says why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.sdk.environment_variables import (
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_METRIC_EXPORT_INTERVAL,
    OTEL_METRIC_EXPORT_TIMEOUT,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SDK_DISABLED,
)

from chatspan.instrumentation.config import parse_choice, warn_once
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
    "jsonl_path",
]


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
_TIMEOUT_VARS = {
    "traces": (OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT),
    "metrics": (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT),
}
_COMPRESSION_VARS = {
    "traces": (OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION),
    "metrics": (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION),
}
_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
# What each OTLP exporter accepts: the gRPC one raises at construction for anything but gzip.
_COMPRESSIONS = {"otlp_proto_grpc": ("gzip",), "otlp_proto_http": ("gzip", "deflate", "none")}
# The SDK's defaults, for a bad value: (variable, default, unit, smallest allowed).
_BATCH_NUMBERS = {
    "schedule_delay_millis": (OTEL_BSP_SCHEDULE_DELAY, 5_000, "milliseconds", 1),
    "max_queue_size": (OTEL_BSP_MAX_QUEUE_SIZE, 2_048, "spans", 1),
    "max_export_batch_size": (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512, "spans", 1),
    "export_timeout_millis": (OTEL_BSP_EXPORT_TIMEOUT, 30_000, "milliseconds", 0),
}
_READER_NUMBERS = {  # smallest: a number > 0
    "export_interval_millis": (OTEL_METRIC_EXPORT_INTERVAL, 60_000.0, "milliseconds", 0),
    "export_timeout_millis": (OTEL_METRIC_EXPORT_TIMEOUT, 30_000.0, "milliseconds", 0),
}
_OWN_NAMES = ("otlp", "console", "jsonl", "none")


def config_problem(message: str, *, strict: bool) -> None:
    """Raise ``ConfigError`` on the strict path; otherwise log ``message`` once per process."""
    if strict:
        raise ConfigError(message)
    warn_once(message)


@dataclass(frozen=True)
class ExportSettings:
    """What to build, as read from the environment once; exporter names are entry-point names."""

    traces_exporters: tuple[str, ...] = ("jsonl",)
    metrics_exporters: tuple[str, ...] = ()
    jsonl_path: Path = Path(DEFAULT_JSONL_PATH)
    exit_timeout_millis: int = DEFAULT_EXIT_TIMEOUT_MILLIS
    service_name_default: str = "chatspan-app"
    sdk_disabled: bool = False
    # Passed to ``BatchSpanProcessor`` / ``PeriodicExportingMetricReader``, so the SDK does not
    # read the variables again (and trip on a bad one).
    batch_options: dict[str, Any] = field(default_factory=dict)  # its keywords: whole numbers
    reader_options: dict[str, Any] = field(default_factory=dict)  # its keywords: milliseconds

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
        traces = _exporter_names(env, "traces", strict)
        metrics = _exporter_names(env, "metrics", strict)
        _check_resource_attributes(env, strict)
        # OTEL_BSP_EXPORT_TIMEOUT bounds each batch export and, when given, the flush at exit.
        batch = _checked(
            env,
            _BATCH_NUMBERS,
            _whole,
            strict,
            {"export_timeout_millis": f"30000 per export, {DEFAULT_EXIT_TIMEOUT_MILLIS} at exit"},
        )
        exit_timeout = batch["export_timeout_millis"]
        return cls(
            traces_exporters=traces,
            metrics_exporters=metrics,
            jsonl_path=jsonl_path(env, used="jsonl" in traces + metrics, strict=strict),
            exit_timeout_millis=(
                DEFAULT_EXIT_TIMEOUT_MILLIS if exit_timeout is None else exit_timeout
            ),
            service_name_default=service_name_default,
            sdk_disabled=_sdk_disabled(env, strict),
            batch_options=_batch_options(batch, strict),
            reader_options=_with_defaults(
                _checked(env, _READER_NUMBERS, _finite, strict), _READER_NUMBERS
            ),
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
        return name if _otlp_usable(env, signal, name, strict) else None
    allowed = ", ".join(dict.fromkeys([*_OWN_NAMES, *sorted(installed)]))
    config_problem(f"{var}: unknown exporter {name!r}; allowed: {allowed}", strict=strict)
    return None


def _otlp_for_protocol(env: Mapping[str, str], signal: Signal, strict: bool) -> str:
    """The signal's own variable wins; a bad one falls back to the general one, then to grpc."""
    chosen, bad = "grpc", []
    for var in _PROTOCOL_VARS[signal]:
        value = env.get(var, "").strip().lower()
        if value in _OTLP_BY_PROTOCOL:
            chosen = value
            break
        if value:
            bad.append((var, value))
    for var, value in bad:
        config_problem(
            f"{var}={value!r} is not supported; allowed: {', '.join(_OTLP_BY_PROTOCOL)}; "
            f"using {chosen}",
            strict=strict,
        )
    return _OTLP_BY_PROTOCOL[chosen]  # grpc is the Python SDK's default, matching :4317


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """The variable the OTLP exporter will read (signal's own first), present even if empty."""
    for var in names:
        if var in env:
            return var, env[var]
    return None


def _otlp_usable(env: Mapping[str, str], signal: Signal, name: str, strict: bool) -> bool:
    """Check the variables the OTLP exporter reads itself; every problem is reported.

    A bad endpoint fails every export, and the gRPC exporter cannot even be built with a bad
    timeout or compression: then the signal does not export over OTLP (False). The HTTP exporter
    survives a bad timeout or compression (with its default, and its own warning): True.
    """
    if name not in _COMPRESSIONS:
        return True
    grpc = name == "otlp_proto_grpc"
    usable = True
    found = next(((var, env[var]) for var in _ENDPOINT_VARS[signal] if env.get(var)), None)
    if found and (problem := _endpoint_problem(found[1].strip(), grpc)):
        var, endpoint = found
        usable = False
        # Worded alike for both signals, so a shared variable's message is logged once.
        example = "http://host:4317" if grpc else "http://host:4318"
        if var != OTEL_EXPORTER_OTLP_ENDPOINT and not grpc:
            example += f"/v1/{signal}"
        config_problem(
            f"{var}={endpoint!r} {problem}; allowed: a URL like {example} (https:// for TLS); "
            "not exporting over OTLP",
            strict=strict,
        )
    consequence = "not exporting over OTLP" if grpc else "using the default"
    if (found := _first_set(env, _TIMEOUT_VARS[signal])) and _positive(found[1]) is None:
        usable = usable and not grpc
        config_problem(
            f"{found[0]}={found[1]!r} is not valid; allowed: a number of seconds > 0 "
            f"(the Python OTLP exporters read seconds; default 10); {consequence}",
            strict=strict,
        )
    found = _first_set(env, _COMPRESSION_VARS[signal])
    if found and found[1].strip().lower() not in _COMPRESSIONS[name]:
        usable = usable and not grpc
        allowed = ", ".join(_COMPRESSIONS[name])
        config_problem(
            f"{found[0]}={found[1]!r} is not supported by the {name} exporter; allowed: "
            f"{allowed}; {consequence}",
            strict=strict,
        )
    return usable


def _endpoint_problem(endpoint: str, grpc: bool) -> str | None:
    """Why the OTLP exporter could not use ``endpoint``, or None.

    The gRPC exporter also takes a bare ``host:port`` (or a gRPC target such as ``unix:...``),
    so only the HTTP one insists on a scheme.
    """
    if any(char.isspace() for char in endpoint):
        return "contains blanks"
    has_scheme = endpoint.lower().startswith(("http://", "https://"))
    if not has_scheme and not grpc:
        return "has no http:// or https:// scheme"
    try:
        parts = urlsplit(endpoint if has_scheme or "://" in endpoint else f"//{endpoint}")
        port = parts.port
    except ValueError as error:
        return f"is not a valid URL ({error})"
    if (has_scheme or parts.netloc) and not parts.hostname and not endpoint.startswith("unix"):
        return "has no host"
    return None if port is None or port > 0 else "has port 0"


def _positive(raw: str) -> float | None:
    """A finite number > 0, or None."""
    value = _finite(raw)
    return value if value is not None and value > 0 else None


def _finite(raw: str) -> float | None:
    """A finite number, or None."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _whole(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def _checked(
    env: Mapping[str, str],
    table: Mapping[str, tuple[str, Any, str, float]],
    parse: Callable[[str], Any],
    strict: bool,
    fallback: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Each option of ``table`` (variable, default, unit, smallest allowed) as given in ``env``;
    None where the variable is unset or bad (a bad one is reported once, naming what is used
    instead: ``fallback``'s text where given, else the default)."""
    given: dict[str, Any] = {}
    for option, (var, default, unit, smallest) in table.items():
        raw = env.get(var, "").strip()
        value = parse(raw) if raw else None
        whole = parse is _whole  # whole numbers from `smallest` on; other numbers above it
        if raw and (value is None or value < smallest or (not whole and value == smallest)):
            kind = "whole number" if whole else "number"
            bound = f">= {smallest}" if whole else f"> {smallest}"
            used = (fallback or {}).get(option, f"{default:.0f}")
            config_problem(
                f"{var}={raw!r} is not valid; allowed: a {kind} of {unit} {bound}; using {used}",
                strict=strict,
            )
            value = None
        given[option] = value
    return given


def _with_defaults(
    given: Mapping[str, Any], table: Mapping[str, tuple[str, Any, str, float]]
) -> dict[str, Any]:
    return {option: given[option] if given[option] is not None else table[option][1]
            for option in table}  # fmt: skip


def _batch_options(given: Mapping[str, int | None], strict: bool) -> dict[str, int]:
    """The batch span processor's numbers (the SDK's defaults for unset or bad ones)."""
    options = _with_defaults(given, _BATCH_NUMBERS)
    if options["max_export_batch_size"] > options["max_queue_size"]:
        queue = options["max_queue_size"]
        config_problem(
            f"{OTEL_BSP_MAX_EXPORT_BATCH_SIZE}={options['max_export_batch_size']} is larger "
            f"than the queue ({queue}); allowed: a whole number of spans from 1 to the queue "
            f"size; using {queue}",
            strict=strict,
        )
        options["max_export_batch_size"] = queue
    return options


def _sdk_disabled(env: Mapping[str, str], strict: bool) -> bool:
    """``true`` (any case) disables; the spec says anything else is false, so say so once."""
    raw = env.get(OTEL_SDK_DISABLED, "").strip()
    if not raw:
        return False
    try:
        return bool(parse_choice(OTEL_SDK_DISABLED, raw, {"TRUE": True, "FALSE": False}))
    except ConfigError as error:
        config_problem(f"{error}; treating it as false", strict=strict)
        return False


def jsonl_path(env: Mapping[str, str], *, used: bool = True, strict: bool = False) -> Path:
    """``CHATSPAN_JSONL_PATH`` (``~`` expanded), else the default; the one rule for every reader.

    If the file is ``used`` (written), one the exporter could never write falls back to the
    default, with the warning (or, ``strict``, ``ConfigError``).
    """
    raw = env.get(CHATSPAN_JSONL_PATH) or ""
    path = Path(raw or DEFAULT_JSONL_PATH).expanduser()
    if not raw or not used:
        return path
    parent = path.parent
    if path.is_dir():
        problem = "is a directory"
    elif not parent.is_dir():
        problem = f"is in a directory that does not exist ({parent})"
    elif not os.access(parent, os.W_OK) and not os.access(path, os.W_OK):
        problem = f"cannot be written (no write permission in {parent})"
    else:
        return path
    config_problem(
        f"{CHATSPAN_JSONL_PATH}={raw!r} {problem}; allowed: the path of a file in an existing, "
        f"writable directory; writing to ./{DEFAULT_JSONL_PATH} instead",
        strict=strict,
    )
    return Path(DEFAULT_JSONL_PATH)


def _check_resource_attributes(env: Mapping[str, str], strict: bool) -> None:
    """The SDK's ``Resource.create()`` reads the variable; a malformed pair is named here (the
    SDK's own warning names neither the variable nor the format)."""
    raw = env.get(OTEL_RESOURCE_ATTRIBUTES, "")
    for item in raw.split(","):
        key, equals, _ = item.partition("=")
        if item.strip() and not (equals and key.strip()):
            problem = "has no key" if equals else "is not key=value"
            config_problem(
                f"{OTEL_RESOURCE_ATTRIBUTES}: {item.strip()!r} {problem}; allowed: a "
                "comma-separated list of key=value pairs (values URL-encoded); that pair is "
                "ignored",
                strict=strict,
            )
