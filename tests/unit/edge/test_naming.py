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


def test_the_in_place_rewrite_agrees_with_decoding_and_steps_aside_when_unsure() -> None:
    """A stream's chunks are renamed without decoding them (the key once, a plain string value);
    the result is the same JSON as decoding and re-encoding would give."""
    from services.edge import naming

    chunk = b'{"id":"c","object":"chat.completion.chunk","created":1,"model":"mock-1","choices":[{"delta":{"content":"hi"}}]}'
    fast = naming._in_place(chunk, b'"model":', "asked")
    assert fast is not None and msgspec.json.decode(fast) == {**msgspec.json.decode(chunk), "model": "asked"}
    assert naming._in_place(b'{"model":"asked","x":1}', b'"model":', "asked") == b'{"model":"asked","x":1}'
    twice = b'{"model":"a","choices":[{"message":{"tool":{"model":"b"}}}]}'  # the key twice: decoded, top level only
    assert naming._in_place(twice, b'"model":', "asked") is None
    assert msgspec.json.decode(renamed(twice, "openai", "asked"))["choices"][0]["message"]["tool"]["model"] == "b"
    escaped = b'{"model":"we\\"ird"}'
    assert naming._in_place(escaped, b'"model":', "asked") is None and msgspec.json.decode(renamed(escaped, "openai", "asked")) == {
        "model": "asked"
    }
    spaced = b'{"model": "x"}'
    assert naming._in_place(spaced, b'"model":', "asked") is None and renamed(spaced, "openai", "asked") == b'{"model":"asked"}'
