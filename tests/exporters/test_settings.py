"""Export settings from the environment: defaults, OTLP protocol, and bad values (pure)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from chatspan.exporters.settings import ExportSettings
from chatspan.instrumentation.errors import ConfigError


@pytest.mark.parametrize(
    ("env", "traces", "metrics"),
    [
        ({}, ("jsonl",), ()),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"},
            ("otlp_proto_grpc",),
            ("otlp_proto_grpc",),
        ),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"},
            ("otlp_proto_grpc",),
            (),
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            ("otlp_proto_http",),
            (),
        ),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
            },
            ("otlp_proto_http",),
            ("otlp_proto_grpc",),
        ),
        ({"OTEL_TRACES_EXPORTER": " Console, jsonl,console "}, ("console", "jsonl"), ()),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "jsonl"}, (), ("jsonl",)),
        ({"OTEL_TRACES_EXPORTER": "otlp_proto_http"}, ("otlp_proto_http",), ()),
    ],
)
def test_exporters_from_env(env: dict[str, str], traces: tuple[str, ...], metrics: tuple[str, ...]):
    settings = ExportSettings.from_env(env)

    assert (settings.traces_exporters, settings.metrics_exporters) == (traces, metrics)


def test_other_settings_from_env(tmp_path: Path):
    env = {
        "CHATSPAN_JSONL_PATH": str(tmp_path / "x.jsonl"),
        "OTEL_BSP_EXPORT_TIMEOUT": "1500",
        "OTEL_SDK_DISABLED": "TRUE",
    }
    settings = ExportSettings.from_env(env, service_name_default="svc")

    assert settings.jsonl_path == tmp_path / "x.jsonl"
    assert settings.exit_timeout_millis == 1500
    assert settings.sdk_disabled
    assert settings.service_name_default == "svc"
    assert ExportSettings.from_env({}).exit_timeout_millis == 5000


@pytest.mark.parametrize(
    ("env", "variable", "expected"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaegr-1"}, "OTEL_TRACES_EXPORTER", ("jsonl",)),
        ({"OTEL_TRACES_EXPORTER": "jaegr-2,console"}, "OTEL_TRACES_EXPORTER", ("console",)),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json-3"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            ("otlp_proto_grpc",),
        ),
    ],
)
def test_bad_value_warns_once_naming_variable_and_allowed_values(
    env: dict[str, str],
    variable: str,
    expected: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
):
    with caplog.at_level(logging.WARNING, logger="chatspan"):
        results = [ExportSettings.from_env(env).traces_exporters for _ in range(2)]

    assert results == [expected, expected]
    (record,) = caplog.records
    assert variable in record.getMessage()
    assert "allowed" in record.getMessage()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"OTEL_METRICS_EXPORTER": "prometheuss"}, "OTEL_METRICS_EXPORTER"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ),
        ({"OTEL_BSP_EXPORT_TIMEOUT": "soon"}, "OTEL_BSP_EXPORT_TIMEOUT"),
    ],
)
def test_bad_value_on_the_strict_path_raises(env: dict[str, str], variable: str):
    with pytest.raises(ConfigError, match=variable):
        ExportSettings.from_env(env, strict=True)


@pytest.mark.parametrize(
    ("env", "used"),
    [
        ({"OTEL_BSP_EXPORT_TIMEOUT": "soon"}, "using 30000 per export, 5000 at exit"),
        ({"OTEL_METRIC_EXPORT_TIMEOUT": "0"}, "allowed: a number of milliseconds > 0; using 30000"),
        ({"OTEL_BSP_MAX_QUEUE_SIZE": "0"}, "allowed: a whole number of spans >= 1; using 2048"),
    ],
)
def test_a_bad_number_is_checked_once_and_says_what_is_used(env: dict[str, str], used: str):
    """One check per variable: the batch processor, the reader and the exit flush share it."""
    with pytest.raises(ConfigError, match=used) as raised:
        ExportSettings.from_env(env, strict=True)
    assert str(raised.value).startswith(next(iter(env)))
    settings = ExportSettings.from_env({**env, "OTEL_BSP_SCHEDULE_DELAY": "250"})
    assert settings.batch_options["schedule_delay_millis"] == 250
    assert settings.batch_options["export_timeout_millis"] == 30_000
    assert settings.reader_options["export_timeout_millis"] == 30_000
    assert settings.exit_timeout_millis == 5_000
