"""OpenAI's Responses API passed through to a provider that serves it natively (a profile
with a ``responses_path``): the client's body goes on with ``model`` replaced and ``store``
set to false (Tollgate serves nothing that needs a stored response, so none is left with
the provider either: OpenAI stores responses unless told not to), and the answer and its
events come back untouched; this side reads only the usage counts (``usage`` of the
Response object, whole or in the stream's last ``response.*`` event)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tollgate.providers.base import CHAT, RESPONSES, RESPONSES_PROTOCOL, STREAM, Unsupported, UpstreamRequest, Usage
from tollgate.sse import Event

if TYPE_CHECKING:
    from tollgate.canonical import ChatChunk, ChatRequest, ChatResponse
    from tollgate.providers.openai_compat import OpenAICompatible

_ENCODER = msgspec.json.Encoder()


class _InputDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _OutputDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class WireUsage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None


class WireResponse(msgspec.Struct):
    usage: WireUsage | None = None


class WireEvent(msgspec.Struct):
    type: str = ""
    response: WireResponse | None = None


_RESPONSE = msgspec.json.Decoder(WireResponse)
_EVENT = msgspec.json.Decoder(WireEvent)
# The events that carry the whole Response, with its usage once the answer is over.
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def usage_of(w: WireUsage | None) -> Usage | None:
    """The Responses API's usage as canonical (input tokens include the cached ones)."""
    if w is None:
        return None
    cached = w.input_tokens_details.cached_tokens if w.input_tokens_details else None
    reasoning = w.output_tokens_details.reasoning_tokens if w.output_tokens_details else None
    return Usage(int(w.input_tokens or 0), int(w.output_tokens or 0), int(cached or 0), int(reasoning or 0))


class Observer:
    """Reads a passed-through Responses stream for its usage; every event goes on as it came."""

    def __init__(self) -> None:
        self.usage: Usage | None = None

    def observe(self, event: Event) -> bool:
        try:
            w = _EVENT.decode(event.data)
        except msgspec.DecodeError:
            raise ValueError("malformed upstream stream event") from None
        if w.type in FINAL_EVENTS and w.response is not None and (usage := usage_of(w.response.usage)) is not None:
            self.usage = usage
        return False  # no event is usage only: all reach the client

    def feed(self, event: Event) -> list[ChatChunk]:
        self.observe(event)  # pass-through only: nothing is translated
        return []

    def close(self) -> list[ChatChunk]:
        return []


class ResponsesPassthrough(Unsupported):
    """An OpenAI-compatible channel seen by the Responses API door: same channel, same key,
    its native ``responses_path``."""

    protocol = RESPONSES_PROTOCOL
    abilities = frozenset({CHAT, STREAM, RESPONSES})

    def __init__(self, channel: OpenAICompatible):
        self.kind = channel.kind
        self._channel = channel

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        out = {**body, "model": upstream_model, "store": False}
        return UpstreamRequest(
            url=base_url + self._channel.profile.responses_path, headers=self._channel.headers(secret), body=_ENCODER.encode(out)
        )

    def native_usage(self, payload: bytes) -> Usage | None:
        try:
            return usage_of(_RESPONSE.decode(payload).usage)
        except msgspec.DecodeError:
            return None

    def stream_decoder(self, model: str) -> Observer:
        return Observer()

    def error_message(self, payload: bytes) -> str:
        return self._channel.error_message(payload)

    def chat_request(self, base_url: str, secret: str, upstream_model: str, request: ChatRequest, *, stream: bool) -> UpstreamRequest:
        return self._channel.chat_request(base_url, secret, upstream_model, request, stream=stream)

    def chat_response(self, payload: bytes) -> tuple[ChatResponse, Usage]:
        return self._channel.chat_response(payload)
