"""OpenAI-compatible upstreams (OpenAI, DeepSeek, Groq, Mistral, xAI, vLLM, Ollama, …).

One adapter; the per-provider differences are data in ``profiles.PROFILES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import msgspec

from tollgate import reasoning
from tollgate.canonical import ChatChunk, ChatRequest, ChatResponse, to_openai
from tollgate.providers.base import (
    CHAT,
    EMBEDDINGS,
    IMAGES,
    MODERATIONS,
    RERANK,
    RESPONSES,
    RESPONSES_PROTOCOL,
    SPEECH,
    STREAM,
    Adapter,
    NotSupported,
    Unsupported,
    UpstreamRequest,
    Usage,
)
from tollgate.providers.openai_compat import wire
from tollgate.providers.openai_compat.profiles import PROFILES, Profile
from tollgate.providers.openai_compat.responses import ResponsesPassthrough
from tollgate.sse import Event

__all__ = ["DEFAULT_BASE_URLS", "OPENAI_COMPATIBLE", "PROFILES", "OpenAICompatible", "Profile", "StreamChunk"]

_COMPLETION = msgspec.json.Decoder(wire.Completion)
_CHUNK = msgspec.json.Decoder(wire.Chunk)
_FULL_COMPLETION = msgspec.json.Decoder(wire.FullCompletion)
_FULL_CHUNK = msgspec.json.Decoder(wire.FullChunk)
_ERROR = msgspec.json.Decoder(wire.ErrorBody)
_EMBEDDINGS = msgspec.json.Decoder(wire.EmbeddingsResponse)
_RERANK = msgspec.json.Decoder(wire.RerankResponse)
_IMAGES = msgspec.json.Decoder(wire.ImagesResponse)
_MODERATIONS = msgspec.json.Decoder(wire.ModerationsResponse)
_REASONING_ALIAS = msgspec.json.Decoder(wire.ReasoningAlias)
_JSON = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()


class StreamChunk(msgspec.Struct, frozen=True):
    """What the edge learns from one streamed chunk: usage, and whether it carries choices."""

    usage: Usage | None
    has_choices: bool


def usage_from_wire(w: wire.WireUsage | None) -> Usage | None:
    if w is None:
        return None
    cached = w.prompt_tokens_details.cached_tokens if w.prompt_tokens_details else None
    if cached is None:
        cached = w.prompt_cache_hit_tokens
    reasoning = w.completion_tokens_details.reasoning_tokens if w.completion_tokens_details else None
    return Usage(int(w.prompt_tokens or 0), int(w.completion_tokens or 0), int(cached or 0), int(reasoning or 0))


def translated_body(request: ChatRequest) -> dict[str, Any]:
    """A canonical request from another door as an OpenAI body. Reasoning: the effort from
    ``tollgate.reasoning`` (a budget the client named read through its table; a budget of 0
    sends nothing, as not every reasoning model takes "none"); ``reasoning_budget`` is
    Tollgate's own field and never sent; earlier turns' reasoning (e.g. Anthropic thinking
    blocks) is not sent back, as reasoning models refuse or ignore it in the history."""
    body = to_openai(request)
    body.pop("reasoning_budget", None)
    ask = reasoning.requested(request.reasoning_effort, request.reasoning_budget)
    if ask is not None and (ask.on or "reasoning_effort" in body):
        body["reasoning_effort"] = ask.effort
    for message in body.get("messages") or ():
        message.pop("reasoning_content", None)
    return body


class _Decoder:
    """OpenAI chunks are already canonical: decode them as such, remember usage, hand them on."""

    def __init__(self, adapter: OpenAICompatible):
        self._adapter = adapter
        self.usage: Usage | None = None

    def observe(self, event: Event) -> bool:
        if event.data == b"[DONE]":
            return True
        chunk = self._adapter.chunk(event.data)
        if chunk is None:
            raise ValueError("malformed upstream stream event")
        if chunk.usage is None:
            return False
        self.usage = chunk.usage
        return not chunk.has_choices

    def feed(self, event: Event) -> list[ChatChunk]:
        if event.data == b"[DONE]":
            return []
        try:
            w = _FULL_CHUNK.decode(event.data)
        except msgspec.ValidationError:
            if not isinstance(_JSON.decode(event.data), dict):
                return []  # not a chunk at all: skipped
            raise ValueError("malformed upstream stream event") from None
        except msgspec.DecodeError:
            raise ValueError("malformed upstream stream event") from None
        usage = usage_from_wire(w.usage)
        if usage is not None:
            self.usage = usage
        for choice, text in zip(w.choices or (), self._adapter.reasoning_alias(event.data), strict=False):
            if text and not choice.delta.reasoning_content:
                choice.delta.reasoning_content = text
        return [ChatChunk(id=w.id or "", created=w.created or 0, model=w.model or "", choices=w.choices or [], usage=usage)]

    def close(self) -> list[ChatChunk]:
        return []


class OpenAICompatible(Unsupported):
    protocol = "openai"
    abilities = frozenset({CHAT, STREAM, EMBEDDINGS, RERANK})

    def __init__(self, kind: str, profile: Profile):
        self.kind = kind
        self.profile = profile
        if profile.responses_path:
            self.abilities = self.abilities | {RESPONSES}
        if profile.images_path:
            self.abilities = self.abilities | {IMAGES}
        if profile.moderations_path:
            self.abilities = self.abilities | {MODERATIONS}
        if profile.speech_path:
            self.abilities = self.abilities | {SPEECH}
        self.abilities = self.abilities | frozenset(profile.upload_paths)

    def native_for(self, protocol: str) -> Adapter | None:
        """OpenAI's protocol itself; and the Responses API, passed through, when the profile has its path."""
        if protocol == RESPONSES_PROTOCOL and self.profile.responses_path:
            return ResponsesPassthrough(self)
        return super().native_for(protocol)

    def chat_request(self, base_url: str, secret: str, upstream_model: str, request: ChatRequest, *, stream: bool) -> UpstreamRequest:
        return self.native_request(base_url, secret, upstream_model, translated_body(request), stream=stream)

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        return self._passed_on(base_url + self.profile.chat_path, secret, upstream_model, body, stream=stream)

    def completions_request(
        self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool
    ) -> UpstreamRequest:
        """A legacy ``/v1/completions`` body, passed on to the profile's completions path
        (the caller checks the profile has one)."""
        return self._passed_on(base_url + self.profile.completions_path, secret, upstream_model, body, stream=stream)

    def _passed_on(self, url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        out = self.profile.shape(body)
        out["model"] = upstream_model
        if stream and self.profile.stream_usage:
            options = dict(out.get("stream_options") or {})
            options["include_usage"] = True
            out["stream_options"] = options
        return UpstreamRequest(url=url, headers=self.headers(secret), body=_ENCODER.encode(out))

    def headers(self, secret: str) -> dict[str, str]:
        headers = {"content-type": "application/json", **self.profile.extra_headers}
        if secret:
            headers["authorization"] = f"Bearer {secret}"
        return headers

    def chat_response(self, payload: bytes) -> tuple[ChatResponse, Usage]:
        try:
            w = _FULL_COMPLETION.decode(payload)
        except msgspec.DecodeError:
            raise ValueError("upstream answer is not a chat completion") from None
        usage = usage_from_wire(w.usage)
        for choice, text in zip(w.choices or (), self.reasoning_alias(payload), strict=False):
            if text and not choice.message.reasoning_content:
                choice.message.reasoning_content = text
        response = ChatResponse(id=w.id or "", created=w.created or 0, model=w.model or "", choices=w.choices or [], usage=usage)
        return response, usage or Usage()

    def reasoning_alias(self, payload: bytes) -> list[str | None]:
        """Per choice, the reasoning text under the profile's ``reasoning_field`` when that is
        not the canonical ``reasoning_content`` (nothing to read otherwise)."""
        if self.profile.reasoning_field == "reasoning_content":
            return []
        try:
            choices = _REASONING_ALIAS.decode(payload).choices or []
        except msgspec.DecodeError:
            return []
        return [(c.message or c.delta or wire.ReasoningText()).reasoning for c in choices]

    def native_usage(self, payload: bytes) -> Usage | None:
        return self.completion_usage(payload)

    def completion_usage(self, payload: bytes) -> Usage | None:
        try:
            return usage_from_wire(_COMPLETION.decode(payload).usage)
        except msgspec.DecodeError:
            return None

    def chunk(self, payload: bytes) -> StreamChunk | None:
        try:
            w = _CHUNK.decode(payload)
        except msgspec.DecodeError:
            return None
        return StreamChunk(usage=usage_from_wire(w.usage), has_choices=bool(w.choices))

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        return UpstreamRequest(
            base_url + self.profile.embeddings_path, self.headers(secret), _ENCODER.encode({**body, "model": upstream_model})
        )

    def embeddings_result(self, payload: bytes) -> tuple[bytes, Usage]:
        try:
            usage = _EMBEDDINGS.decode(payload).usage
        except msgspec.DecodeError:
            raise ValueError("upstream embeddings answer is not readable") from None
        tokens = int((usage.prompt_tokens or usage.total_tokens or 0) if usage else 0)
        return payload, Usage(prompt_tokens=tokens)

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        return UpstreamRequest(
            base_url + self.profile.rerank_path, self.headers(secret), _ENCODER.encode({**body, "model": upstream_model})
        )

    def rerank_result(self, payload: bytes) -> tuple[bytes, Usage]:
        try:
            usage = _RERANK.decode(payload).usage
        except msgspec.DecodeError:
            raise ValueError("upstream rerank answer is not readable") from None
        tokens = int((usage.total_tokens or usage.prompt_tokens or 0) if usage else 0)
        return payload, Usage(prompt_tokens=tokens)

    def images_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        if IMAGES not in self.abilities:
            raise NotSupported(self.kind, IMAGES)
        return UpstreamRequest(
            base_url + self.profile.images_path, self.headers(secret), _ENCODER.encode({**body, "model": upstream_model})
        )

    def images_result(self, payload: bytes) -> tuple[bytes, Usage]:
        """OpenAI's answer passed on as it is (the images are never decoded here)."""
        try:
            usage = _IMAGES.decode(payload).usage
        except msgspec.DecodeError:
            raise ValueError("upstream images answer is not readable") from None
        if usage is None:
            return payload, Usage()
        return payload, Usage(prompt_tokens=int(usage.input_tokens or 0), completion_tokens=int(usage.output_tokens or 0))

    def moderations_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        if MODERATIONS not in self.abilities:
            raise NotSupported(self.kind, MODERATIONS)
        return UpstreamRequest(
            base_url + self.profile.moderations_path, self.headers(secret), _ENCODER.encode({**body, "model": upstream_model})
        )

    def moderations_result(self, payload: bytes) -> tuple[bytes, Usage]:
        try:
            _MODERATIONS.decode(payload)
        except msgspec.DecodeError:
            raise ValueError("upstream moderations answer is not readable") from None
        return payload, Usage()

    def upload_target(self, ability: str, base_url: str, secret: str, upstream_model: str) -> tuple[str, dict[str, str]]:
        path = self.profile.upload_paths.get(ability)
        if path is None:
            raise NotSupported(self.kind, ability)
        headers = {k: v for k, v in self.headers(secret).items() if k != "content-type"}
        return base_url + path, headers

    def speech_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        if SPEECH not in self.abilities:
            raise NotSupported(self.kind, SPEECH)
        return UpstreamRequest(
            base_url + self.profile.speech_path, self.headers(secret), _ENCODER.encode({**body, "model": upstream_model})
        )

    def stream_decoder(self, model: str) -> _Decoder:
        return _Decoder(self)

    def error_message(self, payload: bytes) -> str:
        try:
            err = _ERROR.decode(payload).error
        except msgspec.DecodeError:
            return ""
        return err.message if isinstance(err, wire.Error) else (err or "")


OPENAI_COMPATIBLE: dict[str, OpenAICompatible] = {kind: OpenAICompatible(kind, profile) for kind, profile in PROFILES.items()}


def _base_url_or_default(default: str, base_url: str, project: str, region: str, models: Iterable[str]) -> str:
    """A channel's base URL, or its kind's documented one when the channel names none."""
    if project:
        raise ValueError("`project` is for vertex channels only")
    return base_url or default


# Kinds whose channels may leave base_url out (the catalog loader's hook, as for vertex).
DEFAULT_BASE_URLS: dict[str, Callable[[str, str, str, Iterable[str]], str]] = {
    kind: partial(_base_url_or_default, profile.default_base_url) for kind, profile in PROFILES.items() if profile.default_base_url
}
