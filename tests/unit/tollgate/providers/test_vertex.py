"""The vertex kind: which publisher serves a model, Vertex's URLs and bearer auth, the
Anthropic-on-Vertex body (no model, the Vertex anthropic_version), the catalog's base URL,
and the service-account credential checks (never echoing a secret)."""

from __future__ import annotations

import json

import msgspec
import pytest

from tollgate.canonical import ChatRequest
from tollgate.providers import REGISTRY, adapter_for, vendor_of
from tollgate.providers.anthropic import AnthropicAdapter
from tollgate.providers.gemini import GeminiAdapter
from tollgate.providers.tokens import TokenError
from tollgate.providers.vertex import ANTHROPIC_VERSION, channel_base_url, publisher_of
from tollgate.providers.vertex.auth import minter

BASE = "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5"
REQUEST = msgspec.convert(
    {"model": "alias", "messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi"}], "max_tokens": 5},
    ChatRequest,
)


def test_publisher_from_the_upstream_model_name() -> None:
    assert publisher_of("anthropic/claude-sonnet-4@20250514") == ("anthropic", "claude-sonnet-4@20250514")
    assert publisher_of("google/gemini-2.5-flash") == ("google", "gemini-2.5-flash")
    assert publisher_of("gemini-2.5-flash") == ("google", "gemini-2.5-flash")
    claude, gemini = adapter_for("vertex", upstream_model="anthropic/claude-x@1"), adapter_for("vertex", upstream_model="gemini-2.5-flash")
    assert claude is not None and gemini is not None
    assert (claude.kind, claude.protocol, gemini.kind, gemini.protocol) == ("vertex", "anthropic", "vertex", "gemini")
    assert adapter_for("gemini", upstream_model="anthropic/x") is REGISTRY["gemini"]  # other kinds: one adapter whatever the model
    assert vendor_of("vertex") == "google-vertex"


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_on_vertex(stream: bool) -> None:
    adapter = adapter_for("vertex", upstream_model="google/gemini-2.5-flash")
    assert adapter is not None
    req = adapter.chat_request(BASE, "ya29.token", "google/gemini-2.5-flash", REQUEST, stream=stream)
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    assert req.url == f"{BASE}/publishers/google/models/gemini-2.5-flash:{action}"
    assert req.headers == {"content-type": "application/json", "authorization": "Bearer ya29.token"}
    body = json.loads(req.body)
    plain = json.loads(GeminiAdapter().chat_request("http://g", "k", "gemini-2.5-flash", REQUEST, stream=stream).body)
    assert body == plain  # the Gemini wire format itself: only URL and auth differ
    native = adapter.native_request(BASE, "t", "gemini-2.5-flash", {"contents": []}, stream=False)
    assert json.loads(native.body) == {"contents": []} and native.url.endswith("/publishers/google/models/gemini-2.5-flash:generateContent")


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_on_vertex(stream: bool) -> None:
    adapter = adapter_for("vertex", upstream_model="anthropic/claude-sonnet-4@20250514")
    assert adapter is not None
    req = adapter.chat_request(BASE, "ya29.token", "anthropic/claude-sonnet-4@20250514", REQUEST, stream=stream)
    action = "streamRawPredict" if stream else "rawPredict"
    assert req.url == f"{BASE}/publishers/anthropic/models/claude-sonnet-4@20250514:{action}"
    assert req.headers == {"content-type": "application/json", "authorization": "Bearer ya29.token"}
    body = json.loads(req.body)
    plain = json.loads(AnthropicAdapter().chat_request("http://a", "k", "claude-sonnet-4@20250514", REQUEST, stream=stream).body)
    assert "model" not in body and body["anthropic_version"] == ANTHROPIC_VERSION
    assert {k: v for k, v in body.items() if k != "anthropic_version"} == {k: v for k, v in plain.items() if k != "model"}
    assert body.get("stream", False) is stream


def test_anthropic_native_body_on_vertex() -> None:
    adapter = adapter_for("vertex", upstream_model="anthropic/claude-x@1")
    assert adapter is not None and adapter.native_for("anthropic") is adapter and adapter.native_for("gemini") is None
    client_body = {"model": "alias", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    req = adapter.native_request(BASE, "t", "anthropic/claude-x@1", client_body, stream=True)
    assert json.loads(req.body) == {
        "max_tokens": 3,
        "messages": client_body["messages"],
        "stream": True,
        "anthropic_version": ANTHROPIC_VERSION,
    }
    assert req.url.endswith("/publishers/anthropic/models/claude-x@1:streamRawPredict")


def test_channel_base_url() -> None:
    assert channel_base_url("", "my-proj", "us-east5", ["gemini-2.5-flash"]) == BASE
    assert channel_base_url("", "my-proj", "global", []) == "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global"
    assert channel_base_url("http://127.0.0.1:9/vertex/", "my-proj", "europe-west4", []) == (
        "http://127.0.0.1:9/vertex/v1/projects/my-proj/locations/europe-west4"
    )
    for project, region, models, wrong in [
        ("", "us-east5", [], "project"),
        ("My_Proj", "us-east5", [], "project"),
        ("my-proj", "", [], "region"),
        ("my-proj", "us east5/../x", [], "region"),
        ("my-proj", "us-east5", ["meta/llama"], "unknown publisher 'meta'"),
        ("my-proj", "us-east5", ["anthropic/"], "names no model"),
    ]:
        with pytest.raises(ValueError, match=wrong):
            channel_base_url("", project, region, models)


def test_credentials_are_checked_without_echoing_them() -> None:
    for secret, wrong in [
        ("not json at all sk-secret", "not JSON"),
        ('{"type": "authorized_user", "refresh_token": "sk-secret"}', "not a service-account key"),
        ('{"type": "service_account", "client_email": "a@b", "token_uri": "http://t", "private_key": "sk-secret"}', "cannot be used"),
    ]:
        with pytest.raises(TokenError, match=wrong) as caught:
            minter(secret)
        assert "sk-secret" not in str(caught.value)
