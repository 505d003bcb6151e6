"""The router's catalog: parsing, validation, alias resolution and candidate ordering."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from services.router.catalog import PROVIDER_KINDS, Catalog, CatalogError, load, parse

ROOT = Path(__file__).resolve().parents[2]

MODELS = """
[[models]]
id = "m1"
aliases = ["vendor/m1", "one"]
owned_by = "vendor"
price = { input_per_mtok_micros = 100, output_per_mtok_micros = 200, cached_input_per_mtok_micros = 50, version = "p1" }

[[models]]
id = "m2"
"""


def channel(id: str, models: str = '{ "m1" = "up-m1" }', *, provider: str = "openai", base_url: str = "https://x.test/v1", **extra) -> str:
    lines = [
        "[[channels]]",
        f'id = "{id}"',
        f'provider = "{provider}"',
        f'base_url = "{base_url}"',
        f"models = {models}",
    ]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def catalog(*channels: str, models: str = MODELS, version: int = 1) -> Catalog:
    return parse((models + "\n" + "\n".join(channels)).encode(), version)


# -- resolution ---------------------------------------------------------------------


def test_resolve_by_id_and_alias() -> None:
    cat = catalog(channel("c1"))
    assert cat.resolve("m1").id == "m1"
    assert cat.resolve("vendor/m1").id == "m1"
    assert cat.resolve("one").id == "m1"
    assert cat.resolve("m2").id == "m2"
    assert cat.resolve("nope") is None
    assert cat.resolve("") is None


def test_parsed_fields_and_defaults() -> None:
    cat = catalog(channel("c1", api_key_env='"KEY"', priority=3, weight=2), version=7)
    assert cat.version == 7
    m1, m2 = cat.models["m1"], cat.models["m2"]
    assert m1.owned_by == "vendor"
    assert (m1.price.input_per_mtok_micros, m1.price.output_per_mtok_micros, m1.price.cached_input_per_mtok_micros) == (100, 200, 50)
    assert m1.price.version == "p1"
    assert m2.owned_by == "tollgate" and m2.aliases == [] and m2.price.input_per_mtok_micros == 0
    [c1] = cat.channels
    assert (c1.api_key_env, c1.priority, c1.weight, c1.models) == ("KEY", 3, 2, {"m1": "up-m1"})


def test_base_url_trailing_slash_is_stripped() -> None:
    cat = catalog(channel("c1", base_url="https://x.test/v1/"))
    assert cat.channels[0].base_url == "https://x.test/v1"


# -- ${VAR} expansion ---------------------------------------------------------------


def test_env_var_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_TEST_HOST", "upstream.example")
    monkeypatch.setenv("TG_TEST_PORT", "4321")
    cat = catalog(channel("c1", base_url="http://${TG_TEST_HOST}:${TG_TEST_PORT}/v1"))
    assert cat.channels[0].base_url == "http://upstream.example:4321/v1"


def test_env_var_unset_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TG_TEST_MISSING", raising=False)
    with pytest.raises(CatalogError, match=r"channel 'c1': environment variable TG_TEST_MISSING is not set"):
        catalog(channel("c1", base_url="http://${TG_TEST_MISSING}/v1"))


def test_plain_dollar_is_not_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST", "nope")
    cat = catalog(channel("c1", base_url="http://$HOST/v1"))
    assert cat.channels[0].base_url == "http://$HOST/v1"


# -- validation ---------------------------------------------------------------------

INVALID = {
    "duplicate model id": (MODELS + '\n[[models]]\nid = "m1"\n', [], r"model 'm1' is defined twice"),
    "alias shared by two models": (
        '[[models]]\nid = "a"\naliases = ["shared"]\n[[models]]\nid = "b"\naliases = ["shared"]\n',
        [],
        r"name 'shared' is used by both 'a' and 'b'",
    ),
    "alias equal to another model id": (
        '[[models]]\nid = "a"\n[[models]]\nid = "b"\naliases = ["a"]\n',
        [],
        r"name 'a' is used by both 'a' and 'b'",
    ),
    "duplicate channel id": (MODELS, [channel("c1"), channel("c1")], r"channel 'c1' is defined twice"),
    "unknown provider": (MODELS, [channel("c1", provider="acme")], r"channel 'c1': unknown provider 'acme'"),
    "model missing from catalog": (
        MODELS,
        [channel("c1", '{ "m1" = "x", "ghost" = "y", "absent" = "z" }')],
        r"channel 'c1' serves models missing from the catalog: absent, ghost",
    ),
    "weight zero": (MODELS, [channel("c1", weight=0)], r"channel 'c1': weight must be at least 1"),
    "weight negative": (MODELS, [channel("c1", weight=-3)], r"weight must be at least 1"),
    "negative input price": ('[[models]]\nid = "a"\nprice = { input_per_mtok_micros = -1 }\n', [], r"model 'a' has a negative price"),
    "negative output price": ('[[models]]\nid = "a"\nprice = { output_per_mtok_micros = -1 }\n', [], r"negative price"),
    "negative cached price": ('[[models]]\nid = "a"\nprice = { cached_input_per_mtok_micros = -5 }\n', [], r"negative price"),
    "unknown model field": ('[[models]]\nid = "a"\ncolour = "red"\n', [], r"invalid catalog: .*colour"),
    "unknown channel field": (MODELS, [channel("c1", region='"eu"')], r"invalid catalog: .*region"),
    "unknown price field": ('[[models]]\nid = "a"\nprice = { per_request = 1 }\n', [], r"invalid catalog: .*per_request"),
    "unknown top-level table": (MODELS + "\n[extras]\nx = 1\n", [], r"invalid catalog: .*extras"),
    "wrong type": ('[[models]]\nid = 5\n', [], r"invalid catalog"),
    "missing required channel field": (MODELS, ['[[channels]]\nid = "c1"\nprovider = "openai"\nmodels = {}\n'], r"invalid catalog: .*base_url"),
    "not toml": ("this is = = not toml", [], r"invalid catalog"),
}


@pytest.mark.parametrize("models, channels, message", INVALID.values(), ids=INVALID.keys())
def test_validation_errors(models: str, channels: list[str], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        catalog(*channels, models=models)


def test_catalog_error_is_a_value_error() -> None:
    assert issubclass(CatalogError, ValueError)


def test_every_known_provider_is_accepted() -> None:
    chans = [channel(f"c-{kind}", provider=kind) for kind in sorted(PROVIDER_KINDS)]
    assert {c.provider for c in catalog(*chans).channels} == PROVIDER_KINDS


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load(tmp_path / "nope.toml")


def test_load_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(MODELS + channel("c1"))
    cat = load(path, version=3)
    assert cat.version == 3 and set(cat.models) == {"m1", "m2"}


# -- candidates ---------------------------------------------------------------------


def test_candidates_only_serving_channels_priority_tiers_first() -> None:
    cat = catalog(
        channel("low", priority=0),
        channel("other-model", '{ "m2" = "m2" }', priority=100),
        channel("high", priority=10),
        channel("mid-a", priority=5),
        channel("mid-b", priority=5),
        channel("negative", priority=-1),
    )
    rng = random.Random(1)
    for _ in range(50):
        ids = [c.id for c in cat.candidates("m1", rng)]
        assert ids[0] == "high"
        assert set(ids[1:3]) == {"mid-a", "mid-b"}
        assert ids[3:] == ["low", "negative"]
    assert [c.id for c in cat.candidates("m2", rng)] == ["other-model"]
    assert cat.candidates("unknown", rng) == []


def test_weighted_order_within_a_tier() -> None:
    cat = catalog(channel("heavy", weight=9), channel("light", weight=1))
    rng = random.Random(12345)
    draws = 4000
    first = Counter(cat.candidates("m1", rng)[0].id for _ in range(draws))
    assert first["heavy"] + first["light"] == draws
    # Expected share for weight 9 vs 1 is 90%; allow generous slack, but far from 50/50.
    assert 0.85 < first["heavy"] / draws < 0.95, first
    assert first["light"] > 0, "the light channel must still be picked first sometimes"


def test_weighted_order_is_reproducible_with_seed() -> None:
    cat = catalog(*(channel(f"c{i}", weight=i + 1) for i in range(5)))
    a = [[c.id for c in cat.candidates("m1", random.Random(7))] for _ in range(3)]
    b = [[c.id for c in cat.candidates("m1", random.Random(7))] for _ in range(3)]
    assert a == b
    assert all(sorted(order) == [f"c{i}" for i in range(5)] for order in a)


def test_equal_weights_are_shuffled() -> None:
    cat = catalog(channel("a"), channel("b"))
    rng = random.Random(3)
    first = Counter(cat.candidates("m1", rng)[0].id for _ in range(2000))
    assert 0.4 < first["a"] / 2000 < 0.6, first


# -- shipped catalogs ---------------------------------------------------------------


def test_shipped_catalog_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_SIM_PORT", "19999")
    cat = load(ROOT / "config" / "catalog.toml")
    assert cat.models, "shipped catalog has no models"
    assert cat.channels, "shipped catalog has no channels"
    for c in cat.channels:
        assert "${" not in c.base_url
    assert any("127.0.0.1:19999" in c.base_url for c in cat.channels)
    assert cat.resolve("sim").id == "sim-1"
    # Every model is served by some channel.
    assert {m for c in cat.channels for m in c.models} == set(cat.models)
    # sim-failover fails over from the high-priority channel to the backup.
    assert [c.id for c in cat.candidates("sim-failover", random.Random(0))] == ["sim-primary", "sim-backup"]


def test_example_catalog_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_SIM_PORT", "19999")
    cat = load(ROOT / "config" / "catalog.example.toml")
    assert cat.models and cat.channels
    assert {m for c in cat.channels for m in c.models} <= set(cat.models)


def test_e2e_catalog_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_SIM_PORT", "19999")
    cat = load(ROOT / "tests" / "data" / "catalog.toml")
    assert {m for c in cat.channels for m in c.models} == set(cat.models)
