"""The model catalog and channel table, loaded from a TOML file and validated.

```toml
[[models]]
id = "gpt-4o"
aliases = ["openai/gpt-4o"]
owned_by = "openai"
price = { input_per_mtok_micros = 2_500_000, output_per_mtok_micros = 10_000_000, version = "2024-08" }

[[channels]]
id = "openai-main"
provider = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
priority = 10        # higher tiers are tried first
weight = 1           # share within a tier
models = { "gpt-4o" = "gpt-4o-2024-08-06" }   # catalog id -> upstream model name
```
``${VAR}`` in ``base_url`` is replaced from the environment at load time.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from services.edge.providers import REGISTRY

# The provider kinds are whatever the upstream adapter folders register: adding a
# provider touches only its folder.
PROVIDER_KINDS = frozenset(REGISTRY)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CatalogError(ValueError):
    pass


class Price(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    input_per_mtok_micros: int = 0
    output_per_mtok_micros: int = 0
    cached_input_per_mtok_micros: int = 0
    version: str = "v1"


class Model(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    owned_by: str = "tollgate"
    aliases: list[str] = []
    created: int = 0
    price: Price = Price()


class Channel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    provider: str
    base_url: str
    models: dict[str, str]
    api_key_env: str = ""
    priority: int = 0
    weight: int = 1


class CatalogFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    models: list[Model] = []
    channels: list[Channel] = []


@dataclass(frozen=True)
class Catalog:
    models: dict[str, Model]
    channels: list[Channel]
    version: int
    names: dict[str, str] = field(default_factory=dict)  # alias or id -> canonical id

    def resolve(self, name: str) -> Model | None:
        canonical = self.names.get(name)
        return self.models[canonical] if canonical else None

    def candidates(self, model_id: str, rng: random.Random) -> list[Channel]:
        """Channels serving the model: higher priority tiers first, weighted-random order within a tier."""
        serving = [c for c in self.channels if model_id in c.models]
        tiers: dict[int, list[Channel]] = {}
        for channel in serving:
            tiers.setdefault(channel.priority, []).append(channel)
        ordered: list[Channel] = []
        for priority in sorted(tiers, reverse=True):
            ordered.extend(_weighted_order(tiers[priority], rng))
        return ordered


def _weighted_order(channels: list[Channel], rng: random.Random) -> list[Channel]:
    # Efraimidis-Spirakis: sort by u^(1/w) descending gives a weighted random permutation.
    return sorted(channels, key=lambda c: rng.random() ** (1.0 / c.weight), reverse=True)


def _expand(value: str, where: str) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise CatalogError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def parse(data: bytes, version: int) -> Catalog:
    try:
        raw = msgspec.toml.decode(data, type=CatalogFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise CatalogError(f"invalid catalog: {exc}") from None
    models: dict[str, Model] = {}
    names: dict[str, str] = {}
    for model in raw.models:
        if model.id in models:
            raise CatalogError(f"model {model.id!r} is defined twice")
        if min(model.price.input_per_mtok_micros, model.price.output_per_mtok_micros, model.price.cached_input_per_mtok_micros) < 0:
            raise CatalogError(f"model {model.id!r} has a negative price")
        models[model.id] = model
        for name in (model.id, *model.aliases):
            if names.get(name, model.id) != model.id:
                raise CatalogError(f"name {name!r} is used by both {names[name]!r} and {model.id!r}")
            names[name] = model.id
    channels: list[Channel] = []
    seen: set[str] = set()
    for channel in raw.channels:
        where = f"channel {channel.id!r}"
        if channel.id in seen:
            raise CatalogError(f"{where} is defined twice")
        seen.add(channel.id)
        if channel.provider not in PROVIDER_KINDS:
            raise CatalogError(f"{where}: unknown provider {channel.provider!r} (known: {', '.join(sorted(PROVIDER_KINDS))})")
        if channel.weight < 1:
            raise CatalogError(f"{where}: weight must be at least 1")
        unknown = sorted(set(channel.models) - set(models))
        if unknown:
            raise CatalogError(f"{where} serves models missing from the catalog: {', '.join(unknown)}")
        channels.append(msgspec.structs.replace(channel, base_url=_expand(channel.base_url, where).rstrip("/")))
    return Catalog(models=models, channels=channels, version=version, names=names)


def load(path: Path, version: int = 1) -> Catalog:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror}") from None
    return parse(data, version)
