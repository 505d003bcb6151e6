"""Reading an Anthropic Messages stream: canonical chunks (translated) or usage only (native).

Event order: message_start, then per content block content_block_start / *_delta /
content_block_stop, then message_delta (stop_reason, final usage) and message_stop;
``ping`` may come anywhere and ``error`` ends the stream. Usage is kept current on
``self.usage`` as it arrives, so a stream cut short is still billed for what was seen.
"""

from __future__ import annotations

import time

import msgspec

from tollgate.canonical import ChatChunk, ChunkChoice, Delta, FunctionCall, ToolCall
from tollgate.providers.anthropic import translate, wire
from tollgate.providers.base import Usage
from tollgate.sse import Event

_EVENT = msgspec.json.Decoder(wire.StreamEvent)


def decode(event: Event) -> wire.StreamEvent:
    try:
        decoded = _EVENT.decode(event.data)
    except msgspec.DecodeError:
        raise ValueError("malformed upstream stream event") from None
    if not decoded.type:  # the data's own type is authoritative; the SSE name is a fallback
        decoded.type = event.name
    return decoded


class Counts:
    """Anthropic's running token counts: message_start has input and cache counts,
    message_delta the (cumulative) output count and sometimes updated input counts."""

    def __init__(self) -> None:
        self.counts = wire.Usage()
        self.thinking_chars = 0  # of the thinking text seen: the reasoning-token estimate

    def update(self, w: wire.Usage | None) -> Usage | None:
        if w is None:
            return None
        for name in wire.Usage.__struct_fields__:
            if (value := getattr(w, name)) is not None:
                setattr(self.counts, name, value)
        return translate.usage(self.counts, self.thinking_chars)

    def thought(self, text: str | None) -> str | None:
        self.thinking_chars += len(text or "")
        return text


class Decoder:
    def __init__(self, model: str):
        self.model = model
        self.usage: Usage | None = None
        self._counts = Counts()
        self._id = ""
        self._created = int(time.time())
        self._tools: dict[int, int] = {}  # Anthropic block index -> canonical tool_calls index
        self._ended = False  # message_delta or message_stop seen

    # --- pass-through -------------------------------------------------------------

    def observe(self, event: Event) -> bool:
        """Native mode: only read usage; Anthropic events are passed on as they came, except an
        ``error`` event, which ends the stream through the edge's own error path (so the
        request is metered as failed and the client still gets an Anthropic error event)."""
        ev = decode(event)
        if ev.type == "error":
            raise ValueError("upstream sent an error event")
        if ev.type == "message_start" and ev.message is not None:
            self.usage = self._counts.update(ev.message.usage) or self.usage
        elif ev.type == "content_block_delta" and ev.delta is not None and ev.delta.type == "thinking_delta":
            self._counts.thought(ev.delta.thinking)
        elif ev.type == "message_delta":
            self.usage = self._counts.update(ev.usage) or self.usage
        return False

    # --- translation --------------------------------------------------------------

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        return ChatChunk(
            id=self._id, created=self._created, model=self.model, choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)]
        )

    def feed(self, event: Event) -> list[ChatChunk]:
        ev = decode(event)
        kind = ev.type
        if kind == "message_start":
            if ev.message is not None:
                self._id = ev.message.id
                self.usage = self._counts.update(ev.message.usage) or self.usage
            return [self._chunk(Delta(role="assistant", content=""))]
        if kind == "content_block_start" and ev.content_block is not None:
            return self._block_start(ev.index, ev.content_block)
        if kind == "content_block_delta" and ev.delta is not None:
            return self._block_delta(ev.index, ev.delta)
        if kind == "message_delta":
            self._ended = True
            self.usage = self._counts.update(ev.usage) or self.usage
            stop = ev.delta.stop_reason if ev.delta is not None else None
            return [self._chunk(Delta(), wire.finish_reason(stop))]
        if kind == "message_stop":
            self._ended = True
        elif kind == "error":
            raise ValueError("upstream stream reported an error")
        return []  # ping, content_block_stop, and event kinds this edge does not know

    def _block_start(self, index: int | None, block: wire.Block) -> list[ChatChunk]:
        if block.type == "text" and block.text:
            return [self._chunk(Delta(content=block.text))]
        if block.type == "thinking" and self._counts.thought(block.thinking):
            return [self._chunk(Delta(reasoning_content=block.thinking))]
        if block.type != "tool_use":
            return []  # redacted_thinking, server tools: not part of a chat completion
        position = self._tools[index if index is not None else -1] = len(self._tools)
        # Streamed tool_use blocks start with input {} and send it as input_json_delta pieces.
        args = None if block.input else ""
        return [self._chunk(Delta(tool_calls=[translate.tool_call(block, position, args)]))]

    def _block_delta(self, index: int | None, delta: wire.Delta) -> list[ChatChunk]:
        if delta.type == "text_delta" and delta.text:
            return [self._chunk(Delta(content=delta.text))]
        if delta.type == "thinking_delta" and self._counts.thought(delta.thinking):
            return [self._chunk(Delta(reasoning_content=delta.thinking))]
        if delta.type == "input_json_delta" and delta.partial_json:
            position = self._tools.get(index if index is not None else -1)
            if position is not None:
                piece = ToolCall(index=position, function=FunctionCall(arguments=delta.partial_json))
                return [self._chunk(Delta(tool_calls=[piece]))]
        return []  # signature and citation deltas

    def close(self) -> list[ChatChunk]:
        """The usage-only chunk; a stream that never reached message_delta/message_stop was cut short."""
        if not self._ended:
            raise ValueError("upstream stream ended before message_stop")
        return [ChatChunk(id=self._id, created=self._created, model=self.model, choices=[], usage=self.usage or Usage())]
