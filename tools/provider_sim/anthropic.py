"""Anthropic Messages: ``POST /anthropic/v1/messages`` and ``.../messages/count_tokens``."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.response import Stream

from tollgate import error_bodies
from tools.provider_sim.common import (
    MALFORMED_DATA,
    Completion,
    Sim,
    apply_fault,
    complete,
    decode_object,
    emit,
    error_headers,
    split_pieces,
    text_pieces,
    words,
)

PREFIX = "/anthropic/v1"
TOOL_USE_ID = "toolu_sim_1"


def anthropic_error(status: int, message: str) -> Response:
    return Response(error_bodies.anthropic_body(status, message), status_code=status, headers=error_headers(status))


def authenticated(request: Request) -> bool:
    """A non-empty ``x-api-key``; or ``Authorization: Bearer <token>``, which is how the
    anthropic SDK (2.x) sends ``api_key`` and how OAuth tokens are sent."""
    bearer = request.headers.get("authorization", "")
    return bool(request.headers.get("x-api-key")) or (bearer.startswith("Bearer ") and bool(bearer[7:].strip()))


def _text_words(content: Any) -> int:
    """Words in a string, or in the text blocks of a list of blocks."""
    if isinstance(content, str):
        return words(content)
    if isinstance(content, list):
        return sum(words(b.get("text")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return 0


def _blocks(body: dict[str, Any]) -> list[dict]:
    blocks: list[dict] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            blocks += [b for b in content if isinstance(b, dict)]
    return blocks


def prompt_tokens(body: dict[str, Any]) -> int:
    """Words in ``system`` (string or text blocks), in every message's text (string content or
    text blocks) and in tool_result contents (string or text blocks)."""
    total = _text_words(body.get("system"))
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += words(content)
    for block in _blocks(body):
        if block.get("type") == "text":
            total += words(block.get("text"))
        elif block.get("type") == "tool_result":
            total += _text_words(block.get("content"))
    return total


def cache_write_tokens(body: dict[str, Any]) -> int:
    """Words in the text blocks (of ``system`` or the messages) marked with ``cache_control``:
    what the simulator reports as written to its prompt cache (``cache_creation_input_tokens``)."""
    system = body.get("system")
    blocks = [b for b in system if isinstance(b, dict)] if isinstance(system, list) else []
    return sum(words(b.get("text")) for b in [*blocks, *_blocks(body)] if b.get("type") == "text" and b.get("cache_control"))


def first_tool(tools: Any) -> tuple[str, Any] | None:
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict) and "name" in tool:
            return str(tool["name"]), tool.get("input_schema")
    return None


def _completion(model: str, body: dict[str, Any]) -> Completion:
    has_result = any(b.get("type") == "tool_result" for b in _blocks(body))
    completion = complete(model, prompt_tokens(body), body.get("max_tokens"), first_tool(body.get("tools")), has_result)
    return dataclasses.replace(completion, cache_write_tokens=cache_write_tokens(body))


def _usage(completion: Completion) -> dict[str, Any]:
    """Anthropic counts cache writes apart from ``input_tokens``."""
    return {
        "input_tokens": completion.prompt_tokens - completion.cache_write_tokens,
        "output_tokens": completion.completion_tokens,
        "cache_creation_input_tokens": completion.cache_write_tokens,
        "cache_read_input_tokens": 0,
    }


def _content(completion: Completion) -> tuple[list[dict], str]:
    call = completion.tool_call
    if call is not None:
        return [{"type": "tool_use", "id": TOOL_USE_ID, "name": call.name, "input": call.args}], "tool_use"
    return [{"type": "text", "text": completion.text}], "end_turn"


def routes(sim: Sim) -> list:
    async def admitted(request: Request) -> tuple[dict, str] | Response:
        if not authenticated(request):
            return anthropic_error(401, "x-api-key header is required")
        body = decode_object(await request.body())
        if body is None:
            return anthropic_error(400, "request body is not a JSON object")
        model = str(body.get("model", ""))
        sim.headers_seen["anthropic-beta"] = request.headers.get("anthropic-beta", "")
        status = await sim.admit(model)
        if status is not None:
            return anthropic_error(status, f"simulated HTTP {status}")
        return body, model

    @post(f"{PREFIX}/messages", status_code=200)
    async def messages(request: Request) -> Response | Stream:
        admission = await admitted(request)
        if isinstance(admission, Response):
            return admission
        body, model = admission
        completion = _completion(model, body)
        ident = f"msg_sim{sim.next_id()}"
        if body.get("stream"):
            return Stream(emit(_stream(ident, model, completion), sim.pace(model)), media_type="text/event-stream")
        content, stop_reason = _content(completion)
        return Response(
            {
                "id": ident,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": _usage(completion),
            }
        )

    @post(f"{PREFIX}/messages/count_tokens", status_code=200)
    async def count_tokens(request: Request) -> Response:
        admission = await admitted(request)
        if isinstance(admission, Response):
            return admission
        return Response({"input_tokens": prompt_tokens(admission[0])})

    return [messages, count_tokens]


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + msgspec.json.encode({"type": kind, **data}) + b"\n\n"


def _stream(ident: str, model: str, completion: Completion) -> list:
    usage = {**_usage(completion), "output_tokens": 1}
    message = {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    frames: list = [_event("message_start", {"message": message})]
    call = completion.tool_call
    if call is not None:
        block = {"type": "tool_use", "id": TOOL_USE_ID, "name": call.name, "input": {}}
        frames += [_event("content_block_start", {"index": 0, "content_block": block}), _event("ping", {})]
        for piece in split_pieces(call.arguments_json):
            frames.append(_event("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}}))
        stop_reason = "tool_use"
    else:
        frames += [_event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}), _event("ping", {})]
        pieces = [
            _event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": p}}) for p in text_pieces(completion.words)
        ]
        body, fired = apply_fault(model, pieces, b"event: content_block_delta\ndata: " + MALFORMED_DATA + b"\n\n")
        frames += body
        if fired:
            return frames
        stop_reason = "end_turn"
    frames.append(_event("content_block_stop", {"index": 0}))
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    frames.append(
        _event(
            "message_delta",
            {"delta": delta, "usage": {**_usage(completion), "output_tokens": completion.completion_tokens}},
        )
    )
    frames.append(_event("message_stop", {}))
    return frames
