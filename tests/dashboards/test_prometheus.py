"""Every PromQL expression of every dashboard, run against a real Prometheus fed by the demo agent.

Debian's Prometheus (2.42) has no OTLP receiver, so the metrics reach it by scraping: the demo
agent runs in a child interpreter (``metrics_feeder.py``) with ``opentelemetry-exporter-prometheus``
serving its metrics on a loopback port, and Prometheus scrapes it every second under the job
``chatspan-demo`` (the service name, as the collector's exporter labels it). That exporter names
series by the same OTel -> Prometheus rules as the collector's ``prometheus`` exporter and
Prometheus's OTLP receiver (``otlptranslator``, ``UnderscoreEscapingWithSuffixes``): a renamed
metric, a wrong unit suffix or a label typo leaves a query empty, and the test fails.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any

import pytest

from .conftest import (
    Server,
    clean_env,
    find_binary,
    free_port,
    get_json,
    load_build,
    load_dashboards,
    wait_for,
)

SERVICE = "chatspan-demo"
# Grafana's built-in intervals, as Grafana would fill them in for a short time range.
BUILTINS = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "15s"}


def substitute(expr: str, variables: list[str]) -> str:
    """Template variables become ``.*`` (the dashboards' "All"), built-ins a fixed interval."""
    for name, value in BUILTINS.items():
        expr = expr.replace(name, value)
    for name in variables:
        expr = re.sub(rf"\$\{{{name}(:\w+)?\}}|\${name}\b", ".*", expr)
    assert "$" not in expr, expr
    return expr


def _promql() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expression) for every Prometheus target of every dashboard."""
    found = []
    for stem, data in load_dashboards().items():
        variables = [variable["name"] for variable in data["templating"]["list"]]
        for panel in data["panels"]:
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") == "prometheus":
                    found.append((stem, panel["title"], substitute(target["expr"], variables)))
    return found


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A Prometheus URL whose TSDB holds a minute's worth of the demo agent's metrics."""
    binary = find_binary("prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    feeder_port, web_port = free_port(), free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: {SERVICE}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{feeder_port}']}}]\n",
        encoding="utf-8",
    )
    env = clean_env(
        CHATSPAN_ENABLED="1",
        CHATSPAN_JSONL_PATH=str(tmp / "spans.jsonl"),
        OTEL_SERVICE_NAME=SERVICE,
    )
    feeder = Server(
        [sys.executable, "-m", "tests.dashboards.metrics_feeder", str(feeder_port)],
        tmp / "feeder.log",
        env,
    )
    servers = [feeder]
    try:
        server = Server(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{web_port}",
            ],
            tmp / "prometheus.log",
        )
        servers.append(server)
        url = f"http://127.0.0.1:{web_port}"

        def enough_samples() -> bool | None:
            feeder.check_alive()
            server.check_alive()
            # Every histogram scraped several times, so rate() has at least two points.
            result = get_json(
                f"{url}/api/v1/query",
                query="min(count_over_time(gen_ai_execute_tool_duration_seconds_count[1m]))",
            )["data"]["result"]
            return True if result and float(result[0]["value"][1]) >= 5 else None

        wait_for(enough_samples, 90, "Prometheus to scrape the demo agent's metrics five times")
        yield url
    finally:
        for child in reversed(servers):
            child.stop()


def test_the_dashboards_have_promql_to_check() -> None:
    assert len(_promql()) >= 12


@pytest.mark.parametrize(
    ("stem", "title", "expr"), _promql(), ids=[f"{s}:{t}:{e[:30]}" for s, t, e in _promql()]
)
def test_dashboard_expression_returns_data(
    prometheus: str, stem: str, title: str, expr: str
) -> None:
    reply = get_json(f"{prometheus}/api/v1/query", query=expr)
    assert reply["status"] == "success", reply
    values = [float(sample["value"][1]) for sample in reply["data"]["result"]]
    assert values, f"{stem} / {title}: no data for {expr}"
    assert any(not math.isnan(value) for value in values), f"{stem} / {title}: only NaN: {expr}"


def test_every_metric_name_the_dashboards_use_is_in_prometheus(prometheus: str) -> None:
    names = set(get_json(f"{prometheus}/api/v1/label/__name__/values")["data"])
    pattern = re.compile(r"\b((?:gen_ai|chatspan)_\w+)\{")
    used = {name for _, _, expr in _promql() for name in pattern.findall(expr)}
    assert used and used <= names, sorted(used - names)


@pytest.mark.parametrize("stem", sorted(load_dashboards()))
def test_template_variable_queries_list_values(prometheus: str, stem: str) -> None:
    for variable in load_dashboards()[stem]["templating"]["list"]:
        match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"])
        assert match, variable["query"]
        metric, label = match.groups()
        values = get_json(f"{prometheus}/api/v1/label/{label}/values", **{"match[]": metric})[
            "data"
        ]
        assert values, f"${variable['name']}: no values for {label} on {metric}"
        if variable["name"] == "service":
            assert SERVICE in values


def test_translation_rules_match_prom_name(prometheus: str) -> None:
    """``build.prom_name`` agrees with what the exporter actually produced, for every metric."""
    build = load_build()
    names = set(get_json(f"{prometheus}/api/v1/label/__name__/values")["data"])
    metrics = (build.DURATION, build.TOKENS, build.FIRST_CHUNK, build.CHUNK_GAP, build.AGENT)
    for metric in (*metrics, build.TOOL):
        for suffix in ("bucket", "sum", "count"):
            assert build.prom_name(metric, suffix) in names, (metric, suffix)
    assert build.prom_name(build.COST, "total") in names
