"""The simulator's ASGI app (see the package docstring)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.response import Stream

WORDS = ("the quick brown fox jumps over the lazy dog while tollgate meters every token exactly once").split()
DEFAULT_COMPLETION_WORDS = 12


def prompt_tokens(messages: list) -> int:
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content.split())
        elif isinstance(content, list):
            total += sum(len(p.get("text", "").split()) for p in content if isinstance(p, dict))
    return total


def answer_words(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(n)]


def _error(status: int, message: str, kind: str) -> Response:
    return Response({"error": {"message": message, "type": kind, "code": None}}, status_code=status)


def create_app(latency_ms: float | None = None) -> Litestar:
    base_latency = (float(os.environ.get("SIM_LATENCY_MS", "0")) if latency_ms is None else latency_ms) / 1000
    slow = float(os.environ.get("SIM_SLOW_MS", "1500")) / 1000
    stats: Counter[str] = Counter()

    @post("/v1/chat/completions", status_code=200)
    async def chat(request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "missing bearer token", "invalid_request_error")
        body = msgspec.json.decode(await request.body())
        model = body.get("model", "")
        stats[model] += 1
        if base_latency:
            await asyncio.sleep(base_latency)
        if model.startswith("sim-error-"):
            status = int(model.rsplit("-", 1)[1])
            return _error(status, f"simulated HTTP {status}", "server_error" if status >= 500 else "invalid_request_error")
        if model == "sim-timeout":
            await asyncio.sleep(3600)
        if model == "sim-slow":
            await asyncio.sleep(slow)
        n = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_COMPLETION_WORDS
        words = answer_words(int(n))
        usage = {"prompt_tokens": prompt_tokens(body.get("messages") or []), "completion_tokens": len(words)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        ident = f"chatcmpl-sim{stats.total()}"
        created = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return Stream(_stream(ident, created, model, words, usage, include_usage), media_type="text/event-stream")
        return Response(
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": "stop"}],
                "usage": usage,
            }
        )

    async def _stream(ident, created, model, words, usage, include_usage):
        def chunk(delta: dict, finish: str | None = None, with_usage=False) -> bytes:
            obj = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
            obj["choices"] = [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
            if include_usage:
                obj["usage"] = usage if with_usage else None
            return b"data: " + msgspec.json.encode(obj) + b"\n\n"

        yield chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(words):
            if model == "sim-midstream-error" and i == 3:
                raise ConnectionAbortedError("simulated mid-stream failure")
            yield chunk({"content": word if i == 0 else " " + word})
        yield chunk({}, "stop")
        if include_usage:
            yield chunk({}, with_usage=True)
        yield b"data: [DONE]\n\n"

    @get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": "sim-1", "object": "model", "created": 0, "owned_by": "simulator"}]}

    @get("/_sim/stats")
    async def get_stats() -> dict:
        return {"requests": dict(stats)}

    @get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return Litestar(route_handlers=[chat, models, get_stats, healthz], openapi_config=None, logging_config=None)
