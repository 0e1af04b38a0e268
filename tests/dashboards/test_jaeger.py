"""The demo agent's traces as users see them in Jaeger, through the configuration we ship.

Jaeger v2 runs ``dashboards/jaeger.yaml`` unchanged (in-memory storage), its ports moved to free
loopback ones through the file's ``${env:...}`` defaults. ``chatspan demo`` exports OTLP to it,
once over gRPC and once over HTTP, each run under its own service name; the traces are read back
through Jaeger's query API (``/api/traces``, what the UI uses) and checked as a tree.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import DASHBOARDS, Server, clean_env, find_binary, free_port, get_json, wait_for

PROTOCOLS = {"grpc": "JAEGER_OTLP_GRPC_ENDPOINT", "http/protobuf": "JAEGER_OTLP_HTTP_ENDPOINT"}
MODEL = "gpt-4o-mini"
ROOT = "invoke_workflow chatspan demo"  # the demo's trace("chatspan demo")


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(query URL, {protocol: OTLP endpoint URL}) of a Jaeger running our jaeger.yaml."""
    binary = find_binary("jaeger")
    tmp = tmp_path_factory.mktemp("jaeger")
    ports = {name: free_port() for name in (*PROTOCOLS.values(), "JAEGER_QUERY_HTTP_ENDPOINT",
                                            "JAEGER_QUERY_GRPC_ENDPOINT")}  # fmt: skip
    env = clean_env(**{name: f"127.0.0.1:{port}" for name, port in ports.items()})
    server = Server([binary, f"--config={DASHBOARDS / 'jaeger.yaml'}"], tmp / "jaeger.log", env)
    try:
        url = f"http://127.0.0.1:{ports['JAEGER_QUERY_HTTP_ENDPOINT']}"

        def ready() -> bool:
            server.check_alive()
            get_json(f"{url}/api/services")
            return True

        wait_for(ready, 60, "Jaeger's query API")
        endpoints = {proto: f"http://127.0.0.1:{ports[var]}" for proto, var in PROTOCOLS.items()}
        yield url, endpoints
    finally:
        server.stop()


def _run_demo(tmp_path: Path, endpoint: str, protocol: str, service: str) -> None:
    chatspan = Path(sys.executable).with_name("chatspan")
    assert chatspan.exists(), f"the chatspan console script is not next to {sys.executable}"
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_SERVICE_NAME=service,
        OTEL_METRICS_EXPORTER="none",  # Jaeger takes traces only
    )
    command = [str(chatspan), "demo", "--scripted", "--jsonl", str(tmp_path / "spans.jsonl")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "otlp" in done.stdout  # the demo says where its traces go


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def _parent(span: dict[str, Any]) -> str | None:
    refs = [ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"]
    return refs[0] if refs else None


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_demo_trace_tree_in_jaeger(jaeger: Any, tmp_path: Path, protocol: str) -> None:
    url, endpoints = jaeger
    service = f"chatspan-demo-{protocol.split('/')[0]}"
    _run_demo(tmp_path, endpoints[protocol], protocol, service)

    def complete_trace() -> list[dict[str, Any]] | None:
        traces = get_json(f"{url}/api/traces", service=service, limit="20")["data"]
        spans = [span for trace in traces for span in trace["spans"]]
        names = [span["operationName"] for span in spans]
        return traces if ROOT in names else None  # the root ends, and is exported, last

    traces = wait_for(complete_trace, 30, f"the demo's trace under {service!r} in Jaeger")
    assert len(traces) == 1, "one agent run (the demo's two turns share a trace) is one trace"
    (trace,) = traces
    spans = {span["spanID"]: span for span in trace["spans"]}
    assert {span["traceID"] for span in spans.values()} == {trace["traceID"]}

    # service.name on every span's process.
    assert {trace["processes"][span["processID"]]["serviceName"] for span in spans.values()} == {
        service
    }

    # One root, the workflow; every other span's parent is in the trace.
    roots = [span for span in spans.values() if _parent(span) is None]
    assert [root["operationName"] for root in roots] == [ROOT]
    assert all(_parent(span) in spans for span in spans.values() if span not in roots)

    def ancestors(span: dict[str, Any]) -> list[str]:
        names = []
        while (parent := _parent(span)) is not None:
            span = spans[parent]
            names.append(span["operationName"])
        return names

    def nearest_agent(span: dict[str, Any]) -> str:
        return next(name for name in ancestors(span) if name.startswith("invoke_agent "))

    counts = Counter(span["operationName"] for span in spans.values())
    assert counts["invoke_agent Concierge"] == 1
    assert counts["invoke_agent Weather agent"] == 2
    assert counts["execute_tool get_weather"] == 2 and counts["execute_tool get_local_time"] == 2
    assert counts[f"chat {MODEL}"] == 7  # Concierge 1, Weather agent 3 + 3
    assert counts["handoff Weather agent"] == 1

    kinds = {name: set() for name in counts}
    for span in spans.values():
        kinds[span["operationName"]].add(_tags(span).get("span.kind", "internal"))
    assert kinds[f"chat {MODEL}"] == {"client"}
    assert kinds[ROOT] == kinds["invoke_agent Concierge"] == {"internal"}
    assert kinds["execute_tool get_weather"] == {"internal"}

    for span in spans.values():
        name, tags = span["operationName"], _tags(span)
        if name == f"chat {MODEL}":
            assert nearest_agent(span) in ("invoke_agent Concierge", "invoke_agent Weather agent")
            assert tags["gen_ai.operation.name"] == "chat"
            assert tags["gen_ai.provider.name"] == "openai"
            assert tags["gen_ai.request.model"] == MODEL
            assert tags["gen_ai.response.model"].startswith(MODEL)
            assert tags["gen_ai.usage.input_tokens"] > 0 and tags["gen_ai.usage.output_tokens"] > 0
            assert tags["gen_ai.agent.name"] == nearest_agent(span).removeprefix("invoke_agent ")
            assert tags["server.address"] == "api.openai.com"
        elif name.startswith("execute_tool "):
            assert nearest_agent(span) == "invoke_agent Weather agent"
            assert tags["gen_ai.operation.name"] == "execute_tool"
            assert tags["gen_ai.tool.name"] == name.removeprefix("execute_tool ")
            assert tags["gen_ai.tool.type"] == "function"
        elif name.startswith("invoke_agent "):
            assert tags["gen_ai.operation.name"] == "invoke_agent"
            assert tags["gen_ai.agent.name"] == name.removeprefix("invoke_agent ")
            assert ancestors(span)[-1] == ROOT
    streamed = [s for s in spans.values() if _tags(s).get("gen_ai.request.stream") is True]
    assert streamed, "the demo's second turn streams"
