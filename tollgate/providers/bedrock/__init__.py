"""The AWS Bedrock upstream: Converse (``POST {endpoint}/model/{modelId}/converse``) and
ConverseStream (``.../converse-stream``, a binary AWS event stream), SigV4-signed.

Every model family Bedrock serves through Converse (Anthropic, Meta, Mistral, Amazon Nova)
takes the one translation: canonical -> Converse (``request``, a parameter table), Converse
answers and stream frames -> canonical (``response``). No client door speaks Converse, so
every request is translated. Credentials and the signing region: ``signing``. Errors: AWS
names them (``x-amzn-ErrorType``); ``wire.ERRORS`` says what each one counts as.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tollgate.canonical import ChatRequest, ChatResponse
from tollgate.providers.base import CHAT, STREAM, Unsupported, UpstreamRequest, Usage
from tollgate.providers.bedrock import request, response, signing, wire
from tollgate.providers.bedrock.response import Decoder, Framing

__all__ = ["ADAPTERS", "BedrockAdapter", "Decoder", "Framing"]

_ENCODE = msgspec.json.encode
_ERROR = msgspec.json.Decoder(wire.ErrorBody)
EVENT_STREAM = "application/vnd.amazon.eventstream"


class BedrockAdapter(Unsupported):
    kind = "bedrock"
    protocol = "bedrock"
    abilities = frozenset({CHAT, STREAM})

    def __init__(self) -> None:
        self.chain = signing.Chain()  # the standard AWS credential chain, for channels that name no secret

    def credentials(self, secret: str) -> signing.ReadOnlyCredentials:
        return signing.parse_secret(secret) if secret else self.chain.get()

    def signed(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        url, region = signing.model_url(base_url, upstream_model, stream=stream)
        data = _ENCODE(body)
        accept = EVENT_STREAM if stream else "application/json"
        return UpstreamRequest(url=url, headers=signing.signed_headers(url, region, data, self.credentials(secret), accept), body=data)

    def chat_request(self, base_url: str, secret: str, upstream_model: str, request_: ChatRequest, *, stream: bool) -> UpstreamRequest:
        return self.signed(base_url, secret, upstream_model, request.request_body(request_), stream=stream)

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        """A Converse body as it is (the model is in the URL, not the body)."""
        return self.signed(base_url, secret, upstream_model, {k: v for k, v in body.items() if k != "modelId"}, stream=stream)

    def chat_response(self, payload: bytes) -> tuple[ChatResponse, Usage]:
        answer = response.completion(payload)
        return answer, answer.usage or Usage()

    def native_usage(self, payload: bytes) -> Usage | None:
        try:
            return response.completion(payload).usage
        except ValueError:
            return None

    def stream_decoder(self, model: str) -> Decoder:
        return Decoder(model)

    def stream_parser(self) -> Framing:
        return Framing()

    def upstream_status(self, status: int, headers: Mapping[str, str]) -> int:
        """AWS names its error in ``x-amzn-ErrorType``; the table says what it counts as
        (e.g. ModelNotReadyException, sent as 429, is a 503: the model is not there yet)."""
        if status < 400:
            return status
        kind = wire.ERRORS.get(wire.exception_name(headers.get("x-amzn-errortype", "")))
        return kind.status if kind is not None else status

    def error_message(self, payload: bytes) -> str:
        try:
            body = _ERROR.decode(payload)
        except msgspec.DecodeError:
            return ""
        return body.message or body.Message or ""


ADAPTERS: dict[str, BedrockAdapter] = {"bedrock": BedrockAdapter()}
