"""Per-request channel selection at the edge, on the router's cached answer.

The router says which channels may serve a model (healthy ones, with their data policy,
priority, weight and latency); the edge orders them for each request — priority tiers,
weighted random within a tier, half-open channels last in their tier — and applies the
request's own controls: ``models`` / ``fallback_models`` (tried in order) and ``provider``
preferences (OpenRouter's shape: ``order``, ``only``, ``ignore``, ``allow_fallbacks``,
``sort`` = price | latency, ``data_collection`` = allow | deny, ``zdr``).

``sort = "price"`` orders by what the model costs on each channel (its own price, else the
model's): input plus output price per million tokens, cheapest first; equal prices keep the
priority / weighted order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tollgate.errors import BadRequest
from tollgate.ordering import by_priority
from tollgate.rpc import router_pb2 as pb

GATEWAY_FIELDS = ("models", "fallback_models", "provider")
MAX_MODELS = 8


@dataclass(frozen=True, slots=True)
class Preferences:
    order: tuple[str, ...] = ()
    only: frozenset[str] = frozenset()
    ignore: frozenset[str] = frozenset()
    allow_fallbacks: bool = True
    sort: str = ""
    deny_data_collection: bool = False
    zdr: bool = False

    def describe(self) -> str:
        parts = [name for name, on in (("zdr", self.zdr), ("data_collection=deny", self.deny_data_collection)) if on]
        if self.only:
            parts.append("only=" + ",".join(sorted(self.only)))
        if self.ignore:
            parts.append("ignore=" + ",".join(sorted(self.ignore)))
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Options:
    models: tuple[str, ...]
    prefs: Preferences = field(default_factory=Preferences)


def _names(value, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"'{what}' must be an array of strings", code="invalid_routing_options")
    return tuple(value)


def take_options(body: dict[str, Any], model: str, *, require_zdr: bool = False) -> Options:
    """Remove the gateway's own fields from ``body`` (upstreams must not see them).
    ``require_zdr`` (the key's or account's setting) forces ``zdr`` whatever the body says."""
    extra = {k: body.pop(k) for k in GATEWAY_FIELDS if k in body}
    # The requested model first, then `models` (OpenRouter), then `fallback_models` (TokenHub).
    models = tuple(dict.fromkeys((model, *_names(extra.get("models"), "models"), *_names(extra.get("fallback_models"), "fallback_models"))))
    if len(models) > MAX_MODELS:
        raise BadRequest(f"at most {MAX_MODELS} models may be tried per request", code="invalid_routing_options")
    provider = extra.get("provider")
    provider = {} if provider is None else provider
    if not isinstance(provider, dict):
        raise BadRequest("'provider' must be an object", code="invalid_routing_options")
    sort = provider.get("sort") or ""
    if sort not in ("", "price", "latency"):
        raise BadRequest("'provider.sort' must be 'price' or 'latency'", code="invalid_routing_options")
    collection = provider.get("data_collection") or "allow"
    if collection not in ("allow", "deny"):
        raise BadRequest("'provider.data_collection' must be 'allow' or 'deny'", code="invalid_routing_options")
    for flag in ("allow_fallbacks", "zdr"):
        if flag in provider and not isinstance(provider[flag], bool):
            raise BadRequest(f"'provider.{flag}' must be a boolean", code="invalid_routing_options")
    prefs = Preferences(
        order=_names(provider.get("order"), "provider.order"),
        only=frozenset(_names(provider.get("only"), "provider.only")),
        ignore=frozenset(_names(provider.get("ignore"), "provider.ignore")),
        allow_fallbacks=provider.get("allow_fallbacks", True),
        sort=sort,
        deny_data_collection=collection == "deny",
        zdr=provider.get("zdr", False) or require_zdr,
    )
    return Options(models=models, prefs=prefs)


def _labels(c: pb.Candidate) -> set[str]:
    return {c.channel_id, c.provider, c.data_policy.vendor} - {""}


def allowed(c: pb.Candidate, prefs: Preferences) -> bool:
    labels = _labels(c)
    if prefs.only and not labels & prefs.only:
        return False
    if labels & prefs.ignore:
        return False
    if prefs.zdr and not c.data_policy.zdr:
        return False
    return not (prefs.deny_data_collection and (c.data_policy.trains_on_data or c.data_policy.retention_days > 0))


def unit_price(price: pb.Price) -> int:
    """What ``sort = "price"`` compares: micro-USD per million input plus per million output tokens."""
    return price.input_per_mtok_micros + price.output_per_mtok_micros


def order(candidates: list[pb.Candidate], prefs: Preferences, rng: random.Random, price: pb.Price | None = None) -> list[pb.Candidate]:
    """``price`` is the model's (a channel without a price of its own costs that)."""
    usable = [c for c in candidates if allowed(c, prefs)]
    if len(usable) < 2:  # nothing to order (the common case: one channel serves the model)
        return usable
    if prefs.sort == "latency":
        # Unknown latency (no samples yet) sorts after measured channels.
        ordered = sorted(usable, key=lambda c: (c.state == "half_open", c.latency_ewma_ms or float("inf")))
    else:
        ordered = by_priority(
            usable, rng, priority=lambda c: c.priority, weight=lambda c: c.weight, demoted=lambda c: c.state == "half_open"
        )
        if prefs.sort == "price":  # stable: equal prices keep the priority / weighted order
            model_price = price or pb.Price()
            ordered.sort(key=lambda c: unit_price(c.price if c.HasField("price") else model_price))
    if prefs.order:
        rank = {name: i for i, name in enumerate(prefs.order)}
        first = sorted((c for c in ordered if _labels(c) & rank.keys()), key=lambda c: min(rank[n] for n in _labels(c) & rank.keys()))
        rest = [c for c in ordered if c not in first] if prefs.allow_fallbacks else []
        ordered = first + rest
    return ordered
