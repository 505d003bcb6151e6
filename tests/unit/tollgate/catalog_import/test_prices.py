"""genai-prices -> integer micro-USD: the vendor mapping, exact rounding up, the margin, tiers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import data_snapshot
from genai_prices.types import ModelPrice, Tier, TieredPrices

from tollgate.catalog_import import prices
from tollgate.catalog_import.prices import SOURCES, Offer, UnknownVendor, micros, offers, priced, resolve_vendor, to_usd, vendors_with_data

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_every_mapped_vendor_names_a_provider_of_the_bundled_data():
    provider_ids = {p.id for p in data_snapshot.get_snapshot().providers}
    assert set(SOURCES.values()) <= provider_ids


@pytest.mark.parametrize(("name", "vendor"), [("openai", "openai"), ("xai", "xai"), ("x-ai", "xai"), ("moonshotai", "moonshot")])
def test_a_vendor_is_named_by_tollgate_or_by_genai_prices(name, vendor):
    assert resolve_vendor(name) == vendor


def test_an_unknown_vendor_says_which_are_known():
    with pytest.raises(UnknownVendor, match=r"no price data for vendor 'acme' \(known: .*openai"):
        resolve_vendor("acme")


def test_vendors_without_data_are_set_apart_in_order_without_repeats():
    assert vendors_with_data(["groq", "simulator", "openai", "groq", "vllm"]) == (["groq", "openai"], ["simulator", "vllm"])


@pytest.mark.parametrize(
    ("usd", "margin", "expected"),
    [
        ("2.5", "1", 2_500_000),
        ("0.075", "1", 75_000),
        ("0.0000001", "1", 1),  # a tenth of a micro-USD rounds up, never down to free
        ("0.15", "1.2", 180_000),
        ("0.1234567", "1", 123_457),
        ("3", "1.15", 3_450_000),
        ("0.3333333", "1.1", 366_667),  # 366_666.63 -> up
        ("0", "2", 0),
    ],
)
def test_micros_are_integers_rounded_up_after_the_margin(usd, margin, expected):
    value = micros(Decimal(usd), Decimal(margin))
    assert value == expected and type(value) is int


def test_a_float_converts_by_its_shortest_repr_not_its_binary_expansion():
    assert to_usd(0.1) == Decimal("0.1")  # Decimal(0.1) would be 0.1000000000000000055...
    assert micros(to_usd(0.1)) == 100_000  # type: ignore[arg-type]  # not None here
    assert to_usd(None) is None


def test_a_tiered_price_contributes_its_base_tier():
    tiered = TieredPrices(base=Decimal("1.25"), tiers=[Tier(start=200_000, price=Decimal("2.5"))])
    assert to_usd(tiered) == Decimal("1.25")


def test_offers_carry_the_data_prices_for_cached_input_and_cache_writes():
    found = {o.model: o for o in offers(["anthropic"], NOW)}
    model = next(m for m in data_snapshot.get_snapshot().providers if m.id == "anthropic").models
    sample = next(m for m in model if m.id in found and m.get_prices(NOW).cache_write_mtok is not None)
    expected = sample.get_prices(NOW)
    offer = found[sample.id]
    assert offer.vendor == "anthropic" and offer.ref == f"genai-prices:anthropic/{sample.id}"
    assert offer.usd_per_mtok["input_per_mtok_micros"] == to_usd(expected.input_mtok)
    assert offer.usd_per_mtok["cache_write_per_mtok_micros"] == to_usd(expected.cache_write_mtok)
    assert offer.usd_per_mtok["cached_input_per_mtok_micros"] == to_usd(expected.cache_read_mtok)
    assert offer.context_length == (sample.context_window or 0)


def test_models_without_a_token_price_are_not_offered(monkeypatch):
    provider = next(p for p in data_snapshot.get_snapshot().providers if p.id == "openai")
    per_image = [m.id for m in provider.models if m.get_prices(NOW).input_mtok is None and m.get_prices(NOW).output_mtok is None]
    assert per_image, "the data has openai models priced only per image or second"
    offered = {o.model for o in offers(["openai"], NOW)}
    assert offered and not offered & set(per_image)


def test_priced_applies_the_margin_to_every_field_and_fills_input_and_output():
    offer = Offer("x", "x", "m", 0, {"output_per_mtok_micros": Decimal("1"), "cache_write_per_mtok_micros": Decimal("0.5")})
    assert priced(offer, Decimal("1.5")) == {
        "input_per_mtok_micros": 0,
        "output_per_mtok_micros": 1_500_000,
        "cache_write_per_mtok_micros": 750_000,
    }


def test_the_source_names_the_package_and_its_version():
    assert prices.data_version().startswith("genai-prices 0.")


def test_model_price_keys_are_registered_in_the_data():
    # ModelPrice answers None for a registered key it lacks and raises for an unknown one: a
    # renamed key would fail here rather than silently import no price.
    price = ModelPrice(input_mtok=Decimal(1))
    for key in prices.PRICE_KEYS.values():
        getattr(price, key)
