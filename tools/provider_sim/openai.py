"""OpenAI chat completions: ``POST /v1/chat/completions`` and ``GET /v1/models``."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, Response, get, post
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
)

TOOL_CALL_ID = "call_sim_1"
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")  # what reasoning models take


def prompt_tokens(messages: list) -> int:
    """Words in every message's content (string or text parts): system, developer, user,
    assistant and tool messages alike. Tool-call arguments and images are not counted."""
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(content.split())
        elif isinstance(content, list):
            total += sum(len(p.get("text", "").split()) for p in content if isinstance(p, dict) and isinstance(p.get("text", ""), str))
    return total


def first_tool(tools: Any) -> tuple[str, Any] | None:
    for tool in tools if isinstance(tools, list) else ():
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict):
            return str(function.get("name", "")), function.get("parameters")
    return None


def response_schema(body: dict[str, Any]) -> Any:
    """``response_format.json_schema.schema`` (structured output), when the request has one."""
    fmt = body.get("response_format")
    spec = fmt.get("json_schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
    return spec.get("schema") if isinstance(spec, dict) else None


def has_tool_result(messages: list) -> bool:
    return any(isinstance(m, dict) and m.get("role") in ("tool", "function") for m in messages)


def openai_error(status: int, message: str, kind: str | None = None) -> Response:
    body = error_bodies.openai_body(message, kind or error_bodies.openai_type(status), param=False)
    return Response(body, status_code=status, headers=error_headers(status))


def bearer_ok(request: Request) -> bool:
    return request.headers.get("authorization", "").startswith("Bearer ")


def _tool_call_message(completion: Completion) -> dict[str, Any]:
    call = completion.tool_call
    assert call is not None
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": TOOL_CALL_ID, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}],
    }


async def admitted(sim: Sim, request: Request) -> tuple[dict, str] | Response:
    """Auth, body and the model's failure mode, shared by every OpenAI-shaped endpoint:
    the request's body and model, or the error response to send."""
    if not bearer_ok(request):
        return openai_error(401, "missing bearer token", "invalid_request_error")
    body = decode_object(await request.body())
    if body is None:
        return openai_error(400, "request body is not a JSON object")
    model = str(body.get("model", ""))
    status = await sim.admit(model)
    if status is not None:
        return openai_error(status, f"simulated HTTP {status}")
    return body, model


def chat_answer(sim: Sim, body: dict[str, Any], model: str, *, filter_results: bool = False) -> Response:
    """The answer to an admitted chat body; ``filter_results``: Azure's content-filter
    annotations (``prompt_filter_results`` in the answer, a choice-less first stream chunk)."""
    messages = body.get("messages") or []
    messages = messages if isinstance(messages, list) else []
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in EFFORTS:
        return openai_error(400, f"Unsupported value: 'reasoning_effort' does not support {effort!r}.")
    if "reasoning_budget" in body:  # Tollgate's own canonical field must never reach an upstream
        return openai_error(400, "Unrecognized request argument supplied: reasoning_budget")
    completion = complete(
        model,
        prompt_tokens(messages),
        body.get("max_completion_tokens") or body.get("max_tokens"),
        first_tool(body.get("tools")),
        has_tool_result(messages),
        reasoning=effort if effort not in (None, "none") else None,
    )
    completion = structured(completion, response_schema(body))
    usage: dict[str, Any] = {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.total_tokens,
    }
    if completion.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": completion.reasoning_tokens}
    ident = f"chatcmpl-sim{sim.next_id()}"
    created = int(time.time())
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = _stream(ident, created, model, completion, usage, include_usage)
        if filter_results:
            first = {"id": "", "object": "", "created": 0, "model": "", "choices": [], "prompt_filter_results": PROMPT_FILTER}
            chunks.insert(0, b"data: " + msgspec.json.encode(first) + b"\n\n")
        return Stream(emit(chunks, sim.pace(model)), media_type="text/event-stream")
    if completion.tool_call is not None:
        message, finish = _tool_call_message(completion), "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": completion.text}, "stop"
    if completion.reasoning:
        message["reasoning_content"] = completion.reasoning_text  # DeepSeek's field
    answer = {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }
    return Response({**answer, "prompt_filter_results": PROMPT_FILTER} if filter_results else answer)


# Azure's annotation of a prompt its content filter let through.
PROMPT_FILTER: list[dict[str, Any]] = [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}}}]


def routes(sim: Sim) -> list:
    @post("/v1/chat/completions", status_code=200)
    async def chat(request: Request) -> Response:
        admission = await admitted(sim, request)
        if isinstance(admission, Response):
            return admission
        return chat_answer(sim, *admission)

    @get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "sim-1", "object": "model", "created": 0, "owned_by": "simulator"}]}

    return [chat, models]


def _stream(ident: str, created: int, model: str, completion: Completion, usage: dict[str, Any], include_usage: bool) -> list:
    def chunk(delta: dict[str, Any], finish: str | None = None, with_usage: bool = False) -> bytes:
        obj: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
        obj["choices"] = [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
        if include_usage:
            obj["usage"] = usage if with_usage else None
        return b"data: " + msgspec.json.encode(obj) + b"\n\n"

    call = completion.tool_call
    # Reasoning comes first (a tool call's stream has no role-only chunk: its first chunk says the role).
    reasoning = text_pieces(completion.reasoning)
    role = {} if call is None else {"role": "assistant"}
    thinking = [chunk({**(role if i == 0 else {}), "reasoning_content": p}) for i, p in enumerate(reasoning)]
    if call is not None:
        head = {"index": 0, "id": TOOL_CALL_ID, "type": "function", "function": {"name": call.name, "arguments": ""}}
        frames: list = [*thinking, chunk({"role": "assistant", "content": None, "tool_calls": [head]})]
        frames += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in split_pieces(call.arguments_json)]
        finish = "tool_calls"
    else:
        pieces = [chunk({"content": p}) for p in text_pieces(completion.words)]
        body, fired = apply_fault(model, pieces, b"data: " + MALFORMED_DATA + b"\n\n")
        frames = [chunk({"role": "assistant", "content": ""}), *thinking, *body]
        if fired:
            return frames
        finish = "stop"
    frames.append(chunk({}, finish))
    if include_usage:
        frames.append(chunk({}, with_usage=True))
    frames.append(b"data: [DONE]\n\n")
    return frames
