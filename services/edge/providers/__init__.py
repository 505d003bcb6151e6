"""Upstream provider adapters: one folder per protocol family, each exporting
``ADAPTERS`` (provider kind -> adapter). Adding a provider touches only its folder
(plus its kind in the router's catalog validation)."""

from __future__ import annotations

from services.edge.providers import anthropic, gemini
from services.edge.providers.base import Adapter
from services.edge.providers.openai_compat import OPENAI_COMPATIBLE

REGISTRY: dict[str, Adapter] = {**OPENAI_COMPATIBLE, **anthropic.ADAPTERS, **gemini.ADAPTERS}


def adapter_for(provider: str) -> Adapter | None:
    return REGISTRY.get(provider)
