"""OpenAI's Responses API: ``POST /v1/responses``, whole and streamed, for the edge's native
pass-through. Same answers and counts as the other protocols: prompt tokens are the words
of ``instructions``, of every message's text and of every ``function_call_output``."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.response import Stream

from tools.provider_sim.common import MALFORMED_DATA, Completion, Sim, apply_fault, complete, emit, split_pieces, structured, text_pieces
from tools.provider_sim.openai import TOOL_CALL_ID, admitted


def _text(content: Any) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(len(p["text"].split()) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return 0


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    value = body.get("input")
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []


def prompt_tokens(body: dict[str, Any]) -> int:
    items = _items(body)
    total = _text(body.get("instructions"))
    total += sum(_text(i.get("content")) for i in items if i.get("type", "message") == "message")
    return total + sum(_text(i.get("output")) for i in items if i.get("type") == "function_call_output")


def first_tool(tools: Any) -> tuple[str, Any] | None:
    for tool in tools if isinstance(tools, list) else ():
        if isinstance(tool, dict) and tool.get("type") == "function":
            return str(tool.get("name", "")), tool.get("parameters")
    return None


def _schema(body: dict[str, Any]) -> Any:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    return fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None


def completion_for(model: str, body: dict[str, Any]) -> Completion:
    has_result = any(i.get("type") == "function_call_output" for i in _items(body))
    answer = complete(model, prompt_tokens(body), body.get("max_output_tokens"), first_tool(body.get("tools")), has_result)
    return structured(answer, _schema(body))


def _item(completion: Completion, status: str = "completed", text: str | None = None) -> dict[str, Any]:
    call = completion.tool_call
    if call is not None:
        arguments = call.arguments_json if text is None else text
        return {
            "id": "fc_sim1",
            "type": "function_call",
            "call_id": TOOL_CALL_ID,
            "name": call.name,
            "arguments": arguments,
            "status": status,
        }
    content = [{"type": "output_text", "text": completion.text if text is None else text, "annotations": []}]
    return {"id": "msg_sim1", "type": "message", "role": "assistant", "status": status, "content": [] if text == "" else content}


def _response(ident: str, model: str, status: str, output: list, usage: dict[str, Any] | None, store: bool) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "response",
        "created_at": int(time.time()),
        "model": model,
        "status": status,
        "output": output,
        "usage": usage,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "store": store,  # as OpenAI does: stored unless the request says store: false
    }


def _usage(completion: Completion) -> dict[str, Any]:
    return {
        "input_tokens": completion.prompt_tokens,
        "output_tokens": completion.completion_tokens,
        "total_tokens": completion.total_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def _events(ident: str, model: str, completion: Completion, store: bool) -> list:
    sequence = iter(range(1_000_000))

    def event(kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": next(sequence), **fields}
        return b"event: " + kind.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"

    opening = _response(ident, model, "in_progress", [], None, store)
    frames: list = [event("response.created", response=opening), event("response.in_progress", response=opening)]
    frames.append(event("response.output_item.added", output_index=0, item=_item(completion, "in_progress", "")))
    ids = {"item_id": "fc_sim1" if completion.tool_call else "msg_sim1", "output_index": 0}
    if completion.tool_call is not None:
        pieces = split_pieces(completion.tool_call.arguments_json)
        frames += [event("response.function_call_arguments.delta", **ids, delta=p) for p in pieces]
        frames.append(event("response.function_call_arguments.done", **ids, arguments=completion.tool_call.arguments_json))
    else:
        part = {"type": "output_text", "text": "", "annotations": []}
        frames.append(event("response.content_part.added", **ids, content_index=0, part=part))
        deltas = [event("response.output_text.delta", **ids, content_index=0, delta=p, logprobs=[]) for p in text_pieces(completion.words)]
        body, fired = apply_fault(model, deltas, b"data: " + MALFORMED_DATA + b"\n\n")
        frames += body
        if fired:
            return frames
        frames.append(event("response.output_text.done", **ids, content_index=0, text=completion.text, logprobs=[]))
        frames.append(event("response.content_part.done", **ids, content_index=0, part={**part, "text": completion.text}))
    item = _item(completion)
    frames.append(event("response.output_item.done", output_index=0, item=item))
    frames.append(event("response.completed", response=_response(ident, model, "completed", [item], _usage(completion), store)))
    return frames


def responses_answer(sim: Sim, body: dict[str, Any], model: str) -> Response:
    """The Response (or its event stream) for an admitted body."""
    completion = completion_for(model, body)
    ident, store = f"resp_sim{sim.next_id()}", body.get("store") is not False
    if body.get("stream"):
        return Stream(emit(_events(ident, model, completion, store), sim.pace(model)), media_type="text/event-stream")
    return Response(_response(ident, model, "completed", [_item(completion)], _usage(completion), store))


def routes(sim: Sim) -> list:
    @post("/v1/responses", status_code=200)
    async def responses(request: Request) -> Response:
        admission = await admitted(sim, request)
        return admission if isinstance(admission, Response) else responses_answer(sim, *admission)

    return [responses]
