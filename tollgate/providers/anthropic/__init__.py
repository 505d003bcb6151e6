"""The Anthropic Messages upstream (``POST {base_url}/v1/messages``).

Anthropic clients' bodies pass through natively (only ``model`` is replaced); anything
else is translated from the canonical OpenAI shape (see ``translate``) and the answers,
whole or streamed (see ``stream``), are translated back.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tollgate.canonical import ChatRequest, ChatResponse
from tollgate.providers.anthropic import translate, wire
from tollgate.providers.anthropic.stream import Decoder
from tollgate.providers.base import CHAT, COUNT_TOKENS, STREAM, Unsupported, UpstreamRequest, Usage

__all__ = ["ADAPTERS", "AnthropicAdapter", "Decoder"]

_MESSAGE = msgspec.json.Decoder(wire.Message)
_ERROR = msgspec.json.Decoder(wire.ErrorBody)
_ENCODE = msgspec.json.encode


class AnthropicAdapter(Unsupported):
    kind = "anthropic"
    protocol = "anthropic"
    abilities = frozenset({CHAT, STREAM, COUNT_TOKENS})

    def headers(self, secret: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": wire.API_VERSION}
        if secret:
            headers["x-api-key"] = secret
        return headers

    def chat_request(self, base_url: str, secret: str, upstream_model: str, request: ChatRequest, *, stream: bool) -> UpstreamRequest:
        out = translate.request_body(request, upstream_model, stream=stream)
        return UpstreamRequest(url=base_url.rstrip("/") + "/v1/messages", headers=self.headers(secret), body=_ENCODE(out))

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        out = {**translate.without_translated_thinking(body), "model": upstream_model}
        return UpstreamRequest(url=base_url.rstrip("/") + "/v1/messages", headers=self.headers(secret), body=_ENCODE(out))

    def count_tokens_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        """A native ``count_tokens`` call (used by the Anthropic front door)."""
        out = {**body, "model": upstream_model}
        return UpstreamRequest(url=base_url.rstrip("/") + "/v1/messages/count_tokens", headers=self.headers(secret), body=_ENCODE(out))

    def chat_response(self, payload: bytes) -> tuple[ChatResponse, Usage]:
        try:
            message = _MESSAGE.decode(payload)
        except msgspec.DecodeError:
            raise ValueError("upstream answer is not an Anthropic message") from None
        response = translate.completion(message)
        return response, response.usage or Usage()

    def native_usage(self, payload: bytes) -> Usage | None:
        try:
            message = _MESSAGE.decode(payload)
        except msgspec.DecodeError:
            return None
        return translate.usage(message.usage, len(translate.thinking_text(message.content)))

    def stream_decoder(self, model: str) -> Decoder:
        return Decoder(model)

    def error_message(self, payload: bytes) -> str:
        try:
            err = _ERROR.decode(payload).error
        except msgspec.DecodeError:
            return ""
        return err.message if isinstance(err, wire.ErrorDetail) else (err or "")


ADAPTERS: dict[str, AnthropicAdapter] = {"anthropic": AnthropicAdapter()}
