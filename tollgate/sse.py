"""Server-sent events: an incremental parser and the one framing function.

Upstreams cut their byte streams anywhere; the parser yields whole events. Frames are
re-emitted with ``frame()``, so a passed-through event keeps its name and data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    data: bytes
    name: str = ""


class Parser:
    """Feed bytes, get complete events. Comments and ``id:``/``retry:`` lines are dropped."""

    __slots__ = ("_buffer", "_data", "_name")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._name = ""

    def feed(self, piece: bytes) -> list[Event]:
        self._buffer += piece
        events: list[Event] = []
        while (newline := self._buffer.find(b"\n")) >= 0:
            line, self._buffer = self._buffer[:newline].rstrip(b"\r"), self._buffer[newline + 1 :]
            if not line:
                if self._data:
                    events.append(Event(b"\n".join(self._data), self._name))
                self._data, self._name = [], ""
            elif line.startswith(b"data:"):
                self._data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif line.startswith(b"event:"):
                self._name = line[6:].strip().decode(errors="replace")
        return events

    def close(self) -> list[Event]:
        """Whatever the upstream sent without a closing blank line."""
        tail = self.feed(b"\n\n") if (self._buffer or self._data) else []
        self._buffer = b""
        return tail


def frame(data: bytes, name: str = "") -> bytes:
    head = b"event: " + name.encode() + b"\n" if name else b""
    return head + b"data: " + data + b"\n\n"
