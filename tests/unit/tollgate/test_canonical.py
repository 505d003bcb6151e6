"""The canonical request and response (tollgate.canonical): the one conversion each way
between OpenAI's JSON shape and the Structs, and the typed seams that use them."""

from __future__ import annotations

import json

import msgspec
import pytest

from services.edge.frontends.base import Parsed
from services.edge.frontends.openai import OpenAIFrontend
from tollgate.canonical import (
    UNSET,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ContentPart,
    ImageURL,
    Message,
    ToolChoiceFunction,
    Usage,
    from_openai,
    to_openai,
)
from tollgate.errors import BadRequest
from tollgate.providers.openai_compat import OPENAI_COMPATIBLE
from tollgate.sse import Event

OPENAI = OPENAI_COMPATIBLE["openai"]

REQUEST = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "Be terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny"},
    ],
    "tools": [{"type": "function", "function": {"name": "w", "description": "Weather", "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "w"}},
    "max_tokens": 5,
    "temperature": 0.5,
    "stop": ["END"],
    "stream": True,
    "stream_options": {"include_usage": True},
    "response_format": {"type": "json_object"},
    "reasoning_effort": "low",
    "user": "u",
}


def test_request_round_trip_keeps_absent_and_null_apart() -> None:
    request = from_openai(REQUEST)
    assert isinstance(request, ChatRequest)
    user, assistant = request.messages[1], request.messages[2]
    assert isinstance(user.content, list) and user.content[1] == ContentPart(
        type="image_url", image_url=ImageURL(url="https://x.test/a.png", detail="low")
    )
    assert assistant.content is None and assistant.tool_call_id is UNSET
    assert isinstance(request.tool_choice, ToolChoiceFunction) and request.n is UNSET
    assert to_openai(request) == REQUEST


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [1]},
        {"model": "m", "messages": [{"content": "no role"}]},
        {"model": "m", "messages": [{"role": "user", "content": 5}]},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": True},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": {"name": "w"}},
    ],
)
def test_malformed_request_is_a_bad_request(body: dict) -> None:
    with pytest.raises(BadRequest) as err:
        from_openai(body)
    assert err.value.status == 400 and err.value.message.startswith("Invalid request: ")


def test_openai_door_reads_the_body_typed() -> None:
    door = OpenAIFrontend()
    assert door.to_canonical(Parsed(model="m", stream=False, body=REQUEST)) == from_openai(REQUEST)
    with pytest.raises(BadRequest):
        door.to_canonical(Parsed(model="m", stream=False, body={"model": "m", "messages": [{"role": "user", "content": 5}]}))


def test_response_and_chunk_usage_in_openai_shape() -> None:
    usage = Usage(prompt_tokens=10, completion_tokens=4, cached_tokens=3, reasoning_tokens=1)
    answer = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": usage.to_openai(),
    }
    response = from_openai(answer, ChatResponse)
    assert response.usage == usage and to_openai(response) == answer
    chunk = to_openai(ChatChunk(id="x", created=1, model="m"))
    assert "usage" not in chunk and chunk["choices"] == [] and chunk["object"] == "chat.completion.chunk"


def test_openai_upstream_answers_as_canonical() -> None:
    payload = json.dumps(
        {
            "id": "chatcmpl-1",
            "created": 7,
            "model": "gpt",
            "system_fingerprint": "fp",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi", "reasoning_content": "think"},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "prompt_cache_hit_tokens": 1},
        }
    ).encode()
    response, usage = OPENAI.chat_response(payload)
    assert usage == Usage(3, 2, 1, 0) and response.usage == usage
    assert response.choices[0].message == Message(role="assistant", content="hi", reasoning_content="think")
    assert (response.id, response.created, response.model) == ("chatcmpl-1", 7, "gpt")
    no_usage, zero = OPENAI.chat_response(b'{"choices": []}')
    assert no_usage.usage is None and zero == Usage()
    with pytest.raises(ValueError):
        OPENAI.chat_response(b'{"choices": [1]}')


def test_openai_upstream_stream_as_canonical() -> None:
    decoder = OPENAI.stream_decoder("m")
    (chunk,) = decoder.feed(
        Event(b'{"id":"c","created":1,"model":"gpt","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}')
    )
    assert chunk.choices[0].delta.content == "x" and chunk.usage is None and decoder.usage is None
    (last,) = decoder.feed(Event(b'{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}'))
    assert last.usage == decoder.usage == Usage(3, 1)
    assert decoder.feed(Event(b"[1, 2]")) == [] and decoder.feed(Event(b"[DONE]")) == []
    for bad in (b"{not json", b'{"choices": [{"delta": 5}]}'):
        with pytest.raises(ValueError):
            decoder.feed(Event(bad))


def test_canonical_request_to_an_openai_upstream() -> None:
    request = from_openai({"model": "alias", "messages": [{"role": "user", "content": "hi"}], "user": "u", "temperature": 1})
    sent = json.loads(OPENAI_COMPATIBLE["mistral"].chat_request("https://up.test/v1", "k", "real", request, stream=True).body)
    assert sent == {
        "model": "real",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 1.0,
        "stream_options": {"include_usage": True},
    }


def test_validation_errors_are_value_errors() -> None:
    """The upstream loop treats ValueError from a translation as the client's 400 (never a 500)."""
    assert issubclass(msgspec.ValidationError, ValueError)
