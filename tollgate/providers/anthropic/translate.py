"""Canonical requests (``ChatRequest``) -> Anthropic Messages bodies, and Anthropic answers
-> canonical ``ChatResponse``s.

Kept: system/developer text (hoisted to ``system``), text and image parts, tool calls and
tool results, tools and tool_choice (incl. ``parallel_tool_calls: false``), max tokens,
stop, temperature (clamped to Anthropic's 0..1), top_p, stream, ``user``, a ``json_schema``
response_format (as ``output_config.format``), and reasoning (``thinking``, see ``thinking``).
Dropped because Anthropic has no equivalent: n, logprobs/top_logprobs, logit_bias, a
``json_object`` response_format, presence/frequency_penalty, seed, audio/file parts,
stream_options, and earlier turns' reasoning text (Anthropic takes back only its own signed
thinking blocks).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from msgspec import UnsetType

from tollgate import estimate, reasoning  # estimate imports the providers package: only its functions are used, at call time
from tollgate.canonical import (
    ChatRequest,
    ChatResponse,
    Choice,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImageURL,
    JSONSchemaSpec,
    Message,
    NamedFunction,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceFunction,
)
from tollgate.providers.anthropic import wire
from tollgate.providers.base import Usage, tool_arguments

DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI clients often omit it

_ENCODE = msgspec.json.encode


def text_of(content: str | list[ContentPart] | UnsetType | None, sep: str = "\n") -> str:
    """The text of canonical content: a string, or the text parts of a parts list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(p.text for p in content if p.type == "text" and isinstance(p.text, str))
    return ""


def image_block(part: ContentPart) -> dict[str, Any] | None:
    """An ``image_url`` part as an Anthropic image block (data: URL or http(s) URL)."""
    image = part.image_url
    url = image.url if isinstance(image, ImageURL) else image
    if not isinstance(url, str):
        return None
    if url.startswith("data:"):
        head, sep, data = url[5:].partition(",")
        media_type, _, encoding = head.partition(";")
        if not sep or encoding != "base64":
            return None
        return {"type": "image", "source": {"type": "base64", "media_type": media_type or "image/png", "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    return None


def content_blocks(content: str | list[ContentPart] | UnsetType | None) -> list[dict]:
    """Canonical message content as Anthropic blocks (empty text is dropped: Anthropic rejects it)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict] = []
    for part in content if isinstance(content, list) else ():
        if part.type == "text" and isinstance(part.text, str) and part.text:
            blocks.append({"type": "text", "text": part.text})
        elif part.type == "image_url" and (block := image_block(part)) is not None:
            blocks.append(block)
    return blocks


def tool_use_blocks(tool_calls: list[ToolCall] | UnsetType | None) -> list[dict]:
    blocks = []
    for call in tool_calls or ():
        fn = call.function
        if not isinstance(fn, FunctionCall):
            continue
        blocks.append({"type": "tool_use", "id": str(call.id or ""), "name": str(fn.name or ""), "input": tool_arguments(fn.arguments)})
    return blocks


def _append(messages: list[dict], role: str, blocks: list[dict]) -> None:
    """Anthropic wants alternating roles: consecutive same-role messages are merged."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": list(blocks)})


def messages_and_system(canonical: list[Message]) -> tuple[list[dict], str]:
    system: list[str] = []
    messages: list[dict] = []
    for m in canonical:
        role, content = m.role, m.content
        if role in ("system", "developer"):
            if text := text_of(content):
                system.append(text)
        elif role == "user":
            _append(messages, "user", content_blocks(content))
        elif role == "assistant":
            _append(messages, "assistant", content_blocks(content) + tool_use_blocks(m.tool_calls))
        elif role == "tool":
            result = {"type": "tool_result", "tool_use_id": str(m.tool_call_id or ""), "content": text_of(content)}
            _append(messages, "user", [result])
    for turn in messages:  # Anthropic wants a user turn's tool_result blocks before its other blocks
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return messages, "\n\n".join(system)


def tools(canonical: list[Tool] | UnsetType | None) -> list[dict]:
    out = []
    for tool in canonical or ():
        fn = tool.function if (tool.type or "function") == "function" else None
        if not isinstance(fn, FunctionDef) or not fn.name:
            continue
        entry: dict[str, Any] = {"name": fn.name}
        if fn.description:
            entry["description"] = fn.description
        params = fn.parameters
        entry["input_schema"] = params if isinstance(params, dict) and params else {"type": "object"}
        out.append(entry)
    return out


def tool_choice(choice: ToolChoice | UnsetType | None, parallel: bool | UnsetType | None) -> dict[str, Any] | None:
    """Canonical tool_choice (and ``parallel_tool_calls: false``) as Anthropic's; None = the default."""
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        out: dict[str, Any] = {"type": "any"}
    elif isinstance(choice, ToolChoiceFunction) and isinstance(choice.function, NamedFunction) and choice.function.name:
        out = {"type": "tool", "name": choice.function.name}
    elif choice == "auto" or parallel is False:
        out = {"type": "auto"}
    else:
        return None
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


def output_format(fmt: ResponseFormat | UnsetType | None) -> dict[str, Any] | None:
    """A ``json_schema`` response format as Anthropic's structured output
    (``output_config.format``); ``json_object`` has no schema to give, and is dropped."""
    if not isinstance(fmt, ResponseFormat) or fmt.type != "json_schema" or not isinstance(fmt.json_schema, JSONSchemaSpec):
        return None
    schema = fmt.json_schema.schema
    return {"type": "json_schema", "schema": schema} if isinstance(schema, dict) else None


def request_body(request: ChatRequest, upstream_model: str, *, stream: bool) -> dict[str, Any]:
    """A canonical request as an Anthropic Messages body."""
    messages, system = messages_and_system(request.messages)
    out: dict[str, Any] = {"model": upstream_model, "messages": messages}
    if system:
        out["system"] = system
    limit = request.max_completion_tokens or request.max_tokens
    out["max_tokens"] = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_TOKENS
    stop = request.stop
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    if stops := [s for s in stops if s.strip()]:  # Anthropic rejects whitespace-only sequences
        out["stop_sequences"] = stops
    if isinstance(temperature := request.temperature, float):
        out["temperature"] = min(max(temperature, 0.0), 1.0)
    if isinstance(top_p := request.top_p, float) and top_p < 1:  # 1 is the neutral default
        out["top_p"] = top_p
    if tool_list := tools(request.tools):
        out["tools"] = tool_list
        if (choice := tool_choice(request.tool_choice, request.parallel_tool_calls)) is not None:
            out["tool_choice"] = choice
    if (fmt := output_format(request.response_format)) is not None:
        out.setdefault("output_config", {})["format"] = fmt
    if isinstance(request.user, str) and request.user:
        out["metadata"] = {"user_id": request.user}
    thinking(request, out)
    if stream:
        out["stream"] = True
    return out


# Thinking forbids these tool_choice types (Anthropic: only auto or none with thinking on).
_FORCED_TOOL = frozenset({"any", "tool"})
_THINKING_MIN_TOP_P = 0.95  # Anthropic: with thinking on, top_p only in [0.95, 1]


def thinking(request: ChatRequest, out: dict[str, Any]) -> None:
    """The request's reasoning as Anthropic ``thinking`` on ``out``, within Anthropic's rules:
    budget_tokens >= 1024 and < max_tokens (``reasoning.anthropic_thinking``), no temperature
    (dropped), top_p >= 0.95 (else dropped). Not enabled when a tool is forced (Anthropic
    refuses thinking then) or when the last assistant turn made tool calls (Anthropic wants
    that turn to start with its own signed thinking block, which a translated history cannot
    have): the answer then comes without reasoning rather than as a 400."""
    ask = reasoning.requested(request.reasoning_effort, request.reasoning_budget)
    if ask is None or not ask.on:
        return
    if (out.get("tool_choice") or {}).get("type") in _FORCED_TOOL:
        return
    assistant = [m for m in out["messages"] if m["role"] == "assistant"]
    if assistant and any(b["type"] == "tool_use" for b in assistant[-1]["content"]):
        return
    budget, out["max_tokens"] = reasoning.anthropic_thinking(ask, out["max_tokens"])
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    out.pop("temperature", None)
    if out.get("top_p", 1) < _THINKING_MIN_TOP_P:
        del out["top_p"]


def _translated_block(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "thinking" and block.get("signature") == reasoning.TRANSLATED_SIGNATURE


def without_translated_thinking(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic client's body with the thinking blocks Tollgate rendered from another
    protocol's reasoning taken out (Anthropic refuses their signature); if that leaves the
    last assistant turn's tool calls without a thinking block, thinking is turned off for
    the request, as in the translated path. Any other body is returned as it is."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    turns = [m for m in messages if isinstance(m, dict)]
    if not any(isinstance(m.get("content"), list) and any(_translated_block(b) for b in m["content"]) for m in turns):
        return body
    cleaned = []
    for m in messages:
        if isinstance(m, dict) and isinstance(m.get("content"), list):
            m = {**m, "content": [b for b in m["content"] if not _translated_block(b)]}
        cleaned.append(m)
    out = {**body, "messages": cleaned}
    assistant = [m for m in cleaned if isinstance(m, dict) and m.get("role") == "assistant" and isinstance(m.get("content"), list)]
    if assistant and any(isinstance(b, dict) and b.get("type") == "tool_use" for b in assistant[-1]["content"]):
        out.pop("thinking", None)
    return out


# --- answers -----------------------------------------------------------------------


def usage(w: wire.Usage | None, thinking_chars: int = 0) -> Usage | None:
    """Anthropic counts cached input apart from ``input_tokens``; canonical prompt tokens include it.
    Thinking is part of ``output_tokens`` but has no count of its own: ``reasoning_tokens`` is
    the estimator's count of the thinking text (at most the output)."""
    if w is None:
        return None
    cache_read = int(w.cache_read_input_tokens or 0)
    cache_write = int(w.cache_creation_input_tokens or 0)
    prompt = int(w.input_tokens or 0) + cache_read + cache_write
    output = int(w.output_tokens or 0)
    thought = min(estimate.tokens(thinking_chars), max(output, 0))
    return Usage(
        prompt_tokens=prompt, completion_tokens=output, cached_tokens=cache_read, reasoning_tokens=thought, cache_write_tokens=cache_write
    )


def thinking_text(blocks: list[wire.Block]) -> str:
    return "".join(b.thinking or "" for b in blocks if b.type == "thinking")


def tool_call(block: wire.Block, index: int | None = None, arguments: str | None = None) -> ToolCall:
    args = arguments if arguments is not None else _ENCODE(block.input if isinstance(block.input, dict) else {}).decode()
    call = ToolCall(id=block.id or "", type="function", function=FunctionCall(name=block.name or "", arguments=args))
    if index is not None:
        call.index = index
    return call


def completion(message: wire.Message) -> ChatResponse:
    """An Anthropic message as a canonical ``chat.completion`` (thinking as ``reasoning_content``;
    redacted thinking is left out)."""
    text = "".join(b.text or "" for b in message.content if b.type == "text")
    calls = [tool_call(b) for b in message.content if b.type == "tool_use"]
    reply = Message(role="assistant", content=text if text or not calls else None)
    if calls:
        reply.tool_calls = calls
    if thought := thinking_text(message.content):
        reply.reasoning_content = thought
    return ChatResponse(
        id=message.id,
        created=int(time.time()),
        model=message.model,
        choices=[Choice(index=0, message=reply, finish_reason=wire.finish_reason(message.stop_reason))],
        usage=usage(message.usage, len(thought)) or Usage(),
    )
