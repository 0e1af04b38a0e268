"""Tracer and meter providers from the standard ``OTEL_*`` variables, unless the app has its own.

Three steps, kept apart so each can be tested on its own: ``ExportSettings.from_env`` reads the
variables (``settings.py``); ``build_providers`` builds SDK providers and exporters for them and
sets nothing global; ``configure`` installs them only where no provider is set yet (the API's proxy
means "not set"; a provider set by the app or by ``opentelemetry-instrument`` is reused and never
touched) and registers the bounded flush at interpreter exit (``handle.py``).

Exporters are created through the entry points the SDK's own auto-configuration uses; the OTLP
exporter classes read their endpoint, headers, timeout, TLS and compression variables from the
process environment themselves, as ``Resource.create()`` reads ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from chatspan.exporters.handle import CountingExporter, ExportHandle, SpanLedger
from chatspan.exporters.jsonl import JsonlMetricExporter, JsonlSpanExporter
from chatspan.exporters.settings import (
    ENTRY_POINT_GROUP,
    EXPORTER_VAR,
    ExportSettings,
    Signal,
    config_problem,
)

__all__ = ["ExportHandle", "ExportSettings", "build_providers", "configure"]

_configure_lock = threading.Lock()
# Feature-detected: ``meter_provider=`` came with the SDK's processor metrics, after our 1.39 floor.
_BATCH_TAKES_METER_PROVIDER = "meter_provider" in inspect.signature(BatchSpanProcessor).parameters


def _resource(service_name_default: str) -> Resource:
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name_default}))
    return resource


def _make_exporter(signal: Signal, name: str, settings: ExportSettings, strict: bool) -> Any:
    """One exporter instance by entry-point name (or ours), or None after reporting why not."""
    try:
        if name == "jsonl":
            jsonl = JsonlSpanExporter if signal == "traces" else JsonlMetricExporter
            return jsonl(settings.jsonl_path)
        (entry_point,) = entry_points(group=ENTRY_POINT_GROUP[signal], name=name)
        return entry_point.load()()
    except Exception as exc:
        config_problem(
            f"{EXPORTER_VAR[signal]}: could not create the {name!r} exporter ({exc}); skipped",
            strict=strict,
        )
        return None


def _batch_processor(
    exporter: CountingExporter, meter_provider: MeterProvider | None, options: dict[str, Any]
) -> BatchSpanProcessor:
    """A batch processor whose own metrics (``otel.sdk.processor.span.processed``, with
    ``error.type=queue_full`` for each span dropped on a full queue) go to our meter provider.

    Without one of ours, the SDK's default applies: the global meter provider, the application's
    if it set one. The SDK records these metrics only under
    ``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED=true``; drops are counted in our ledger either way.
    ``options``: the ``OTEL_BSP_*`` numbers, checked by ``ExportSettings`` (the SDK would raise or
    log a traceback for a bad one), so the SDK need not read the variables itself.
    """
    if meter_provider is not None and _BATCH_TAKES_METER_PROVIDER:
        return BatchSpanProcessor(exporter, meter_provider=meter_provider, **options)
    return BatchSpanProcessor(exporter, **options)


def build_providers(
    settings: ExportSettings,
    *,
    build_traces: bool = True,
    build_metrics: bool = True,
    strict: bool = False,
) -> ExportHandle:
    """SDK providers for ``settings``, without setting them globally; the caller shuts them down.

    A signal with no exporter gets no provider. The JSONL file is written as each span ends (a
    crash loses nothing and ``chatspan view`` sees spans live); other exporters are batched, and
    their batch processors report to the meter provider built here, if any.
    """
    resource = _resource(settings.service_name_default)
    tracer_provider = meter_provider = None
    metric_exporters = [
        exporter
        for name in (settings.metrics_exporters if build_metrics else ())
        if (exporter := _make_exporter("metrics", name, settings, strict)) is not None
    ]
    if metric_exporters:
        readers = [  # interval and timeout checked by ExportSettings, like the batch numbers
            PeriodicExportingMetricReader(exporter, **settings.reader_options)
            for exporter in metric_exporters
        ]
        meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, shutdown_on_exit=False
        )
    ledger = SpanLedger()
    for name in settings.traces_exporters if build_traces else ():
        exporter = _make_exporter("traces", name, settings, strict)
        if exporter is not None:
            ledger.exporters.append(CountingExporter(name, exporter))
    if ledger.exporters:
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        tracer_provider.add_span_processor(ledger)
        for counted in ledger.exporters:
            if counted.name == "jsonl":
                tracer_provider.add_span_processor(SimpleSpanProcessor(counted))
            else:
                processor = _batch_processor(counted, meter_provider, settings.batch_options)
                tracer_provider.add_span_processor(processor)
    return ExportHandle(settings, tracer_provider, meter_provider, ledger, metric_exporters)


def _is_unset(provider: object) -> bool:
    # Until a provider is set the API hands out a proxy; the meter one is private, hence by name.
    return isinstance(provider, trace.ProxyTracerProvider) or (
        type(provider).__name__ == "_ProxyMeterProvider"
    )


def configure(
    env: Mapping[str, str] | None = None,
    *,
    service_name_default: str = "chatspan-app",
    strict: bool = False,
) -> ExportHandle:
    """Make sure spans and metrics go somewhere, building providers only where none is set.

    ``env`` (default ``os.environ``) decides which exporters and where the JSONL file goes.
    Never raises unless ``strict``; a repeated call finds our providers set and reuses them.

    :raises ConfigError: with ``strict=True``, for a configuration value we cannot accept.
    """
    try:
        settings = ExportSettings.from_env(
            os.environ if env is None else env,
            service_name_default=service_name_default,
            strict=strict,
        )
        with _configure_lock:
            return _install(settings, strict)
    except Exception as exc:
        if strict:
            raise
        config_problem(f"exporters not configured: {exc!r}", strict=False)
        return ExportHandle(ExportSettings())


def _install(settings: ExportSettings, strict: bool) -> ExportHandle:
    enabled = not settings.sdk_disabled
    handle = build_providers(
        settings,
        build_traces=enabled and _is_unset(trace.get_tracer_provider()),
        build_metrics=enabled and _is_unset(metrics.get_meter_provider()),
        strict=strict,
    )
    if handle.owns_tracer_provider:
        trace.set_tracer_provider(handle.tracer_provider)
    if handle.owns_meter_provider:
        metrics.set_meter_provider(handle.meter_provider)
    if handle.owns_tracer_provider or handle.owns_meter_provider:
        handle.shutdown_at_exit()
    return handle
