"""Canonical stream chunks -> the Responses API's typed events, each with its
``sequence_number``:

``response.created``, ``response.in_progress``; per output item ``response.output_item.added``,
then its content (a message: ``response.content_part.added``, ``response.output_text.delta``
..., ``response.output_text.done``, ``response.content_part.done``; a function call:
``response.function_call_arguments.delta`` ..., ``.done``; reasoning:
``response.reasoning_summary_part.added``, ``response.reasoning_summary_text.delta`` ...,
``.done``, ``response.reasoning_summary_part.done``), and ``response.output_item.done``; last
``response.completed`` (or ``response.incomplete`` when the answer was cut by its token
limit) carrying the whole Response with usage. A stream broken upstream ends with an
``error`` event and ``response.failed``.

A message or reasoning item closes when another item starts; function calls stay open
until the answer ends (an upstream may interleave parallel calls' argument pieces).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from services.edge.frontends.responses import render, wire
from tollgate.canonical import UNSET, ChatChunk, FunctionCall, ToolCall, Usage
from tollgate.errors import TollgateError
from tollgate.sse import frame

_ENCODE = msgspec.json.encode
# ``response.failed`` carries a code from the API's fixed list (the ``error`` event before it
# carries Tollgate's own code): a failure is the server's, or a rate limit.
FAILED_CODES: dict[int, str] = {429: "rate_limit_exceeded"}


def _builtins(value: msgspec.Struct) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(value)
    return out


class _Item:
    """An output item being streamed: the item itself, its index, the text gathered so far."""

    def __init__(self, index: int, item: wire.OutputItem):
        self.index = index
        self.item = item
        self.pieces: list[str] = []
        self.open = True

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class Encoder:
    def __init__(self, model: str):
        self._model = model
        self._id = render.new_id("resp")
        self._created = int(time.time())
        self._sequence = 0
        self._started = False
        self._items: list[_Item] = []
        self._current: _Item | None = None  # the open message or reasoning item
        self._calls: dict[Any, _Item] = {}  # canonical tool-call index (or id) -> its item
        self._last_call: _Item | None = None
        self._finish: str | None = None
        self._usage: Usage | None = None

    # --- framing ---

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return frame(_ENCODE(data), kind)

    def _response(self, status: str, **fields: Any) -> dict[str, Any]:
        body = wire.ResponseObject(id=self._id, created_at=self._created, model=self._model, status=status, **fields)
        return _builtins(body)

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        response = self._response("in_progress")
        return self._event("response.created", response=response) + self._event("response.in_progress", response=response)

    def _add(self, item: wire.OutputItem) -> tuple[_Item, bytes]:
        entry = _Item(len(self._items), item)
        self._items.append(entry)
        item.status = "in_progress"
        return entry, self._event("response.output_item.added", output_index=entry.index, item=_builtins(item))

    def _done(self, entry: _Item) -> bytes:
        entry.open = False
        entry.item.status = "completed"
        return self._event("response.output_item.done", output_index=entry.index, item=_builtins(entry.item))

    # --- message and reasoning items ---

    def _open_message(self) -> bytes:
        entry, out = self._add(wire.MessageItem(id=render.new_id("msg")))
        self._current = entry
        part = _builtins(wire.OutputText())
        return out + self._event("response.content_part.added", item_id=entry.item.id, output_index=entry.index, content_index=0, part=part)

    def _close_message(self, entry: _Item) -> bytes:
        assert isinstance(entry.item, wire.MessageItem)  # only message entries are closed here
        text, ids = entry.text, {"item_id": entry.item.id, "output_index": entry.index, "content_index": 0}
        entry.item.content = [wire.OutputText(text=text)]
        return b"".join(
            (
                self._event("response.output_text.done", **ids, text=text, logprobs=[]),
                self._event("response.content_part.done", **ids, part=_builtins(entry.item.content[0])),
                self._done(entry),
            )
        )

    def _open_reasoning(self) -> bytes:
        entry, out = self._add(wire.ReasoningItem(id=render.new_id("rs")))
        self._current = entry
        part = _builtins(wire.SummaryText())
        return out + self._event(
            "response.reasoning_summary_part.added", item_id=entry.item.id, output_index=entry.index, summary_index=0, part=part
        )

    def _close_reasoning(self, entry: _Item) -> bytes:
        assert isinstance(entry.item, wire.ReasoningItem)  # only reasoning entries are closed here
        text, ids = entry.text, {"item_id": entry.item.id, "output_index": entry.index, "summary_index": 0}
        entry.item.summary = [wire.SummaryText(text=text)]
        return b"".join(
            (
                self._event("response.reasoning_summary_text.done", **ids, text=text),
                self._event("response.reasoning_summary_part.done", **ids, part=_builtins(entry.item.summary[0])),
                self._done(entry),
            )
        )

    def _close_current(self) -> bytes:
        entry, self._current = self._current, None
        if entry is None:
            return b""
        return self._close_message(entry) if isinstance(entry.item, wire.MessageItem) else self._close_reasoning(entry)

    def _piece(self, kind: type, opener: Callable[[], bytes], delta_event: str, index_name: str, piece: str) -> bytes:
        """Text for the open item of ``kind`` (opened first when another is open, or none)."""
        out = b""
        if self._current is None or not isinstance(self._current.item, kind):
            out = self._close_current() + opener()
        entry = self._current
        assert entry is not None  # just opened
        entry.pieces.append(piece)
        extra: dict[str, Any] = {"logprobs": []} if kind is wire.MessageItem else {}
        return out + self._event(delta_event, item_id=entry.item.id, output_index=entry.index, **{index_name: 0}, delta=piece, **extra)

    # --- function calls ---

    def _tool_call(self, call: ToolCall) -> bytes:
        fn = call.function if isinstance(call.function, FunctionCall) else FunctionCall()
        key = call.index if call.index is not UNSET else call.id or None
        entry = self._calls.get(key) if key is not None else (None if fn.name else self._last_call)
        out = b""
        if entry is None:
            out = self._close_current()
            item = render.function_call(call)
            item.arguments = ""
            entry, added = self._add(item)
            out += added
            if key is not None:
                self._calls[key] = entry
            self._last_call = entry
        assert isinstance(entry.item, wire.FunctionCallItem)  # tool-call entries only
        if fn.name and not entry.item.name:  # a name that came after the call's first piece
            entry.item.name = fn.name
        if piece := render.arguments(fn):
            entry.pieces.append(piece)
            out += self._event("response.function_call_arguments.delta", item_id=entry.item.id, output_index=entry.index, delta=piece)
        return out

    def _close_call(self, entry: _Item) -> bytes:
        assert isinstance(entry.item, wire.FunctionCallItem)  # tool-call entries only
        entry.item.arguments = entry.text
        done = self._event(
            "response.function_call_arguments.done", item_id=entry.item.id, output_index=entry.index, arguments=entry.item.arguments
        )
        return done + self._done(entry)

    # --- the StreamEncoder protocol ---

    def encode(self, chunk: ChatChunk) -> bytes:
        out = [self._start()]
        if chunk.usage is not None:
            self._usage = chunk.usage
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            delta = choice.delta
            if isinstance(thought := delta.reasoning_content, str) and thought:
                out.append(
                    self._piece(wire.ReasoningItem, self._open_reasoning, "response.reasoning_summary_text.delta", "summary_index", thought)
                )
            if isinstance(text := delta.content, str) and text:
                out.append(self._piece(wire.MessageItem, self._open_message, "response.output_text.delta", "content_index", text))
            for call in delta.tool_calls or ():
                out.append(self._tool_call(call))
            if choice.finish_reason:
                self._finish = choice.finish_reason
        return b"".join(out)

    def finish(self) -> bytes:
        out = [self._start(), self._close_current()]
        out += [self._close_call(entry) for entry in self._items if entry.open]
        status, incomplete = render.status_of(self._finish)
        response = self._response(
            status,
            output=[entry.item for entry in self._items],
            usage=render.usage(self._usage),
            incomplete_details=incomplete,
            completed_at=int(time.time()),
        )
        out.append(self._event("response.completed" if status == "completed" else "response.incomplete", response=response))
        return b"".join(out)

    def error(self, err: TollgateError) -> bytes:
        code = err.code or "server_error"
        for entry in self._items:  # what was delivered of the items still open
            if not entry.open:
                continue
            entry.item.status = "incomplete"
            if isinstance(entry.item, wire.MessageItem):
                entry.item.content = [wire.OutputText(text=entry.text)]
            elif isinstance(entry.item, wire.ReasoningItem):
                entry.item.summary = [wire.SummaryText(text=entry.text)]
            else:
                entry.item.arguments = entry.text
        response = self._response(
            "failed",
            output=[entry.item for entry in self._items],
            error=wire.ResponseError(code=FAILED_CODES.get(err.status, "server_error"), message=err.message),
            usage=render.usage(self._usage) if self._usage is not None else None,
        )
        return b"".join(
            (
                self._start(),
                self._event("error", code=code, message=err.message, param=None),
                self._event("response.failed", response=response),
            )
        )
