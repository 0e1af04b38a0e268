"""Cost: ``gen_ai.usage.cost`` on chat spans, the cost counter, the user's price table, and the
sums on the bridge's agent and workflow spans."""

from __future__ import annotations

import json
import logging
from typing import Any

import genai_prices
import pytest
from agents import Runner
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from genai_prices import Usage, calc_price

from chatspan.exporters.scripted_backend import ScriptedBackend, chunk, completion
from chatspan.instrumentation.config import Settings
from chatspan.instrumentation.cost import Pricing, Rates

from .agent_runs import CHAT, named, planned_model, reply, sdk_tracing, weather_agents  # noqa: F401
from .calls import get_response, stream_events

COST = "gen_ai.usage.cost"
# o4-mini with a cache hit and reasoning: 2000 prompt tokens of which 500 cached, 1000 completion
# tokens of which 600 reasoning.
REASONING_USAGE = {
    "prompt_tokens": 2000,
    "completion_tokens": 1000,
    "total_tokens": 3000,
    "prompt_tokens_details": {"cached_tokens": 500},
    "completion_tokens_details": {"reasoning_tokens": 600},
}
# genai-prices 0.2.3 publishes for openai o4-mini, USD per million tokens: input 1.10, cached
# input 0.275, output 4.40 (reasoning tokens are output tokens, at the output rate):
#   (2000 - 500) * 1.10 = 1650
#          500 * 0.275 =  137.5
#         1000 * 4.40  = 4400
#   total 6187.5 per million = 0.0061875 USD
O4_MINI_COST = 0.0061875
SMALL_USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
# gpt-4o-mini (genai-prices 0.2.3): input 0.15, output 0.60 -> 1000*0.15 + 100*0.60 = 210 per
# million; with the user's table below (0.5 / 2.0): 1000*0.5 + 100*2.0 = 700 per million.
GPT_4O_MINI_COST = 0.00021
OVERRIDDEN_COST = 0.0007


def model_named(backend: ScriptedBackend, name: str, base_url: str = "https://api.openai.com/v1"):
    return OpenAIChatCompletionsModel(model=name, openai_client=backend.client(base_url))


def _cost_points(reader: Any) -> list[Any]:
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == "chatspan.client.cost":
                    assert metric.unit == "USD"
                    assert metric.data.is_monotonic
                    return list(metric.data.data_points)
    return []


def _table(tmp_path: Any, document: Any, name: str = "prices.json") -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


async def test_known_model_with_cached_and_reasoning_tokens_costs_the_hand_computed_figure(
    instrument, span_exporter, metric_reader
):
    instrument()
    backend = ScriptedBackend([completion(usage=REASONING_USAGE, model="o4-mini-2025-04-16")])
    await get_response(model_named(backend, "o4-mini"))

    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[COST] == pytest.approx(O4_MINI_COST, rel=1e-12)
    library = calc_price(
        Usage(input_tokens=2000, cache_read_tokens=500, output_tokens=1000),
        "o4-mini-2025-04-16",
        provider_id="openai",
    )
    assert float(library.total_price) == pytest.approx(O4_MINI_COST, rel=1e-12)
    (point,) = _cost_points(metric_reader)
    assert point.value == pytest.approx(O4_MINI_COST, rel=1e-12)
    assert dict(point.attributes) == {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "o4-mini",
    }


async def test_a_streamed_call_is_priced_too(instrument, span_exporter):
    instrument()
    chunks = [chunk({"role": "assistant", "content": "Hi"}), chunk({}, finish_reason="stop")]
    chunks.append(chunk(None, usage=SMALL_USAGE))
    await stream_events(model_named(ScriptedBackend([chunks]), "gpt-4o-mini"))
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[COST] == pytest.approx(GPT_4O_MINI_COST, rel=1e-12)


async def test_an_unknown_model_has_no_cost_not_zero(instrument, span_exporter, metric_reader):
    instrument()
    backend = ScriptedBackend([completion(usage=SMALL_USAGE, model="our-private-model-7")])
    await get_response(model_named(backend, "our-private-model-7", "http://localhost:8000/v1"))

    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["gen_ai.usage.input_tokens"] == 1000
    assert COST not in span.attributes
    assert _cost_points(metric_reader) == []


async def test_without_usage_there_is_no_cost(instrument, span_exporter):
    instrument()
    await get_response(model_named(ScriptedBackend([completion(usage=None)]), "gpt-4o-mini"))
    (span,) = span_exporter.get_finished_spans()
    assert COST not in span.attributes
    assert span.attributes["chatspan.usage.missing"] is True


async def test_the_users_table_overrides_and_extends_the_library(
    instrument, span_exporter, monkeypatch, tmp_path
):
    table = {
        "models": {
            "GPT-4o-mini": {"input_mtok": 0.5, "output_mtok": 2.0},
            "our-llama": {"input_mtok": 1, "output_mtok": 3, "provider": "openai_compatible"},
        }
    }
    monkeypatch.setenv("CHATSPAN_PRICES_FILE", _table(tmp_path, table))
    instrument()
    backend = ScriptedBackend(
        [completion(usage=SMALL_USAGE), completion(usage=SMALL_USAGE, model="our-llama")]
    )
    await get_response(model_named(backend, "gpt-4o-mini"))
    await get_response(model_named(backend, "our-llama", "http://localhost:8000/v1"))

    overridden, extended = span_exporter.get_finished_spans()
    assert overridden.attributes[COST] == pytest.approx(OVERRIDDEN_COST, rel=1e-12)
    assert extended.attributes[COST] == pytest.approx((1000 * 1 + 100 * 3) / 1e6, rel=1e-12)


BAD_TABLES = {
    "not JSON": ("{models:", "prices.json", "not valid JSON"),
    "no models key": ({"gpt-4o-mini": {}}, "prices.json", 'one key, "models"'),
    "missing rate": (
        {"models": {"m": {"input_mtok": 1}}},
        "prices.json",
        "output_mtok is required",
    ),
    "negative rate": (
        {"models": {"m": {"input_mtok": -1, "output_mtok": 1}}},
        "prices.json",
        "input_mtok must be a non-negative number, not -1",
    ),
    "unknown key": (
        {"models": {"m": {"input_mtok": 1, "output_mtok": 1, "per": "token"}}},
        "prices.json",
        "unknown key(s) per",
    ),
    "YAML without PyYAML": ("models: {}", "prices.yaml", "needs PyYAML (pip install pyyaml)"),
}


@pytest.mark.parametrize(("document", "name", "problem"), BAD_TABLES.values(), ids=BAD_TABLES)
async def test_a_bad_table_is_one_warning_and_the_library_prices_stay(
    instrument, span_exporter, monkeypatch, tmp_path, caplog, document, name, problem
):
    if name.endswith(".yaml"):
        monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # as if not installed
    path = _table(tmp_path, document, name)
    monkeypatch.setenv("CHATSPAN_PRICES_FILE", path)
    with caplog.at_level(logging.WARNING):
        instrument()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"CHATSPAN_PRICES_FILE={path!r}: " in warning.getMessage()
    assert problem in warning.getMessage()

    await get_response(model_named(ScriptedBackend([completion(usage=SMALL_USAGE)]), "gpt-4o-mini"))
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes[COST] == pytest.approx(GPT_4O_MINI_COST, rel=1e-12)


def test_a_missing_table_file_names_the_variable(caplog, tmp_path):
    path = str(tmp_path / "nowhere.json")
    Pricing.from_settings(Settings(prices_file=path))
    (warning,) = caplog.records
    assert f"CHATSPAN_PRICES_FILE={path!r}: cannot read the price table" in warning.getMessage()


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-mini-2024-07-18"),
        ("openai", "o3"),
        ("deepseek", "deepseek-chat"),
        ("openai_compatible", "gpt-4o"),
        ("gcp.gemini", "gemini-2.5-pro"),  # tiered by prompt length: priced by the library
    ],
)
@pytest.mark.parametrize("input_tokens", [1_000, 300_000])
def test_cached_rates_give_the_librarys_price(provider, model, input_tokens):
    provider_ids = {"openai": "openai", "deepseek": "deepseek", "gcp.gemini": "google"}
    usage = Usage(input_tokens=input_tokens, cache_read_tokens=200, output_tokens=900)
    expected = calc_price(usage, model, provider_id=provider_ids.get(provider)).total_price
    pricing = Pricing()
    for _ in range(2):  # resolved, then from the cache
        cost = pricing.cost(provider, model, None, input_tokens, 900, cached=200, reasoning=300)
        assert cost == pytest.approx(float(expected), rel=1e-9)


def test_a_new_model_name_per_call_keeps_the_cache_bounded():
    from chatspan.instrumentation import cost

    pricing = Pricing(library=False)  # the user table alone: names resolve without the library
    for n in range(cost._MAX_CACHED_MODELS * 3):
        assert pricing.cost("openai", f"echo-model-{n}", None, 10, 10) is None
        assert len(pricing._cache) <= cost._MAX_CACHED_MODELS
    assert pricing.cost("openai", None, "gpt-4o-mini", 1000, 100) is None  # still answers


@pytest.mark.parametrize(
    ("cached", "expected"),
    [
        (0, (1000 * 2.0 + 100 * 8.0) / 1e6),
        (400, (600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6),
        (5000, (1000 * 0.5 + 100 * 8.0) / 1e6),  # more cached than sent: all of it cached
        (-3, (1000 * 2.0 + 100 * 8.0) / 1e6),  # a nonsense count is no discount
    ],
)
def test_cached_tokens_are_part_of_the_input_at_the_cache_rate(cached, expected):
    rates = Rates(input=2.0, output=8.0, cache_read=0.5)
    assert rates.cost(1000, 100, cached) == pytest.approx(expected, rel=1e-12)
    assert Rates(2.0, 8.0).cost(1000, 100, cached) == pytest.approx(0.0028, rel=1e-12)


def test_a_resolved_price_is_resolved_again_after_an_hour(monkeypatch):
    from chatspan.instrumentation import cost

    now = [1000.0]
    monkeypatch.setattr(cost, "_clock", lambda: now[0])
    todays_input_rate = [1.0]
    monkeypatch.setattr(
        cost, "_library_pricer", lambda provider, model: Rates(todays_input_rate[0], 1.0)
    )
    pricing = Pricing(library=True)
    assert pricing.cost("openai", "my-llama", None, 1_000_000, 0) == pytest.approx(1.0)
    todays_input_rate[0] = 3.0  # the library's price with a start date has taken effect
    now[0] += cost._TTL_S - 1
    assert pricing.cost("openai", "my-llama", None, 1_000_000, 0) == pytest.approx(1.0)
    now[0] += 2
    assert pricing.cost("openai", "my-llama", None, 1_000_000, 0) == pytest.approx(3.0)


def test_prices_come_from_the_package_and_nothing_is_fetched(monkeypatch):
    def no_updates(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("genai-prices' UpdatePrices must never start")

    monkeypatch.setattr(genai_prices.UpdatePrices, "start", no_updates)
    pricing = Pricing.from_settings(Settings())
    assert pricing.cost("openai", None, "gpt-4o-mini", 1000, 100) == pytest.approx(GPT_4O_MINI_COST)
    from genai_prices import data_snapshot

    assert data_snapshot.get_snapshot().from_auto_update is False


# -- roll-up over an agent run ------------------------------------------------------------------


def reply_with_usage(body: dict[str, Any]) -> Any:
    answer = reply(body)
    if isinstance(answer, dict):
        return {**answer, "usage": SMALL_USAGE}
    return [*answer, chunk(None, usage=SMALL_USAGE)]


@pytest.mark.usefixtures("sdk_tracing")
async def test_the_cost_counter_names_the_agent_each_call_was_for(
    instrument, tracer_provider, metric_reader
):
    instrument()
    metric_reader.get_metrics_data()  # from here values queue, holding their attribute dicts
    agent = weather_agents(tracer_provider.get_tracer("tools"))
    model = planned_model(ScriptedBackend(fallback=reply_with_usage))
    for each in (agent, *agent.handoffs):
        each.model = model
    await Runner.run(agent, "Weather in Paris?")
    by_agent = {
        point.attributes["gen_ai.agent.name"]: (point.value, dict(point.attributes))
        for point in _cost_points(metric_reader)
    }
    base = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
    assert by_agent == {  # triage calls once, weather twice
        "triage": (pytest.approx(GPT_4O_MINI_COST), {**base, "gen_ai.agent.name": "triage"}),
        "weather": (pytest.approx(GPT_4O_MINI_COST * 2), {**base, "gen_ai.agent.name": "weather"}),
    }


@pytest.mark.usefixtures("sdk_tracing")
@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
async def test_agent_and_workflow_spans_carry_the_sums_of_their_chat_spans(
    instrument, span_exporter, tracer_provider, streamed
):
    instrument()
    agent = weather_agents(tracer_provider.get_tracer("tools"))
    model = planned_model(ScriptedBackend(fallback=reply_with_usage))
    for each in (agent, *agent.handoffs):
        each.model = model
    if streamed:
        result = Runner.run_streamed(agent, "Weather in Paris?")
        async for _ in result.stream_events():
            pass
    else:
        result = await Runner.run(agent, "Weather in Paris?")
    assert result.final_output == "Sunny in Paris."

    spans = span_exporter.get_finished_spans()
    chats = named(spans, CHAT)
    assert len(chats) == 3  # triage hands off; weather calls its tool, then answers
    for span in chats:
        assert span.attributes[COST] == pytest.approx(GPT_4O_MINI_COST, rel=1e-12)
    (triage,) = named(spans, "invoke_agent triage")
    (weather,) = named(spans, "invoke_agent weather")
    (workflow,) = [span for span in spans if span.name.startswith("invoke_workflow")]
    for span, calls in ((triage, 1), (weather, 2), (workflow, 3)):
        assert span.attributes["gen_ai.usage.input_tokens"] == 1000 * calls
        assert span.attributes["gen_ai.usage.output_tokens"] == 100 * calls
        assert span.attributes[COST] == pytest.approx(GPT_4O_MINI_COST * calls, rel=1e-9)
