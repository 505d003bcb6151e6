"""What every upstream adapter provides, and the typed usage structs they fill."""

from __future__ import annotations

from typing import Protocol

import msgspec


class Usage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class UpstreamRequest(msgspec.Struct, frozen=True):
    url: str
    headers: dict[str, str]
    body: bytes


class StreamChunk(msgspec.Struct, frozen=True):
    """What the edge learns from one streamed event: usage, and whether it carries content."""

    usage: Usage | None
    has_choices: bool


class Adapter(Protocol):
    kind: str

    def chat_request(self, base_url: str, secret: str, upstream_model: str, body: dict, *, stream: bool) -> UpstreamRequest: ...

    def completion_usage(self, payload: bytes) -> Usage | None: ...

    def chunk(self, payload: bytes) -> StreamChunk | None: ...
