"""Azure OpenAI / AI Foundry: OpenAI's bodies, Azure's URLs, auth and errors.

Two URL styles, chosen by the channel's ``api_version``:

- set (``api_version = "2024-10-21"``): deployment URLs,
  ``{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…`` (and
  ``/embeddings``), ``base_url`` being the resource endpoint (``https://RES.openai.azure.com``);
- empty: the v1 API, ``{base_url}/chat/completions`` with ``base_url`` ending in ``/openai/v1``;
  its Responses API (``{base_url}/responses``) serves the edge's /v1/responses natively.

The deployment is the channel's upstream model name (``models = { "gpt-4o" = "my-deployment" }``).
Auth: the ``api-key`` header with the channel's secret, or ``auth = "entra"``: the secret is a
Microsoft Entra ID access token, sent as ``Authorization: Bearer`` (keep it fresh in the file
``api_key_file`` names: the edge reads it on every request).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from tollgate.providers.azure import wire
from tollgate.providers.base import CHAT, EMBEDDINGS, IMAGES, MODERATIONS, SPEECH, STREAM, UPLOADS, NotSupported, UpstreamRequest
from tollgate.providers.openai_compat import OpenAICompatible, Profile

__all__ = ["ADAPTERS", "CHAT_PARAMS", "Azure"]

API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
STREAM_USAGE_SINCE = "2024-09-01"  # the first API version that takes stream_options.include_usage (the v1 API does)

# How an OpenAI chat body becomes Azure's: every field is kept except these, per URL style.
# ``model`` names the deployment: in the path on deployment URLs (so the body drops it), in
# the body on the v1 API. ``stream_options`` goes only to API versions that know it.
CHAT_PARAMS: dict[str, frozenset[str]] = {
    "deployment": frozenset({"model"}),
    "deployment-before-stream-usage": frozenset({"model", "stream_options"}),
    "v1": frozenset(),
}

# The Responses API passed through natively (the deployment in the body, Azure's auth): on the
# v1 API; with dated API versions a Responses request is translated to chat completions.
RESPONSES_PATHS: dict[str, str] = {"v1": "/responses", "deployment": "", "deployment-before-stream-usage": ""}

_ERROR = msgspec.json.Decoder(wire.ErrorBody)
_ENCODE = msgspec.json.Encoder()


def settings_of(settings: Mapping[str, str]) -> wire.Settings:
    try:
        parsed = msgspec.convert(dict(settings), wire.Settings)
    except msgspec.ValidationError as exc:
        raise ValueError(f"azure channel settings: {exc}") from None
    if parsed.api_version and not API_VERSION.fullmatch(parsed.api_version):
        raise ValueError(f"azure api_version {parsed.api_version!r} is not YYYY-MM-DD or YYYY-MM-DD-preview")
    return parsed


UPLOAD_OPERATIONS = {"transcriptions": "audio/transcriptions", "translations": "audio/translations", "image_edits": "images/edits"}


class Azure(OpenAICompatible):
    abilities = frozenset({CHAT, STREAM, EMBEDDINGS, IMAGES, SPEECH, *UPLOADS})

    def __init__(self, settings: wire.Settings | None = None):
        self.settings = settings or wire.Settings()
        version = self.settings.api_version
        style = "v1" if not version else "deployment" if version >= STREAM_USAGE_SINCE else "deployment-before-stream-usage"
        self.style = style
        profile = Profile(
            drop_params=CHAT_PARAMS[style],
            stream_usage="stream_options" not in CHAT_PARAMS[style],
            responses_path=RESPONSES_PATHS[style],
        )
        super().__init__("azure", profile)

    def configured(self, settings: Mapping[str, str]) -> Azure:
        return Azure(settings_of(settings))

    def url(self, base_url: str, deployment: str, operation: str) -> str:
        version = self.settings.api_version
        if not version:
            return f"{base_url}/{operation}"
        return f"{base_url}/openai/deployments/{quote(deployment, safe='')}/{operation}?api-version={version}"

    def headers(self, secret: str) -> dict[str, str]:
        if not secret:
            return {"content-type": "application/json"}
        if self.settings.auth == "entra":
            return {"content-type": "application/json", "authorization": f"Bearer {secret}"}
        return {"content-type": "application/json", "api-key": secret}

    def native_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any], *, stream: bool) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if k not in self.profile.drop_params}
        if self.style == "v1":
            out["model"] = upstream_model
        if stream and self.profile.stream_usage:
            out["stream_options"] = {**(out.get("stream_options") or {}), "include_usage": True}
        return UpstreamRequest(self.url(base_url, upstream_model, "chat/completions"), self.headers(secret), _ENCODE.encode(out))

    def embeddings_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if k != "model"}
        if not self.settings.api_version:
            out["model"] = upstream_model
        return UpstreamRequest(self.url(base_url, upstream_model, "embeddings"), self.headers(secret), _ENCODE.encode(out))

    def images_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if k != "model"}
        if not self.settings.api_version:
            out["model"] = upstream_model
        return UpstreamRequest(self.url(base_url, upstream_model, "images/generations"), self.headers(secret), _ENCODE.encode(out))

    def speech_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        out = {k: v for k, v in body.items() if k != "model"}
        if not self.settings.api_version:
            out["model"] = upstream_model
        return UpstreamRequest(self.url(base_url, upstream_model, "audio/speech"), self.headers(secret), _ENCODE.encode(out))

    def upload_target(self, ability: str, base_url: str, secret: str, upstream_model: str) -> tuple[str, dict[str, str]]:
        """Whisper and image edits on a deployment (or the v1 API, ``model`` in the form)."""
        if ability not in UPLOAD_OPERATIONS:
            raise NotSupported(self.kind, ability)
        headers = {k: v for k, v in self.headers(secret).items() if k != "content-type"}
        return self.url(base_url, upstream_model, UPLOAD_OPERATIONS[ability]), headers

    def moderations_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise NotSupported(self.kind, MODERATIONS)

    def rerank_request(self, base_url: str, secret: str, upstream_model: str, body: dict[str, Any]) -> UpstreamRequest:
        raise NotSupported(self.kind, "rerank")

    def rerank_result(self, payload: bytes) -> tuple[bytes, Any]:
        raise NotSupported(self.kind, "rerank")

    def error_message(self, payload: bytes) -> str:
        """Azure's message; a content-filter refusal says so (the filter's categories, never content)."""
        try:
            body = _ERROR.decode(payload)
        except msgspec.DecodeError:
            return ""
        error = body.error
        if error is None:
            return body.message
        if error.code == "content_filter" or (error.innererror is not None and error.innererror.code == "ResponsibleAIPolicyViolation"):
            return f"Azure OpenAI's content filter refused the request (content_filter): {error.message}"
        return error.message


ADAPTERS = {"azure": Azure()}
