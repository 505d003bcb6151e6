"""Upstream provider kinds, shared by every service: one folder per protocol family, each
exporting ``ADAPTERS`` (provider kind -> adapter). The router validates channels' kinds
against ``REGISTRY``; the edge calls upstreams through it. Adding a provider touches only
its folder (an OpenAI-compatible kind is one entry in ``openai_compat/profiles.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from tollgate.providers import anthropic, azure, bedrock, cohere, gemini, jina, vertex, voyage
from tollgate.providers.base import Adapter
from tollgate.providers.openai_compat import DEFAULT_BASE_URLS, OPENAI_COMPATIBLE
from tollgate.providers.tokens import Minter

REGISTRY: dict[str, Adapter] = {
    **OPENAI_COMPATIBLE,
    **anthropic.ADAPTERS,
    **gemini.ADAPTERS,
    **azure.ADAPTERS,
    **cohere.ADAPTERS,
    **jina.ADAPTERS,
    **voyage.ADAPTERS,
    **vertex.ADAPTERS,
    **bedrock.ADAPTERS,
}

# Kinds whose channels authenticate with short-lived tokens minted from their secret
# (``tollgate.providers.tokens``): kind -> factory(secret) -> blocking minter.
MINTERS: dict[str, Callable[[str], Minter]] = {**vertex.MINTERS}

# Kinds whose channel base URL the catalog loader builds from more fields:
# kind -> (base_url, project, region, upstream models) -> base URL, ValueError when they are wrong.
# (OpenAI-compatible kinds with a documented default URL: base_url may be left out.)
CHANNEL_BASE_URLS: dict[str, Callable[[str, str, str, Iterable[str]], str]] = {**DEFAULT_BASE_URLS, "vertex": vertex.channel_base_url}


def adapter_for(provider: str, settings: Mapping[str, str] | None = None, upstream_model: str = "") -> Adapter | None:
    """The kind's adapter; for a channel with settings (its kind-specific catalog fields), the
    adapter configured with them (ValueError when they do not fit the kind: the router refuses
    such a catalog, so an edge meets this only with a router it does not match); with
    ``upstream_model``, the one serving that model (a kind whose models speak different
    protocols: Vertex's publishers)."""
    adapter = REGISTRY.get(provider)
    if adapter is not None and settings:
        adapter = adapter.configured(settings)
    return adapter.for_model(upstream_model) if adapter is not None and upstream_model else adapter


# Provider kind -> the vendor whose data policy applies (config/data_policies.toml), where they
# differ or matter; any other kind is its own vendor name (and a channel of it names its policy).
KIND_VENDORS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertex": "google-vertex",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral",
    "xai": "xai",
    "simulator": "simulator",
    "bedrock": "aws",
    "moonshot": "moonshot",
    "qwen": "alibaba",  # DashScope is Alibaba Cloud's
    "zhipu": "zai",  # Zhipu's international brand is Z.ai
    "siliconflow": "siliconflow",
}


def vendor_of(kind: str) -> str:
    return KIND_VENDORS.get(kind, kind)
