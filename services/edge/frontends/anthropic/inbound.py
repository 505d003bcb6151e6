"""An Anthropic client's Messages request -> canonical request (``ChatRequest``),
for the Anthropic front door when the upstream speaks another protocol.

Translated: system (string or text blocks), text/image (base64 or URL) blocks, tool_use
blocks (-> assistant tool_calls), tool_result blocks (-> ``tool`` messages, placed before
the rest of their user turn), client tools, tool_choice (incl. disable_parallel_tool_use),
stop_sequences, max_tokens, temperature, top_p, stream (with usage), metadata.user_id,
``thinking`` (enabled: its budget and the effort ``tollgate.reasoning`` reads it as; adaptive:
a dynamic budget) and thinking blocks (-> the assistant's ``reasoning_content``).
Knowingly dropped: top_k, redacted_thinking blocks and thinking signatures, server
tools (web search, code execution, ...), document blocks, file-id image sources, images
inside tool results, ``is_error`` on tool results, cache_control, and assistant prefill
semantics (a trailing assistant turn is sent as plain history).
"""

from __future__ import annotations

from typing import Any

import msgspec

from tollgate import reasoning
from tollgate.canonical import ChatRequest, from_openai
from tollgate.errors import BadRequest
from tollgate.providers.anthropic import wire

_ENCODE = msgspec.json.encode


def block_text(block: Any) -> str | None:
    if isinstance(block, wire.Block):
        return block.text if block.type == "text" else None
    if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
        return block["text"]
    return None


def text_of(content: Any, sep: str = "\n") -> str:
    """Text of a string or of the text blocks/parts of a list (system, tool results, replies)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(t for block in content if (t := block_text(block)) is not None)
    return ""


def _image_url(source: wire.Source | None) -> str | None:
    if source is None:
        return None
    if source.type == "base64" and source.data:
        return f"data:{source.media_type or 'image/png'};base64,{source.data}"
    if source.type == "url" and source.url:
        return source.url
    return None  # file ids and other sources have no canonical form


def _user(content: str | list[wire.Block]) -> list[dict]:
    """One Anthropic user turn: its tool results become ``tool`` messages, placed first."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict] = []
    parts: list[dict] = []
    for block in content:
        if block.type == "tool_result":
            out.append({"role": "tool", "tool_call_id": block.tool_use_id or "", "content": text_of(block.content)})
        elif block.type == "text" and block.text:
            parts.append({"type": "text", "text": block.text})
        elif block.type == "image" and (url := _image_url(block.source)):
            parts.append({"type": "image_url", "image_url": {"url": url}})
    if parts and all(p["type"] == "text" for p in parts):
        out.append({"role": "user", "content": "\n".join(p["text"] for p in parts)})
    elif parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant(content: str | list[wire.Block]) -> list[dict]:
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}] if content else []
    text = "".join(b.text or "" for b in content if b.type == "text")
    calls = [
        {
            "id": b.id or "",
            "type": "function",
            "function": {"name": b.name or "", "arguments": _ENCODE(b.input if isinstance(b.input, dict) else {}).decode()},
        }
        for b in content
        if b.type == "tool_use"
    ]
    thought = "".join(b.thinking or "" for b in content if b.type == "thinking")
    if not text and not calls:
        return []
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    if thought:
        message["reasoning_content"] = thought
    return [message]


def thinking_fields(config: wire.Thinking | None) -> dict[str, Any]:
    """``thinking`` as the canonical reasoning fields: enabled -> its budget and the effort the
    table reads it as, adaptive -> a dynamic budget, disabled (or absent) -> nothing."""
    if config is None or config.type == "disabled":
        return {}
    if config.type == "adaptive":
        budget = reasoning.DYNAMIC
    elif config.type == "enabled" and isinstance(config.budget_tokens, int) and config.budget_tokens > 0:
        budget = config.budget_tokens
    else:
        raise BadRequest("thinking: type must be 'enabled' (with a positive budget_tokens), 'adaptive' or 'disabled'")
    return {"reasoning_effort": reasoning.effort_for(budget), "reasoning_budget": budget}


def tool_fields(req: wire.Request) -> dict[str, Any]:
    """Client tools and tool_choice as canonical fields (none when no client tool is declared)."""
    declared = [
        {
            "type": "function",
            "function": {
                "name": t.name,
                **({"description": t.description} if t.description else {}),
                "parameters": t.input_schema if isinstance(t.input_schema, dict) else {"type": "object", "properties": {}},
            },
        }
        for t in req.tools or ()
        if t.type in (None, "custom") and t.name
    ]
    if not declared:
        return {}
    out: dict[str, Any] = {"tools": declared}
    choice = req.tool_choice
    if choice is not None:
        if choice.type == "tool" and choice.name:
            out["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        elif mapped := {"auto": "auto", "any": "required", "none": "none"}.get(choice.type):
            out["tool_choice"] = mapped
        if choice.disable_parallel_tool_use:
            out["parallel_tool_calls"] = False
    return out


def to_canonical_request(body: dict[str, Any], model: str, *, stream: bool) -> ChatRequest:
    """Decoded into typed structs first: a malformed request is a 400 in Anthropic's shape."""
    try:
        req = msgspec.convert(body, wire.Request)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid request: {exc}") from None
    messages: list[dict] = []
    if system := text_of(req.system):
        messages.append({"role": "system", "content": system})
    for m in req.messages:
        if m.role not in ("user", "assistant"):
            raise BadRequest("messages: role must be 'user' or 'assistant'")
        messages += _assistant(m.content) if m.role == "assistant" else _user(m.content)
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": req.max_tokens, **tool_fields(req)}
    if req.stop_sequences:
        out["stop"] = req.stop_sequences
    if req.temperature is not None:
        out["temperature"] = req.temperature
    if req.top_p is not None:
        out["top_p"] = req.top_p
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if req.metadata is not None and req.metadata.user_id:
        out["user"] = req.metadata.user_id
    out.update(thinking_fields(req.thinking))
    return from_openai(out)
