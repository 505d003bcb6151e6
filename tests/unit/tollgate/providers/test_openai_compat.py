"""The OpenAI-compatible upstream adapter: request building and usage parsing."""

from __future__ import annotations

import json

import pytest

from services.router.catalog import PROVIDER_KINDS
from tollgate.providers import REGISTRY, adapter_for
from tollgate.providers.base import UpstreamRequest, Usage
from tollgate.providers.openai_compat import OPENAI_COMPATIBLE, PROFILES, StreamChunk

OPENAI = OPENAI_COMPATIBLE["openai"]
BODY = {
    "model": "client-alias",
    "messages": [{"role": "user", "content": "hi"}],
    "temperature": 0.2,
    "logit_bias": {"50256": -100},
    "user": "end-user-1",
}


def sent(req: UpstreamRequest) -> dict:
    return json.loads(req.body)


def test_every_catalog_provider_has_an_adapter() -> None:
    assert {"openai", "deepseek", "fireworks", "anthropic", "gemini", "simulator"} <= PROVIDER_KINDS
    for kind in PROVIDER_KINDS:
        assert adapter_for(kind) is REGISTRY[kind]
        assert adapter_for(kind).kind == kind
    assert adapter_for("acme") is None


@pytest.mark.parametrize("kind", sorted(OPENAI_COMPATIBLE))
@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
def test_basic_request(kind: str, stream: bool) -> None:
    adapter = REGISTRY[kind]
    body = {**BODY, "stream": stream}
    original = json.dumps(body, sort_keys=True)
    req = adapter.native_request("https://up.test/v1", "sk-upstream", "real-model", body, stream=stream)

    assert isinstance(req, UpstreamRequest)
    assert req.url == "https://up.test/v1/chat/completions"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"] == "Bearer sk-upstream"
    out = sent(req)
    assert out["model"] == "real-model"
    assert out["messages"] == BODY["messages"]
    assert out["temperature"] == 0.2
    assert out["stream"] is stream
    if stream:
        assert out["stream_options"] == {"include_usage": True}
    else:
        assert "stream_options" not in out
    dropped = PROFILES[kind].drop_params
    for param in ("logit_bias", "user"):
        assert (param in out) is (param not in dropped)
    # The caller's body is not mutated.
    assert json.dumps(body, sort_keys=True) == original


def test_stream_options_are_merged_not_replaced() -> None:
    body = {**BODY, "stream_options": {"include_usage": False, "other": 1}}
    out = sent(OPENAI.native_request("https://up.test/v1", "", "m", body, stream=True))
    assert out["stream_options"] == {"include_usage": True, "other": 1}
    assert body["stream_options"] == {"include_usage": False, "other": 1}


def test_stream_options_null_is_handled() -> None:
    out = sent(OPENAI.native_request("https://up.test/v1", "", "m", {**BODY, "stream_options": None}, stream=True))
    assert out["stream_options"] == {"include_usage": True}


def test_groq_drops_logit_bias_and_logprobs() -> None:
    body = {**BODY, "logprobs": True, "top_logprobs": 3}
    out = sent(REGISTRY["groq"].native_request("https://api.groq.com/openai/v1", "k", "llama", body, stream=False))
    assert not {"logit_bias", "logprobs", "top_logprobs"} & set(out)
    assert out["user"] == "end-user-1"
    kept = sent(OPENAI.native_request("https://api.openai.com/v1", "k", "gpt", body, stream=False))
    assert kept["logit_bias"] == {"50256": -100} and kept["logprobs"] is True and kept["top_logprobs"] == 3


def test_mistral_drops_user() -> None:
    out = sent(REGISTRY["mistral"].native_request("https://api.mistral.ai/v1", "k", "m", BODY, stream=False))
    assert "user" not in out and "logit_bias" not in out


@pytest.mark.parametrize("secret", ["", None])
def test_no_authorization_header_without_secret(secret) -> None:
    req = REGISTRY["ollama"].native_request("http://127.0.0.1:11434/v1", secret, "llama3", BODY, stream=False)
    assert "authorization" not in {h.lower() for h in req.headers}


def test_secret_only_in_header_not_body() -> None:
    req = OPENAI.native_request("https://up.test/v1", "sk-very-secret", "m", BODY, stream=False)
    assert b"sk-very-secret" not in req.body


# -- usage parsing ------------------------------------------------------------------


def test_completion_usage_full() -> None:
    payload = json.dumps(
        {
            "id": "chatcmpl-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}],
            "usage": {
                "prompt_tokens": 120,
                "completion_tokens": 30,
                "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 12, "audio_tokens": 0},
            },
        }
    ).encode()
    assert OPENAI.completion_usage(payload) == Usage(prompt_tokens=120, completion_tokens=30, cached_tokens=64, reasoning_tokens=12)


def test_completion_usage_deepseek_cache_hit_tokens() -> None:
    payload = b'{"usage": {"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 80, "prompt_cache_miss_tokens": 20}}'
    assert REGISTRY["deepseek"].completion_usage(payload) == Usage(100, 5, 80, 0)


def test_openai_cached_tokens_take_precedence_over_deepseek_field() -> None:
    payload = b'{"usage": {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 10}, "prompt_cache_hit_tokens": 80}}'
    assert OPENAI.completion_usage(payload).cached_tokens == 10


def test_null_details_fall_back() -> None:
    payload = (
        b'{"usage": {"prompt_tokens": 100, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": null}, '
        b'"prompt_cache_hit_tokens": 7, "completion_tokens_details": null}}'
    )
    assert OPENAI.completion_usage(payload) == Usage(100, 1, 7, 0)


@pytest.mark.parametrize(
    "payload",
    [b'{"usage": {}}', b'{"usage": {"prompt_tokens": null, "completion_tokens": null}}'],
)
def test_completion_usage_empty_fields_are_zero(payload: bytes) -> None:
    assert OPENAI.completion_usage(payload) == Usage(0, 0, 0, 0)


@pytest.mark.parametrize("payload", [b"{}", b'{"usage": null}', b'{"choices": []}'])
def test_completion_without_usage(payload: bytes) -> None:
    assert OPENAI.completion_usage(payload) is None


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[DONE]",
        b'{"usage": "lots"}',
        b'{"usage": {"prompt_tokens": "12"}}',
        b"[1, 2]",
        b'{"usage": {"prompt_tokens": 1}',
    ],
)
def test_garbage_payload_returns_none(payload: bytes) -> None:
    assert OPENAI.completion_usage(payload) is None
    assert OPENAI.chunk(payload) is None


def test_chunk_with_content() -> None:
    payload = b'{"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "He"}}]}'
    assert OPENAI.chunk(payload) == StreamChunk(usage=None, has_choices=True)


def test_final_usage_chunk() -> None:
    payload = json.dumps(
        {
            "id": "c",
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 4, "completion_tokens_details": {"reasoning_tokens": 2}},
        }
    ).encode()
    assert OPENAI.chunk(payload) == StreamChunk(usage=Usage(9, 4, 0, 2), has_choices=False)


def test_chunk_with_choices_and_usage() -> None:
    payload = (
        b'{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], '
        b'"usage": {"prompt_tokens": 3, "completion_tokens": 2, "prompt_cache_hit_tokens": 1}}'
    )
    assert REGISTRY["deepseek"].chunk(payload) == StreamChunk(usage=Usage(3, 2, 1, 0), has_choices=True)


def test_chunk_with_null_usage_and_no_choices() -> None:
    assert OPENAI.chunk(b'{"choices": [], "usage": null}') == StreamChunk(usage=None, has_choices=False)
    assert OPENAI.chunk(b"{}") == StreamChunk(usage=None, has_choices=False)


def test_odd_but_valid_chunks_keep_their_usage() -> None:
    """A provider sending ``choices: null`` or float token counts must not lose usage (under-billing)."""
    chunk = OPENAI.chunk(b'{"choices": null, "usage": {"prompt_tokens": 3.0, "completion_tokens": 4}}')
    assert chunk == StreamChunk(usage=Usage(3, 4, 0, 0), has_choices=False)


def test_completions_request_passes_the_body_to_the_profile_path() -> None:
    import msgspec

    from tollgate.providers.openai_compat import OPENAI_COMPATIBLE

    adapter = OPENAI_COMPATIBLE["groq"]
    assert adapter.profile.completions_path == ""  # translated to chat instead
    openai_adapter = OPENAI_COMPATIBLE["openai"]
    req = openai_adapter.completions_request(
        "https://api.test/v1", "sk", "gpt-3.5-turbo-instruct", {"model": "alias", "prompt": "x", "suffix": "y"}, stream=True
    )
    assert req.url == "https://api.test/v1/completions" and req.headers["authorization"] == "Bearer sk"
    assert msgspec.json.decode(req.body) == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "x",
        "suffix": "y",
        "stream_options": {"include_usage": True},
    }
