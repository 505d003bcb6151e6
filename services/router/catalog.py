"""The model catalog and channel table, loaded from a TOML file and validated.

```toml
data_policies = "data_policies.toml"   # optional; default: next to this file, else the shipped table

[defaults]
timeouts = { connect_ms = 10_000, first_byte_ms = 60_000, idle_ms = 60_000, total_ms = 600_000 }

[health]                 # optional; see services/router/health.py for every knob
cooldown_s = 10

[[models]]
id = "gpt-4o"
aliases = ["openai/gpt-4o"]
owned_by = "openai"
context_length = 128_000                    # 0 = unknown
max_output_tokens = 16_384                  # 0 = unknown; bounds pre-authorization when a request sets no max_tokens
capabilities = ["chat", "tools", "vision"]  # chat | tools | vision | embeddings | rerank | images | moderation | speech
timeouts = { first_byte_ms = 120_000 }      # per model, over [defaults]
price = { input_per_mtok_micros = 2_500_000, output_per_mtok_micros = 10_000_000, version = "2024-08" }
# also cached_input_per_mtok_micros (cache reads) and cache_write_per_mtok_micros (cache writes; 0 = the input price);
# beyond tokens: per_request_micros, per_image_micros = { "1024x1024/hd" = 80_000, "1024x1024" = 40_000, "*" = 40_000 },
# per_audio_second_micros, per_mchar_micros (per million characters)
source = "genai-prices:openai/gpt-4o"       # set by `tollgate catalog import` on the models it owns

[[channels]]
id = "openai-main"
provider = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"    # or api_key_file = "/run/secrets/openai" (read by the edge only)
priority = 10        # higher tiers are tried first
weight = 1           # share within a tier
region = "us"
rpm = 0              # requests / tokens per minute this channel allows across all edges (0 = no limit)
tpm = 0
vendor = "openai"    # default from the provider kind; picks the data-policy table entry
data_policy = { retention_days = 0, trains_on_data = false }   # optional override
models = { "gpt-4o" = "gpt-4o-2024-08-06" }   # catalog id -> upstream model name
prices = { "gpt-4o" = { input_per_mtok_micros = 2_000_000, version = "2024-09" } }   # optional: this channel's own
                     # price, field by field over the model's (billed when it serves; `sort = "price"` orders by it)
# api_version = "2024-10-21"   # azure only: deployment URLs (else the v1 API); auth = "entra": the secret is an Entra ID token

[[groups]]           # optional pricing groups (services/router/groups.py); accounts are in "default" unless set
name = "vip"
multiplier = "0.8"   # prices × this (an integer, "1.25" or "5/4"); the price version gains "+group:vip"
models = ["gpt-4o*"] # globs over model ids and aliases: the models the group's accounts see and may use
```
A ``vertex`` channel has ``project`` and ``region`` instead of ``base_url`` (which then only replaces the host:
``tollgate.providers.vertex.channel_base_url``) and names its publisher in each upstream model (``anthropic/…``).
``${VAR}`` in ``base_url`` and ``api_key_file`` is replaced from the environment at load time.
The router never reads secrets: it only passes their references on to edges.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec

from services.router import groups as pricing_groups
from services.router.health import HealthConfig
from services.router.policies import DataPolicy, PolicyError, PolicyOverride, default_vendor, read_table, resolve, table_path
from tollgate.ordering import by_priority
from tollgate.providers import CHANNEL_BASE_URLS, REGISTRY
from tollgate.providers.bedrock.signing import channel_base_url as bedrock_base_url

# The provider kinds are whatever tollgate/providers registers: adding a
# provider touches only its folder.
PROVIDER_KINDS = frozenset(REGISTRY)
# Kinds whose channels need more than a base URL: (base_url, region) -> the URL the edge gets,
# or ValueError saying what is wrong (bedrock: the AWS region it signs for).
CHANNEL_CHECKS = {"bedrock": bedrock_base_url}
CAPABILITIES = frozenset({"chat", "tools", "vision", "embeddings", "rerank", "images", "moderation", "speech", "transcription"})
SENSITIVITIES = ("", "normal", "high")  # a model's `sensitivity`: "high" models are watched by risk rules
# A timeout neither the model nor ``[defaults]`` sets is 0: the edge's own settings apply
# (TOLLGATE_UPSTREAM_CONNECT_TIMEOUT_S / TOLLGATE_UPSTREAM_READ_TIMEOUT_S).
# first_byte_ms bounds the wait until the answer's first bytes, idle_ms every gap after that,
# total_ms the whole request (TOLLGATE_UPSTREAM_IDLE_TIMEOUT_S when idle_ms is not set).
TIMEOUT_FIELDS = ("connect_ms", "first_byte_ms", "idle_ms", "total_ms")
SETTING_FIELDS = ("api_version", "auth")  # a channel's kind-specific fields (see ChannelSpec)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class CatalogError(ValueError):
    def __init__(self, message: str, paths: tuple[Path, ...] = ()):
        super().__init__(message)
        self.paths = paths  # files the failed load depended on (for the reload watcher)


class Price(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    input_per_mtok_micros: int = 0
    output_per_mtok_micros: int = 0
    cached_input_per_mtok_micros: int = 0
    version: str = "v1"
    cache_write_per_mtok_micros: int = 0  # prompt tokens written to the provider's cache (0 = billed at the input price)
    # units beyond tokens (tollgate/units.py)
    per_request_micros: int = 0
    per_image_micros: dict[str, int] = {}  # "<size>/<quality>", "<size>" or "*" -> per image
    per_audio_second_micros: int = 0
    per_mchar_micros: int = 0  # per million characters

    def check(self, where: str) -> None:
        amounts = [getattr(self, name) for name in self.__struct_fields__ if name.endswith("_micros") and name != "per_image_micros"]
        if min([*amounts, *self.per_image_micros.values()]) < 0:
            raise CatalogError(f"{where} has a negative price")


class PriceOverride(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A channel's own price for one of its models: the fields it sets replace the model's."""

    input_per_mtok_micros: int | None = None
    output_per_mtok_micros: int | None = None
    cached_input_per_mtok_micros: int | None = None
    cache_write_per_mtok_micros: int | None = None
    version: str | None = None
    per_request_micros: int | None = None
    per_image_micros: dict[str, int] | None = None
    per_audio_second_micros: int | None = None
    per_mchar_micros: int | None = None

    def over(self, price: Price, channel_id: str) -> Price:
        """The effective price; its version names the channel (``<channel id>/<version>``), so a
        usage event says whose price billed it."""
        fields = {name: getattr(self, name) for name in self.__struct_fields__ if getattr(self, name) is not None}
        merged = msgspec.structs.replace(price, **fields)
        return msgspec.structs.replace(merged, version=f"{channel_id}/{merged.version}")


class Timeouts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Milliseconds. In the file any field may be left out; a loaded model has all four
    (0 = not set anywhere: the edge's own timeout applies)."""

    connect_ms: int | None = None
    first_byte_ms: int | None = None
    idle_ms: int | None = None
    total_ms: int | None = None


class Model(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    owned_by: str = "tollgate"
    aliases: list[str] = []
    created: int = 0
    price: Price = Price()
    context_length: int = 0
    max_output_tokens: int = 0  # 0 = unknown; bounds a request's worst-case cost when it sets no max_tokens
    capabilities: list[str] = []  # empty = not declared
    timeouts: Timeouts = Timeouts()
    sensitivity: str = ""  # "high": risk rules watch its use (config/risk.toml); "" or "normal" = not
    source: str = ""  # "genai-prices:<provider>/<model>": `tollgate catalog import` owns this entry (empty = written by hand)


class ChannelSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A ``[[channels]]`` entry as written."""

    id: str
    provider: str
    models: dict[str, str]
    base_url: str = ""  # required, except for kinds that build it (vertex: from project and region)
    api_key_env: str = ""
    api_key_file: str = ""
    project: str = ""  # vertex: the Google Cloud project
    priority: int = 0
    weight: int = 1
    region: str = ""
    rpm: int = 0
    tpm: int = 0
    vendor: str = ""
    data_policy: PolicyOverride | None = None
    prices: dict[str, PriceOverride] = {}  # catalog model id -> this channel's own price for it
    # Kind-specific settings (each kind's adapter validates its own: ``configured``):
    api_version: str = ""  # azure: deployment URLs with this api-version (empty: the v1 API)
    auth: str = ""  # azure: "api-key" (default) or "entra" (the secret is an Entra ID access token)

    def settings(self) -> dict[str, str]:
        """The kind-specific fields that are set, passed to the edge with every candidate."""
        return {name: value for name in SETTING_FIELDS if (value := getattr(self, name))}


class Channel(msgspec.Struct, frozen=True):
    """A loaded channel: references expanded, vendor and data policy resolved."""

    id: str
    provider: str
    base_url: str
    models: dict[str, str]
    api_key_env: str
    api_key_file: str
    priority: int
    weight: int
    region: str
    rpm: int
    tpm: int
    vendor: str
    data_policy: DataPolicy
    settings: dict[str, str] = {}
    prices: dict[str, Price] = {}  # catalog model id -> the channel's effective price, where it has its own

    def price_of(self, model: Model) -> Price:
        return self.prices.get(model.id, model.price)


class Defaults(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    timeouts: Timeouts = Timeouts()


class CatalogFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    data_policies: str = ""
    defaults: Defaults = Defaults()
    health: HealthConfig = HealthConfig()
    models: list[Model] = []
    channels: list[ChannelSpec] = []
    groups: list[pricing_groups.GroupSpec] = []  # pricing groups: services/router/groups.py


@dataclass(frozen=True)
class Catalog:
    models: dict[str, Model]
    channels: list[Channel]
    version: int
    names: dict[str, str] = field(default_factory=dict)  # alias or id -> canonical id
    health: HealthConfig = field(default_factory=HealthConfig)
    vendors: dict[str, DataPolicy] = field(default_factory=dict)
    # Every file this catalog came from (or would change it by appearing), with the digest of
    # what was read (None = absent): the reload watcher compares against these.
    sources: tuple[tuple[Path, str | None], ...] = ()
    groups: dict[str, pricing_groups.Group] = field(default_factory=lambda: {pricing_groups.DEFAULT: pricing_groups.IMPLICIT_DEFAULT})

    def resolve(self, name: str) -> Model | None:
        canonical = self.names.get(name)
        return self.models[canonical] if canonical else None

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def candidates(self, model_id: str, rng: random.Random) -> list[Channel]:
        """Channels serving the model: higher priority tiers first, weighted-random order within a tier."""
        return order([c for c in self.channels if model_id in c.models], rng)


def order(channels: list[Channel], rng: random.Random) -> list[Channel]:
    """Priority tiers, weighted random within a tier: the shared policy (``tollgate.ordering``)."""
    return by_priority(channels, rng, priority=lambda c: c.priority, weight=lambda c: c.weight)


def digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.blake2b(data, digest_size=16).hexdigest()


def _expand(value: str, where: str) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise CatalogError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def _timeouts(spec: Timeouts, base: dict[str, int], where: str) -> dict[str, int]:
    merged = dict(base)
    for name in TIMEOUT_FIELDS:
        value = getattr(spec, name)
        if value is not None:
            if value <= 0:
                raise CatalogError(f"{where}: timeouts.{name} must be positive")
            merged[name] = value
    if merged["total_ms"] and max(merged["connect_ms"], merged["first_byte_ms"], merged["idle_ms"]) > merged["total_ms"]:
        raise CatalogError(f"{where}: timeouts.total_ms must be at least connect_ms, first_byte_ms and idle_ms")
    return merged


def _check_model(model: Model, default_timeouts: dict[str, int]) -> Model:
    where = f"model {model.id!r}"
    model.price.check(where)
    if model.max_output_tokens < 0:
        raise CatalogError(f"{where}: max_output_tokens must be >= 0 (0 = unknown)")
    if model.context_length < 0:
        raise CatalogError(f"{where}: context_length must be >= 0 (0 = unknown)")
    if model.sensitivity not in SENSITIVITIES:
        raise CatalogError(f"{where}: sensitivity must be one of {', '.join(repr(s) for s in SENSITIVITIES)}")
    unknown = sorted(set(model.capabilities) - CAPABILITIES)
    if unknown:
        raise CatalogError(f"{where}: unknown capabilities {', '.join(unknown)} (known: {', '.join(sorted(CAPABILITIES))})")
    return msgspec.structs.replace(
        model, capabilities=list(dict.fromkeys(model.capabilities)), timeouts=Timeouts(**_timeouts(model.timeouts, default_timeouts, where))
    )


def _check_channel(spec: ChannelSpec, models: dict[str, Model], vendors: dict[str, DataPolicy]) -> Channel:
    where = f"channel {spec.id!r}"
    if spec.provider not in PROVIDER_KINDS:
        raise CatalogError(f"{where}: unknown provider {spec.provider!r} (known: {', '.join(sorted(PROVIDER_KINDS))})")
    if spec.weight < 1:
        raise CatalogError(f"{where}: weight must be at least 1")
    if spec.rpm < 0 or spec.tpm < 0:
        raise CatalogError(f"{where}: rpm and tpm must be >= 0 (0 = no limit)")
    if not spec.models:
        raise CatalogError(f"{where} serves no model (its `models` table is empty)")
    unknown = sorted(set(spec.models) - set(models))
    if unknown:
        raise CatalogError(f"{where} serves models missing from the catalog: {', '.join(unknown)}")
    unpriced = sorted(set(spec.prices) - set(spec.models))
    if unpriced:
        raise CatalogError(f"{where} has prices for models it does not serve: {', '.join(unpriced)}")
    prices = {model_id: override.over(models[model_id].price, spec.id) for model_id, override in spec.prices.items()}
    for model_id, price in prices.items():
        price.check(f"{where}, model {model_id!r},")
    if spec.api_key_env and spec.api_key_file:
        raise CatalogError(f"{where}: set api_key_env or api_key_file, not both")
    key_file = _expand(spec.api_key_file, where) if spec.api_key_file else ""
    if key_file and not Path(key_file).is_absolute():
        raise CatalogError(f"{where}: api_key_file must be an absolute path (the edge reads it, not the router)")
    settings = spec.settings()
    try:
        REGISTRY[spec.provider].configured(settings)
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    base_url = _expand(spec.base_url, where).rstrip("/")
    build_base_url = CHANNEL_BASE_URLS.get(spec.provider)
    if build_base_url is not None:
        try:
            base_url = build_base_url(base_url, spec.project, spec.region, spec.models.values())
        except ValueError as exc:
            raise CatalogError(f"{where}: {exc}") from None
    elif spec.project:
        raise CatalogError(f"{where}: `project` is for vertex channels only")
    elif not base_url:
        raise CatalogError(f"{where}: base_url is required")
    if (check := CHANNEL_CHECKS.get(spec.provider)) is not None:
        try:
            base_url = check(base_url, spec.region)
        except ValueError as exc:
            raise CatalogError(f"{where}: {exc}") from None
    vendor = spec.vendor or default_vendor(spec.provider)
    try:
        policy = resolve(vendor, spec.data_policy, vendors, where)
    except PolicyError as exc:
        raise CatalogError(str(exc)) from None
    return Channel(
        id=spec.id,
        provider=spec.provider,
        base_url=base_url,
        models=dict(spec.models),
        api_key_env=spec.api_key_env,
        api_key_file=key_file,
        priority=spec.priority,
        weight=spec.weight,
        region=spec.region,
        rpm=spec.rpm,
        tpm=spec.tpm,
        vendor=vendor,
        data_policy=policy,
        prices=prices,
        settings=settings,
    )


def _vendor_table(raw: CatalogFile, base_dir: Path | None) -> tuple[dict[str, DataPolicy], tuple[tuple[Path, str | None], ...]]:
    path, watched = table_path(base_dir, raw.data_policies)
    try:
        vendors, data = read_table(path)
    except PolicyError as exc:
        raise CatalogError(str(exc), tuple(watched)) from None
    return vendors, tuple((p, digest(data) if p == path else None) for p in watched)


def parse(data: bytes, version: int, *, base_dir: Path | None = None, vendors: dict[str, DataPolicy] | None = None) -> Catalog:
    """Parse and validate a catalog. The data-policy table is ``vendors`` if given, else read
    from the ``data_policies`` setting (relative to ``base_dir``), next to the catalog, or
    the shipped ``config/data_policies.toml``."""
    try:
        raw = msgspec.toml.decode(data, type=CatalogFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise CatalogError(f"invalid catalog: {exc}") from None
    default_timeouts = _timeouts(raw.defaults.timeouts, dict.fromkeys(TIMEOUT_FIELDS, 0), "defaults")
    models: dict[str, Model] = {}
    names: dict[str, str] = {}
    for model in raw.models:
        if model.id in models:
            raise CatalogError(f"model {model.id!r} is defined twice")
        models[model.id] = model = _check_model(model, default_timeouts)
        for name in (model.id, *model.aliases):
            if names.get(name, model.id) != model.id:
                raise CatalogError(f"name {name!r} is used by both {names[name]!r} and {model.id!r}")
            names[name] = model.id
    sources: tuple[tuple[Path, str | None], ...] = ()
    if vendors is None:
        vendors, sources = _vendor_table(raw, base_dir)
    channels: list[Channel] = []
    seen: set[str] = set()
    for spec in raw.channels:
        if spec.id in seen:
            raise CatalogError(f"channel {spec.id!r} is defined twice")
        seen.add(spec.id)
        channels.append(_check_channel(spec, models, vendors))
    if not channels:
        raise CatalogError("the catalog routes to nothing: no channel serves any model")
    try:
        groups = pricing_groups.build(raw.groups, {m.id: [m.id, *m.aliases] for m in models.values()})
    except pricing_groups.GroupError as exc:
        raise CatalogError(str(exc)) from None
    return Catalog(
        models=models, channels=channels, version=version, names=names, health=raw.health, vendors=vendors, sources=sources, groups=groups
    )


def load(path: Path, version: int = 1) -> Catalog:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror}", (path,)) from None
    try:
        catalog = parse(data, version, base_dir=path.resolve().parent)
    except CatalogError as exc:
        raise CatalogError(str(exc), (path, *exc.paths)) from None
    return replace(catalog, sources=((path, digest(data)), *catalog.sources))
