"""The Anthropic door's answers: a canonical ``chat.completion`` as an Anthropic message,
canonical stream chunks as Anthropic's event sequence, errors in Anthropic's shape.

Reasoning from another protocol is a ``thinking`` block (first, as Anthropic puts it) whose
``signature`` is ``reasoning.TRANSLATED_SIGNATURE``: the SDK requires one, and no Anthropic
signature exists for it; the Anthropic adapter takes such blocks out before an Anthropic
upstream would see them."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from tollgate import error_bodies, reasoning
from tollgate.canonical import UNSET, ChatChunk, ChatResponse, Choice, FunctionCall, ToolCall, Usage
from tollgate.errors import TollgateError
from tollgate.providers.anthropic import wire
from tollgate.providers.anthropic.translate import text_of
from tollgate.sse import frame

_ENCODE = msgspec.json.encode
_JSON = msgspec.json.Decoder()


def _usage(usage: Usage | None) -> dict[str, Any]:
    """Canonical usage as Anthropic's: cached prompt tokens are not part of ``input_tokens``."""
    usage = usage or Usage()
    cached, written = usage.cached_tokens, usage.cache_write_tokens
    return {
        "input_tokens": max(usage.prompt_tokens - cached - written, 0),
        "output_tokens": usage.completion_tokens,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def _message_id(ident: Any) -> str:
    ident = str(ident or "")
    return ident if ident.startswith("msg_") else "msg_" + (ident or secrets.token_hex(12))


class Encoder:
    """Canonical chunks -> Anthropic's event sequence. A new content block opens when the
    kind changes (thinking <-> text <-> tool call) or a new tool call starts; a thinking block
    gets its signature (a ``signature_delta``) just before it closes. message_delta waits for
    ``finish()``: the usage-only chunk arrives after the finish_reason chunk."""

    def __init__(self, model: str):
        self._model = model
        self._id = "msg_" + secrets.token_hex(12)
        self._started = False
        self._index = -1  # the current block's index
        self._open: str | None = None  # "thinking" | "text" | "tool" | None
        self._tool_index: Any = None  # canonical index / id of the open tool call
        self._tool_id = ""
        self._tool_used = False
        self._finish: str | None = None
        self._usage: Usage | None = None  # the (last) usage seen

    @staticmethod
    def _event(kind: str, data: dict[str, Any]) -> bytes:
        return frame(_ENCODE({"type": kind, **data}), kind)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return self._event("message_start", {"message": message})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        signature = b""
        if self._open == "thinking":
            signature = self._delta({"type": "signature_delta", "signature": reasoning.TRANSLATED_SIGNATURE})
        self._open = None
        return signature + self._event("content_block_stop", {"index": self._index})

    def _open_block(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close_block()
        self._index += 1
        self._open = kind
        return out + self._event("content_block_start", {"index": self._index, "content_block": block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self._event("content_block_delta", {"index": self._index, "delta": delta})

    def _tool_call(self, call: ToolCall) -> bytes:
        fn = call.function if isinstance(call.function, FunctionCall) else FunctionCall()
        index, ident = (None if call.index is UNSET else call.index), call.id
        same = self._open == "tool" and (index is None or index == self._tool_index) and (not ident or ident == self._tool_id)
        out = b""
        if not same:
            self._tool_index, self._tool_id, self._tool_used = index, ident or "toolu_" + secrets.token_hex(12), True
            out = self._open_block("tool", {"type": "tool_use", "id": self._tool_id, "name": fn.name or "", "input": {}})
        if isinstance(args := fn.arguments, str) and args:
            out += self._delta({"type": "input_json_delta", "partial_json": args})
        return out

    def encode(self, chunk: ChatChunk) -> bytes:
        out = [self._start()]
        if chunk.usage is not None:
            self._usage = chunk.usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if isinstance(thought := delta.reasoning_content, str) and thought:
                if self._open != "thinking":
                    out.append(self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}))
                out.append(self._delta({"type": "thinking_delta", "thinking": thought}))
            if isinstance(text := delta.content, str) and text:
                if self._open != "text":
                    out.append(self._open_block("text", {"type": "text", "text": ""}))
                out.append(self._delta({"type": "text_delta", "text": text}))
            for call in delta.tool_calls or ():
                out.append(self._tool_call(call))
            if choice.finish_reason:
                self._finish = choice.finish_reason
        return b"".join(out)

    def finish(self) -> bytes:
        delta = {"stop_reason": wire.stop_reason(self._finish, self._tool_used), "stop_sequence": None}
        return b"".join(
            (
                self._start(),
                self._close_block(),
                self._event("message_delta", {"delta": delta, "usage": _usage(self._usage)}),
                self._event("message_stop", {}),
            )
        )

    def error(self, err: TollgateError) -> bytes:
        return self._event("error", {"error": error_bodies.anthropic(err)["error"]})


def message(response: ChatResponse, model: str) -> dict[str, Any]:
    """A canonical ``chat.completion`` as an Anthropic message."""
    choice = response.choices[0] if response.choices else Choice()
    message = choice.message
    content: list[dict] = []
    if isinstance(thought := message.reasoning_content, str) and thought:
        content.append({"type": "thinking", "thinking": thought, "signature": reasoning.TRANSLATED_SIGNATURE})
    if text := text_of(message.content, sep=""):
        content.append({"type": "text", "text": text})
    for call in message.tool_calls or ():
        fn = call.function if isinstance(call.function, FunctionCall) else FunctionCall()
        arguments = fn.arguments
        try:
            args = _JSON.decode(arguments) if isinstance(arguments, str) and arguments else {}
        except msgspec.DecodeError:
            args = {}
        ident = call.id or "toolu_" + secrets.token_hex(12)
        content.append({"type": "tool_use", "id": ident, "name": fn.name or "", "input": args if isinstance(args, dict) else {}})
    tool_used = any(b["type"] == "tool_use" for b in content)
    return {
        "id": _message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": wire.stop_reason(choice.finish_reason, tool_used),
        "stop_sequence": None,
        "usage": _usage(response.usage),
    }
