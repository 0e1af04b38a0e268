"""The shipped dashboards and stack configuration, checked without running anything.

The dashboards are what ``dashboards/build.py`` generates, valid for the foundation SDK's model;
every datasource they name is provisioned; every template variable is used; the compose file and
the collector, Jaeger, Tempo and Prometheus configurations agree with each other, with the OTLP
exporters' default ports and with the README.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard
from opentelemetry.exporter.otlp.proto.grpc import exporter as grpc_exporter
from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_exporter

from .conftest import DASHBOARDS, ROOT, dashboard_files, load_build, load_dashboards

build = load_build()
PROVISIONING = DASHBOARDS / "grafana" / "provisioning"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _queries(dashboard: dict[str, Any]) -> list[str]:
    """Every query text of every panel target (PromQL ``expr``, TraceQL ``query``)."""
    texts = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            texts += [target[key] for key in ("expr", "query") if target.get(key)]
    return texts


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_committed_json_is_what_build_generates() -> None:
    generated = {stem: build.render(builder) for stem, builder in build.dashboards().items()}
    committed = {path.stem: path.read_text(encoding="utf-8") for path in dashboard_files()}
    assert committed.keys() == generated.keys(), "run: python dashboards/build.py"
    for stem, text in generated.items():
        assert committed[stem] == text, f"{stem}.json is stale; run: python dashboards/build.py"


@pytest.mark.parametrize("path", dashboard_files(), ids=lambda path: path.stem)
def test_dashboard_json_round_trips_through_the_sdk_model(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    model = Dashboard.from_json(data)
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    assert again == data
    assert model.uid and model.title and model.panels


def test_the_dashboards_asked_for_exist() -> None:
    titles = {data["title"]: data for data in load_dashboards().values()}
    assert {"GenAI overview", "Agents"} <= titles.keys()
    overview = titles["GenAI overview"]
    assert {v["name"] for v in overview["templating"]["list"]} == {"service", "model", "provider"}
    tempo = [t for p in overview["panels"] for t in p.get("targets", []) if "query" in t]
    assert tempo and all('name =~ "chat.*"' in t["query"] for t in tempo)


def test_every_datasource_uid_is_provisioned_with_its_type() -> None:
    provisioned = _yaml(PROVISIONING / "datasources" / "datasources.yaml")["datasources"]
    types = {source["uid"]: source["type"] for source in provisioned}
    used = set()
    for data in load_dashboards().values():
        for node in _walk(data):
            ref = node.get("datasource")
            if isinstance(ref, dict):
                assert ref.get("uid") in types, f"{ref} is not provisioned"
                assert types[ref["uid"]] == ref.get("type"), ref
                used.add(ref["uid"])
    assert used == {build.PROMETHEUS.uid, build.TEMPO.uid}


@pytest.mark.parametrize("stem", sorted(load_dashboards()))
def test_every_template_variable_is_used_by_a_panel(stem: str) -> None:
    data = load_dashboards()[stem]
    text = "\n".join(_queries(data))
    for variable in data["templating"]["list"]:
        name = variable["name"]
        assert re.search(rf"\$(\{{{name}(:\w+)?\}}|{name}\b)", text), f"${name} is unused"


def test_promql_names_come_from_the_instrumentation_constants() -> None:
    # prom_name() follows the OTel -> Prometheus rules; spot-check them on the real names.
    assert (
        build.prom_name(build.DURATION, "bucket")
        == "gen_ai_client_operation_duration_seconds_bucket"
    )
    assert build.prom_name(build.TOKENS, "sum") == "gen_ai_client_token_usage_sum"
    assert build.prom_name(build.TOOL, "count") == "gen_ai_execute_tool_duration_seconds_count"
    assert build.label("gen_ai.request.model") == "gen_ai_request_model"


def test_grafana_provisioning_points_at_the_dashboards_and_the_stack() -> None:
    compose = _yaml(DASHBOARDS / "compose.yaml")
    (provider,) = _yaml(PROVISIONING / "dashboards" / "dashboards.yaml")["providers"]
    mounts = dict(
        volume.rsplit(":", 1)[0].split(":", 1)
        for volume in compose["services"]["grafana"]["volumes"]
    )
    assert mounts["./grafana"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    for source in _yaml(PROVISIONING / "datasources" / "datasources.yaml")["datasources"]:
        url = urlsplit(source["url"])
        assert url.hostname in compose["services"], source


def test_compose_names_only_pinned_images_and_existing_files() -> None:
    compose = _yaml(DASHBOARDS / "compose.yaml")
    services = compose["services"]
    assert set(services) == {"collector", "jaeger", "tempo", "prometheus", "grafana"}
    images = {name: service["image"] for name, service in services.items()}
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), (
            f"{name}: {image} is not pinned"
        )
    assert images["collector"].startswith("otel/opentelemetry-collector-contrib:")
    assert images["jaeger"].startswith("jaegertracing/jaeger:2.")
    for service in services.values():
        for volume in service.get("volumes", []):
            assert (DASHBOARDS / volume.split(":", 1)[0]).exists(), volume


def test_otlp_ports_agree_with_the_exporter_defaults_and_the_readme() -> None:
    grpc_default = _port(
        re.search(r'"(http://localhost:\d+)"', Path(grpc_exporter.__file__).read_text()).group(1)
    )
    http_default = urlsplit(http_exporter.DEFAULT_ENDPOINT).port
    assert (grpc_default, http_default) == (4317, 4318)
    compose = _yaml(DASHBOARDS / "compose.yaml")
    published = {port.split(":")[0] for port in compose["services"]["collector"]["ports"]}
    assert {str(grpc_default), str(http_default)} <= published
    protocols = _yaml(DASHBOARDS / "collector.yaml")["receivers"]["otlp"]["protocols"]
    assert _port(protocols["grpc"]["endpoint"]) == grpc_default
    assert _port(protocols["http"]["endpoint"]) == http_default
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"localhost:{grpc_default}" in readme and f"localhost:{http_default}" in readme


def test_collector_pipelines_send_traces_to_jaeger_and_tempo_and_metrics_to_prometheus() -> None:
    config = _yaml(DASHBOARDS / "collector.yaml")
    pipelines = config["service"]["pipelines"]
    for pipeline in pipelines.values():
        assert pipeline["receivers"] == ["otlp"]
        assert pipeline["processors"][0] == "memory_limiter" and "batch" in pipeline["processors"]
        for component in pipeline["processors"] + pipeline["exporters"]:
            assert component in config["processors"] or component in config["exporters"]
    assert set(pipelines["traces"]["exporters"]) == {"otlp/jaeger", "otlp/tempo"}
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    jaeger = _yaml(DASHBOARDS / "jaeger.yaml")["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    tempo = _yaml(DASHBOARDS / "tempo.yaml")["distributor"]["receivers"]["otlp"]["protocols"]
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == f"jaeger:{_port(jaeger.rstrip('}'))}"
    assert (
        config["exporters"]["otlp/tempo"]["endpoint"] == f"tempo:{_port(tempo['grpc']['endpoint'])}"
    )
    scrape = _yaml(DASHBOARDS / "prometheus.yml")["scrape_configs"]
    targets = [t for job in scrape for static in job["static_configs"] for t in static["targets"]]
    assert f"collector:{_port(config['exporters']['prometheus']['endpoint'])}" in targets
    assert all(job.get("honor_labels") for job in scrape)  # keeps job = service.name
    # The production example is there, commented.
    assert "loadbalancing:" in (DASHBOARDS / "collector.yaml").read_text(encoding="utf-8")


def test_jaeger_config_keeps_traces_in_memory() -> None:
    config = _yaml(DASHBOARDS / "jaeger.yaml")
    backends = config["extensions"]["jaeger_storage"]["backends"]
    assert all("memory" in backend for backend in backends.values())
    assert config["service"]["pipelines"]["traces"]["receivers"] == ["otlp"]
