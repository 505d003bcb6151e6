"""services/edge/naming.py: a passed-through answer names the model the client asked for."""

from __future__ import annotations

import msgspec

from services.edge.naming import renamed


def test_openai_completion_and_chunk_are_renamed() -> None:
    whole = b'{"id":"c","object":"chat.completion","model":"sim-1","choices":[{"message":{"content":"\\"model\\": \\"x\\""}}]}'
    out = msgspec.json.decode(renamed(whole, "openai", "contract-openai"))
    assert out["model"] == "contract-openai"
    assert out["choices"][0]["message"]["content"] == '"model": "x"'  # content is never touched
    chunk = b'{"id":"c","object":"chat.completion.chunk","model":"sim-1","choices":[]}'
    assert msgspec.json.decode(renamed(chunk, "openai", "asked"))["model"] == "asked"


def test_anthropic_message_start_is_renamed_one_level_down() -> None:
    start = b'{"type":"message_start","message":{"id":"m","model":"claude-x","content":[]}}'
    assert msgspec.json.decode(renamed(start, "anthropic", "asked"))["message"]["model"] == "asked"
    delta = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}'
    assert renamed(delta, "anthropic", "asked") is delta  # no model field: the same bytes


def test_gemini_model_version_is_renamed() -> None:
    chunk = b'{"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"modelVersion":"gemini-2.0-flash-001"}'
    assert msgspec.json.decode(renamed(chunk, "gemini", "asked"))["modelVersion"] == "asked"


def test_unknown_protocol_non_json_and_same_name_pass_unchanged() -> None:
    body = b'{"model":"asked"}'
    assert renamed(body, "openai", "asked") is body
    assert renamed(b"[DONE]", "openai", "asked") == b"[DONE]"
    assert renamed(b'{"model": not json', "openai", "asked") == b'{"model": not json'
    assert renamed(b'{"model":"x"}', "some-future-door", "asked") == b'{"model":"x"}'
    assert renamed(b'["model"]', "openai", "asked") == b'["model"]'
