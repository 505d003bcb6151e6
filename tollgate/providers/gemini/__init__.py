"""The Gemini upstream adapter (Google AI ``generativelanguage`` REST, ``v1beta``).

``POST {base}/v1beta/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse``
when streaming) with the key in ``x-goog-api-key``, never in the URL. Native bodies (a
Gemini client behind the Gemini front door) pass through unchanged; canonical ones are
translated by ``request.to_gemini``, answers by ``response``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec

from tollgate.canonical import ChatRequest, ChatResponse
from tollgate.errors import BadRequest
from tollgate.providers.base import CHAT, COUNT_TOKENS, EMBEDDINGS, IMAGES, STREAM, NotSupported, Unsupported, UpstreamRequest, Usage
from tollgate.providers.gemini import imagen, response, wire
from tollgate.providers.gemini import request as request_

__all__ = ["ADAPTERS", "GeminiAdapter"]

_ENCODE = msgspec.json.encode
_ERROR = msgspec.json.Decoder(wire.ErrorBody)
_EMBEDDINGS = msgspec.json.Decoder(wire.BatchEmbedResponse)
API_VERSION = "v1beta"


class GeminiAdapter(Unsupported):
    kind = "gemini"
    protocol = "gemini"
    abilities = frozenset({CHAT, STREAM, EMBEDDINGS, COUNT_TOKENS, IMAGES})

    def url(self, base_url: str, upstream_model: str, action: str) -> str:
        model = quote(upstream_model.removeprefix("models/"), safe="/-_.")
        return f"{base_url.rstrip('/')}/{API_VERSION}/models/{model}:{action}"

    def count_tokens_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        """A native ``countTokens`` of a Gemini-shaped body (used by the Gemini front door); a
        wrapped ``generateContentRequest`` names the upstream model, as the API requires."""
        inner = body.get("generateContentRequest")
        if isinstance(inner, dict):
            body = {**body, "generateContentRequest": {**inner, "model": "models/" + upstream_model.removeprefix("models/")}}
        return UpstreamRequest(self.url(base_url, upstream_model, "countTokens"), self.headers(secret), _ENCODE(body))

    def headers(self, secret: str) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if secret:
            headers["x-goog-api-key"] = secret
        return headers

    def chat_request(self, base_url: str, secret: str, upstream_model: str, request: ChatRequest, *, stream: bool) -> UpstreamRequest:
        return self.native_request(base_url, secret, upstream_model, request_.to_gemini(request), stream=stream)

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UpstreamRequest(url=self.url(base_url, upstream_model, action), headers=self.headers(secret), body=_ENCODE(body))

    def chat_response(self, payload: bytes) -> tuple[ChatResponse, Usage]:
        return response.chat_completion(payload)

    def native_usage(self, payload: bytes) -> Usage | None:
        try:
            return wire.usage(response.decode(payload).usage_metadata)
        except ValueError:
            return None

    def stream_decoder(self, model: str) -> response.StreamDecoder:
        return response.StreamDecoder(model)

    def error_message(self, payload: bytes) -> str:
        try:
            err = _ERROR.decode(payload).error
        except msgspec.DecodeError:
            return ""
        return err.message if isinstance(err, wire.Status) else (err or "")

    # --- embeddings (batchEmbedContents) ----------------------------------------------

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, texts: list[str] | dict) -> UpstreamRequest:
        """``texts``, or an OpenAI ``/v1/embeddings`` body (``input`` and ``dimensions`` are read)."""
        dimensions = None
        if isinstance(texts, dict):
            dimensions = texts.get("dimensions")
            value = texts.get("input")
            texts = [value] if isinstance(value, str) else value  # type: ignore[assignment]  # checked just below
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise BadRequest("Gemini models embed text only: 'input' must be a string or an array of strings.", code="invalid_input")
        name = "models/" + upstream_model.removeprefix("models/")
        requests = []
        for text in texts:
            item: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
            if isinstance(dimensions, int) and not isinstance(dimensions, bool):
                item["outputDimensionality"] = dimensions
            requests.append(item)
        return UpstreamRequest(
            self.url(base_url, upstream_model, "batchEmbedContents"), self.headers(secret), _ENCODE({"requests": requests})
        )

    def embeddings_response(self, payload: bytes) -> list[list[float]]:
        try:
            return [e.values for e in _EMBEDDINGS.decode(payload).embeddings]
        except msgspec.DecodeError:
            raise ValueError("upstream embeddings answer is not readable") from None

    def embeddings_result(self, payload: bytes) -> tuple[dict, Usage]:
        """An OpenAI-shaped embeddings list. Gemini reports no token counts for embeddings,
        so usage is zero (``model`` is left empty: the adapter does not know the alias)."""
        vectors = self.embeddings_response(payload)
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        return {"object": "list", "data": data, "model": "", "usage": {"prompt_tokens": 0, "total_tokens": 0}}, Usage()

    def images_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        """An OpenAI images body for an Imagen model (``imagen``)."""
        if IMAGES not in self.abilities:
            raise NotSupported(self.kind, IMAGES)
        return UpstreamRequest(self.url(base_url, upstream_model, "predict"), self.headers(secret), _ENCODE(imagen.predict_body(body)))

    def images_result(self, payload: bytes) -> tuple[dict, Usage]:
        """Imagen's answer as OpenAI's (``b64_json``); Imagen reports no token counts."""
        return imagen.to_openai(payload), Usage()


ADAPTERS: dict[str, GeminiAdapter] = {"gemini": GeminiAdapter()}
