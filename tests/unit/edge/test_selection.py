"""Per-request ordering and the request's routing controls."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from services.edge.selection import Preferences, order, take_options
from tollgate.errors import BadRequest
from tollgate.rpc import router_pb2 as pb


def cand(
    cid: str,
    provider: str = "openai",
    *,
    priority: int = 0,
    weight: int = 1,
    zdr: bool = False,
    trains: bool = False,
    retention: int = 30,
    state: str = "closed",
    latency: float = 0.0,
    vendor: str = "",
) -> pb.Candidate:
    policy = pb.DataPolicy(zdr=zdr, trains_on_data=trains, retention_days=0 if zdr else retention, vendor=vendor or provider)
    return pb.Candidate(
        channel_id=cid, provider=provider, priority=priority, weight=weight, data_policy=policy, state=state, latency_ewma_ms=latency
    )


def ids(cands) -> list[str]:
    return [c.channel_id for c in cands]


def test_priority_tiers_then_weighted_random_within_a_tier():
    rng = random.Random(7)
    cands = [cand("low", priority=0), cand("a", priority=10, weight=9), cand("b", priority=10, weight=1)]
    firsts = Counter(ids(order(cands, Preferences(), rng))[0] for _ in range(2000))
    assert set(firsts) == {"a", "b"}
    assert 0.85 < firsts["a"] / 2000 < 0.95
    assert all(ids(order(cands, Preferences(), rng))[-1] == "low" for _ in range(50))


def test_half_open_channels_go_last_in_their_tier():
    rng = random.Random(1)
    cands = [cand("probe", priority=5, state="half_open", weight=100), cand("ok", priority=5)]
    assert all(ids(order(cands, Preferences(), rng)) == ["ok", "probe"] for _ in range(20))


def test_zdr_and_data_collection_filters():
    cands = [cand("trains", trains=True), cand("keeps", retention=30), cand("zdr", zdr=True)]
    rng = random.Random(0)
    assert ids(order(cands, Preferences(zdr=True), rng)) == ["zdr"]
    assert ids(order(cands, Preferences(deny_data_collection=True), rng)) == ["zdr"]
    assert len(order(cands, Preferences(), rng)) == 3


def test_only_ignore_and_explicit_order():
    cands = [cand("c1", "openai"), cand("c2", "deepseek"), cand("c3", "anthropic", vendor="anthropic")]
    rng = random.Random(0)
    assert ids(order(cands, Preferences(only=frozenset({"deepseek", "c3"})), rng)) in (["c2", "c3"], ["c3", "c2"])
    assert "c1" not in ids(order(cands, Preferences(ignore=frozenset({"openai"})), rng))
    assert ids(order(cands, Preferences(order=("anthropic", "deepseek")), rng))[:2] == ["c3", "c2"]
    assert ids(order(cands, Preferences(order=("anthropic",), allow_fallbacks=False), rng)) == ["c3"]


def test_sort_by_latency_puts_unmeasured_channels_last():
    cands = [cand("slow", latency=300), cand("new"), cand("fast", latency=20)]
    assert ids(order(cands, Preferences(sort="latency"), random.Random(0))) == ["fast", "slow", "new"]


def test_take_options_strips_gateway_fields_and_orders_models():
    body = {"model": "a", "models": ["b", "a"], "fallback_models": ["c", "b"], "provider": {"zdr": True, "sort": "latency"}, "messages": []}
    options = take_options(body, "a")
    assert options.models == ("a", "b", "c")  # the requested model first, then models, then fallback_models
    assert options.prefs.zdr and options.prefs.sort == "latency"
    assert set(body) == {"model", "messages"}


@pytest.mark.parametrize(
    "extra",
    [
        {"models": "b"},
        {"fallback_models": [1]},
        {"provider": []},
        {"provider": {"sort": "cheap"}},
        {"provider": {"zdr": "yes"}},
        {"provider": {"data_collection": "maybe"}},
        {"models": [f"m{i}" for i in range(9)]},
    ],
)
def test_bad_routing_options_are_400(extra):
    with pytest.raises(BadRequest):
        take_options({"model": "a", **extra}, "a")


def priced(cid: str, input_micros: int | None = None, output_micros: int = 0, **kw) -> pb.Candidate:
    c = cand(cid, **kw)
    if input_micros is not None:  # a channel with a price of its own for the model
        c.price.CopyFrom(pb.Price(input_per_mtok_micros=input_micros, output_per_mtok_micros=output_micros, version="own"))
    return c


def test_sort_by_price_orders_by_each_channels_own_price_else_the_models():
    model_price = pb.Price(input_per_mtok_micros=3_000, output_per_mtok_micros=7_000)  # 10_000 a million of each
    cands = [priced("dear", 9_000, 9_000, priority=10), priced("model-price", priority=5), priced("cheap", 1_000, 2_000)]
    prefs = Preferences(sort="price")
    assert ids(order(cands, prefs, random.Random(1), model_price)) == ["cheap", "model-price", "dear"]
    assert ids(order(cands, Preferences(), random.Random(1), model_price)) == ["dear", "model-price", "cheap"]  # no sort: priority


def test_sort_by_price_keeps_the_priority_order_between_equal_prices():
    cands = [priced("low", 1_000, priority=0), priced("high", 1_000, priority=10), priced("mid", 1_000, priority=5)]
    assert ids(order(cands, Preferences(sort="price"), random.Random(1), pb.Price())) == ["high", "mid", "low"]
