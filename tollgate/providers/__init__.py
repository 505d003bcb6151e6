"""Upstream provider kinds, shared by every service: one folder per protocol family, each
exporting ``ADAPTERS`` (provider kind -> adapter). The router validates channels' kinds
against ``REGISTRY``; the edge calls upstreams through it. Adding a provider touches only
its folder (an OpenAI-compatible kind is one entry in ``openai_compat/profiles.py``)."""

from __future__ import annotations

from tollgate.providers import anthropic, gemini
from tollgate.providers.base import Adapter
from tollgate.providers.openai_compat import OPENAI_COMPATIBLE

REGISTRY: dict[str, Adapter] = {**OPENAI_COMPATIBLE, **anthropic.ADAPTERS, **gemini.ADAPTERS}


def adapter_for(provider: str) -> Adapter | None:
    return REGISTRY.get(provider)
