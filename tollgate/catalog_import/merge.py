"""Merging imported offers into a catalog document (tomlkit: comments, channels, policies and every
hand-written entry survive byte for byte where the import does not touch them).

Ownership: an imported model carries ``source = "genai-prices:<provider>/<model>"``. The import
refreshes the models it owns (price, context length) and adds new ones; a model written by hand
that has the same name keeps its price unless ``force`` (which then takes it over). A changed
price gets a new ``version``. With ``route``, every channel of a model's vendor (and every channel
in ``channels``) serves the models it imports or owns (upstream name = the vendor's model id);
what a channel already maps is kept."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import tomlkit
from tomlkit.items import AoT, InlineTable, Table

from tollgate.catalog_import.prices import PRICE_KEYS, SOURCE, Offer, priced
from tollgate.providers import vendor_of

PRICE_FIELDS = tuple(PRICE_KEYS)


@dataclass(frozen=True)
class Options:
    margin: Decimal = Decimal(1)
    force: bool = False
    route: bool = True
    channels: tuple[str, ...] = ()  # channel ids that serve every imported model, whatever their vendor
    today: date = field(default_factory=date.today)


@dataclass(frozen=True)
class Change:
    model: str
    old: dict[str, int]
    new: dict[str, int]
    old_version: str
    new_version: str


@dataclass
class Plan:
    added: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # hand-set prices left alone (no --force)
    skipped: list[str] = field(default_factory=list)  # offers whose names were all taken by other models
    routes: dict[str, int] = field(default_factory=dict)  # channel id -> model entries added
    idle: list[str] = field(default_factory=list)  # channels still serving no model (the router refuses such a catalog)

    def summary(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "kept": len(self.kept),
            "skipped": len(self.skipped),
        }


def price_version(prices: dict[str, int], today: date) -> str:
    """A version naming the day and the figures: a different price never shares a version."""
    figures = ",".join(str(prices.get(name, 0)) for name in PRICE_FIELDS)
    return f"{SOURCE}-{today.isoformat()}-{hashlib.blake2b(figures.encode(), digest_size=3).hexdigest()}"


def current_prices(model: Table) -> dict[str, int]:
    price = model.get("price") or {}
    return {name: int(price.get(name, 0)) for name in PRICE_FIELDS}


def _int(value: int) -> Any:
    """An integer written as people write the catalog: 2_500_000."""
    return tomlkit.integer(f"{value:_}")


def _price_table(prices: dict[str, int], version: str) -> InlineTable:
    table = tomlkit.inline_table()
    for name in PRICE_FIELDS:
        if prices.get(name) or name in ("input_per_mtok_micros", "output_per_mtok_micros"):
            table[name] = _int(prices.get(name, 0))
    table["version"] = version
    return table


class NotACatalog(ValueError):
    """The document's shape is not a catalog's (what the router would refuse too)."""


def check_shape(doc: tomlkit.TOMLDocument) -> None:
    """Raise NotACatalog unless models and channels are arrays of tables with string ids."""
    models, channels = doc.get("models") or [], doc.get("channels") or []
    if not isinstance(models, list) or not isinstance(channels, list):
        raise NotACatalog("`models` and `channels` must be arrays of tables ([[models]], [[channels]])")
    for entry in (*models, *channels):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise NotACatalog(f"every [[models]] and [[channels]] entry needs a string id: {entry!r:.80}")
    if any(not isinstance(c.get("models", {}), dict) for c in channels):
        raise NotACatalog("a channel's `models` must be a table (catalog id -> upstream name)")


def _models(doc: tomlkit.TOMLDocument) -> AoT:
    check_shape(doc)
    if not doc.get("models"):  # absent, or an empty `models = []`
        doc["models"] = tomlkit.aot()
    models = doc["models"]
    if not isinstance(models, AoT):
        raise NotACatalog("`models` must be an array of tables ([[models]])")
    return models


class Names:
    """Every name (id or alias) in use, -> the model table using it."""

    def __init__(self, models: AoT):
        self.tables: dict[str, Table] = {}
        self.by_source: dict[str, Table] = {}
        for model in models:
            for name in (str(model["id"]), *(str(a) for a in model.get("aliases", []))):
                self.tables.setdefault(name, model)
            source = str(model.get("source", ""))
            if source.startswith(f"{SOURCE}:"):
                self.by_source[source] = model

    def free(self, name: str) -> bool:
        return name not in self.tables

    def claim(self, model: Table) -> None:
        for name in (str(model["id"]), *(str(a) for a in model.get("aliases", []))):
            self.tables[name] = model


def _new_model(offer: Offer, names: Names, prices: dict[str, int], today: date) -> Table | None:
    qualified = f"{offer.vendor}/{offer.model}"
    model_id = offer.model if names.free(offer.model) else qualified if names.free(qualified) else None
    if model_id is None:
        return None
    model = tomlkit.table()
    model["id"] = model_id
    if model_id != qualified and names.free(qualified):
        model["aliases"] = [qualified]
    model["owned_by"] = offer.vendor
    if offer.context_length:
        model["context_length"] = _int(offer.context_length)
    model["price"] = _price_table(prices, price_version(prices, today))
    model["source"] = offer.ref
    model.add(tomlkit.nl())
    return model


def _refresh(model: Table, offer: Offer, prices: dict[str, int], plan: Plan, options: Options) -> None:
    old = current_prices(model)
    new = {name: prices.get(name, 0) for name in PRICE_FIELDS}
    old_version = str((model.get("price") or {}).get("version", ""))
    moved = old != new or str(model.get("source", "")) != offer.ref
    if offer.context_length and model.get("context_length", 0) != offer.context_length:
        model["context_length"] = _int(offer.context_length)
        moved = True
    model["source"] = offer.ref
    if old != new:
        version = price_version(new, options.today)
        model["price"] = _price_table(new, version)
        plan.changed.append(Change(str(model["id"]), old, new, old_version, version))
    elif moved:
        plan.changed.append(Change(str(model["id"]), old, new, old_version, old_version))
    else:
        plan.unchanged.append(str(model["id"]))


def _channel_vendor(channel: Table) -> str:
    return str(channel.get("vendor") or vendor_of(str(channel.get("provider", ""))))


def _route(doc: tomlkit.TOMLDocument, routes: Sequence[tuple[str, str, str]], plan: Plan, every: tuple[str, ...]) -> None:
    """``routes``: (vendor, catalog model id, upstream name): add each to the vendor's channels,
    and to the channels named in ``every``."""
    channels = doc.get("channels")
    if not channels:
        return
    for channel in channels:
        vendor = _channel_vendor(channel)
        wanted = [(model_id, upstream) for v, model_id, upstream in routes if v == vendor or str(channel["id"]) in every]
        existing = channel.get("models")
        new = [(model_id, upstream) for model_id, upstream in wanted if existing is None or model_id not in existing]
        if not new:
            continue
        table = tomlkit.table()  # one line per model: an inline table of hundreds would be one long line
        for key, value in (existing or {}).items():
            table[key] = value
        for model_id, upstream in new:
            table[model_id] = upstream
        channel["models"] = table
        plan.routes[str(channel["id"])] = len(new)


def merge(doc: tomlkit.TOMLDocument, offers: Sequence[Offer], options: Options) -> Plan:
    """Apply the offers to the document in place; what happened, model by model, in the plan."""
    plan = Plan()
    models = _models(doc)
    names = Names(models)
    routes: list[tuple[str, str, str]] = []
    for offer in offers:
        prices = priced(offer, options.margin)
        model = names.by_source.get(offer.ref)
        if model is None:
            model = names.tables.get(offer.model) or names.tables.get(f"{offer.vendor}/{offer.model}")
            if model is not None and str(model.get("source", "")).startswith(f"{SOURCE}:"):
                model = None  # another vendor's import has the name: this one gets a qualified id
            elif model is not None and not options.force:
                plan.kept.append(str(model["id"]))
                continue
        if model is not None:
            _refresh(model, offer, prices, plan, options)
            names.by_source[offer.ref] = model
        else:
            model = _new_model(offer, names, prices, options.today)
            if model is None:
                plan.skipped.append(f"{offer.vendor}/{offer.model}")
                continue
            models.append(model)
            names.claim(model)
            names.by_source[offer.ref] = model
            plan.added.append(str(model["id"]))
        routes.append((offer.vendor, str(model["id"]), offer.model))
    if options.route:
        _route(doc, routes, plan, options.channels)
    plan.idle = [str(c["id"]) for c in doc.get("channels", []) if not c.get("models")]
    return plan
