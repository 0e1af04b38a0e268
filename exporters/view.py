"""``chatspan view``: an OTLP/JSON lines file as one indented tree per trace, for the terminal.

``render(lines)`` is pure (lines in, text out) so it is tested against a golden string; reading the
file is the only I/O. The file may be growing or cut short (a process killed mid-write), so a line
that is not OTLP JSON is skipped and counted in a note, never fatal. Metric lines are not shown.
Ids are read as hex (OTLP/JSON) or, from tools that emit protobuf's JSON as is, base64.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.service_attributes import SERVICE_NAME

__all__ = ["read_lines", "render", "render_file"]

_STATUS_ERROR = (2, "STATUS_CODE_ERROR")
_MAX_LINE_NUMBERS = 5
_BRANCHES = {False: ("├── ", "│   "), True: ("└── ", "    ")}  # keyed by "is the last child"


@dataclass
class _Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start: int
    end: int
    service: str
    attributes: dict[str, Any] = field(default_factory=dict)
    error: bool = False
    status_message: str = ""


def _hex_id(value: Any) -> str:
    text = str(value or "")
    try:
        int(text, 16)
        return text.lower()
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True).hex()
    except (binascii.Error, ValueError):
        return text


def _value(any_value: dict[str, Any]) -> Any:
    if "stringValue" in any_value:
        return any_value["stringValue"]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "doubleValue" in any_value:
        return float(any_value["doubleValue"])
    if "boolValue" in any_value:
        return bool(any_value["boolValue"])
    if "arrayValue" in any_value:
        return [_value(item) for item in any_value["arrayValue"].get("values", [])]
    return None


def _attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items}


def _spans_of(record: dict[str, Any]) -> Iterator[_Span]:
    for resource_spans in record["resourceSpans"]:
        resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
        service = str(resource.get(SERVICE_NAME, ""))
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                status = span.get("status", {})
                yield _Span(
                    trace_id=_hex_id(span["traceId"]),
                    span_id=_hex_id(span["spanId"]),
                    parent_id=_hex_id(span.get("parentSpanId")),
                    name=str(span.get("name", "")),
                    start=int(span["startTimeUnixNano"]),
                    end=int(span["endTimeUnixNano"]),
                    service=service,
                    attributes=_attributes(span.get("attributes", [])),
                    error=status.get("code") in _STATUS_ERROR,
                    status_message=str(status.get("message", "")),
                )


def _parse(lines: Iterable[str]) -> tuple[list[_Span], list[int], int]:
    """Spans, numbers of lines that are not OTLP JSON, and how many metric lines were seen."""
    spans: list[_Span] = []
    bad: list[int] = []
    metric_lines = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if "resourceSpans" in record:
                spans.extend(_spans_of(record))
            elif "resourceMetrics" in record:
                metric_lines += 1
            else:
                bad.append(number)
        except (ValueError, TypeError, KeyError, AttributeError):
            bad.append(number)
    return spans, bad, metric_lines


def _details(span: _Span, orphan: bool) -> str:
    attrs = span.attributes
    parts: list[str] = []
    model = attrs.get(GEN_AI_REQUEST_MODEL) or attrs.get(GEN_AI_RESPONSE_MODEL)
    if model:
        parts.append(f"model={model}")
    tokens = [
        f"{label}={attrs[key]}"
        for label, key in (("in", GEN_AI_USAGE_INPUT_TOKENS), ("out", GEN_AI_USAGE_OUTPUT_TOKENS))
        if key in attrs
    ]
    if tokens:
        parts.append("tokens " + " ".join(tokens))
    if span.error or ERROR_TYPE in attrs:
        error = " ".join(["ERROR", *([str(attrs[ERROR_TYPE])] if ERROR_TYPE in attrs else [])])
        parts.append(f"{error}: {span.status_message}" if span.status_message else error)
    if orphan:
        parts.append("(parent not in file)")
    return "  ".join(parts)


def _rows(spans: list[_Span]) -> list[tuple[str, _Span, str]]:
    """Depth-first (label, span, details) rows: roots first, children by start time."""
    ids = {span.span_id for span in spans}
    children: dict[str, list[_Span]] = defaultdict(list)
    for span in spans:
        children[span.parent_id].append(span)
    for siblings in children.values():
        siblings.sort(key=lambda span: (span.start, span.name))
    roots = sorted(
        (span for span in spans if span.parent_id not in ids or span.parent_id == span.span_id),
        key=lambda span: (span.start, span.name),
    )
    rows: list[tuple[str, _Span, str]] = []
    seen: set[int] = set()
    stack = [(root, "", "") for root in reversed(roots)]
    while stack:
        span, connector, indent = stack.pop()
        if id(span) in seen:  # a malformed file may loop; print each span once
            continue
        seen.add(id(span))
        orphan = bool(span.parent_id) and not indent  # only roots have no indent
        rows.append((connector + span.name, span, _details(span, orphan)))
        kids = [kid for kid in children[span.span_id] if kid is not span]
        for position, kid in reversed(list(enumerate(kids))):
            branch, extension = _BRANCHES[position == len(kids) - 1]
            stack.append((kid, indent + branch, indent + extension))
    return rows


def _render_trace(trace_id: str, spans: list[_Span]) -> list[str]:
    rows = _rows(spans)
    total_ms = (max(s.end for s in spans) - min(s.start for s in spans)) / 1e6
    services = sorted({s.service for s in spans if s.service})
    count = f"{len(spans)} span" + ("s" if len(spans) != 1 else "")
    header = [f"trace {trace_id}", *services, count, f"{total_ms:.1f} ms"]
    durations = [f"{(span.end - span.start) / 1e6:.1f} ms" for _, span, _ in rows]
    label_width = max(len(label) for label, _, _ in rows)
    duration_width = max(len(text) for text in durations)
    lines = ["  ".join(header)]
    for (label, _, details), duration in zip(rows, durations, strict=True):
        line = f"{label:<{label_width}}  {duration:>{duration_width}}"
        lines.append(f"{line}  {details}" if details else line)
    return lines


def render(lines: Iterable[str]) -> str:
    """The traces in ``lines`` as text, one tree per trace, oldest first, and notes on skips."""
    spans, bad, metric_lines = _parse(lines)
    by_trace: dict[str, list[_Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    blocks = [
        "\n".join(_render_trace(trace_id, trace_spans))
        for trace_id, trace_spans in sorted(
            by_trace.items(), key=lambda item: min(span.start for span in item[1])
        )
    ]
    notes = [] if spans else ["no spans found"]
    if bad:
        shown = ", ".join(str(number) for number in bad[:_MAX_LINE_NUMBERS])
        more = ", ..." if len(bad) > _MAX_LINE_NUMBERS else ""
        lines_are = "line that is" if len(bad) == 1 else "lines that are"
        notes.append(f"skipped {len(bad)} {lines_are} not OTLP JSON: {shown}{more}")
    if metric_lines:
        notes.append(f"{metric_lines} metrics line{'s' if metric_lines != 1 else ''} not shown")
    return "\n\n".join([*blocks, "\n".join(f"note: {note}" for note in notes)] if notes else blocks)


def read_lines(path: str | os.PathLike[str]) -> Iterator[str]:
    """The file's lines; undecodable bytes are replaced, so only that line is skipped later.

    :raises OSError: if the file cannot be opened.
    """
    with open(path, encoding="utf-8", errors="replace") as file:
        yield from file


def render_file(path: str | os.PathLike[str]) -> str:
    """``render`` of the file at ``path``.

    :raises OSError: if the file cannot be read.
    """
    return render(read_lines(path))
