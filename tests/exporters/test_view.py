"""``chatspan view`` rendering: trees per trace, details, and tolerance of bad lines."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from chatspan.exporters import JsonlSpanExporter
from chatspan.exporters.view import render, render_file

TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"
MS = 1_000_000


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": value}


def _line(
    trace_id: str,
    span_id: str,
    name: str,
    start_ms: float,
    end_ms: float,
    parent: str = "",
    status: dict[str, Any] | None = None,
    **attributes: Any,
) -> str:
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(int(1_700_000_000_000 * MS + start_ms * MS)),
        "endTimeUnixNano": str(int(1_700_000_000_000 * MS + end_ms * MS)),
        "attributes": [
            {"key": key.replace("__", "."), "value": _value(value)}
            for key, value in attributes.items()
        ],
        "status": status or {},
    }
    if parent:
        span["parentSpanId"] = parent
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "demo"}}]}
    record = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}
    return json.dumps(record)


AGENT_TRACE = [
    # Children end before their parents, so they come first in the file, as exported.
    _line(
        TRACE_A,
        "00000000000000a2",
        "chat gpt-4o-mini",
        10,
        310.25,
        parent="00000000000000a1",
        gen_ai__request__model="gpt-4o-mini",
        gen_ai__usage__input_tokens=120,
        gen_ai__usage__output_tokens=31,
    ),
    _line(TRACE_A, "00000000000000a4", "chat gpt-4o-mini", 330, 600, parent="00000000000000a3"),
    _line(
        TRACE_A,
        "00000000000000a5",
        "execute_tool get_weather",
        320,
        325.5,
        parent="00000000000000a1",
        status={"code": 2, "message": "city not found"},
        error__type="ValueError",
    ),
    _line(TRACE_A, "00000000000000a3", "handoff to Weather", 326, 605, parent="00000000000000a1"),
    _line(TRACE_A, "00000000000000a1", "agent Triage", 0, 612),
]

GOLDEN = """\
trace 0af7651916cd43dd8448eb211c80319c  demo  5 spans  612.0 ms
agent Triage                  612.0 ms
├── chat gpt-4o-mini          300.2 ms  model=gpt-4o-mini  tokens in=120 out=31
├── execute_tool get_weather    5.5 ms  ERROR ValueError: city not found
└── handoff to Weather        279.0 ms
    └── chat gpt-4o-mini      270.0 ms

trace 4bf92f3577b34da6a3ce929d0e0e4736  demo  1 span  2.0 ms
chat gpt-4o  2.0 ms  ERROR: timed out  (parent not in file)

note: skipped 2 lines that are not OTLP JSON: 8, 10
note: 1 metrics line not shown"""


def test_render_draws_each_trace_as_a_tree():
    lines = [
        *AGENT_TRACE,
        "",
        _line(
            TRACE_B,
            "00000000000000b2",
            "chat gpt-4o",
            1000,
            1002,
            parent="00000000000000b1",
            status={"code": 2, "message": "timed out"},
        ),
        "not json at all",
        json.dumps({"resourceMetrics": []}),
        AGENT_TRACE[0][:40],  # a truncated last line, as a killed process leaves it
    ]

    assert render(lines) == GOLDEN


def test_render_of_nothing_says_so():
    assert render([]) == "note: no spans found"


def test_render_accepts_base64_ids_from_plain_protobuf_json():
    def b64(hex_id: str) -> str:
        return base64.b64encode(bytes.fromhex(hex_id)).decode()

    lines = [
        _line(b64(TRACE_A), b64("00000000000000a2"), "child", 1, 2, parent=b64("00000000000000a1")),
        _line(b64(TRACE_A), b64("00000000000000a1"), "root", 0, 3),
    ]

    assert render(lines).splitlines()[:3] == [
        f"trace {TRACE_A}  demo  2 spans  3.0 ms",
        "root       3.0 ms",
        "└── child  1.0 ms",
    ]


def test_render_file_reads_what_the_exporter_writes(tmp_path: Path):
    path = tmp_path / "t.jsonl"
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(JsonlSpanExporter(path)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("agent run"), tracer.start_as_current_span("chat m") as span:
        span.set_attribute("gen_ai.request.model", "m")

    lines = render_file(path).splitlines()

    assert lines[1].startswith("agent run")
    assert lines[2].startswith("└── chat m")
    assert lines[2].endswith("model=m")


def test_render_file_skips_undecodable_bytes(tmp_path: Path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(AGENT_TRACE[-1].encode() + b"\n\xff\xfe{garbage\n")

    assert render_file(path).splitlines()[-1] == "note: skipped 1 line that is not OTLP JSON: 2"
