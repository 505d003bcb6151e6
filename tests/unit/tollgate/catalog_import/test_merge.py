"""Merging offers into a catalog document: diff counts, ownership and --force, price versions,
routing, and everything hand-written surviving."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import msgspec
import tomlkit

from services.router.catalog import parse
from tollgate.catalog_import.merge import Options, merge, price_version
from tollgate.catalog_import.prices import Offer

TODAY = date(2026, 12, 5)
HAND = """\
# The operator's own catalog: this comment must survive.
[defaults]
timeouts = { connect_ms = 10_000 }

[[models]]
id = "gpt-4o-mini"   # priced by hand
aliases = ["mini"]
capabilities = ["chat"]
price = { input_per_mtok_micros = 1, output_per_mtok_micros = 2, version = "hand-1" }

[[channels]]
id = "openai-main"
provider = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
data_policy = { zdr = true }
models = { "gpt-4o-mini" = "gpt-4o-mini-2024-07-18" }

[[channels]]
id = "claude"
provider = "anthropic"
base_url = "https://api.anthropic.com"
models = {}
"""


def offer(vendor: str, model: str, inp: str = "1", out: str = "2", **extra: str) -> Offer:
    usd = {"input_per_mtok_micros": Decimal(inp), "output_per_mtok_micros": Decimal(out)}
    usd.update({f"{name}_per_mtok_micros": Decimal(v) for name, v in extra.items()})
    return Offer(vendor, {"xai": "x-ai"}.get(vendor, vendor), model, 128_000, usd)


def run(text: str, offers: list[Offer], **options) -> tuple[str, object]:
    doc = tomlkit.parse(text)
    plan = merge(doc, offers, Options(today=TODAY, **options))
    return tomlkit.dumps(doc), plan


def models(text: str) -> dict[str, dict]:
    return {m["id"]: m for m in tomlkit.parse(text).unwrap().get("models", [])}


def channels(text: str) -> dict[str, dict]:
    return {c["id"]: c for c in tomlkit.parse(text).unwrap()["channels"]}


def test_new_models_are_added_priced_marked_and_routed_to_their_vendors_channels():
    text, plan = run(
        HAND, [offer("openai", "gpt-4.1", "2", "8", cached_input="0.5"), offer("anthropic", "claude-x", "3", "15", cache_write="3.75")]
    )
    assert (plan.added, plan.changed, plan.unchanged, plan.kept) == (["gpt-4.1", "claude-x"], [], [], [])
    added = models(text)["claude-x"]
    assert added["price"] == {
        "input_per_mtok_micros": 3_000_000,
        "output_per_mtok_micros": 15_000_000,
        "cache_write_per_mtok_micros": 3_750_000,
        "version": price_version(added["price"], TODAY),
    }
    assert (added["source"], added["owned_by"], added["aliases"], added["context_length"]) == (
        "genai-prices:anthropic/claude-x",
        "anthropic",
        ["anthropic/claude-x"],
        128_000,
    )
    assert models(text)["gpt-4.1"]["price"]["cached_input_per_mtok_micros"] == 500_000
    routed = channels(text)
    assert routed["openai-main"]["models"] == {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4.1": "gpt-4.1"}
    assert routed["claude"]["models"] == {"claude-x": "claude-x"}
    assert plan.routes == {"openai-main": 1, "claude": 1}


def test_everything_hand_written_survives_and_the_router_loads_the_result():
    text, _ = run(HAND, [offer("openai", "gpt-4.1"), offer("anthropic", "claude-x")])
    assert text.startswith(HAND.split("[[channels]]")[0])  # header, defaults and the hand model, byte for byte
    assert "data_policy = { zdr = true }" in text
    catalog = parse(text.encode(), 1)
    assert set(catalog.models) == {"gpt-4o-mini", "gpt-4.1", "claude-x"}
    assert catalog.resolve("anthropic/claude-x").id == "claude-x"
    assert catalog.models["gpt-4o-mini"].price.version == "hand-1" and catalog.models["gpt-4o-mini"].aliases == ["mini"]


def test_every_price_written_is_an_integer():
    text, _ = run(HAND, [offer("openai", "o", "0.1", "0.0000001", cached_input="0.05")], margin=Decimal("1.3"))
    price = models(text)["o"]["price"]
    assert {k: v for k, v in price.items() if k != "version"} == {
        "input_per_mtok_micros": 130_000,
        "output_per_mtok_micros": 1,
        "cached_input_per_mtok_micros": 65_000,
    }
    assert all(type(v) is int for k, v in price.items() if k != "version")
    assert "." not in text.split('[[models]]\nid = "o"')[1].split("version")[0]  # no float literal in the file


def test_a_hand_set_price_is_kept_without_force():
    text, plan = run(HAND, [offer("openai", "gpt-4o-mini", "0.15", "0.6")])
    assert plan.kept == ["gpt-4o-mini"] and not plan.added and not plan.changed
    assert models(text)["gpt-4o-mini"]["price"] == {"input_per_mtok_micros": 1, "output_per_mtok_micros": 2, "version": "hand-1"}
    assert "source" not in models(text)["gpt-4o-mini"]


def test_a_hand_set_price_is_found_by_the_vendor_qualified_alias_too():
    hand = HAND.replace('id = "gpt-4o-mini"   # priced by hand', 'id = "mini-hand"').replace(
        'aliases = ["mini"]', 'aliases = ["openai/gpt-4o-mini"]'
    )
    hand = hand.replace('"gpt-4o-mini" = ', '"mini-hand" = ')
    _, plan = run(hand, [offer("openai", "gpt-4o-mini")])
    assert plan.kept == ["mini-hand"]


def test_force_overwrites_a_hand_set_price_with_a_new_version_and_takes_the_model_over():
    text, plan = run(HAND, [offer("openai", "gpt-4o-mini", "0.15", "0.6")], force=True)
    (change,) = plan.changed
    assert (change.model, change.old_version) == ("gpt-4o-mini", "hand-1")
    assert change.new["input_per_mtok_micros"] == 150_000 and change.new_version != "hand-1"
    model = models(text)["gpt-4o-mini"]
    assert model["price"]["version"] == change.new_version and model["source"] == "genai-prices:openai/gpt-4o-mini"
    assert model["aliases"] == ["mini"] and model["capabilities"] == ["chat"]  # the rest stays as written
    assert channels(text)["openai-main"]["models"]["gpt-4o-mini"] == "gpt-4o-mini-2024-07-18"  # the hand mapping too
    _, plan = run(text, [offer("openai", "gpt-4o-mini", "0.15", "0.6")])  # now owned: no --force needed
    assert (plan.unchanged, plan.kept) == (["gpt-4o-mini"], [])


def test_a_refresh_counts_unchanged_and_changed_and_bumps_only_changed_versions():
    first, _ = run(HAND, [offer("openai", "a", "1", "2"), offer("openai", "b", "1", "2")])
    versions = {m: models(first)[m]["price"]["version"] for m in ("a", "b")}
    second, plan = run(first, [offer("openai", "a", "1", "2"), offer("openai", "b", "1.5", "2")])
    assert (plan.added, plan.unchanged, [c.model for c in plan.changed]) == ([], ["a"], ["b"])
    (change,) = plan.changed
    assert (change.old["input_per_mtok_micros"], change.new["input_per_mtok_micros"]) == (1_000_000, 1_500_000)
    assert models(second)["a"]["price"]["version"] == versions["a"]
    assert models(second)["b"]["price"]["version"] == change.new_version != versions["b"]
    assert second.count('id = "b"') == 1 and channels(second)["openai-main"]["models"]["b"] == "b"  # no duplicate entry or route


def test_the_margin_changes_prices_and_so_their_versions():
    first, _ = run(HAND, [offer("openai", "a", "1", "2")])
    _, plan = run(first, [offer("openai", "a", "1", "2")], margin=Decimal("1.2"))
    (change,) = plan.changed
    assert change.new == {**change.old, "input_per_mtok_micros": 1_200_000, "output_per_mtok_micros": 2_400_000}
    assert change.new_version != change.old_version


def test_price_versions_differ_for_different_prices_on_the_same_day():
    assert price_version({"input_per_mtok_micros": 1}, TODAY) != price_version({"input_per_mtok_micros": 2}, TODAY)
    assert price_version({"input_per_mtok_micros": 1}, TODAY) == price_version(
        {"input_per_mtok_micros": 1, "cache_write_per_mtok_micros": 0}, TODAY
    )
    assert price_version({}, TODAY).startswith("genai-prices-2026-12-05-")


def test_the_same_model_id_at_two_vendors_gets_a_vendor_qualified_id():
    text, plan = run(HAND, [offer("openai", "llama"), offer("xai", "llama", "9", "9")])
    assert plan.added == ["llama", "xai/llama"]
    assert models(text)["xai/llama"]["source"] == "genai-prices:x-ai/llama" and "aliases" not in models(text)["xai/llama"]
    _, plan = run(text, [offer("openai", "llama"), offer("xai", "llama", "9", "9")])
    assert plan.unchanged == ["llama", "xai/llama"] and not plan.added


def test_an_offer_whose_names_are_all_taken_is_skipped():
    hand = HAND + '\n[[models]]\nid = "q"\nsource = "genai-prices:openai/q"\n\n[[models]]\nid = "xai/q"\n'
    _, plan = run(hand, [offer("xai", "q")])
    assert (plan.skipped, plan.added, plan.kept) == (["xai/q"], [], [])


def test_no_route_leaves_the_channels_alone():
    text, plan = run(HAND, [offer("anthropic", "claude-x")], route=False)
    assert channels(text)["claude"]["models"] == {} and plan.routes == {}


def test_an_empty_catalog_gets_a_models_array():
    text, plan = run("", [offer("openai", "a")])
    assert plan.added == ["a"] and msgspec.toml.decode(text.encode())["models"][0]["id"] == "a"


def test_named_channels_serve_every_imported_model_whatever_their_vendor():
    text, plan = run(HAND, [offer("anthropic", "claude-x"), offer("xai", "grok")], channels=("openai-main",))
    assert channels(text)["openai-main"]["models"] == {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "claude-x": "claude-x", "grok": "grok"}
    assert channels(text)["claude"]["models"] == {"claude-x": "claude-x"}  # and the vendor's own channel as before
    assert plan.routes == {"openai-main": 2, "claude": 1}


def test_a_channel_left_without_models_is_reported():
    _, plan = run(HAND, [offer("openai", "gpt-4.1")])
    assert plan.idle == ["claude"]
    _, plan = run(HAND, [offer("anthropic", "claude-x")])
    assert plan.idle == []
