"""Canonical requests (``ChatRequest``) -> Bedrock Converse bodies.

One code path for every model family Bedrock serves through Converse (Anthropic, Meta,
Mistral, Amazon Nova, ...). What happens to each canonical field is data: ``PARAMETERS``
says whether it is kept (and where it goes) or dropped (and why); ``request_body`` applies it,
and a field missing from the table fails the unit test that compares the table with
``ChatRequest``'s fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec import UnsetType

from tollgate.canonical import (
    ChatRequest,
    ContentPart,
    FunctionCall,
    FunctionDef,
    ImageURL,
    Message,
    NamedFunction,
    Tool,
    ToolCall,
    ToolChoiceFunction,
)
from tollgate.providers.base import tool_arguments

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def _text(content: str | list[ContentPart] | UnsetType | None, sep: str = "\n") -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return sep.join(p.text for p in content if p.type == "text" and isinstance(p.text, str))
    return ""


def image_block(part: ContentPart) -> dict[str, Any] | None:
    """A base64 ``data:`` image as a Converse image block; Converse takes no http(s) image URL
    (only bytes or S3), so other images are dropped."""
    image = part.image_url
    url = image.url if isinstance(image, ImageURL) else image
    if not isinstance(url, str) or not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    media_type, _, encoding = head.partition(";")
    fmt = IMAGE_FORMATS.get(media_type.lower())
    if not sep or encoding != "base64" or fmt is None:
        return None
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def content_blocks(content: str | list[ContentPart] | UnsetType | None) -> list[dict[str, Any]]:
    """Text and image blocks (empty text dropped: Converse rejects blank text blocks)."""
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    blocks: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else ():
        if part.type == "text" and isinstance(part.text, str) and part.text.strip():
            blocks.append({"text": part.text})
        elif part.type == "image_url" and (block := image_block(part)) is not None:
            blocks.append(block)
    return blocks


def tool_use_blocks(calls: list[ToolCall] | UnsetType | None) -> list[dict[str, Any]]:
    out = []
    for call in calls or ():
        fn = call.function
        if isinstance(fn, FunctionCall):
            out.append({"toolUse": {"toolUseId": str(call.id or ""), "name": str(fn.name or ""), "input": tool_arguments(fn.arguments)}})
    return out


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Converse wants alternating user/assistant turns: consecutive same-role turns merge."""
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": list(blocks)})


def messages_and_system(canonical: list[Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for m in canonical:
        if m.role in ("system", "developer"):
            if (text := _text(m.content)).strip():
                system.append({"text": text})
        elif m.role == "user":
            _append(messages, "user", content_blocks(m.content))
        elif m.role == "assistant":
            _append(messages, "assistant", content_blocks(m.content) + tool_use_blocks(m.tool_calls))
        elif m.role == "tool":
            result = {"toolResult": {"toolUseId": str(m.tool_call_id or ""), "content": [{"text": _text(m.content) or " "}]}}
            _append(messages, "user", [result])
    for turn in messages:  # a user turn's tool results first, as the tool-use turn before it expects
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: "toolResult" not in b)
    return messages, system


def tool_specs(canonical: list[Tool] | UnsetType | None) -> list[dict[str, Any]]:
    out = []
    for tool in canonical or ():
        fn = tool.function if (tool.type or "function") == "function" else None
        if not isinstance(fn, FunctionDef) or not fn.name:
            continue
        spec: dict[str, Any] = {"name": fn.name}
        if fn.description:
            spec["description"] = fn.description
        params = fn.parameters
        spec["inputSchema"] = {"json": params if isinstance(params, dict) and params else {"type": "object", "properties": {}}}
        out.append({"toolSpec": spec})
    return out


def tool_choice(choice: object) -> dict[str, Any] | None:
    """Converse's toolChoice: ``auto``, ``any`` (required) or a named ``tool``; it has no
    ``none``, so "none" (like an absent choice) leaves Converse's default, auto."""
    if choice == "required":
        return {"any": {}}
    if choice == "auto":
        return {"auto": {}}
    if isinstance(choice, ToolChoiceFunction) and isinstance(choice.function, NamedFunction) and choice.function.name:
        return {"tool": {"name": choice.function.name}}
    return None


# --- the parameter table ----------------------------------------------------------------------

Apply = Callable[[ChatRequest, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Param:
    """One canonical field: ``apply`` puts it on the Converse body (kept or mapped), or
    ``dropped`` says why Converse has no place for it."""

    apply: Apply | None = None
    dropped: str = ""


def _inference(out: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = out.setdefault("inferenceConfig", {})
    return config


def _max_tokens(request: ChatRequest, out: dict[str, Any]) -> None:
    limit = request.max_completion_tokens or request.max_tokens
    if isinstance(limit, int) and limit > 0:
        _inference(out)["maxTokens"] = limit


def _temperature(request: ChatRequest, out: dict[str, Any]) -> None:
    if isinstance(t := request.temperature, int | float):
        _inference(out)["temperature"] = min(max(float(t), 0.0), 1.0)  # Converse takes 0..1


def _top_p(request: ChatRequest, out: dict[str, Any]) -> None:
    if isinstance(p := request.top_p, int | float):
        _inference(out)["topP"] = min(max(float(p), 0.0), 1.0)


def _stop(request: ChatRequest, out: dict[str, Any]) -> None:
    stop = request.stop
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []
    if stops := [s for s in stops if isinstance(s, str) and s]:
        _inference(out)["stopSequences"] = stops


def _messages(request: ChatRequest, out: dict[str, Any]) -> None:
    out["messages"], system = messages_and_system(request.messages)
    if system:
        out["system"] = system


def _tools(request: ChatRequest, out: dict[str, Any]) -> None:
    specs = tool_specs(request.tools)
    uses_tools = any("toolUse" in b or "toolResult" in b for m in out.get("messages", ()) for b in m["content"])
    if not specs and uses_tools:  # Converse refuses toolUse/toolResult blocks without a toolConfig
        names = {b["toolUse"]["name"] for m in out["messages"] for b in m["content"] if "toolUse" in b}
        specs = [{"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object"}}}} for n in sorted(names) if n]
    if specs:
        out["toolConfig"] = {"tools": specs}


def _tool_choice(request: ChatRequest, out: dict[str, Any]) -> None:
    if "toolConfig" in out and (choice := tool_choice(request.tool_choice)) is not None:
        out["toolConfig"]["toolChoice"] = choice


# The order matters where one entry reads what an earlier one wrote (tools after messages,
# tool_choice after tools).
PARAMETERS: dict[str, Param] = {
    "messages": Param(_messages),
    "max_tokens": Param(_max_tokens),
    "max_completion_tokens": Param(dropped="read with max_tokens (the larger-named one wins)"),
    "temperature": Param(_temperature),
    "top_p": Param(_top_p),
    "stop": Param(_stop),
    "tools": Param(_tools),
    "tool_choice": Param(_tool_choice),
    "model": Param(dropped="the model id is in the URL"),
    "stream": Param(dropped="Converse or ConverseStream is chosen by the URL"),
    "stream_options": Param(dropped="ConverseStream always reports usage (its metadata event)"),
    "n": Param(dropped="Converse answers one candidate"),
    "seed": Param(dropped="no Converse equivalent"),
    "presence_penalty": Param(dropped="no Converse equivalent"),
    "frequency_penalty": Param(dropped="no Converse equivalent"),
    "parallel_tool_calls": Param(dropped="no Converse equivalent"),
    "response_format": Param(dropped="Converse has no structured-output field common to its model families"),
    "reasoning_effort": Param(dropped="reasoning is a model family's own additionalModelRequestFields"),
    "reasoning_budget": Param(dropped="reasoning is a model family's own additionalModelRequestFields"),
    "user": Param(dropped="no Converse equivalent"),
}


def request_body(request: ChatRequest) -> dict[str, Any]:
    """A canonical request as a Converse (or ConverseStream: the same body) request."""
    out: dict[str, Any] = {}
    for param in PARAMETERS.values():
        if param.apply is not None:
            param.apply(request, out)
    return out
