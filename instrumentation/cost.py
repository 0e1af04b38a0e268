"""What a chat call cost, in USD: ``genai-prices``' bundled prices, overridden by a user table.

Prices come from the price data ``genai-prices`` ships inside its package. We never start its
``UpdatePrices`` (the only part of it that goes to the network), so nothing is fetched, at start-up
or later. A user table (``CHATSPAN_PRICES_FILE``, JSON, or YAML with PyYAML installed) overrides and
extends those prices; it is read and validated once per ``instrument()``. A bad table is one
warning naming the variable, and then the library's prices alone.

The hot path is one dict lookup and three multiplications. ``genai-prices``' own calculation
costs a few hundred microseconds, so for each (provider, response model, request model) we ask it
once, keep the per-token rates, and check them against its answer on a probe usage: a model whose
price our formula does not reproduce (tiers by context length, a separate reasoning rate) keeps
being priced by the library itself. Entries are re-resolved after an hour, so a price with a
start date takes effect.

Unknown model: ``None`` (no attribute), never zero.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from .config import PRICES_FILE_ENV, Settings
from .errors import ConfigError

__all__ = ["Pricing", "Rates", "load_price_table"]

_logger = logging.getLogger(__name__)


# Our `gen_ai.provider.name` -> genai-prices' provider id. `openai_compatible` (vLLM, Ollama, a
# LiteLLM proxy, ...) and anything else is matched by the model name alone, as genai-prices does
# when it is given no provider.
_PROVIDER_IDS = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "deepseek": "deepseek",
    "groq": "groq",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
    "perplexity": "perplexity",
    "gcp.gemini": "google",
}
_TTL_S = 3600.0
_clock = time.monotonic
# Model names come from responses: a proxy in front of many models (or one that echoes a new
# name per call) must not grow the cache without end. Past the bound it starts afresh.
_MAX_CACHED_MODELS = 1024
_PROBE = {  # usage on which our formula must give the library's price to the cent fraction
    "input_tokens": 1_000_000,
    "cache_read_tokens": 250_000,
    "output_tokens": 1_000_000,
    "output_reasoning_tokens": 400_000,
}
_PROBE_ARGUMENTS = {  # the same usage, as `Rates.cost` takes it
    "input_tokens": _PROBE["input_tokens"],
    "output_tokens": _PROBE["output_tokens"],
    "cached": _PROBE["cache_read_tokens"],
    "reasoning": _PROBE["output_reasoning_tokens"],
}
_RATE_FIELDS = ("input_mtok", "output_mtok", "cache_read_mtok")


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens. Cached input tokens are part of the input tokens (as OpenAI
    counts them) and cost ``cache_read`` (the input rate when None); reasoning tokens are part
    of the output tokens and cost the output rate."""

    input: float
    output: float
    cache_read: float | None = None

    def cost(
        self, input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0
    ) -> float:
        total = input_tokens * self.input + output_tokens * self.output
        if cached > 0:  # rare enough to branch on (min and max would parse keywords per call)
            cached = cached if cached < input_tokens else input_tokens
            cache_rate = self.input if self.cache_read is None else self.cache_read
            total += cached * (cache_rate - self.input)
        return total / 1_000_000


@dataclass(frozen=True, slots=True)
class _UserPrice:
    rates: Rates
    provider: str | None  # only for this gen_ai.provider.name, when given


@dataclass(frozen=True, slots=True)
class _LibraryPrice:
    """A model our formula cannot reproduce: priced by genai-prices on every call (slow)."""

    model: Any
    provider: Any

    def cost(
        self, input_tokens: int, output_tokens: int, cached: int = 0, reasoning: int = 0
    ) -> float:
        from genai_prices import Usage

        usage = Usage(
            input_tokens=input_tokens,
            cache_read_tokens=min(cached, input_tokens) or None,
            output_tokens=output_tokens,
            output_reasoning_tokens=min(reasoning, output_tokens) or None,
        )
        return float(self.model.calc_price(usage, self.provider).total_price)


_Pricer = Rates | _LibraryPrice


class Pricing:
    """Prices chat calls; thread-safe (a race at worst resolves one entry twice)."""

    def __init__(
        self, table: Mapping[str, _UserPrice] | None = None, *, library: bool = True
    ) -> None:
        self._table = dict(table or {})
        self._library = library
        self._cache: dict[tuple[str, str | None, str | None], tuple[_Pricer | None, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Pricing:
        """The library's prices, with the user's table when it is valid (else one warning).

        Loads genai-prices' data now (about 0.3 s, once), so the first chat call does not.
        """
        library = _load_library()
        if not settings.prices_file:
            return cls(library=library)
        try:
            return cls(load_price_table(settings.prices_file), library=library)
        except ConfigError as error:
            _logger.warning("chatspan: %s; using genai-prices' prices only", error)
            return cls(library=library)

    def cost(
        self,
        provider: str,
        response_model: str | None,
        request_model: str | None,
        input_tokens: int,
        output_tokens: int,
        cached: int = 0,
        reasoning: int = 0,
    ) -> float | None:
        """USD for this usage, or None when neither model is priced anywhere."""
        key = (provider, response_model, request_model)
        entry = self._cache.get(key)
        if entry is None or entry[1] < _clock():
            entry = self._refresh(key)
        pricer = entry[0]
        if pricer is None:
            return None
        return pricer.cost(input_tokens, output_tokens, cached, reasoning)

    def _refresh(self, key: tuple[str, str | None, str | None]) -> tuple[_Pricer | None, float]:
        entry = (self._resolve(*key), _clock() + _TTL_S)
        with self._lock:
            if len(self._cache) >= _MAX_CACHED_MODELS:
                self._cache.clear()
            self._cache[key] = entry
        return entry

    def _resolve(self, provider: str, *models: str | None) -> _Pricer | None:
        names = [model for model in models if model]
        for name in names:
            user = self._table.get(name.lower())
            if user is not None and user.provider in (None, provider):
                return user.rates
        for name in names if self._library else ():
            pricer = _library_pricer(provider, name)
            if pricer is not None:
                return pricer
        return None


def _load_library() -> bool:
    try:
        from genai_prices import data_snapshot

        data_snapshot.get_snapshot()  # imports the bundled data; never fetches
    except ImportError:
        _logger.warning(
            "chatspan: genai-prices is not installed; costs come only from %s", PRICES_FILE_ENV
        )
        return False
    return True


def _library_pricer(provider: str, model: str) -> _Pricer | None:
    from genai_prices import Usage, calc_price

    try:
        probe = calc_price(Usage(**_PROBE), model, provider_id=_PROVIDER_IDS.get(provider))
    except LookupError:
        return None
    prices = probe.model_price
    values = [getattr(prices, name, None) for name in _RATE_FIELDS]
    rates = None
    if all(isinstance(v, Decimal) for v in values[:2]) and isinstance(values[2], Decimal | None):
        cache_read = float(values[2]) if values[2] is not None else None
        rates = Rates(float(values[0]), float(values[1]), cache_read)  # type: ignore[arg-type]
    expected = float(probe.total_price)
    if rates is not None and math.isclose(
        rates.cost(**_PROBE_ARGUMENTS), expected, rel_tol=1e-9, abs_tol=1e-12
    ):
        return rates
    return _LibraryPrice(probe.model, probe.provider)


# -- the user's table ---------------------------------------------------------------------------

_ENTRY_KEYS = {"input_mtok", "output_mtok", "cache_read_mtok", "provider"}
_TABLE_FORMAT = (
    'JSON price table (or .yaml/.yml with PyYAML): {"models": {"<model>": '
    '{"input_mtok": <USD>, "output_mtok": <USD>}}}'
)


def load_price_table(path: str) -> dict[str, _UserPrice]:
    """Read and validate a price table; every problem is a ConfigError naming the variable.

    The table (JSON, or YAML when the file ends in ``.yaml``/``.yml``)::

        {"models": {"my-llama": {"input_mtok": 0.2, "output_mtok": 0.6,
                                 "cache_read_mtok": 0.05, "provider": "openai_compatible"}}}

    Keys are model names as sent or returned (any case); prices are USD per million tokens;
    ``cache_read_mtok`` and ``provider`` (a ``gen_ai.provider.name``) are optional.

    :raises ConfigError: unreadable file, bad syntax, YAML without PyYAML, or a bad entry.
    """

    def error(problem: str) -> ConfigError:
        return ConfigError(f"{PRICES_FILE_ENV}={path!r}: {problem}")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as failure:
        problem = (
            f"cannot read the price table ({type(failure).__name__}: {failure}); allowed: the "
            f"path of a readable {_TABLE_FORMAT}"
        )
        raise error(problem) from None
    document = _parse(text, path, error)
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, dict) or (isinstance(document, dict) and set(document) != {"models"}):
        raise error(f'expected an object with one key, "models"; allowed: a {_TABLE_FORMAT}')
    table: dict[str, _UserPrice] = {}
    for name, entry in models.items():
        if not isinstance(name, str) or not name.strip():
            raise error(f"model names must be non-empty strings, not {name!r}")
        table[name.strip().lower()] = _entry(name, entry, error)
    return table


def _parse(text: str, path: str, error: Any) -> Any:
    if path.lower().endswith((".yaml", ".yml")):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise error(
                "reading a YAML table needs PyYAML (pip install pyyaml); or write it as JSON"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as failure:
            raise error(f"not valid YAML ({failure}); allowed: a {_TABLE_FORMAT}") from None
    try:
        return json.loads(text)
    except ValueError as failure:
        raise error(f"not valid JSON ({failure}); allowed: a {_TABLE_FORMAT}") from None


def _entry(name: str, entry: Any, error: Any) -> _UserPrice:
    if not isinstance(entry, dict):
        raise error(f"model {name!r}: expected an object with input_mtok and output_mtok")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        allowed = ", ".join(sorted(_ENTRY_KEYS))
        raise error(f"model {name!r}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                    f"allowed: {allowed}")  # fmt: skip
    prices: dict[str, float | None] = {}
    for field in ("input_mtok", "output_mtok", "cache_read_mtok"):
        value = entry.get(field)
        if value is None and field != "cache_read_mtok":
            raise error(f"model {name!r}: {field} is required (USD per million tokens)")
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise error(f"model {name!r}: {field} must be a non-negative number, not {value!r}")
        prices[field] = None if value is None else float(value)
    provider = entry.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise error(f"model {name!r}: provider must be a gen_ai.provider.name string")
    rates = Rates(
        prices["input_mtok"] or 0.0, prices["output_mtok"] or 0.0, prices["cache_read_mtok"]
    )
    return _UserPrice(rates, provider.strip() if provider else None)
