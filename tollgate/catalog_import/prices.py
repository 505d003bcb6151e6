"""Model prices from the ``genai-prices`` package's bundled data snapshot (offline), as integer
micro-USD per million tokens.

``SOURCES`` maps a Tollgate vendor (a channel's ``vendor``, defaulted from its provider kind by
``tollgate.providers.vendor_of``) to the genai-prices provider id holding that vendor's list
prices. A vendor missing here has no public price list to import (a self-hosted server, the
simulator)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from importlib.metadata import version

from genai_prices import data_snapshot
from genai_prices.types import ModelPrice, TieredPrices

SOURCE = "genai-prices"
MICROS_PER_USD = 1_000_000

# Tollgate vendor -> genai-prices provider id.
SOURCES: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "google-vertex": "google",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral",
    "xai": "x-ai",
    "together": "together",
    "fireworks": "fireworks",
    "openrouter": "openrouter",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "cerebras": "cerebras",
    "moonshot": "moonshotai",
    "zai": "zai",
    "zhipu": "zhipuai",
    "minimax": "minimax",
    "aws": "aws",
    "azure": "azure",
    "voyage": "voyageai",
    "novita": "novita",
}

# The catalog's price fields and the genai-prices price keys they come from. A tiered price
# (a dearer rate above a prompt-length threshold) contributes its base tier.
PRICE_KEYS: dict[str, str] = {
    "input_per_mtok_micros": "input_mtok",
    "output_per_mtok_micros": "output_mtok",
    "cached_input_per_mtok_micros": "cache_read_mtok",
    "cache_write_per_mtok_micros": "cache_write_mtok",
}


class UnknownVendor(ValueError):
    pass


@dataclass(frozen=True)
class Offer:
    """One model's list price at one vendor, in USD per million tokens (exact decimals)."""

    vendor: str  # the Tollgate vendor
    provider: str  # the genai-prices provider id
    model: str  # the vendor's model id (what its API calls it)
    context_length: int  # 0 = unknown
    usd_per_mtok: dict[str, Decimal]  # catalog price field -> USD per million tokens (only the fields the data has)

    @property
    def ref(self) -> str:
        """What an imported catalog model's ``source`` says: the command owns models carrying it."""
        return f"{SOURCE}:{self.provider}/{self.model}"


def data_version() -> str:
    return f"{SOURCE} {version(SOURCE)}"


def resolve_vendor(name: str) -> str:
    """A Tollgate vendor name, or a genai-prices provider id, -> the Tollgate vendor."""
    if name in SOURCES:
        return name
    for vendor, provider in SOURCES.items():
        if provider == name:
            return vendor
    raise UnknownVendor(f"no price data for vendor {name!r} (known: {', '.join(sorted(SOURCES))})")


def to_usd(value: object) -> Decimal | None:
    """A genai-prices price value -> an exact Decimal (a tiered price's base tier), None when absent."""
    if value is None:
        return None
    if isinstance(value, TieredPrices):
        return to_usd(value.base)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str):
        return Decimal(str(value))  # str(): a float's shortest repr, never its binary expansion
    raise TypeError(f"unexpected price value {value!r}")


def micros(usd_per_mtok: Decimal, margin: Decimal = Decimal(1)) -> int:
    """USD per million tokens x margin -> integer micro-USD per million tokens, rounded up."""
    return int((usd_per_mtok * MICROS_PER_USD * margin).to_integral_value(rounding=ROUND_CEILING))


def _usd_prices(price: ModelPrice) -> dict[str, Decimal]:
    found = {name: to_usd(getattr(price, key)) for name, key in PRICE_KEYS.items()}
    return {name: usd for name, usd in found.items() if usd is not None}


def offers(vendors: Sequence[str], at: datetime) -> list[Offer]:
    """Every token-priced model of each vendor, vendor by vendor in the order given, with the
    prices in force at ``at``. Models priced only per request, image or second are left out."""
    providers = {p.id: p for p in data_snapshot.get_snapshot().providers}
    found: list[Offer] = []
    for vendor in vendors:
        provider = providers.get(SOURCES[vendor])
        if provider is None:
            continue
        for model in provider.models:
            usd = _usd_prices(model.get_prices(at))
            if "input_per_mtok_micros" not in usd and "output_per_mtok_micros" not in usd:
                continue
            found.append(Offer(vendor, provider.id, model.id, model.context_window or 0, usd))
    return found


def priced(offer: Offer, margin: Decimal) -> dict[str, int]:
    """The catalog's price fields for an offer, margin applied (the fields the data has; 0 for
    input/output when absent)."""
    fields = {name: micros(usd, margin) for name, usd in offer.usd_per_mtok.items()}
    return {"input_per_mtok_micros": 0, "output_per_mtok_micros": 0} | fields


def vendors_with_data(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split vendor names into those with price data (deduplicated, in order) and those without."""
    known: list[str] = []
    unknown: list[str] = []
    for name in names:
        target = known if name in SOURCES else unknown
        if name not in target:
            target.append(name)
    return known, unknown
