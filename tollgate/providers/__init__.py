"""Upstream provider kinds, shared by every service: one folder per protocol family, each
exporting ``ADAPTERS`` (provider kind -> adapter). The router validates channels' kinds
against ``REGISTRY``; the edge calls upstreams through it. Adding a provider touches only
its folder (an OpenAI-compatible kind is one entry in ``openai_compat/profiles.py``)."""

from __future__ import annotations

from tollgate.providers import anthropic, bedrock, gemini
from tollgate.providers.base import Adapter
from tollgate.providers.openai_compat import OPENAI_COMPATIBLE

REGISTRY: dict[str, Adapter] = {**OPENAI_COMPATIBLE, **anthropic.ADAPTERS, **gemini.ADAPTERS, **bedrock.ADAPTERS}


def adapter_for(provider: str) -> Adapter | None:
    return REGISTRY.get(provider)


# Provider kind -> the vendor whose data policy applies (config/data_policies.toml), where they
# differ or matter; any other kind is its own vendor name (and a channel of it names its policy).
KIND_VENDORS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "google",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral",
    "xai": "xai",
    "simulator": "simulator",
    "bedrock": "aws",
}


def vendor_of(kind: str) -> str:
    return KIND_VENDORS.get(kind, kind)
