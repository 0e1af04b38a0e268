"""Grafana dashboards as code: ``python dashboards/build.py`` writes ``dashboards/grafana/*.json``.

Built with grafana-foundation-sdk (the Grafana 11.6 flavour). Metric and label names are derived
from the constants the instrumentation records with (``opentelemetry-semantic-conventions`` and
``chatspan.instrumentation.metrics``), translated the way both the collector's ``prometheus``
exporter and Prometheus's own OTLP receiver translate them (``prometheus/otlptranslator``,
``UnderscoreEscapingWithSuffixes``), which is also what ``opentelemetry-exporter-prometheus``
exposes: dots become underscores, the unit ``s`` becomes the suffix ``_seconds``, a unit in braces
(``{token}``) adds no suffix, and a histogram is ``_bucket``/``_sum``/``_count``. The Prometheus
test (``tests/dashboards/test_prometheus.py``) runs every expression against a real server.

Everything here is a pure builder; only ``main`` writes files. The committed JSON must equal what
``dashboards()`` returns (``tests/dashboards/test_dashboards.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, table, tempo, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from grafana_foundation_sdk.models.tempo import SearchTableType
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes

from chatspan.instrumentation.metrics import _COST, _EXECUTE_TOOL_DURATION, _INVOKE_AGENT_DURATION

__all__ = [
    "PROMETHEUS",
    "TEMPO",
    "agents_dashboard",
    "dashboards",
    "label",
    "main",
    "overview_dashboard",
    "prom_name",
    "render",
]

OUT = Path(__file__).parent / "grafana"

# Datasource uids; grafana/provisioning/datasources/datasources.yaml provisions the same ones.
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="chatspan-prometheus")
TEMPO = DataSourceRef(type_val="tempo", uid="chatspan-tempo")

# otlptranslator's unit map, for the units we record; a unit in braces adds nothing, any other
# unit (USD) is appended as it is.
_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}

# The OTel metrics the dashboards read, with the unit each is recorded in (metrics.py).
DURATION = (gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION, "s")
TOKENS = (gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE, "{token}")
FIRST_CHUNK = (gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, "s")
CHUNK_GAP = (gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK, "s")
AGENT = (_INVOKE_AGENT_DURATION, "s")
TOOL = (_EXECUTE_TOOL_DURATION, "s")
COST = (_COST, "USD")  # a counter: its series is `..._total`


def prom_name(metric: tuple[str, str], suffix: str = "") -> str:
    """The Prometheus name of a metric: (``gen_ai.x``, ``s``) -> ``gen_ai_x_seconds``.

    ``suffix`` is ``bucket``, ``sum`` or ``count`` for a histogram's series, ``total`` for a
    counter's.
    """
    name, unit = metric
    base = label(name)
    unit_suffix = "" if unit.startswith("{") else _UNIT_SUFFIX.get(unit, unit)
    if unit_suffix and not base.endswith(f"_{unit_suffix}"):
        base = f"{base}_{unit_suffix}"
    return f"{base}_{suffix}" if suffix else base


def label(attribute: str) -> str:
    """An attribute's Prometheus label: ``gen_ai.request.model`` -> ``gen_ai_request_model``."""
    return "".join(c if c.isalnum() else "_" for c in attribute)


MODEL = label(gen_ai.GEN_AI_REQUEST_MODEL)
PROVIDER = label(gen_ai.GEN_AI_PROVIDER_NAME)
TOKEN_TYPE = label(gen_ai.GEN_AI_TOKEN_TYPE)
ERROR = label(error_attributes.ERROR_TYPE)
AGENT_NAME = label(gen_ai.GEN_AI_AGENT_NAME)
TOOL_NAME = label(gen_ai.GEN_AI_TOOL_NAME)
# `service.name` becomes `job` (the collector's exporter with honor_labels, the OTLP receiver, or
# the scrape job named after the service); `service_name` only where resource attributes are
# promoted, so the dashboards filter on `job`.
SERVICE = "job"

_CHAT = f'{SERVICE}=~"$service", {PROVIDER}=~"$provider", {MODEL}=~"$model"'
_AGENTS = f'{SERVICE}=~"$service", {AGENT_NAME}=~"$agent"'
_RATE = "[$__rate_interval]"


def _rate(metric: tuple[str, str], suffix: str, selector: str) -> str:
    return f"rate({prom_name(metric, suffix)}{{{selector}}}{_RATE})"


def _quantile(q: float, metric: tuple[str, str], selector: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) ({_rate(metric, 'bucket', selector)}))"


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)
    return query.datasource(PROMETHEUS)


def _series(title: str, unit: str, *queries: prometheus.Dataquery, description: str = "") -> Any:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(PROMETHEUS)
        .unit(unit)
        .height(8)
        .span(12)
        .legend(common_builders.VizLegendOptions().show_legend(True).display_mode(
            common.LegendDisplayMode.TABLE).placement(common.LegendPlacement.BOTTOM).calcs(
            ["mean", "max"]))
    )  # fmt: skip
    if description:
        panel = panel.description(description)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _variable(name: str, metric: tuple[str, str], label_name: str, text: str) -> Any:
    return (
        dash.QueryVariable(name)
        .label(text)
        .datasource(PROMETHEUS)
        .query(f"label_values({prom_name(metric, 'count')}, {label_name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def _base(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["chatspan", "genai", "opentelemetry"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .editable()
    )


def _traces_panel() -> Any:
    """Tempo search for chat spans, slowest first; each trace id links to the trace view."""
    traceql = (
        '{ name =~ "chat.*" && resource.service.name =~ "${service:regex}"'
        ' && span.gen_ai.request.model =~ "${model:regex}"'
        ' && span.gen_ai.provider.name =~ "${provider:regex}" }'
    )
    query = (
        tempo.TempoQuery()
        .ref_id("A")
        .datasource(TEMPO)
        .query_type("traceql")
        .query(traceql)
        .limit(50)
        .table_type(SearchTableType.TRACES)
    )
    return (
        table.Panel()
        .title("Slowest chat calls (Tempo)")
        .description("TraceQL search for chat spans, slowest first; click a trace id to open it.")
        .datasource(TEMPO)
        .height(10)
        .span(24)
        .with_target(query)
        .sort_by([common_builders.TableSortByFieldState().display_name("Duration").desc(True)])
    )


def overview_dashboard() -> dash.Dashboard:
    """GenAI overview: traffic, errors, tokens, latency and streaming, for the chosen models."""
    count = prom_name(DURATION, "count")
    gap_sum, gap_count = _rate(CHUNK_GAP, "sum", _CHAT), _rate(CHUNK_GAP, "count", _CHAT)
    errors = (
        f'sum by ({ERROR}) (rate({count}{{{_CHAT}, {ERROR}!=""}}{_RATE}))'
        f" / ignoring({ERROR}) group_left sum(rate({count}{{{_CHAT}}}{_RATE}))"
    )
    return (
        _base(
            "chatspan-genai-overview",
            "GenAI overview",
            "Model calls recorded by chatspan (gen_ai.client.*), and the slowest chat traces.",
        )
        .with_variable(_variable("service", DURATION, SERVICE, "Service"))
        .with_variable(_variable("provider", DURATION, PROVIDER, "Provider"))
        .with_variable(_variable("model", DURATION, MODEL, "Model"))
        .with_row(dash.Row("Traffic and errors"))
        .with_panel(
            _series(
                "Requests/s by model and provider",
                "reqps",
                _query(
                    f"sum by ({MODEL}, {PROVIDER}) (rate({count}{{{_CHAT}}}{_RATE}))",
                    f"{{{{{MODEL}}}}} ({{{{{PROVIDER}}}}})",
                ),
            )
        )
        .with_panel(
            _series(
                "Error rate by error.type",
                "percentunit",
                _query(errors, f"{{{{{ERROR}}}}}"),
                description="Share of model calls that failed, by the exception's class.",
            )
        )
        .with_row(dash.Row("Tokens"))
        .with_panel(
            _series(
                "Tokens per minute (input / output)",
                "short",
                _query(
                    f"sum by ({TOKEN_TYPE}) ({_rate(TOKENS, 'sum', _CHAT)}) * 60",
                    f"{{{{{TOKEN_TYPE}}}}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Tokens per minute by model",
                "short",
                _query(
                    f"sum by ({MODEL}) ({_rate(TOKENS, 'sum', _CHAT)}) * 60",
                    f"{{{{{MODEL}}}}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Cost per hour (USD) by model",
                "currencyUSD",
                _query(
                    f"sum by ({MODEL}) ({_rate(COST, 'total', _CHAT)}) * 3600",
                    f"{{{{{MODEL}}}}}",
                ),
                description="chatspan.client.cost: token usage times the model's prices.",
            )
        )
        .with_row(dash.Row("Latency"))
        .with_panel(
            _series(
                "Latency p50 / p95 / p99",
                "s",
                _query(_quantile(0.5, DURATION, _CHAT), "p50", "A"),
                _query(_quantile(0.95, DURATION, _CHAT), "p95", "B"),
                _query(_quantile(0.99, DURATION, _CHAT), "p99", "C"),
            )
        )
        .with_panel(
            _series(
                "Time to first chunk p50 / p95 (streams)",
                "s",
                _query(_quantile(0.5, FIRST_CHUNK, _CHAT), "p50", "A"),
                _query(_quantile(0.95, FIRST_CHUNK, _CHAT), "p95", "B"),
            )
        )
        .with_panel(
            _series(
                "Mean gap between chunks (streams)",
                "s",
                _query(f"sum({gap_sum}) / sum({gap_count})", "mean gap"),
                description="chatspan records each stream's mean gap once (README, Metrics).",
            )
        )
        .with_row(dash.Row("Traces"))
        .with_panel(_traces_panel())
    )


def agents_dashboard() -> dash.Dashboard:
    """Agents: runs, agent and tool durations, tool errors and the busiest tools."""
    agent_count = prom_name(AGENT, "count")
    tool_count = prom_name(TOOL, "count")
    tool_errors = (
        f'sum by ({TOOL_NAME}) (rate({tool_count}{{{_AGENTS}, {ERROR}!=""}}{_RATE}))'
        f" / sum by ({TOOL_NAME}) (rate({tool_count}{{{_AGENTS}}}{_RATE}))"
    )
    cost_total = prom_name(COST, "total")
    return (
        _base(
            "chatspan-agents",
            "Agents",
            "Agent invocations and tool executions recorded by chatspan's Agents SDK bridge.",
        )
        .with_variable(_variable("service", AGENT, SERVICE, "Service"))
        .with_variable(_variable("agent", AGENT, AGENT_NAME, "Agent"))
        .with_row(dash.Row("Runs"))
        .with_panel(
            _series(
                "Agent runs/s by agent",
                "ops",
                _query(
                    f"sum by ({AGENT_NAME}) (rate({agent_count}{{{_AGENTS}}}{_RATE}))",
                    f"{{{{{AGENT_NAME}}}}}",
                ),
            )
        )
        .with_panel(
            _series(
                "Agent duration p50 / p95",
                "s",
                _query(_quantile(0.5, AGENT, _AGENTS, AGENT_NAME), f"p50 {{{{{AGENT_NAME}}}}}"),
                _query(
                    _quantile(0.95, AGENT, _AGENTS, AGENT_NAME), f"p95 {{{{{AGENT_NAME}}}}}", "B"
                ),
            )
        )
        .with_row(dash.Row("Tools"))
        .with_panel(
            _series(
                "Tool duration p95 by tool",
                "s",
                _query(_quantile(0.95, TOOL, _AGENTS, TOOL_NAME), f"{{{{{TOOL_NAME}}}}}"),
            )
        )
        .with_panel(
            _series(
                "Tool error rate by tool",
                "percentunit",
                _query(tool_errors, f"{{{{{TOOL_NAME}}}}}"),
                description="Share of tool executions that failed (the SDK's span error).",
            )
        )
        .with_panel(
            _top_table(
                "Top tools (executions in range)",
                f"topk(10, sum by ({TOOL_NAME}) (increase({tool_count}{{{_AGENTS}}}[$__range])))",
                TOOL_NAME,
            )
        )
        .with_row(dash.Row("Cost"))
        .with_panel(
            _top_table(
                "Top agents by cost (USD in range)",
                f"topk(10, sum by ({AGENT_NAME}) (increase({cost_total}{{{_AGENTS}}}[$__range])))",
                AGENT_NAME,
            )
        )
    )


def _top_table(title: str, expr: str, label_name: str) -> table.Panel:
    """An instant top-10 query shown as a table."""
    query = _query(expr, f"{{{{{label_name}}}}}").instant().format(PromQueryFormat.TABLE)
    return table.Panel().title(title).datasource(PROMETHEUS).height(8).span(12).with_target(query)


def dashboards() -> dict[str, dash.Dashboard]:
    """File stem -> dashboard builder."""
    return {"genai-overview": overview_dashboard(), "agents": agents_dashboard()}


def render(builder: dash.Dashboard) -> str:
    """The dashboard's JSON, as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(builder.build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    for stem, builder in dashboards().items():
        (out / f"{stem}.json").write_text(render(builder), encoding="utf-8")
        print(f"wrote {out / f'{stem}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
