"""Bedrock answers -> canonical: a whole Converse answer, and ConverseStream's binary
event stream (``application/vnd.amazon.eventstream``) read frame by frame with botocore's
parser, each frame's JSON payload decoded into canonical chunks.

Stream order: messageStart, then per content block contentBlockStart (tool use only) /
contentBlockDelta (text, toolUse input pieces, reasoningContent) / contentBlockStop, then
messageStop (stopReason) and metadata (usage). An exception frame (``:message-type``
exception, e.g. throttlingException or modelStreamErrorException) ends the stream as a
break. Usage is kept on ``usage`` as it arrives.
"""

from __future__ import annotations

import time
import uuid

import msgspec
from botocore.eventstream import EventStreamBuffer, ParserError

from tollgate import estimate  # only its functions, at call time
from tollgate.canonical import ChatChunk, ChatResponse, Choice, ChunkChoice, Delta, FunctionCall, Message, ToolCall, Usage
from tollgate.providers.bedrock import wire
from tollgate.sse import Event

_RESPONSE = msgspec.json.Decoder(wire.Response)
_EVENT = msgspec.json.Decoder(wire.StreamEvent)
_ENCODE = msgspec.json.encode
EXCEPTION = "exception:"  # the name prefix of an exception frame's Event


def usage(w: wire.TokenUsage | None, reasoning_chars: int = 0) -> Usage | None:
    """Converse counts cache reads and writes apart from ``inputTokens``; canonical prompt
    tokens include them. Reasoning is part of ``outputTokens`` without a count of its own:
    the estimator's count of the reasoning text (at most the output)."""
    if w is None:
        return None
    cache_read = int(w.cache_read_input_tokens or 0)
    prompt = int(w.input_tokens or 0) + cache_read + int(w.cache_write_input_tokens or 0)
    output = int(w.output_tokens or 0)
    return Usage(prompt, output, cache_read, min(estimate.tokens(reasoning_chars), max(output, 0)))


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(payload: bytes, model: str = "") -> ChatResponse:
    try:
        answer = _RESPONSE.decode(payload)
    except msgspec.DecodeError:
        raise ValueError("upstream answer is not a Converse response") from None
    blocks = answer.output.message.content if answer.output is not None and answer.output.message is not None else []
    text = "".join(b.text for b in blocks if b.text)
    thought = "".join(_reasoning(b) for b in blocks)
    calls = [_tool_call(b.tool_use) for b in blocks if b.tool_use is not None]
    reply = Message(role="assistant", content=text if text or not calls else None)
    if calls:
        reply.tool_calls = calls
    if thought:
        reply.reasoning_content = thought
    return ChatResponse(
        id=_new_id(),
        created=int(time.time()),
        model=model,
        choices=[Choice(index=0, message=reply, finish_reason=wire.finish_reason(answer.stop_reason))],
        usage=usage(answer.usage, len(thought)) or Usage(),
    )


def _reasoning(block: wire.Block) -> str:
    reasoning = block.reasoning_content.reasoning_text if block.reasoning_content is not None else None
    return reasoning.text or "" if reasoning is not None else ""


def _tool_call(use: wire.ToolUse) -> ToolCall:
    arguments = _ENCODE(use.input if isinstance(use.input, dict) else {}).decode()
    return ToolCall(id=use.tool_use_id, type="function", function=FunctionCall(name=use.name, arguments=arguments))


class Framing:
    """``application/vnd.amazon.eventstream`` bytes -> ``Event``s (the stream parser the edge
    uses for this adapter instead of SSE): an event frame is ``Event(payload, :event-type)``,
    an exception or error frame ``Event(payload, "exception:<type>")``. A frame whose CRC or
    lengths do not check out is a ``ValueError`` (the stream breaks)."""

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        self._broken = False  # a bad frame came after good ones: they go out first, the break on the next call

    def feed(self, piece: bytes) -> list[Event]:
        if self._broken:
            raise ValueError("malformed upstream event-stream frame")
        self._buffer.add_data(piece)
        out: list[Event] = []
        try:
            for message in self._buffer:
                headers = message.headers
                kind = headers.get(":message-type", "event")
                if kind == "event":
                    out.append(Event(message.payload, str(headers.get(":event-type", ""))))
                else:
                    name = headers.get(":exception-type") or headers.get(":error-code") or "UnknownException"
                    out.append(Event(message.payload, EXCEPTION + str(name)))
        except ParserError:
            if not out:
                raise ValueError("malformed upstream event-stream frame") from None
            self._broken = True  # what came before it in this read reaches the client
        return out

    def close(self) -> list[Event]:
        if self._broken:
            raise ValueError("malformed upstream event-stream frame")
        return []  # a frame cut short is simply never completed: the decoder sees no messageStop


class Decoder:
    def __init__(self, model: str):
        self.model = model
        self.usage: Usage | None = None
        self._id = _new_id()
        self._created = int(time.time())
        self._tools: dict[int, int] = {}  # Converse content block index -> canonical tool_calls index
        self._reasoning_chars = 0
        self._counts: wire.TokenUsage | None = None
        self._stopped = False

    def _decode(self, event: Event) -> wire.StreamEvent:
        if event.name.startswith(EXCEPTION):
            kind = wire.ERRORS.get(wire.exception_name(event.name.removeprefix(EXCEPTION)))
            raise ValueError(f"upstream stream exception ({kind.meaning if kind else 'unknown'})")
        try:
            return _EVENT.decode(event.data)
        except msgspec.DecodeError:
            raise ValueError("malformed upstream stream event") from None

    def _chunk(self, delta: Delta, finish: str | None = None) -> ChatChunk:
        return ChatChunk(
            id=self._id, created=self._created, model=self.model, choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)]
        )

    def observe(self, event: Event) -> bool:
        """Pass-through (no client door speaks Converse today): only read usage."""
        self.feed(event)
        return False

    def feed(self, event: Event) -> list[ChatChunk]:
        ev = self._decode(event)
        name = event.name
        if name == "messageStart":
            return [self._chunk(Delta(role="assistant", content=""))]
        if name == "contentBlockStart" and ev.start is not None and ev.start.tool_use is not None:
            index = ev.content_block_index if ev.content_block_index is not None else -1
            position = self._tools[index] = len(self._tools)
            use = ev.start.tool_use
            call = ToolCall(index=position, id=use.tool_use_id, type="function", function=FunctionCall(name=use.name, arguments=""))
            return [self._chunk(Delta(tool_calls=[call]))]
        if name == "contentBlockDelta" and ev.delta is not None:
            return self._delta(ev.content_block_index, ev.delta)
        if name == "messageStop":
            self._stopped = True
            return [self._chunk(Delta(), wire.finish_reason(ev.stop_reason))]
        if name == "metadata" and ev.usage is not None:
            self._counts = ev.usage
            self.usage = usage(ev.usage, self._reasoning_chars)
        return []  # contentBlockStop, and event kinds this edge does not know

    def _delta(self, index: int | None, delta: wire.Delta) -> list[ChatChunk]:
        if delta.text:
            return [self._chunk(Delta(content=delta.text))]
        if delta.tool_use is not None and delta.tool_use.input:
            position = self._tools.get(index if index is not None else -1)
            if position is not None:
                piece = ToolCall(index=position, function=FunctionCall(arguments=delta.tool_use.input))
                return [self._chunk(Delta(tool_calls=[piece]))]
        if delta.reasoning_content is not None and delta.reasoning_content.text:
            self._reasoning_chars += len(delta.reasoning_content.text)
            return [self._chunk(Delta(reasoning_content=delta.reasoning_content.text))]
        return []  # reasoning signatures

    def close(self) -> list[ChatChunk]:
        """The usage-only chunk; a stream that never reached messageStop was cut short."""
        if not self._stopped:
            raise ValueError("upstream stream ended before messageStop")
        self.usage = usage(self._counts, self._reasoning_chars) if self._counts is not None else self.usage
        return [ChatChunk(id=self._id, created=self._created, model=self.model, choices=[], usage=self.usage or Usage())]
