"""``configure()``: providers, OTLP delivery over gRPC and HTTP, and a bounded exit.

``build_providers`` is tested in-process (nothing global is set); whatever sets the global
providers or runs at interpreter exit is tested in a subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

import chatspan.exporters
from chatspan.exporters.configure import ExportSettings, build_providers
from tests.reliability.otlp_receiver import serve_grpc, serve_http


def test_public_names():
    assert sorted(chatspan.exporters.__all__) == [
        "ExportHandle",
        "JsonlMetricExporter",
        "JsonlSpanExporter",
        "apply_agents_sdk_export",
        "configure",
    ]


# -- build_providers (in-process, nothing global) -------------------------------------------------


def test_jsonl_default_writes_spans_as_they_end(tmp_path: Path):
    settings = ExportSettings.from_env({"CHATSPAN_JSONL_PATH": str(tmp_path / "t.jsonl")})
    handle = build_providers(settings)
    with handle.tracer_provider.get_tracer("test").start_as_current_span("s"):
        pass

    assert handle.jsonl_path is not None
    assert len(handle.jsonl_path.read_text().splitlines()) == 1  # before any flush
    assert (handle.owns_tracer_provider, handle.owns_meter_provider) == (True, False)
    assert trace.get_tracer_provider() is not handle.tracer_provider
    assert handle.shutdown() is True
    assert handle.shutdown() is True  # idempotent
    assert handle.lost_spans() == {}


def test_service_name_defaults_unless_the_environment_names_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    settings = ExportSettings(jsonl_path=tmp_path / "t.jsonl", service_name_default="my-default")
    default = build_providers(settings)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    named = build_providers(settings)

    names = [h.tracer_provider.resource.attributes["service.name"] for h in (default, named)]
    assert names == ["my-default", "from-env"]
    for handle in (default, named):
        handle.shutdown()


class _Received:
    """What an in-test OTLP receiver decoded; waits are bounded, woken on each arrival."""

    def __init__(self) -> None:
        self.span_names: list[str] = []
        self.metric_names: list[str] = []
        self.service_names: set[str] = set()
        self._arrived = threading.Condition()

    def add_traces(self, request: trace_pb.ExportTraceServiceRequest) -> None:
        with self._arrived:
            for resource_spans in request.resource_spans:
                for attribute in resource_spans.resource.attributes:
                    if attribute.key == "service.name":
                        self.service_names.add(attribute.value.string_value)
                for scope_spans in resource_spans.scope_spans:
                    self.span_names += [span.name for span in scope_spans.spans]
            self._arrived.notify_all()

    def add_metrics(self, request: metrics_pb.ExportMetricsServiceRequest) -> None:
        with self._arrived:
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    self.metric_names += [metric.name for metric in scope_metrics.metrics]
            self._arrived.notify_all()

    def wait_for(self, condition: Callable[[], bool], timeout: float = 20.0) -> bool:
        with self._arrived:
            return self._arrived.wait_for(condition, timeout)

    def handle(self, signal_name: str, request: Any, client_waits: Callable[[], bool]) -> bool:
        """``otlp_receiver.Handles``: keep what arrived, answer OK."""
        (self.add_traces if signal_name == "traces" else self.add_metrics)(request)
        return True


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[_Received, str]]:
    received = _Received()
    port, stop = serve_grpc(0, received)
    yield received, f"http://127.0.0.1:{port}"
    stop()


@pytest.fixture
def http_receiver() -> Iterator[tuple[_Received, str]]:
    received = _Received()
    port, stop = serve_http(0, received)
    yield received, f"http://127.0.0.1:{port}"
    stop()


@pytest.mark.parametrize(
    ("protocol", "receiver"), [("grpc", "grpc_receiver"), ("http/protobuf", "http_receiver")]
)
def test_otlp_delivers_spans_and_metrics(
    protocol: str, receiver: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
):
    received, endpoint = request.getfixturevalue(receiver)
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_SERVICE_NAME": "otlp-test",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # the OTLP exporter classes read the process environment
    handle = build_providers(ExportSettings.from_env(env))
    with handle.tracer_provider.get_tracer("test").start_as_current_span("agent run"):
        handle.meter_provider.get_meter("test").create_counter("chatspan.test.calls").add(1)

    assert handle.shutdown() is True
    assert received.wait_for(lambda: "chatspan.test.calls" in received.metric_names)
    assert received.span_names == ["agent run"]
    assert received.service_names == {"otlp-test"}
    assert handle.lost_spans() == {}


# -- configure() and interpreter exit (subprocesses) ---------------------------------------------


def _run(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CHATSPAN_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


SPANS_THEN_EXIT = """
    import json
    from opentelemetry import metrics, trace
    from chatspan.exporters import configure
    handle = configure()
    tracer = trace.get_tracer("script")
    with tracer.start_as_current_span("agent run"):
        for n in range(3):
            with tracer.start_as_current_span(f"chat {n}"):
                metrics.get_meter("script").create_counter("chatspan.test.calls").add(1)
    print(json.dumps([handle.owns_tracer_provider, handle.owns_meter_provider]))
"""


def test_short_script_loses_no_span_at_exit(tmp_path: Path):
    done = _run(SPANS_THEN_EXIT, tmp_path)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, False]
    lines = (tmp_path / "chatspan-traces.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert done.stderr == ""


def test_batched_otlp_export_is_flushed_at_exit(
    grpc_receiver: tuple[_Received, str], tmp_path: Path
):
    received, endpoint = grpc_receiver
    done = _run(SPANS_THEN_EXIT, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, True]
    assert received.wait_for(lambda: len(received.span_names) == 4)
    assert received.wait_for(lambda: "chatspan.test.calls" in received.metric_names)
    assert not (tmp_path / "chatspan-traces.jsonl").exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("protocol", "bound"), [("grpc", {}), ("http/protobuf", {"OTEL_BSP_EXPORT_TIMEOUT": "1000"})]
)
def test_unreachable_collector_exits_promptly_and_reports_the_loss_once(
    protocol: str, bound: dict[str, str], tmp_path: Path
):
    started = time.monotonic()
    done = _run(
        SPANS_THEN_EXIT,
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{_closed_port()}",
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        **bound,
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stderr
    assert elapsed < 15, elapsed
    (loss,) = [line for line in done.stderr.splitlines() if line.startswith("chatspan:")]
    assert "spans not exported: 4 of 4 by otlp_proto_" in loss
    assert "(4 failed to send, 0 never sent)" in loss  # the exporter tried, and gave up at exit
    assert f"at most {bound.get('OTEL_BSP_EXPORT_TIMEOUT', '5000')} ms" in loss


def test_app_that_set_its_own_providers_keeps_them(tmp_path: Path):
    script = """
        import json
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from chatspan.exporters import configure

        exporter = InMemorySpanExporter()
        app_tracer_provider = TracerProvider()
        app_tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(app_tracer_provider)
        app_meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        metrics.set_meter_provider(app_meter_provider)

        handle = configure()
        handle.shutdown()
        with trace.get_tracer("app").start_as_current_span("after our shutdown"):
            pass
        print(json.dumps({
            "owns": [handle.owns_tracer_provider, handle.owns_meter_provider],
            "same": [handle.tracer_provider is app_tracer_provider,
                     handle.meter_provider is app_meter_provider,
                     trace.get_tracer_provider() is app_tracer_provider],
            "spans": [s.name for s in exporter.get_finished_spans()],
        }))
    """
    done = _run(script, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "owns": [False, False],
        "same": [True, True, True],
        "spans": ["after our shutdown"],
    }
    assert list(tmp_path.iterdir()) == []


def test_configure_twice_reuses_the_first_and_bad_values_never_raise(tmp_path: Path):
    script = """
        import json
        from chatspan.exporters import configure
        first, second = configure(), configure()
        print(json.dumps([first.owns_tracer_provider, second.owns_tracer_provider,
                          second.tracer_provider is first.tracer_provider]))
    """
    done = _run(script, tmp_path, OTEL_TRACES_EXPORTER="bogus", OTEL_METRICS_EXPORTER="none")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, False, True]
    (warning,) = done.stderr.splitlines()
    assert "OTEL_TRACES_EXPORTER" in warning
    assert "allowed: otlp, console, jsonl, none" in warning
