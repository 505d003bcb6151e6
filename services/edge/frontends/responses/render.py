"""Canonical answers as Responses API objects: the Response (whole), its output items and
usage. The stream encoder (``stream.py``) builds the same items event by event."""

from __future__ import annotations

import secrets
import time
from typing import Any

import msgspec

from services.edge.frontends.responses import wire
from tollgate.canonical import ChatResponse, Choice, FunctionCall, ToolCall, Usage

# A canonical finish_reason that ends a response early -> the Response's incomplete reason.
INCOMPLETE: dict[str, str] = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(24)}"


def usage(value: Usage | None) -> wire.ResponseUsage:
    """Canonical usage as the Response's: input tokens include the cached ones, output tokens the reasoning ones."""
    value = value or Usage()
    return wire.ResponseUsage(
        input_tokens=value.prompt_tokens,
        output_tokens=value.completion_tokens,
        total_tokens=value.prompt_tokens + value.completion_tokens,
        input_tokens_details=wire.InputTokensDetails(cached_tokens=value.cached_tokens),
        output_tokens_details=wire.OutputTokensDetails(reasoning_tokens=value.reasoning_tokens),
    )


def arguments(fn: FunctionCall) -> str:
    """A tool call's arguments as the JSON string the Responses API carries."""
    args = fn.arguments
    if isinstance(args, dict):
        return msgspec.json.encode(args).decode()
    return args if isinstance(args, str) else ""


def function_call(call: ToolCall) -> wire.FunctionCallItem:
    fn = call.function if isinstance(call.function, FunctionCall) else FunctionCall()
    call_id = call.id if isinstance(call.id, str) and call.id else new_id("call")
    return wire.FunctionCallItem(id=new_id("fc"), call_id=call_id, name=fn.name or "", arguments=arguments(fn))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.text for p in content if isinstance(getattr(p, "text", None), str))
    return ""


def output(choice: Choice) -> list[wire.OutputItem]:
    """One answer's output items, in the order the model produced them: its reasoning, its
    text, its function calls."""
    message = choice.message
    items: list[wire.OutputItem] = []
    if isinstance(message.reasoning_content, str) and message.reasoning_content:
        items.append(wire.ReasoningItem(id=new_id("rs"), summary=[wire.SummaryText(text=message.reasoning_content)]))
    if text := _text(message.content):
        items.append(wire.MessageItem(id=new_id("msg"), content=[wire.OutputText(text=text)]))
    items.extend(function_call(call) for call in message.tool_calls or ())
    return items


def status_of(finish_reason: str | None) -> tuple[str, wire.IncompleteDetails | None]:
    reason = INCOMPLETE.get(finish_reason or "")
    return ("incomplete", wire.IncompleteDetails(reason=reason)) if reason else ("completed", None)


def response(answer: ChatResponse, model: str) -> dict[str, Any]:
    """A canonical ``chat.completion`` as a Response object (its first choice)."""
    choice = answer.choices[0] if answer.choices else Choice()
    status, incomplete = status_of(choice.finish_reason)
    now = int(time.time())
    body = wire.ResponseObject(
        id=new_id("resp"),
        created_at=answer.created or now,
        completed_at=now,
        model=model,
        status=status,
        incomplete_details=incomplete,
        output=output(choice),
        usage=usage(answer.usage),
    )
    out: dict[str, Any] = msgspec.to_builtins(body)
    return out
