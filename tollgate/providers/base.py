"""What every upstream adapter provides.

The edge's lingua franca is OpenAI's chat-completions shape ("canonical"): a client
protocol translates its request into it, an upstream adapter translates it into its
own wire format and its answers (whole or streamed) back into canonical dicts. When
the client and the upstream speak the same protocol the body passes through natively
(``native=True``) and the adapter only reads the usage counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from tollgate.sse import Event


# Most tokens one request can be billed for: far above any model's context, far below what
# would overflow a cost in micro-USD (or the usage table's columns).
MAX_TOKENS = 10**12


class Usage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def bounded(self) -> Usage:
        """The counts clamped into [0, MAX_TOKENS]: a provider's absurd count (negative, or
        beyond any context) is still metered and billed, never refused by the usage
        consumers as out of range."""
        counts = (self.prompt_tokens, self.completion_tokens, self.cached_tokens, self.reasoning_tokens)
        if all(0 <= c <= MAX_TOKENS for c in counts):
            return self
        return Usage(*(min(max(c, 0), MAX_TOKENS) for c in counts))

    def to_openai(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
        }


class UpstreamRequest(msgspec.Struct, frozen=True):
    url: str
    headers: dict[str, str]
    body: bytes


class StreamDecoder(Protocol):
    """Reads one upstream stream. ``usage`` holds the provider's own counts seen so far."""

    usage: Usage | None

    def feed(self, event: Event) -> list[dict]:
        """Canonical ``chat.completion.chunk`` dicts for one upstream event."""
        ...

    def close(self) -> list[dict]:
        """Chunks owed at the end of the stream (e.g. the usage-only chunk)."""
        ...

    def observe(self, event: Event) -> bool:
        """Pass-through mode: only read usage. True when the event carries nothing but usage."""
        ...


# What an adapter can do. ``chat`` and ``stream`` every adapter has; the others are optional
# and an adapter names those it has in ``abilities`` (``responses`` is reserved for OpenAI's
# Responses API, which no adapter serves yet).
CHAT, STREAM, EMBEDDINGS, RERANK, COUNT_TOKENS, RESPONSES = "chat", "stream", "embeddings", "rerank", "count_tokens", "responses"
ABILITIES = frozenset({CHAT, STREAM, EMBEDDINGS, RERANK, COUNT_TOKENS, RESPONSES})


class NotSupported(Exception):
    """The adapter's upstream has no such ability (check ``ability in adapter.abilities`` first)."""

    def __init__(self, kind: str, ability: str):
        super().__init__(f"provider {kind!r} does not serve {ability}")
        self.kind = kind
        self.ability = ability


class Adapter(Protocol):
    kind: str  # the channel's provider kind, e.g. "deepseek"
    protocol: str  # the wire protocol it speaks: "openai" | "anthropic" | "gemini"
    abilities: frozenset[str]  # what it serves, from ``ABILITIES``; the optional methods below raise NotSupported otherwise

    def chat_request(self, base_url: str, secret: str, upstream_model: str, body: dict, *, stream: bool, native: bool = False) -> UpstreamRequest: ...

    def chat_response(self, payload: bytes) -> tuple[dict, Usage]:
        """A whole native answer as a canonical ``chat.completion`` dict, plus usage."""
        ...

    def native_usage(self, payload: bytes) -> Usage | None: ...

    def stream_decoder(self, model: str) -> StreamDecoder: ...

    def error_message(self, payload: bytes) -> str: ...

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict) -> UpstreamRequest:
        """An OpenAI ``/v1/embeddings`` body as this upstream's request."""
        ...

    def embeddings_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        """The upstream's answer as an OpenAI embeddings list (a dict, or its JSON bytes), plus usage."""
        ...

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict) -> UpstreamRequest: ...

    def rerank_result(self, payload: bytes) -> tuple[dict | bytes, Usage]: ...

    def count_tokens_request(self, base_url: str, secret: str, upstream_model: str, body: dict) -> UpstreamRequest:
        """A native token count of an Anthropic-shaped body (the answer is passed on as it is)."""
        ...


class Unsupported:
    """The optional abilities, each raising NotSupported: an adapter inherits this and
    overrides what it serves (and lists it in ``abilities``)."""

    kind: str
    abilities: frozenset[str] = frozenset({CHAT, STREAM})

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict) -> UpstreamRequest:
        raise NotSupported(self.kind, EMBEDDINGS)

    def embeddings_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        raise NotSupported(self.kind, EMBEDDINGS)

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict) -> UpstreamRequest:
        raise NotSupported(self.kind, RERANK)

    def rerank_result(self, payload: bytes) -> tuple[dict | bytes, Usage]:
        raise NotSupported(self.kind, RERANK)

    def count_tokens_request(self, base_url: str, secret: str, upstream_model: str, body: dict) -> UpstreamRequest:
        raise NotSupported(self.kind, COUNT_TOKENS)


@dataclass(frozen=True, slots=True)
class Operation:
    """A non-chat JSON operation (embeddings, rerank) as typed calls on an adapter: the edge's
    one unary request path serves any of them without looking methods up by name."""

    ability: str
    request: Callable[[Adapter, str, str, str, dict], UpstreamRequest]
    result: Callable[[Adapter, bytes], tuple[dict | bytes, Usage]]

    def serves(self, adapter: Adapter) -> bool:
        return self.ability in adapter.abilities


EMBEDDINGS_OPERATION = Operation(EMBEDDINGS, lambda a, url, secret, model, body: a.embeddings_request(url, secret, model, body), lambda a, p: a.embeddings_result(p))
RERANK_OPERATION = Operation(RERANK, lambda a, url, secret, model, body: a.rerank_request(url, secret, model, body), lambda a, p: a.rerank_result(p))


_JSON = msgspec.json.Decoder()


def tool_arguments(arguments: object) -> dict:
    """A canonical tool call's JSON-string arguments as an object (providers that take
    objects: Anthropic's ``input``, Gemini's ``args``); anything unreadable becomes ``{}``."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str | bytes) or not arguments.strip():
        return {}
    try:
        value = _JSON.decode(arguments)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}
