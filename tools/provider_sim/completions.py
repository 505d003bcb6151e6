"""OpenAI legacy text completions: ``POST /v1/completions`` (prompt a string or a list of strings,
``suffix``, ``max_tokens``, ``n``, ``echo``, ``stream`` with ``stream_options.include_usage``).

Every prompt gets ``n`` choices of the deterministic answer (choice ``i * n + j``); prompt tokens
are the words of every prompt and the suffix, completion tokens the words answered."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.response import Stream

from tools.provider_sim.common import MALFORMED_DATA, Sim, apply_fault, complete, emit, text_pieces, words
from tools.provider_sim.openai import admitted, openai_error


def routes(sim: Sim) -> list:
    @post("/v1/completions", status_code=200)
    async def completions(request: Request) -> Response:
        admission = await admitted(sim, request)
        if isinstance(admission, Response):
            return admission
        body, model = admission
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            return openai_error(400, "prompt must be a string or a list of strings")
        n = body.get("n") or 1
        suffix = body.get("suffix") if isinstance(body.get("suffix"), str) else ""
        completion = complete(model, sum(words(p) for p in prompts) + words(suffix), body.get("max_tokens") or 16, None, False)
        choices = len(prompts) * n
        usage = {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens * choices,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens * choices,
        }
        echo = [p if body.get("echo") else "" for p in prompts for _ in range(n)]
        head = {"id": f"cmpl-sim{sim.next_id()}", "object": "text_completion", "created": int(time.time()), "model": model}
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return Stream(emit(_stream(head, model, completion.words, echo, usage if include_usage else None), sim.pace(model)))
        texts = [e + completion.text for e in echo]
        return Response(
            {
                **head,
                "choices": [{"text": t, "index": i, "logprobs": None, "finish_reason": "stop"} for i, t in enumerate(texts)],
                "usage": usage,
            }
        )

    return [completions]


def _stream(head: dict[str, Any], model: str, answer: list[str], echo: list[str], usage: dict[str, Any] | None) -> list:
    def chunk(choices: list[dict[str, Any]], with_usage: bool = False) -> bytes:
        obj = {**head, "choices": choices}
        if with_usage:
            obj["usage"] = usage
        return b"data: " + msgspec.json.encode(obj) + b"\n\n"

    frames: list = []
    for index, prefix in enumerate(echo):
        pieces = text_pieces(answer)
        if prefix:
            pieces = [prefix + pieces[0], *pieces[1:]] if pieces else [prefix]
        framed = [chunk([{"text": p, "index": index, "logprobs": None, "finish_reason": None}]) for p in pieces]
        body, fired = apply_fault(model, framed, b"data: " + MALFORMED_DATA + b"\n\n")
        frames += body
        if fired:
            return frames
        frames.append(chunk([{"text": "", "index": index, "logprobs": None, "finish_reason": "stop"}]))
    if usage is not None:
        frames.append(chunk([], with_usage=True))
    frames.append(b"data: [DONE]\n\n")
    return frames
