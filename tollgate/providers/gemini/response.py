"""Gemini answers -> canonical: a whole GenerateContentResponse, or a stream of them.

With ``alt=sse`` every event's data is a complete GenerateContentResponse holding the
next piece of text (or whole function calls), ``finishReason`` on the last one and
``usageMetadata`` (running totals) on most. Thought parts (``"thought": true``) are the
reasoning text (``reasoning_content``); generated media, executable code and grounding metadata are dropped.
"""

from __future__ import annotations

import secrets
import time

import msgspec

from tollgate.canonical import ChatChunk, ChatResponse, Choice, ChunkChoice, Delta, FunctionCall, Message, ToolCall
from tollgate.providers.base import Usage
from tollgate.providers.gemini import wire
from tollgate.sse import Event

_RESPONSE = msgspec.json.Decoder(wire.Response)
_ENCODE = msgspec.json.encode


def decode(payload: bytes) -> wire.Response:
    try:
        return _RESPONSE.decode(payload)
    except msgspec.DecodeError:
        raise ValueError("malformed Gemini response") from None


def split_parts(candidate: wire.Candidate) -> tuple[str, list[wire.FunctionCall], str]:
    """The answer text, the function calls and the thought text of one candidate."""
    parts = candidate.content.parts if candidate.content else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    thought = "".join(p.text for p in parts if p.text and p.thought)
    return text, [p.function_call for p in parts if p.function_call is not None], thought


def tool_call(call: wire.FunctionCall, call_id: str, index: int | None = None) -> ToolCall:
    function = FunctionCall(name=call.name, arguments=_ENCODE(call.args or {}).decode())
    out = ToolCall(id=call.id or call_id, type="function", function=function)
    if index is not None:
        out.index = index
    return out


def chat_completion(payload: bytes) -> tuple[ChatResponse, Usage]:
    resp = decode(payload)
    if resp.error is not None:
        raise ValueError("Gemini answered with an error")
    prefix = wire.call_id_prefix(resp.response_id, secrets.token_hex(6))
    n = 0
    choices = []
    for cand in resp.candidates:
        text, calls, thought = split_parts(cand)
        message = Message(role="assistant", content=text or None)
        if thought:
            message.reasoning_content = thought
        if calls:
            message.tool_calls = [tool_call(c, f"{prefix}{n + i}") for i, c in enumerate(calls)]
            n += len(calls)
        choices.append(Choice(index=cand.index, message=message, finish_reason=wire.finish_reason(cand.finish_reason, bool(calls))))
    if not choices:  # the prompt itself was blocked (promptFeedback.blockReason) or nothing came back
        blocked = resp.prompt_feedback is not None and bool(resp.prompt_feedback.block_reason)
        choices.append(
            Choice(index=0, message=Message(role="assistant", content=None), finish_reason="content_filter" if blocked else "stop")
        )
    usage = wire.usage(resp.usage_metadata) or Usage()
    body = ChatResponse(
        id="chatcmpl-" + (resp.response_id or secrets.token_hex(12)),
        created=int(time.time()),
        model=resp.model_version,
        choices=choices,
        usage=usage,
    )
    return body, usage


class StreamDecoder:
    """Reads one ``streamGenerateContent?alt=sse`` stream; ``usage`` holds the latest counts."""

    def __init__(self, model: str):
        self.model = model
        self.usage: Usage | None = None
        self._id = ""
        self._created = int(time.time())
        self._prefix = ""
        self._calls = 0  # function calls seen so far (all candidates): the next tool-call id
        self._per_choice: dict[int, int] = {}  # candidate index -> its tool calls so far
        self._started: set[int] = set()  # candidates whose first delta (with the role) went out

    def _read(self, event: Event) -> wire.Response | None:
        if not event.data.strip():
            return None
        resp = decode(event.data)
        if resp.error is not None:
            raise ValueError("the upstream stream carried an error")
        if resp.usage_metadata is not None:
            self.usage = wire.usage(resp.usage_metadata)
        return resp

    def observe(self, event: Event) -> bool:
        self._read(event)
        return False  # every Gemini event may carry content: none is usage-only

    def feed(self, event: Event) -> list[ChatChunk]:
        resp = self._read(event)
        if resp is None:
            return []
        if not self._id:
            self._id = "chatcmpl-" + (resp.response_id or secrets.token_hex(12))
            self._prefix = wire.call_id_prefix(resp.response_id, secrets.token_hex(6))
        chunks = []
        for cand in resp.candidates:
            text, calls, thought = split_parts(cand)
            delta = Delta()
            if thought:
                delta.reasoning_content = thought
            if text:
                delta.content = text
            if calls:
                first = self._per_choice.get(cand.index, 0)
                delta.tool_calls = [tool_call(c, f"{self._prefix}{self._calls + i}", first + i) for i, c in enumerate(calls)]
                self._calls += len(calls)
                self._per_choice[cand.index] = first + len(calls)
            if delta.content or delta.tool_calls or delta.reasoning_content:
                chunks.append(self._chunk(cand.index, delta, None))
            if cand.finish_reason:
                reason = wire.finish_reason(cand.finish_reason, bool(self._per_choice.get(cand.index)))
                chunks.append(self._chunk(cand.index, Delta(), reason))
        if not resp.candidates and resp.prompt_feedback is not None and resp.prompt_feedback.block_reason:
            chunks.append(self._chunk(0, Delta(), "content_filter"))
        return chunks

    def _chunk(self, index: int, delta: Delta, finish: str | None) -> ChatChunk:
        if index not in self._started:
            self._started.add(index)
            delta.role = "assistant"
        choice = ChunkChoice(index=index, delta=delta, finish_reason=finish)
        return ChatChunk(id=self._id, created=self._created, model=self.model, choices=[choice])

    def close(self) -> list[ChatChunk]:
        if self.usage is None:
            return []
        return [
            ChatChunk(
                id=self._id or "chatcmpl-" + secrets.token_hex(12), created=self._created, model=self.model, choices=[], usage=self.usage
            )
        ]
