"""OpenAI-compatible upstreams (OpenAI, DeepSeek, Groq, Mistral, xAI, vLLM, Ollama, …).

One adapter; the per-provider differences are data in ``PROFILES``.
"""

from __future__ import annotations

import msgspec

from services.edge.providers.base import StreamChunk, UpstreamRequest, Usage


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class _WireUsage(msgspec.Struct):
    prompt_tokens: int | float | None = None
    completion_tokens: int | float | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None
    prompt_cache_hit_tokens: int | None = None  # DeepSeek


class _WireCompletion(msgspec.Struct):
    usage: _WireUsage | None = None


class _WireChunk(msgspec.Struct):
    usage: _WireUsage | None = None
    choices: list[msgspec.Raw] | None = None


class Profile(msgspec.Struct, frozen=True):
    """How one OpenAI-compatible provider differs from OpenAI."""

    drop_params: frozenset[str] = frozenset()
    stream_usage: bool = True  # honours stream_options.include_usage
    extra_headers: dict[str, str] = {}
    chat_path: str = "/chat/completions"


PROFILES: dict[str, Profile] = {
    "openai": Profile(),
    "deepseek": Profile(),
    "groq": Profile(drop_params=frozenset({"logit_bias", "logprobs", "top_logprobs"})),
    "mistral": Profile(drop_params=frozenset({"logit_bias", "user"})),
    "xai": Profile(),
    "together": Profile(),
    "openrouter": Profile(),
    "vllm": Profile(),
    "ollama": Profile(),
    "simulator": Profile(),
}

_COMPLETION = msgspec.json.Decoder(_WireCompletion)
_CHUNK = msgspec.json.Decoder(_WireChunk)
_ENCODER = msgspec.json.Encoder()


def _usage(wire: _WireUsage | None) -> Usage | None:
    if wire is None:
        return None
    cached = wire.prompt_tokens_details.cached_tokens if wire.prompt_tokens_details else None
    if cached is None:
        cached = wire.prompt_cache_hit_tokens
    reasoning = wire.completion_tokens_details.reasoning_tokens if wire.completion_tokens_details else None
    return Usage(int(wire.prompt_tokens or 0), int(wire.completion_tokens or 0), int(cached or 0), int(reasoning or 0))


class OpenAICompatible:
    def __init__(self, kind: str, profile: Profile):
        self.kind = kind
        self.profile = profile

    def chat_request(self, base_url: str, secret: str, upstream_model: str, body: dict, *, stream: bool) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if k not in self.profile.drop_params}
        out["model"] = upstream_model
        if stream and self.profile.stream_usage:
            options = dict(out.get("stream_options") or {})
            options["include_usage"] = True
            out["stream_options"] = options
        headers = {"content-type": "application/json", **self.profile.extra_headers}
        if secret:
            headers["authorization"] = f"Bearer {secret}"
        return UpstreamRequest(url=base_url + self.profile.chat_path, headers=headers, body=_ENCODER.encode(out))

    def completion_usage(self, payload: bytes) -> Usage | None:
        try:
            return _usage(_COMPLETION.decode(payload).usage)
        except msgspec.DecodeError:
            return None

    def chunk(self, payload: bytes) -> StreamChunk | None:
        try:
            wire = _CHUNK.decode(payload)
        except msgspec.DecodeError:
            return None
        return StreamChunk(usage=_usage(wire.usage), has_choices=bool(wire.choices))


OPENAI_COMPATIBLE: dict[str, OpenAICompatible] = {kind: OpenAICompatible(kind, profile) for kind, profile in PROFILES.items()}
