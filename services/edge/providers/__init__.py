"""Upstream provider adapters, one module per protocol family, looked up by kind."""

from __future__ import annotations

from services.edge.providers.base import Adapter
from services.edge.providers.openai_compat import OPENAI_COMPATIBLE

REGISTRY: dict[str, Adapter] = {**OPENAI_COMPATIBLE}


def adapter_for(provider: str) -> Adapter | None:
    return REGISTRY.get(provider)
