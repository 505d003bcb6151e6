"""The simulator's ASGI app (see the package docstring): assembles the protocol modules."""

from __future__ import annotations

import os
from typing import Any

import msgspec
from litestar import Litestar, Request, get, post

from tools.provider_sim import (
    anthropic,
    azure,
    bedrock,
    completions,
    embeddings,
    gemini,
    media,
    openai,
    responses,
    retrieval,
    transcribe,
    vertex,
)
from tools.provider_sim.common import DEFAULT_COMPLETION_WORDS, WORDS, Sim, answer_words
from tools.provider_sim.openai import prompt_tokens

__all__ = ["DEFAULT_COMPLETION_WORDS", "WORDS", "answer_words", "create_app", "prompt_tokens"]


def create_app(latency_ms: float | None = None, slow_ms: float | None = None) -> Litestar:
    """``latency_ms`` (default ``$SIM_LATENCY_MS``, 0) delays every answer;
    ``slow_ms`` (default ``$SIM_SLOW_MS``, 1500) is how long ``sim-slow`` waits; ``sim-drip``
    streams one frame every ``$SIM_DRIP_MS`` (default 200)."""
    base_latency = float(os.environ.get("SIM_LATENCY_MS", "0")) if latency_ms is None else latency_ms
    slow = float(os.environ.get("SIM_SLOW_MS", "1500")) if slow_ms is None else slow_ms
    sim = Sim(base_latency / 1000, slow / 1000, float(os.environ.get("SIM_DRIP_MS", "200")) / 1000)

    @get("/_sim/stats")
    async def get_stats() -> dict[str, Any]:
        return {"requests": dict[str, Any](sim.stats), "headers": dict[str, Any](sim.headers_seen)}

    @post("/_sim/force", status_code=200)
    async def force(request: Request) -> dict[str, Any]:
        """Make ``model`` answer HTTP ``status`` (0 = behave normally again): for health tests."""
        data = msgspec.json.decode(await request.body())
        model, status = str(data["model"]), int(data.get("status") or 0)
        if status:
            sim.forced[model] = status
        else:
            sim.forced.pop(model, None)
        return {"forced": dict[str, Any](sim.forced)}

    @get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    protocols = (openai, completions, responses, embeddings, media, transcribe, anthropic, gemini, azure, retrieval, vertex, bedrock)
    handlers = [*(h for p in protocols for h in p.routes(sim)), get_stats, force, healthz]
    return Litestar(route_handlers=handlers, openapi_config=None, logging_config=None, request_max_body_size=64 * 1024 * 1024)
