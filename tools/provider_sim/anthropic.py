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
    structured,
    text_pieces,
    words,
)

PREFIX = "/anthropic/v1"
TOOL_USE_ID = "toolu_sim_1"
SIGNATURE = "sim-signature-1"  # the simulator's thinking blocks carry it, and it accepts no other back
MIN_BUDGET = 1024


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


def thinking_setting(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the reasoning setting, an error message) for Anthropic's thinking rules: thinking blocks
    sent back carry this simulator's signature; ``thinking`` enabled needs 1024 <= budget_tokens
    < max_tokens, no temperature but 1, top_p >= 0.95, no forced tool, and a last assistant turn
    with tool calls that starts with a thinking block. The setting is the budget ("adaptive")."""
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == "thinking" and block.get("signature") != SIGNATURE:
                return None, "messages: Invalid `signature` in `thinking` block"
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind in (None, "disabled"):
        return None, None
    assert isinstance(thinking, dict)  # kind came from it
    if kind == "adaptive":
        setting = "adaptive"
    elif kind == "enabled":
        budget, limit = thinking.get("budget_tokens"), body.get("max_tokens")
        if not isinstance(budget, int) or budget < MIN_BUDGET:
            return None, f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}"
        if not isinstance(limit, int) or budget >= limit:
            return None, "`max_tokens` must be greater than `thinking.budget_tokens`"
        setting = str(budget)
    else:
        return None, f"thinking.type: unknown type {kind!r}"
    if body.get("temperature") not in (None, 1, 1.0):
        return None, "`temperature` may only be set to 1 when thinking is enabled"
    if body.get("top_p", 1) < 0.95:
        return None, "`top_p` must be greater than or equal to 0.95 when thinking is enabled"
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return None, "Thinking may not be enabled when tool_choice forces tool use."
    assistant = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant"]
    content = assistant[-1].get("content") if assistant else None
    calls = isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)
    if calls and not (isinstance(content[0], dict) and content[0].get("type") in ("thinking", "redacted_thinking")):
        return None, "messages: a final `assistant` message must start with a thinking block when thinking is enabled"
    return setting, None


def _completion(model: str, body: dict[str, Any], setting: str | None) -> Completion:
    has_result = any(b.get("type") == "tool_result" for b in _blocks(body))
    completion = complete(model, prompt_tokens(body), body.get("max_tokens"), first_tool(body.get("tools")), has_result, reasoning=setting)
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    completion = structured(completion, fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None)
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
    thinking = [{"type": "thinking", "thinking": completion.reasoning_text, "signature": SIGNATURE}] if completion.reasoning else []
    call = completion.tool_call
    if call is not None:
        return [*thinking, {"type": "tool_use", "id": TOOL_USE_ID, "name": call.name, "input": call.args}], "tool_use"
    return [*thinking, {"type": "text", "text": completion.text}], "end_turn"


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
        return message(sim, model, body)

    @post(f"{PREFIX}/messages/count_tokens", status_code=200)
    async def count_tokens(request: Request) -> Response:
        admission = await admitted(request)
        if isinstance(admission, Response):
            return admission
        return Response({"input_tokens": prompt_tokens(admission[0])})

    return [messages, count_tokens]


def message(sim: Sim, model: str, body: dict[str, Any]) -> Response | Stream:
    """The answer to an admitted Messages request (streamed when ``stream`` is set); also
    what the Vertex mode answers for Anthropic's models."""
    setting, refusal = thinking_setting(body)
    if refusal is not None:
        return anthropic_error(400, refusal)
    completion = _completion(model, body, setting)
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
    index = 0
    if completion.reasoning:  # a thinking block first: its text, then its signature
        frames.append(_event("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
        for piece in text_pieces(completion.reasoning):
            frames.append(_event("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": piece}}))
        frames.append(_event("content_block_delta", {"index": 0, "delta": {"type": "signature_delta", "signature": SIGNATURE}}))
        frames.append(_event("content_block_stop", {"index": 0}))
        index = 1
    call = completion.tool_call
    if call is not None:
        block = {"type": "tool_use", "id": TOOL_USE_ID, "name": call.name, "input": {}}
        frames += [_event("content_block_start", {"index": index, "content_block": block}), _event("ping", {})]
        for piece in split_pieces(call.arguments_json):
            frames.append(_event("content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}))
        stop_reason = "tool_use"
    else:
        frames += [_event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}), _event("ping", {})]
        pieces = [
            _event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": p}})
            for p in text_pieces(completion.words)
        ]
        body, fired = apply_fault(model, pieces, b"event: content_block_delta\ndata: " + MALFORMED_DATA + b"\n\n")
        frames += body
        if fired:
            return frames
        stop_reason = "end_turn"
    frames.append(_event("content_block_stop", {"index": index}))
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    frames.append(
        _event(
            "message_delta",
            {"delta": delta, "usage": {**_usage(completion), "output_tokens": completion.completion_tokens}},
        )
    )
    frames.append(_event("message_stop", {}))
    return frames
