"""What every client-facing protocol (OpenAI, Anthropic, Gemini) provides.

A front door parses its own request shape, translates it to the canonical
``tollgate.canonical.ChatRequest`` when the upstream speaks another protocol, and renders
canonical answers (``ChatResponse``), stream chunks (``ChatChunk``) and errors back in its
own shape. A same-protocol request passes through as the client's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from litestar import Request

from tollgate.canonical import ChatChunk, ChatRequest, ChatResponse
from tollgate.errors import TollgateError


@dataclass(frozen=True, slots=True)
class Parsed:
    model: str
    stream: bool
    body: dict[str, Any]  # the request exactly as the client sent it (its own protocol)
    wants_usage: bool = True  # OpenAI: stream_options.include_usage; always true elsewhere


class StreamEncoder(Protocol):
    def encode(self, chunk: ChatChunk) -> bytes:
        """SSE bytes for one canonical chunk (may be empty)."""
        ...

    def finish(self) -> bytes:
        """Closing events once the upstream stream ended normally."""
        ...

    def error(self, err: TollgateError) -> bytes:
        """The protocol's in-stream error event (the stream then ends)."""
        ...


class Frontend(Protocol):
    protocol: str  # "openai" | "anthropic" | "gemini"
    endpoint: str  # the usage event's endpoint name

    def api_key(self, request: Request) -> str: ...

    def forward_headers(self, request: Request) -> tuple[tuple[str, str], ...]:
        """Client headers a same-protocol upstream should see (e.g. ``anthropic-beta``)."""
        ...

    def parse(self, raw: bytes, *, model: str | None = None, stream: bool | None = None) -> Parsed:
        """Validate the client's body (model and stream may come from the URL)."""
        ...

    def to_canonical(self, parsed: Parsed) -> ChatRequest:
        """The client's request as canonical (called at most once, only when the upstream speaks
        another protocol); a shape that cannot be read is a ``BadRequest``."""
        ...

    def from_canonical(self, response: ChatResponse, model: str) -> dict[str, Any]:
        """A canonical answer as the client's JSON body."""
        ...

    def stream_encoder(self, parsed: Parsed) -> StreamEncoder: ...

    def passthrough_end(self) -> bytes:
        """Bytes that end a natively passed-through stream (OpenAI's ``[DONE]``)."""
        ...

    def error_body(self, err: TollgateError) -> dict[str, Any]: ...
