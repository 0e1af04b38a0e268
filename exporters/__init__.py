"""Where chatspan's telemetry goes: providers from the standard variables, and the JSONL file.

``configure()`` builds tracer and meter providers from ``OTEL_*`` variables when the application
has not set its own; ``JsonlSpanExporter`` is the embedded default (OTLP JSON lines in a local
file, rendered by ``chatspan view``); ``apply_agents_sdk_export()`` honours
``CHATSPAN_AGENTS_SDK_EXPORT`` (whether the Agents SDK keeps exporting to OpenAI's service).
"""

from chatspan.exporters.agents_sdk_export import apply_agents_sdk_export
from chatspan.exporters.configure import ExportHandle, configure
from chatspan.exporters.jsonl import JsonlMetricExporter, JsonlSpanExporter

__all__ = [
    "ExportHandle",
    "JsonlMetricExporter",
    "JsonlSpanExporter",
    "apply_agents_sdk_export",
    "configure",
]
