"""Google Vertex AI: Gemini models and Anthropic models served from a Google Cloud project.

A channel names its ``project`` and ``region``; the catalog loader turns them into the
channel's base URL (``channel_base_url``), ``https://{region}-aiplatform.googleapis.com/v1/
projects/{project}/locations/{region}`` (``aiplatform.googleapis.com`` for ``global``), or
the same path under an explicit ``base_url`` (a proxy, the simulator).

Which publisher serves a model comes from the upstream model name in the channel's
``models`` table: ``anthropic/claude-sonnet-4@20250514`` is Anthropic's, ``google/gemini-2.5-
flash`` or a bare ``gemini-2.5-flash`` Google's (``PUBLISHERS``):

- Google: ``{base}/publishers/google/models/{model}:generateContent`` (``:streamGenerateContent
  ?alt=sse``), the Gemini wire format of ``tollgate.providers.gemini``;
- Anthropic: ``{base}/publishers/anthropic/models/{model}:rawPredict`` (``:streamRawPredict``),
  the Messages body of ``tollgate.providers.anthropic`` without ``model`` and with
  ``anthropic_version: "vertex-2023-10-16"``.

Both send ``Authorization: Bearer <access token>``; the token is minted from the channel's
service-account file or the metadata server (``auth``) and cached by the edge
(``tollgate.providers.tokens``), so ``secret`` here is always the access token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import msgspec

from tollgate.canonical import ChatRequest
from tollgate.providers.anthropic import AnthropicAdapter, translate
from tollgate.providers.base import CHAT, EMBEDDINGS, STREAM, Adapter, NotSupported, Unsupported, UpstreamRequest, Usage
from tollgate.providers.gemini import GeminiAdapter
from tollgate.providers.vertex import auth

__all__ = [
    "ADAPTERS",
    "ANTHROPIC_VERSION",
    "MINTERS",
    "PUBLISHERS",
    "AnthropicOnVertex",
    "GeminiOnVertex",
    "channel_base_url",
    "publisher_of",
]

ANTHROPIC_VERSION = "vertex-2023-10-16"
DEFAULT_PUBLISHER = "google"
_ENCODE = msgspec.json.encode
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")  # Google Cloud project ids: 6-30 characters
_REGION = re.compile(r"[a-z]+(-[a-z0-9]+)+|global")


def _headers(token: str) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


def _model_url(base_url: str, publisher: str, model: str, action: str) -> str:
    return f"{base_url.rstrip('/')}/publishers/{publisher}/models/{quote(model, safe='-_.@')}:{action}"


def publisher_of(upstream_model: str) -> tuple[str, str]:
    """(publisher, model id) of a channel's upstream model name: ``anthropic/claude-…`` or
    ``google/gemini-…``; a name without a known publisher prefix is Google's."""
    prefix, sep, rest = upstream_model.partition("/")
    if sep and prefix in PUBLISHERS:
        return prefix, rest
    return DEFAULT_PUBLISHER, upstream_model


class GeminiOnVertex(GeminiAdapter):
    """Gemini models on Vertex: the Gemini adapter with Vertex's URLs and a bearer token
    (chat and streaming; Vertex's embeddings and token counts are other APIs)."""

    kind = "vertex"
    abilities = frozenset({CHAT, STREAM})
    count_tokens_request = Unsupported.count_tokens_request  # Vertex counts and embeds through other APIs

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, texts: list[str] | dict) -> UpstreamRequest:
        raise NotSupported(self.kind, EMBEDDINGS)

    def embeddings_result(self, payload: bytes) -> tuple[dict, Usage]:
        raise NotSupported(self.kind, EMBEDDINGS)

    def url(self, base_url: str, upstream_model: str, action: str) -> str:
        return _model_url(base_url, "google", publisher_of(upstream_model)[1].removeprefix("models/"), action)

    def headers(self, secret: str) -> dict[str, str]:
        return _headers(secret)

    def for_model(self, upstream_model: str) -> Adapter:
        publisher, _ = publisher_of(upstream_model)
        return PUBLISHERS[publisher]


class AnthropicOnVertex(AnthropicAdapter):
    """Anthropic models on Vertex (``rawPredict``): the Messages body, its model in the URL."""

    kind = "vertex"
    abilities = frozenset({CHAT, STREAM})
    count_tokens_request = Unsupported.count_tokens_request  # count-tokens:rawPredict is not wired

    def _request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if k != "model"}
        out["anthropic_version"] = ANTHROPIC_VERSION
        if stream:
            out["stream"] = True
        url = _model_url(base_url, "anthropic", publisher_of(upstream_model)[1], "streamRawPredict" if stream else "rawPredict")
        return UpstreamRequest(url=url, headers=_headers(secret), body=_ENCODE(out))

    def chat_request(self, base_url: str, secret: str, upstream_model: str, request: ChatRequest, *, stream: bool) -> UpstreamRequest:
        body = translate.request_body(request, upstream_model, stream=stream)
        return self._request(base_url, secret, upstream_model, body, stream=stream)

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        return self._request(base_url, secret, upstream_model, translate.without_translated_thinking(body), stream=stream)

    def for_model(self, upstream_model: str) -> Adapter:
        return PUBLISHERS[publisher_of(upstream_model)[0]]


PUBLISHERS: dict[str, Adapter] = {"google": GeminiOnVertex(), "anthropic": AnthropicOnVertex()}

# The registered ``vertex`` adapter is the Google publisher's; the edge asks it ``for_model``
# which publisher's adapter serves a channel's upstream model.
ADAPTERS: dict[str, Adapter] = {"vertex": PUBLISHERS["google"]}
MINTERS = {"vertex": auth.minter}


def channel_base_url(base_url: str, project: str, region: str, upstream_models: Iterable[str]) -> str:
    """A Vertex channel's base URL from its project and region (under ``base_url`` when one
    is given); raises ValueError naming what is wrong."""
    if not _PROJECT.fullmatch(project):
        raise ValueError("a vertex channel needs `project`, its Google Cloud project id (6-30 lowercase letters, digits, hyphens)")
    if not _REGION.fullmatch(region):
        raise ValueError("a vertex channel needs `region`, a Vertex AI location such as 'us-central1', 'europe-west4' or 'global'")
    for name in upstream_models:
        prefix, sep, rest = name.partition("/")
        if sep and prefix not in PUBLISHERS:
            raise ValueError(f"upstream model {name!r}: unknown publisher {prefix!r} (known: {', '.join(sorted(PUBLISHERS))})")
        if not (rest if sep else name):
            raise ValueError(f"upstream model {name!r} names no model")
    host = base_url.rstrip("/") or (
        "https://aiplatform.googleapis.com" if region == "global" else f"https://{region}-aiplatform.googleapis.com"
    )
    return f"{host}/v1/projects/{project}/locations/{region}"
