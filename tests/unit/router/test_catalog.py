"""The router's catalog: parsing, validation, alias resolution and candidate ordering."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from services.router.catalog import PROVIDER_KINDS, Catalog, CatalogError, Price, load, parse
from services.router.health import HealthConfig
from services.router.policies import DEFAULT_VENDORS, SHIPPED_TABLE, DataPolicy, read_table

ROOT = Path(__file__).resolve().parents[3]

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
    "unknown channel field": (MODELS, [channel("c1", colour='"red"')], r"invalid catalog: .*colour"),
    "unknown price field": ('[[models]]\nid = "a"\nprice = { per_request = 1 }\n', [], r"invalid catalog: .*per_request"),
    "unknown top-level table": (MODELS + "\n[extras]\nx = 1\n", [], r"invalid catalog: .*extras"),
    "wrong type": ("[[models]]\nid = 5\n", [], r"invalid catalog"),
    "missing required channel field": (
        MODELS,
        ['[[channels]]\nid = "c1"\nprovider = "openai"\nmodels = { "m1" = "x" }\n'],
        r"channel 'c1': base_url is required",
    ),
    "not toml": ("this is = = not toml", [], r"invalid catalog"),
}


@pytest.mark.parametrize("models, channels, message", INVALID.values(), ids=INVALID.keys())
def test_validation_errors(models: str, channels: list[str], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        catalog(*channels, models=models)


def test_catalog_error_is_a_value_error() -> None:
    assert issubclass(CatalogError, ValueError)


KIND_FIELDS = {"vertex": {"project": '"my-proj"', "region": '"us-central1"'}}  # the fields a kind requires beyond the common ones


def test_every_known_provider_is_accepted() -> None:
    # Kinds without a vendor in the data-policy table (self-hosted servers, resellers) must say what they do;
    # a region is free text for most kinds and what a bedrock channel signs for.
    chans = [
        channel(f"c-{kind}", provider=kind, data_policy="{ zdr = true }", **{"region": '"us-east-1"', **KIND_FIELDS.get(kind, {})})
        for kind in sorted(PROVIDER_KINDS)
    ]
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
    assert [c.id for c in cat.candidates("sim-failover", random.Random(0))] == ["sim-faulty", "sim-backup"]
    # The always-failing channel serves nothing else: its open breaker takes no other model down.
    assert cat.channel("sim-faulty").models == {"sim-failover": "sim-error-500"}
    assert all(c.data_policy.zdr for c in cat.channels)  # the demo upstream is the local simulator


def test_example_catalog_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_SIM_PORT", "19999")
    cat = load(ROOT / "config" / "catalog.example.toml")
    assert cat.models and cat.channels
    assert {m for c in cat.channels for m in c.models} <= set(cat.models)


def test_e2e_catalog_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_SIM_PORT", "19999")
    cat = load(ROOT / "tests" / "data" / "catalog.toml")
    assert {m for c in cat.channels for m in c.models} == set(cat.models)


# -- models: context length, capabilities, timeouts -----------------------------------


def test_model_fields_and_timeout_inheritance() -> None:
    models = """
[defaults]
timeouts = { connect_ms = 5_000, first_byte_ms = 30_000, total_ms = 120_000 }

[[models]]
id = "m1"
context_length = 128_000
capabilities = ["chat", "tools", "vision", "chat"]

[[models]]
id = "thinker"
timeouts = { first_byte_ms = 300_000, total_ms = 900_000 }
"""
    cat = catalog(channel("c1", '{ "m1" = "a", "thinker" = "b" }'), models=models)
    m1, thinker = cat.models["m1"], cat.models["thinker"]
    assert (m1.context_length, m1.capabilities) == (128_000, ["chat", "tools", "vision"])
    assert (m1.timeouts.connect_ms, m1.timeouts.first_byte_ms, m1.timeouts.total_ms) == (5_000, 30_000, 120_000)
    assert (thinker.timeouts.connect_ms, thinker.timeouts.first_byte_ms, thinker.timeouts.total_ms) == (5_000, 300_000, 900_000)
    assert (thinker.context_length, thinker.capabilities) == (0, [])


def test_unset_timeouts_are_zero_so_the_edge_settings_apply() -> None:
    t = catalog(channel("c1")).models["m1"].timeouts
    assert (t.connect_ms, t.first_byte_ms, t.total_ms) == (0, 0, 0)


# -- channels: secrets, region, limits, vendor ----------------------------------------


def test_channel_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_SECRETS", "/run/secrets")
    cat = catalog(
        channel("c1", api_key_file='"${TG_SECRETS}/openai"', region='"eu-west"', rpm=500, tpm=90_000),
        channel("c2", provider="gemini"),
        channel("c3", provider="groq", vendor='"azure"'),
    )
    c1, c2, c3 = cat.channels
    assert (c1.api_key_env, c1.api_key_file, c1.region, c1.rpm, c1.tpm) == ("", "/run/secrets/openai", "eu-west", 500, 90_000)
    assert (c1.vendor, c2.vendor, c3.vendor) == ("openai", "google", "azure")
    assert (c2.region, c2.rpm, c2.tpm, c2.api_key_file) == ("", 0, 0, "")


def test_channel_inherits_its_vendors_data_policy() -> None:
    cat = catalog(
        channel("anthropic", provider="anthropic"),
        channel("groq", provider="groq"),
        channel("deepseek", provider="deepseek"),
        channel("gemini", provider="gemini"),
        channel("sim", provider="simulator"),
    )
    policies = {c.id: c.data_policy for c in cat.channels}
    assert policies["anthropic"] == DataPolicy(vendor="anthropic", zdr=False, trains_on_data=False, retention_days=30)
    assert policies["groq"] == DataPolicy(vendor="groq", zdr=True, trains_on_data=False, retention_days=0)
    assert policies["deepseek"] == DataPolicy(vendor="deepseek", zdr=False, trains_on_data=True, retention_days=-1)
    assert policies["gemini"] == DataPolicy(vendor="google", zdr=False, trains_on_data=False, retention_days=55)
    assert policies["sim"].zdr


OVERRIDES = {
    "zero retention makes a non-training vendor zdr": ("anthropic", "{ retention_days = 0 }", (True, False, 0)),
    "zdr = true": ("deepseek", "{ zdr = true }", (True, False, 0)),
    "zdr = false on a zdr vendor": ("groq", "{ zdr = false }", (False, False, -1)),
    "training opt-in": ("openai", "{ trains_on_data = true }", (False, True, -1)),
    "complete policy for a vendor missing from the table": ("vllm", "{ retention_days = 7, trains_on_data = false }", (False, False, 7)),
}


@pytest.mark.parametrize("provider, override, expected", OVERRIDES.values(), ids=OVERRIDES.keys())
def test_channel_data_policy_override(provider: str, override: str, expected: tuple) -> None:
    [c] = catalog(channel("c1", provider=provider, data_policy=override)).channels
    assert (c.data_policy.zdr, c.data_policy.trains_on_data, c.data_policy.retention_days) == expected


INVALID_EXTENDED = {
    "unknown capability": (
        '[[models]]\nid = "m1"\ncapabilities = ["chat", "telepathy"]\n',
        [channel("c1")],
        r"model 'm1': unknown capabilities telepathy",
    ),
    "negative context length": ('[[models]]\nid = "m1"\ncontext_length = -1\n', [channel("c1")], r"context_length must be >= 0"),
    "zero timeout": (
        '[[models]]\nid = "m1"\ntimeouts = { connect_ms = 0 }\n',
        [channel("c1")],
        r"model 'm1': timeouts.connect_ms must be positive",
    ),
    "total shorter than first byte": (
        '[defaults]\ntimeouts = { total_ms = 1_000 }\n[[models]]\nid = "m1"\ntimeouts = { first_byte_ms = 5_000 }\n',
        [channel("c1")],
        r"timeouts.total_ms must be at least",
    ),
    "unknown timeout field": ('[[models]]\nid = "m1"\ntimeouts = { read_ms = 5 }\n', [channel("c1")], r"invalid catalog: .*read_ms"),
    "negative rpm": (MODELS, [channel("c1", rpm=-1)], r"channel 'c1': rpm and tpm must be >= 0"),
    "two secret references": (MODELS, [channel("c1", api_key_env='"K"', api_key_file='"/k"')], r"api_key_env or api_key_file, not both"),
    "relative secret file": (MODELS, [channel("c1", api_key_file='"keys/openai"')], r"api_key_file must be an absolute path"),
    "channel serving nothing": (MODELS, [channel("c1", "{}")], r"channel 'c1' serves no model"),
    "no channels at all": (MODELS, [], r"the catalog routes to nothing"),
    "unknown vendor": (MODELS, [channel("c1", vendor='"acme-ai"')], r"channel 'c1': vendor 'acme-ai' is not in the data-policy table"),
    "provider without a table vendor": (MODELS, [channel("c1", provider="together")], r"vendor 'together' is not in the data-policy table"),
    "incomplete policy for an unknown vendor": (
        MODELS,
        [channel("c1", provider="vllm", data_policy="{ retention_days = 3 }")],
        r"vendor 'vllm'",
    ),
    "contradictory zdr": (MODELS, [channel("c1", data_policy="{ zdr = true, trains_on_data = true }")], r"zdr = true contradicts"),
    "zdr false with nothing kept": (
        MODELS,
        [channel("c1", provider="groq", data_policy="{ zdr = false, retention_days = 0 }")],
        r"zdr = false contradicts retention_days = 0",
    ),
    "unknown data policy field": (MODELS, [channel("c1", data_policy="{ gdpr = true }")], r"invalid catalog: .*gdpr"),
    "bad health threshold": ("[health]\nerror_threshold = 1.5\n" + MODELS, [channel("c1")], r"invalid catalog: health.error_threshold"),
    "bad health window": ("[health]\nmin_samples = 10\nwindow_size = 5\n" + MODELS, [channel("c1")], r"min_samples <= window_size"),
    "unknown health field": ("[health]\nbreaker = 1\n" + MODELS, [channel("c1")], r"invalid catalog: .*breaker"),
}


@pytest.mark.parametrize("models, channels, message", INVALID_EXTENDED.values(), ids=INVALID_EXTENDED.keys())
def test_extended_validation_errors(models: str, channels: list[str], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        catalog(*channels, models=models)


def test_health_settings_come_from_the_catalog() -> None:
    cat = catalog(channel("c1"), models="[health]\ncooldown_s = 1\nmin_samples = 3\n" + MODELS)
    assert (cat.health.cooldown_s, cat.health.min_samples, cat.health.error_threshold) == (1, 3, 0.5)
    assert catalog(channel("c1")).health == HealthConfig()


# -- the data-policy table ----------------------------------------------------------

SEED_ZDR = {
    "aws",
    "azure",
    "bytedance",
    "cerebras",
    "deepinfra",
    "google-vertex",
    "groq",
    "moonshot",
    "perplexity",
    "siliconflow",
    "sophnet",
    "zai",
}
SEED_TRAINING = {"chutes", "deepseek", "ideogram", "jina", "minimax", "nvidia"}
SEED_30_DAYS = {"anthropic", "cohere", "mistral", "xai", "xiaomi"}


def test_shipped_data_policy_table() -> None:
    table, _ = read_table(SHIPPED_TABLE)
    assert len(table) == 34  # the 33 vendors of the source table plus the simulator
    assert {v for v, p in table.items() if p.zdr} == SEED_ZDR | {"simulator"}
    assert {v for v, p in table.items() if p.trains_on_data} == SEED_TRAINING
    assert {v for v, p in table.items() if p.retention_days == 30} == SEED_30_DAYS
    assert table["google"].retention_days == 55
    assert {v for v, p in table.items() if p.retention_days == -1} == set(table) - SEED_ZDR - {"simulator"} - SEED_30_DAYS - {"google"}
    for provider, vendor in DEFAULT_VENDORS.items():
        assert vendor in table, provider


def test_table_next_to_the_catalog_wins(tmp_path: Path) -> None:
    (tmp_path / "data_policies.toml").write_text("[vendors.openai]\nstores_data = false\nretention_days = 0\ntrains_on_data = false\n")
    (tmp_path / "catalog.toml").write_text(MODELS + channel("c1"))
    cat = load(tmp_path / "catalog.toml")
    assert cat.channels[0].data_policy.zdr
    assert [p for p, _ in cat.sources] == [tmp_path / "catalog.toml", tmp_path / "data_policies.toml"]


def test_table_named_in_the_catalog(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "mine.toml").write_text("[vendors.inhouse]\nstores_data = true\nretention_days = 3\ntrains_on_data = false\n")
    (tmp_path / "catalog.toml").write_text('data_policies = "policies/mine.toml"\n' + MODELS + channel("c1", vendor='"inhouse"'))
    [c] = load(tmp_path / "catalog.toml").channels
    assert c.data_policy == DataPolicy(vendor="inhouse", zdr=False, trains_on_data=False, retention_days=3)
    (tmp_path / "catalog.toml").write_text('data_policies = "missing.toml"\n' + MODELS + channel("c1"))
    with pytest.raises(CatalogError, match=r"cannot read data-policy table .*missing.toml"):
        load(tmp_path / "catalog.toml")


def test_shipped_table_is_the_fallback(tmp_path: Path) -> None:
    (tmp_path / "catalog.toml").write_text(MODELS + channel("c1"))
    cat = load(tmp_path / "catalog.toml")
    # The file that would override it is watched too (absent for now).
    assert [(p, d is None) for p, d in cat.sources] == [
        (tmp_path / "catalog.toml", False),
        (tmp_path / "data_policies.toml", True),
        (SHIPPED_TABLE, False),
    ]


@pytest.mark.parametrize(
    "table, message",
    [
        (
            "[vendors.x]\nstores_data = true\nretention_days = 0\ntrains_on_data = false\n",
            r"vendor 'x': stores_data = true contradicts retention_days = 0",
        ),
        ("[vendors.x]\nstores_data = true\nretention_days = -5\ntrains_on_data = false\n", r"retention_days must be >= 0, or -1"),
        ("[vendors.x]\nstores_data = true\n", r"invalid data-policy table .*retention_days"),
    ],
)
def test_invalid_data_policy_table(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "data_policies.toml").write_text(table)
    (tmp_path / "catalog.toml").write_text(MODELS + channel("c1"))
    with pytest.raises(CatalogError, match=message):
        load(tmp_path / "catalog.toml")


# -- issue 16: idle_ms, channel prices, cache-write prices ----------------------------------


def test_idle_timeout_is_inherited_and_validated() -> None:
    models = '[defaults]\ntimeouts = { idle_ms = 30_000 }\n[[models]]\nid = "m1"\n[[models]]\nid = "m2"\ntimeouts = { idle_ms = 5_000 }\n'
    cat = catalog(channel("c1", '{ "m1" = "a", "m2" = "b" }'), models=models)
    assert (cat.models["m1"].timeouts.idle_ms, cat.models["m2"].timeouts.idle_ms) == (30_000, 5_000)
    with pytest.raises(CatalogError, match=r"timeouts.idle_ms must be positive"):
        catalog(channel("c1"), models='[[models]]\nid = "m1"\ntimeouts = { idle_ms = 0 }\n')
    with pytest.raises(CatalogError, match=r"total_ms must be at least connect_ms, first_byte_ms and idle_ms"):
        catalog(channel("c1"), models='[[models]]\nid = "m1"\ntimeouts = { idle_ms = 9_000, total_ms = 5_000 }\n')


def test_a_channels_own_price_is_merged_over_the_models_and_named_in_its_version() -> None:
    cat = catalog(
        channel("cheap", prices='{ "m1" = { input_per_mtok_micros = 80, cache_write_per_mtok_micros = 100, version = "deal" } }'),
        channel("same"),
    )
    cheap, same = cat.channels
    model = cat.models["m1"]
    assert cheap.price_of(model) == Price(
        input_per_mtok_micros=80,
        output_per_mtok_micros=200,  # the fields it does not set are the model's
        cached_input_per_mtok_micros=50,
        cache_write_per_mtok_micros=100,
        version="cheap/deal",
    )
    assert same.price_of(model) is model.price and model.price.cache_write_per_mtok_micros == 0
    assert catalog(channel("c", prices='{ "m1" = { output_per_mtok_micros = 1 } }')).channels[0].prices["m1"].version == "c/p1"


@pytest.mark.parametrize(
    "prices, message",
    [
        ('{ "m2" = { input_per_mtok_micros = 1 } }', r"channel 'c1' has prices for models it does not serve: m2"),
        ('{ "m1" = { input_per_mtok_micros = -1 } }', r"channel 'c1', model 'm1', has a negative price"),
        ('{ "m1" = { discount = 1 } }', r"invalid catalog: .*discount"),
    ],
)
def test_bad_channel_prices(prices: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        catalog(channel("c1", prices=prices))


def test_a_negative_cache_write_price_is_refused() -> None:
    with pytest.raises(CatalogError, match=r"model 'm1' has a negative price"):
        catalog(channel("c1"), models='[[models]]\nid = "m1"\nprice = { cache_write_per_mtok_micros = -1 }\n')


# -- kind-specific channel settings (azure's api_version and auth) --------------------


def test_azure_settings_are_validated_and_kept() -> None:
    cat = catalog(
        channel("az-dep", provider="azure", base_url="https://res.openai.azure.com", api_version='"2024-10-21"'),
        channel("az-v1", provider="azure", base_url="https://res.openai.azure.com/openai/v1", auth='"entra"'),
    )
    assert cat.channel("az-dep").settings == {"api_version": "2024-10-21"}
    assert cat.channel("az-v1").settings == {"auth": "entra"}


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"api_version": '"october"'}, r"channel 'c1': azure api_version 'october'"),
        ({"auth": '"password"'}, r"channel 'c1': azure channel settings: .*auth"),
    ],
)
def test_bad_azure_settings_are_refused(extra: dict[str, str], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        catalog(channel("c1", provider="azure", **extra))


def test_settings_of_another_kind_are_refused() -> None:
    with pytest.raises(CatalogError, match=r"channel 'c1': provider 'openai' takes no api_version"):
        catalog(channel("c1", api_version='"2024-10-21"'))


def test_the_examples_for_azure_cohere_jina_and_voyage_parse_once_uncommented(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "config" / "catalog.example.toml").read_text()
    head, marker, examples = text.partition("# --- Azure OpenAI / AI Foundry")
    assert marker, "the example block is missing"
    toml_line = re.compile(r"# (\[\[\w+\]\]$|[a-z_]+ = )")  # a commented table header or key, not prose
    uncommented = [line[2:] for line in examples.splitlines() if toml_line.match(line)]
    cat = parse((head + "\n".join(uncommented)).encode(), 1, base_dir=ROOT / "config")
    kinds = {c.id: (c.provider, c.settings) for c in cat.channels}
    assert kinds["azure-eastus"] == ("azure", {"api_version": "2024-10-21"})
    assert kinds["azure-v1-entra"] == ("azure", {"auth": "entra"})
    assert {kinds[k][0] for k in ("cohere", "jina", "voyage")} == {"cohere", "jina", "voyage"}
    assert cat.resolve("cohere/rerank-v3.5").price.input_per_mtok_micros == 2_000_000_000  # $2 per 1,000 search units


# -- bedrock channels: an AWS region to sign for ------------------------------------------


def test_bedrock_channel_carries_its_region_to_the_edge() -> None:
    cat = catalog(channel("b", provider="bedrock", base_url="https://bedrock-runtime.eu-west-1.amazonaws.com/", region='"eu-west-1"'))
    assert cat.channels[0].base_url == "https://bedrock-runtime.eu-west-1.amazonaws.com#region=eu-west-1"
    assert cat.channels[0].vendor == "aws"


@pytest.mark.parametrize(
    "base_url, region, message",
    [
        ("https://bedrock-runtime.us-east-1.amazonaws.com", "", "needs `region`"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com", "US East", "needs `region`"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com", "eu-west-1", "endpoint of region us-east-1"),
        ("ftp://bedrock.example/x", "us-east-1", "http"),
        ("https://bedrock.example/x?a=1", "us-east-1", "without query"),
    ],
)
def test_bedrock_channel_is_checked(base_url: str, region: str, message: str) -> None:
    with pytest.raises(CatalogError, match=f"channel 'b': .*{re.escape(message)}"):
        catalog(channel("b", provider="bedrock", base_url=base_url, region=f'"{region}"'))


def test_example_bedrock_channel_loads_when_uncommented() -> None:
    text = (ROOT / "config" / "catalog.example.toml").read_text()
    block = text[text.index("# AWS Bedrock") :]
    lines = [line.removeprefix("# ") for line in block.splitlines()]
    cat = parse("\n".join(line for line in lines if "=" in line or line.startswith("[[")).encode(), 1)
    (chan,) = cat.channels
    assert chan.provider == "bedrock" and chan.base_url.endswith("#region=us-east-1")
    assert set(chan.models) == set(cat.models) == {"claude-sonnet-4-bedrock", "nova-pro"}
