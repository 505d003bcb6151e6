"""The Gemini door's answers: a canonical ``chat.completion`` as a GenerateContentResponse,
canonical stream chunks as SSE GenerateContentResponses, errors in Google's shape.
Reasoning text is a thought part (``"thought": true``), first, as Gemini puts it."""

from __future__ import annotations

from typing import Any

import msgspec

from tollgate import error_bodies
from tollgate.canonical import ChatChunk, ChatResponse, FunctionCall, Usage
from tollgate.errors import TollgateError
from tollgate.providers.base import tool_arguments
from tollgate.providers.gemini.wire import FINISH_OUT

_ENCODE = msgspec.json.encode
SSE_END = b"\r\n\r\n"  # what Google sends


def usage_metadata(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    prompt, completion, cached, thoughts = usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens
    out = {"promptTokenCount": prompt, "candidatesTokenCount": max(completion - thoughts, 0), "totalTokenCount": prompt + completion}
    if cached > 0:
        out["cachedContentTokenCount"] = cached
    if thoughts > 0:
        out["thoughtsTokenCount"] = thoughts
    return out


def _call_part(name: Any, arguments: Any) -> dict[str, Any]:
    return {"functionCall": {"name": str(name or ""), "args": tool_arguments(arguments)}}


def from_canonical_response(response: ChatResponse, model: str) -> dict[str, Any]:
    candidates = []
    for choice in response.choices:
        message = choice.message
        content = message.content
        text = content if isinstance(content, str) else "".join(p.text or "" for p in content or ())
        thought = message.reasoning_content
        parts: list[dict] = [{"text": thought, "thought": True}] if isinstance(thought, str) and thought else []
        if text:
            parts.append({"text": text})
        for call in message.tool_calls or ():
            fn = call.function if isinstance(call.function, FunctionCall) else FunctionCall()
            parts.append(_call_part(fn.name, fn.arguments))
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}} if parts else {}
        candidate["finishReason"] = FINISH_OUT.get(choice.finish_reason or "", "STOP")
        candidate["index"] = choice.index
        candidates.append(candidate)
    out: dict[str, Any] = {"candidates": candidates}
    if (meta := usage_metadata(response.usage)) is not None:
        out["usageMetadata"] = meta
    out["modelVersion"] = model
    if response.id:
        out["responseId"] = response.id
    return out


def error_event(err: TollgateError) -> dict[str, Any]:
    return error_bodies.gemini(err)


class Encoder:
    """Canonical chunks -> SSE GenerateContentResponses. Text goes out as it arrives; tool
    calls (streamed as argument fragments) go out whole once their choice finishes; the
    finishReason and usageMetadata go out last, in ``finish()``, because the usage-only
    chunk comes after the finish_reason chunk."""

    def __init__(self, model: str):
        self.model = model
        self.response_id = ""
        self.usage: Usage | None = None
        self.finish_reasons: dict[int, str] = {}
        self.calls: dict[int, dict[int, list[str]]] = {}  # choice -> tool-call index -> [name, arguments]

    def _event(self, body: dict[str, Any]) -> bytes:
        body["modelVersion"] = self.model
        if self.response_id:
            body["responseId"] = self.response_id
        return b"data: " + _ENCODE(body) + SSE_END

    def _parts_event(self, index: int, parts: list[dict]) -> bytes:
        return self._event({"candidates": [{"content": {"role": "model", "parts": parts}, "index": index}]})

    def _flush_calls(self, index: int) -> bytes:
        pending = self.calls.pop(index, {})
        parts = [_call_part(name, arguments) for _, (name, arguments) in sorted(pending.items())]
        return self._parts_event(index, parts) if parts else b""

    def encode(self, chunk: ChatChunk) -> bytes:
        self.response_id = self.response_id or chunk.id
        if chunk.usage is not None:
            self.usage = chunk.usage
        out = []
        for choice in chunk.choices:
            index, delta = choice.index, choice.delta
            if isinstance(thought := delta.reasoning_content, str) and thought:
                out.append(self._parts_event(index, [{"text": thought, "thought": True}]))
            if isinstance(text := delta.content, str) and text:
                out.append(self._parts_event(index, [{"text": text}]))
            for call in delta.tool_calls or ():
                slot = self.calls.setdefault(index, {}).setdefault(call.index or 0, ["", ""])
                fn = call.function if isinstance(call.function, FunctionCall) else FunctionCall()
                slot[0] = fn.name or slot[0]
                slot[1] += fn.arguments if isinstance(fn.arguments, str) else ""
            if choice.finish_reason:
                self.finish_reasons[index] = choice.finish_reason
                out.append(self._flush_calls(index))
        return b"".join(out)

    def finish(self) -> bytes:
        out = [self._flush_calls(index) for index in sorted(self.calls)]
        candidates = [
            {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": FINISH_OUT.get(reason, "STOP"), "index": index}
            for index, reason in sorted((self.finish_reasons or {0: "stop"}).items())
        ]
        body: dict[str, Any] = {"candidates": candidates}
        if (meta := usage_metadata(self.usage)) is not None:
            body["usageMetadata"] = meta
        out.append(self._event(body))
        return b"".join(out)

    def error(self, err: TollgateError) -> bytes:
        return b"data: " + _ENCODE(error_event(err)) + SSE_END
