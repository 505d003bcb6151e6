"""Anthropic Messages both ways: the upstream adapter (canonical <-> Anthropic) and the
front door (Anthropic <-> canonical), whole answers and streams, with canned payloads.

Encoded streams are read back by ``accumulate`` (the official SDK's accumulation rules,
stricter about event order). Importing the ``anthropic`` SDK costs ~4 s, so the checks
through the SDK itself run only when it is already loaded (a whole-suite run: the e2e
tests import it) or with TOLLGATE_SDK_TESTS=1."""

from __future__ import annotations

import json
import os
import random
import sys
from types import SimpleNamespace

import httpx
import msgspec
import pytest
from litestar import Litestar

from services.edge.frontends.anthropic import FRONTEND, ROUTES
from services.edge.frontends.anthropic.inbound import to_canonical_request
from services.edge.middleware import timing_middleware
from tests.unit.edge.upstream_fakes import HandlerClient
from tollgate import estimate
from tollgate.canonical import ChatChunk, ChatResponse, from_openai, to_openai
from tollgate.errors import BadRequest, InsufficientQuota, ModelNotFound, TollgateError, Unauthorized, UpstreamError
from tollgate.providers import MINTERS
from tollgate.providers import anthropic as provider
from tollgate.providers.tokens import TokenBroker
from tollgate.reasoning import TRANSLATED_SIGNATURE
from tollgate.rpc import router_pb2 as pb
from tollgate.sse import Event, Parser

ADAPTER = provider.ADAPTERS["anthropic"]
PNG = "iVBORw0KGgo="
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def sent(body: dict, **kw) -> dict:
    return json.loads(
        ADAPTER.chat_request("https://api.anthropic.com", "sk-ant", "claude-x", from_openai(body), stream=kw.get("stream", False)).body
    )


def canonical_of(parsed) -> dict:
    """The front door's canonical request as its OpenAI JSON object."""
    return to_openai(FRONTEND.to_canonical(parsed))


def rendered(completion: dict, model: str) -> dict:
    """The front door's rendering of a canonical answer given as its OpenAI JSON object."""
    return FRONTEND.from_canonical(from_openai(completion, ChatResponse), model)


def answer(payload: bytes) -> tuple[dict, object]:
    """The adapter's canonical answer as its OpenAI JSON object, and the usage."""
    canonical, usage = ADAPTER.chat_response(payload)
    return to_openai(canonical), usage


def frame(kind: str, data: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


# --- canonical -> Anthropic requests -------------------------------------------------


def test_request_url_headers_and_native_pass_through() -> None:
    body = {"model": "alias", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9, "top_k": 3, "stream": True}
    req = ADAPTER.native_request("http://127.0.0.1:1/anthropic", "sk-ant", "claude-x", body, stream=True)
    assert req.url == "http://127.0.0.1:1/anthropic/v1/messages"
    assert req.headers == {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "sk-ant"}
    assert json.loads(req.body) == {**body, "model": "claude-x"}
    assert body["model"] == "alias"  # the client's body is not mutated


def test_request_translation() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
            {"role": "user", "content": "Weather?"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And this:"},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "..."}},
                ],
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": '{"city": "Paris"}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "w", "arguments": "{not json"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "Rain"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "max_completion_tokens": 100,
        "max_tokens": 5,
        "stop": "END",
        "temperature": 1.7,
        "top_p": 0.5,
        "n": 1,
        "logprobs": True,
        "response_format": {"type": "json_object"},
        "seed": 1,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.1,
        "user": "u-1",
        "stream_options": {"include_usage": True},
    }
    out = sent(body, stream=True)
    assert out["model"] == "claude-x" and out["stream"] is True
    assert out["system"] == "Be terse.\n\nNo emoji."
    assert out["max_tokens"] == 100 and out["stop_sequences"] == ["END"]
    assert out["temperature"] == 1.0 and out["top_p"] == 0.5
    assert out["metadata"] == {"user_id": "u-1"}
    for dropped in ("n", "logprobs", "response_format", "seed", "presence_penalty", "frequency_penalty", "user", "stream_options", "stop"):
        assert dropped not in out
    user, assistant, results = out["messages"]
    assert user == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather?"},
            {"type": "text", "text": "And this:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
        ],
    }
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "w", "input": {}},
        ],
    }
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "Sunny"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "Rain"},
            {"type": "text", "text": "Thanks"},
        ],
    }


def test_request_defaults() -> None:
    out = sent({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", " "], "top_p": 1, "temperature": -1})
    assert out == {
        "model": "claude-x",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 4096,
        "stop_sequences": ["a"],
        "temperature": 0.0,
    }


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ({"type": "function", "function": {"name": "w"}}, None, {"type": "tool", "name": "w"}),
        (None, None, None),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ],
)
def test_tools_and_tool_choice(choice, parallel, expected) -> None:
    tools = [
        {"type": "function", "function": {"name": "w", "description": "Weather", "parameters": WEATHER}},
        {"type": "function", "function": {"name": "bare"}},
    ]
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": tools,
        "tool_choice": choice,
        "parallel_tool_calls": parallel,
    }
    out = sent(body)
    assert out["tools"] == [
        {"name": "w", "description": "Weather", "input_schema": WEATHER},
        {"name": "bare", "input_schema": {"type": "object"}},
    ]
    assert out.get("tool_choice") == expected


# --- Anthropic answers -> canonical ----------------------------------------------------

MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Let me check. "},
        {"type": "text", "text": "One moment."},
        {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 7, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5},
}


def test_chat_response() -> None:
    canonical, usage = answer(json.dumps(MESSAGE).encode())
    # reasoning tokens: the estimate of the thinking text ("hmm": one token), within the output
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens) == (115, 7, 100, 1)
    assert usage.cache_write_tokens == 5  # cache_creation_input_tokens: part of the prompt, priced on their own
    assert canonical["object"] == "chat.completion" and canonical["id"] == "msg_1" and canonical["model"] == "claude-x"
    assert canonical["usage"] == usage.to_openai()
    (choice,) = canonical["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Let me check. One moment.",
        "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}}],
        "reasoning_content": "hmm",
    }
    assert ADAPTER.native_usage(json.dumps(MESSAGE).encode()) == usage
    assert ADAPTER.native_usage(b"<html>") is None
    with pytest.raises(ValueError):
        ADAPTER.chat_response(b"<html>")


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reasons(stop, finish) -> None:
    payload = {**MESSAGE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop}
    assert answer(json.dumps(payload).encode())[0]["choices"][0]["finish_reason"] == finish


def test_error_message() -> None:
    assert (
        ADAPTER.error_message(b'{"type":"error","error":{"type":"invalid_request_error","message":"bad max_tokens"}}') == "bad max_tokens"
    )
    assert ADAPTER.error_message(b"oops") == ""


# --- Anthropic streams -> canonical chunks ---------------------------------------------

STREAM = b"".join(
    [
        frame(
            "message_start",
            {
                "message": {
                    **MESSAGE,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5},
                }
            },
        ),
        frame("ping", {}),
        frame("content_block_start", {"index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        frame("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
        frame("content_block_stop", {"index": 0}),
        frame("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        frame("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "Héllo, "}}),
        frame("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "wörld"}}),
        frame("content_block_stop", {"index": 1}),
        frame("content_block_start", {"index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}}),
        frame("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        frame("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}}),
        frame("content_block_delta", {"index": 2, "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}}),
        frame("content_block_stop", {"index": 2}),
        frame("content_block_start", {"index": 3, "content_block": {"type": "tool_use", "id": "toolu_2", "name": "t", "input": {}}}),
        frame("content_block_delta", {"index": 3, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
        frame("content_block_stop", {"index": 3}),
        frame(
            "message_delta",
            {"delta": {"type": "message_delta", "stop_reason": "tool_use", "stop_sequence": None}, "usage": {"output_tokens": 42}},
        ),
        frame("message_stop", {}),
    ]
)


def decode_stream(raw: bytes, cuts: list[int], decoder=None) -> tuple[list[dict], object]:
    decoder = decoder or ADAPTER.stream_decoder("client-model")
    parser, chunks, start = Parser(), [], 0
    for cut in [*cuts, len(raw)]:
        for event in parser.feed(raw[start:cut]):
            chunks += decoder.feed(event)
        start = cut
    for event in parser.close():
        chunks += decoder.feed(event)
    return [to_openai(c) for c in chunks + decoder.close()], decoder


def collect(chunks: list[dict]) -> dict:
    text, calls, finish = "", {}, None
    for chunk in chunks:
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
            for call in choice["delta"].get("tool_calls") or ():
                entry = calls.setdefault(call["index"], {"id": call.get("id"), "name": call["function"].get("name"), "arguments": ""})
                entry["arguments"] += call["function"].get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return {"text": text, "calls": calls, "finish": finish}


@pytest.mark.parametrize("seed", range(6))
def test_stream_decoding_at_any_byte_boundary(seed: int) -> None:
    rng = random.Random(seed)
    cuts = list(range(1, len(STREAM))) if seed == 0 else sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 40)))
    chunks, decoder = decode_stream(STREAM, cuts)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "client-model" and c["id"] == "msg_1" for c in chunks)
    assert collect(chunks) == {
        "text": "Héllo, wörld",
        "calls": {
            0: {"id": "toolu_1", "name": "w", "arguments": '{"city": "Paris"}'},
            1: {"id": "toolu_2", "name": "t", "arguments": "{}"},
        },
        "finish": "tool_calls",
    }
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 115
    assert (decoder.usage.prompt_tokens, decoder.usage.completion_tokens, decoder.usage.cached_tokens) == (115, 42, 100)


def test_stream_observe_reads_usage_and_keeps_every_event() -> None:
    decoder = ADAPTER.stream_decoder("m")
    events = Parser().feed(STREAM)
    assert [decoder.observe(e) for e in events] == [False] * len(events)
    assert (decoder.usage.prompt_tokens, decoder.usage.completion_tokens) == (115, 42)
    assert (decoder.usage.cached_tokens, decoder.usage.cache_write_tokens) == (100, 5)
    with pytest.raises(ValueError):
        decoder.observe(Event(b"{not json", "content_block_delta"))


@pytest.mark.parametrize(
    "bad",
    [
        Event(b"{not json", "content_block_delta"),
        Event(b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "error"),
        Event(b'{"type":"content_block_delta","index":"x"}', "content_block_delta"),
    ],
)
def test_stream_failures_raise(bad: Event) -> None:
    decoder = ADAPTER.stream_decoder("m")
    decoder.feed(Parser().feed(STREAM)[0])
    with pytest.raises(ValueError):
        decoder.feed(bad)


def test_stream_cut_short_is_an_error_but_keeps_usage() -> None:
    decoder = ADAPTER.stream_decoder("m")
    for event in Parser().feed(STREAM)[:8]:
        decoder.feed(event)
    assert decoder.usage.prompt_tokens == 115
    with pytest.raises(ValueError):
        decoder.close()


# --- the front door: Anthropic requests -> canonical --------------------------------------

ANTHROPIC_REQUEST = {
    "model": "claude-alias",
    "max_tokens": 50,
    "system": [{"type": "text", "text": "Be terse."}, {"type": "text", "text": "No emoji."}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Quick please"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "Sunny"}]},
            ],
        },
    ],
    "tools": [{"name": "w", "description": "Weather", "input_schema": WEATHER}, {"type": "web_search_20250305", "name": "web_search"}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "stop_sequences": ["END"],
    "temperature": 1,
    "top_p": 0.9,
    "top_k": 5,
    "stream": True,
    "metadata": {"user_id": "u-1"},
}


def test_front_door_to_canonical() -> None:
    parsed = FRONTEND.parse(json.dumps(ANTHROPIC_REQUEST).encode())
    assert (parsed.model, parsed.stream, parsed.wants_usage) == ("claude-alias", True, True)
    out = canonical_of(parsed)
    assert out["messages"] == [
        {"role": "system", "content": "Be terse.\nNo emoji."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}},
            ],
            "reasoning_content": "hmm",  # the thinking block's text (its signature is Anthropic's alone)
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"},
        {"role": "user", "content": "Quick please"},
    ]
    assert out["tools"] == [{"type": "function", "function": {"name": "w", "description": "Weather", "parameters": WEATHER}}]
    assert (out["tool_choice"], out["parallel_tool_calls"]) == ("required", False)
    assert out["stop"] == ["END"] and out["max_tokens"] == 50 and out["temperature"] == 1 and out["top_p"] == 0.9
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True} and out["user"] == "u-1"
    assert "top_k" not in out


@pytest.mark.parametrize(
    ("choice", "expected"), [("auto", "auto"), ("none", "none"), ("tool", {"type": "function", "function": {"name": "w"}})]
)
def test_front_door_tool_choice(choice: str, expected) -> None:
    body = {**ANTHROPIC_REQUEST, "tool_choice": {"type": choice, "name": "w"} if choice == "tool" else {"type": choice}, "stream": False}
    out = canonical_of(FRONTEND.parse(json.dumps(body).encode()))
    assert out["tool_choice"] == expected and "parallel_tool_calls" not in out and "stream" not in out


def test_tool_use_round_trip() -> None:
    """Anthropic -> canonical -> Anthropic keeps the conversation (minus what has no canonical form)."""
    canonical = canonical_of(FRONTEND.parse(json.dumps(ANTHROPIC_REQUEST).encode()))
    back = sent(canonical, stream=True)
    assert back["system"] == "Be terse.\nNo emoji."
    assert back["tools"] == [ANTHROPIC_REQUEST["tools"][0]]
    assert back["tool_choice"] == ANTHROPIC_REQUEST["tool_choice"]
    assert (back["stop_sequences"], back["max_tokens"], back["temperature"], back["top_p"], back["metadata"]) == (
        ["END"],
        50,
        1,
        0.9,
        {"user_id": "u-1"},
    )
    user, assistant, result = ANTHROPIC_REQUEST["messages"]
    assert back["messages"][0] == user
    assert back["messages"][1] == {"role": "assistant", "content": assistant["content"][1:]}
    assert back["messages"][2] == {"role": "user", "content": [{**result["content"][1], "content": "Sunny"}, result["content"][0]]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", "JSON object"),
        (b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}', "model"),
        (b'{"model":"m","messages":[],"max_tokens":5}', "messages"),
        (b'{"model":"m","messages":[{"role":"user","content":"hi"}]}', "max_tokens"),
        (b'{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0}', "max_tokens"),
        (b'{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":"yes"}', "stream"),
    ],
)
def test_front_door_rejects(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        FRONTEND.parse(body)
    assert message in err.value.message
    assert FRONTEND.error_body(err.value) == {"type": "error", "error": {"type": "invalid_request_error", "message": err.value.message}}


def test_front_door_rejects_malformed_messages_when_translating() -> None:
    for messages in ([{"role": "user", "content": 5}], [{"role": "system", "content": "x"}]):
        parsed = FRONTEND.parse(json.dumps({"model": "m", "max_tokens": 5, "messages": messages}).encode())
        with pytest.raises(BadRequest):
            FRONTEND.to_canonical(parsed)


def test_api_key() -> None:
    assert FRONTEND.api_key(SimpleNamespace(headers={"x-api-key": "sk-1", "authorization": "Bearer sk-2"})) == "sk-1"
    assert FRONTEND.api_key(SimpleNamespace(headers={"authorization": "Bearer sk-2"})) == "sk-2"
    with pytest.raises(Unauthorized, match="'x-api-key' header") as missing:  # named as the SDK sends it, not Bearer
        FRONTEND.api_key(SimpleNamespace(headers={}))
    assert missing.value.code == "missing_api_key" and "Bearer" not in missing.value.message


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (503, "overloaded_error"),
        (529, "overloaded_error"),
        (502, "api_error"),
        (504, "api_error"),
        (500, "api_error"),
        (409, "invalid_request_error"),
    ],
)
def test_error_body(status: int, kind: str) -> None:
    err = type("E", (TollgateError,), {"status": status})("nope")
    assert FRONTEND.error_body(err) == {"type": "error", "error": {"type": kind, "message": "nope"}}


# --- the front door: canonical answers -> Anthropic ----------------------------------------

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "w", "arguments": "{broken"}},
                ],
            },
        }
    ],
    "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129, "prompt_tokens_details": {"cached_tokens": 100}},
}


def test_from_canonical() -> None:
    out = rendered(COMPLETION, "claude-alias")
    assert out["id"].startswith("msg_") and out["type"] == "message" and out["role"] == "assistant" and out["model"] == "claude-alias"
    assert out["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "w", "input": {}},
    ]
    assert out["stop_reason"] == "tool_use" and out["stop_sequence"] is None
    assert out["usage"] == {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        ("weird", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_from_canonical_stop_reasons(finish, stop) -> None:
    answer = {"id": "x", "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": "hi"}}]}
    out = rendered(answer, "m")
    assert out["stop_reason"] == stop and out["content"] == [{"type": "text", "text": "hi"}] and out["usage"]["input_tokens"] == 0


# --- the front door: canonical chunks -> Anthropic events (read by the official SDK) ----------


def chunk(delta: dict | None = None, finish: str | None = None, **extra) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x", "choices": choices, **extra}


CHUNKS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "w", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "t", "arguments": "{}"}}]}),
    chunk({}, "tool_calls"),
    chunk(usage={"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129, "prompt_tokens_details": {"cached_tokens": 100}}),
]


def accumulate(raw: bytes) -> dict:
    """The message a client assembles from the events, as the SDK's ``accumulate_event`` does,
    also checking the order: message_start first, blocks opened by index and stopped before
    message_delta, message_stop last."""
    message, buffers, open_blocks, done = None, {}, set(), False
    for event in Parser().feed(raw):
        data = json.loads(event.data)
        kind = data["type"]
        assert kind == event.name and not done
        if kind == "error":
            raise RuntimeError(data["error"])
        if message is None:
            assert kind == "message_start"
            message = data["message"]
            continue
        index = data.get("index")
        if kind == "content_block_start":
            assert index == len(message["content"]) and not open_blocks
            message["content"].append(data["content_block"])
            open_blocks.add(index)
        elif kind == "content_block_delta":
            assert index in open_blocks
            block, delta = message["content"][index], data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta["type"] == "input_json_delta":
                buffers[index] = buffers.get(index, "") + delta["partial_json"]
        elif kind == "content_block_stop":
            open_blocks.remove(index)
            if buffers.get(index):  # the SDK parses the buffer as it grows (partial mode): same result
                message["content"][index]["input"] = json.loads(buffers[index])
        elif kind == "message_delta":
            assert not open_blocks
            message.update(data["delta"])
            message["usage"].update({k: v for k, v in data["usage"].items() if v is not None})
        elif kind == "message_stop":
            done = True
    assert done
    return message


needs_sdk = pytest.mark.skipif(
    "anthropic" not in sys.modules and not os.environ.get("TOLLGATE_SDK_TESTS"),
    reason="anthropic SDK not loaded (slow import); set TOLLGATE_SDK_TESTS=1",
)


def sdk_final_message(raw: bytes):
    import anthropic
    import httpx2

    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, content=raw, headers={"content-type": "text/event-stream"}))
    client = anthropic.Anthropic(api_key="k", base_url="http://edge.test", max_retries=0, http_client=httpx2.Client(transport=transport))
    with client.messages.stream(model="claude-alias", max_tokens=5, messages=[{"role": "user", "content": "hi"}]) as stream:
        return stream.get_final_message()


def encode(chunks: list[dict]) -> bytes:
    encoder = FRONTEND.stream_encoder(
        FRONTEND.parse(b'{"model":"claude-alias","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"stream":true}')
    )
    return b"".join(encoder.encode(from_openai(c, ChatChunk)) for c in chunks) + encoder.finish()


def test_stream_encoding_event_sequence() -> None:
    events = Parser().feed(encode(CHUNKS))
    assert [e.name for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(json.loads(e.data)["type"] == e.name for e in events)
    assert json.loads(events[-2].data) == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0},
    }


def test_stream_encoding_accumulates_to_the_message() -> None:
    message = accumulate(encode(CHUNKS))
    assert message["model"] == "claude-alias" and message["id"].startswith("msg_")
    assert message["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "t", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use" and message["stop_sequence"] is None
    assert message["usage"] == {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}


def test_stream_translated_both_ways() -> None:
    """Anthropic upstream events -> canonical chunks -> Anthropic events: the client sees the same message."""
    chunks, _ = decode_stream(STREAM, [17, 400, 401, 900])
    message = accumulate(encode(chunks))
    assert message["content"] == [
        {"type": "thinking", "thinking": "hmm", "signature": TRANSLATED_SIGNATURE},  # not Anthropic's own signature: there is none
        {"type": "text", "text": "Héllo, wörld"},
        {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "t", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"
    # the chunks went through OpenAI's JSON here, whose usage has no cache-write count: the writes arrive as input
    expected = {"input_tokens": 10 + 5, "output_tokens": 42, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}
    assert message["usage"] == expected


def test_stream_encoding_interleaved_and_index_less_tool_calls() -> None:
    chunks = [
        chunk({"tool_calls": [{"id": "a", "function": {"name": "x", "arguments": '{"n":'}}]}),
        chunk({"tool_calls": [{"function": {"arguments": "1}"}}]}),
        chunk({"tool_calls": [{"id": "b", "function": {"name": "y", "arguments": "{}"}}]}),
        chunk({"content": "done"}, "stop"),  # some upstreams say "stop" after tool calls
    ]
    message = accumulate(encode(chunks))
    assert [(b["type"], b.get("id"), b.get("input")) for b in message["content"]] == [
        ("tool_use", "a", {"n": 1}),
        ("tool_use", "b", {}),
        ("text", None, None),
    ]
    assert message["stop_reason"] == "tool_use" and message["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }


def errored() -> bytes:
    encoder = FRONTEND.stream_encoder(FRONTEND.parse(b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'))
    return encoder.encode(from_openai(CHUNKS[1], ChatChunk)) + encoder.error(UpstreamError("The upstream stream ended abnormally."))


ERRORED = errored()


def test_stream_encoding_of_an_empty_answer_and_of_an_error() -> None:
    message = accumulate(encode([chunk({}, "length")]))
    assert message["content"] == [] and message["stop_reason"] == "max_tokens"
    assert Parser().feed(ERRORED)[-1] == Event(
        b'{"type":"error","error":{"type":"api_error","message":"The upstream stream ended abnormally."}}', "error"
    )


@needs_sdk
def test_the_official_sdk_reads_what_the_front_door_writes() -> None:
    import anthropic

    message = sdk_final_message(encode(CHUNKS))
    assert message.model_dump(exclude_none=True, include={"content", "stop_reason", "usage"}) == {
        "content": accumulate(encode(CHUNKS))["content"],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "output_tokens": 9, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0},
    }
    translated = sdk_final_message(encode(decode_stream(STREAM, [17, 400])[0]))
    assert translated.content[0].thinking == "hmm" and translated.content[0].signature == TRANSLATED_SIGNATURE
    assert translated.content[1].text == "Héllo, wörld" and translated.content[2].input == {"city": "Paris"}
    anthropic.types.Message.model_validate(rendered(COMPLETION, "claude-alias"))
    with pytest.raises(anthropic.APIError):
        sdk_final_message(ERRORED)


# --- count_tokens ------------------------------------------------------------------------


def test_estimate_tokens_through_the_canonical_request() -> None:
    """The Anthropic door's estimate is the one estimator's over the request as canonical."""
    body = {
        "model": "m",
        "max_tokens": 1,
        "system": "abcd",  # 4
        "messages": [
            {"role": "user", "content": "abcdefgh"},  # 8
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "w", "input": {"a": 1}}]},  # 1 + 7
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "xy"}]},  # 2
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                ],
            },  # 0
        ],
        "tools": [{"name": "w", "input_schema": {"type": "object"}}],  # as canonical JSON: TOOL_CHARS
    }
    canonical = to_canonical_request(body, "m", stream=False)
    tool_chars = len(msgspec.json.encode(canonical.tools[0]))
    assert estimate.request_chars(canonical) == 4 + 8 + 1 + 7 + 2 + tool_chars
    assert estimate.request_tokens(canonical) == -(-(22 + tool_chars) // 4)


class FakeEdge:
    def __init__(self, candidates: list[pb.Candidate], handler, balance: int = 1):
        account = SimpleNamespace(balance_micros=balance)
        self.auth = SimpleNamespace(principal=self._principal(account))
        self.routes = SimpleNamespace(route=self._route(candidates))
        self.client = HandlerClient(handler)  # the edge's upstream client, answering from the handler
        # count_tokens goes through the one upstream path: its attempt budget, its health reports
        self.settings = SimpleNamespace(max_attempts=3, failover_deadline_s=30.0)
        self.reported: list = []
        self.outcomes = SimpleNamespace(report=self.reported.append)
        self.tokens = TokenBroker(MINTERS)  # minted upstream credentials (none of these channels' kinds mint)

    @staticmethod
    def _principal(account):
        async def principal(key: str, address: str = ""):
            return SimpleNamespace(account=account, check_status=lambda: None, group="default")

        return principal

    @staticmethod
    def _route(candidates):
        async def route(model: str, group: str = "default"):
            if model == "unknown":
                raise ModelNotFound(f"The model {model} does not exist")
            return SimpleNamespace(model=model, candidates=tuple(candidates), timeouts=None)

        return route


APP = Litestar(route_handlers=ROUTES, middleware=[timing_middleware])


async def count(edge: FakeEdge, body: dict) -> httpx.Response:
    APP.state.edge = edge
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://edge.test") as client:
        return await client.post("/v1/messages/count_tokens", json=body, headers={"x-api-key": "sk-tollgate"})


COUNT_BODY = {"model": "claude-alias", "max_tokens": 5, "messages": [{"role": "user", "content": "abcdefgh"}]}


async def test_count_tokens_forwarded_to_an_anthropic_channel(monkeypatch) -> None:
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant")
    seen = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"input_tokens": 77})

    other = pb.Candidate(channel_id="oai", provider="openai", base_url="http://o.test", upstream_model="gpt")
    channel = pb.Candidate(
        channel_id="ant",
        provider="anthropic",
        base_url="http://a.test/anthropic",
        api_key_env="TEST_ANTHROPIC_KEY",
        upstream_model="claude-x",
    )
    answer = await count(FakeEdge([other, channel], upstream), COUNT_BODY)
    assert answer.status_code == 200 and answer.json() == {"input_tokens": 77}
    assert answer.headers["x-tollgate-token-count"] == "upstream" and answer.headers["x-tollgate-channel"] == "ant"
    (request,) = seen
    assert str(request.url) == "http://a.test/anthropic/v1/messages/count_tokens"
    assert request.headers["x-api-key"] == "sk-ant" and request.headers["anthropic-version"] == "2023-06-01"
    assert json.loads(request.content) == {"model": "claude-x", "messages": COUNT_BODY["messages"]}


async def test_count_tokens_uses_the_channels_secret_file_and_reports_its_outcome(tmp_path) -> None:
    """A channel whose key is in ``api_key_file`` is called with that key (count_tokens takes
    the one upstream path: the channel's secret, a health report, failover)."""
    key_file = tmp_path / "anthropic.key"
    key_file.write_text("sk-ant-from-file\n")
    seen = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "down.test":
            return httpx.Response(500, json={"type": "error", "error": {"type": "api_error", "message": "boom"}})
        return httpx.Response(200, json={"input_tokens": 12})

    down = pb.Candidate(
        channel_id="down", provider="anthropic", base_url="http://down.test", api_key_file=str(key_file), upstream_model="claude-x"
    )
    channel = pb.Candidate(
        channel_id="ant", provider="anthropic", base_url="http://a.test", api_key_file=str(key_file), upstream_model="claude-x"
    )
    edge = FakeEdge([down, channel], upstream)
    answer = await count(edge, COUNT_BODY)
    assert answer.status_code == 200 and answer.json() == {"input_tokens": 12}
    assert answer.headers["x-tollgate-token-count"] == "upstream" and answer.headers["x-tollgate-channel"] == "ant"
    assert [r.headers["x-api-key"] for r in seen] == ["sk-ant-from-file", "sk-ant-from-file"]
    assert [(o.channel_id, o.kind) for o in edge.reported] == [("down", "error"), ("ant", "ok")]


async def test_count_tokens_skips_a_channel_whose_secret_file_is_missing(tmp_path) -> None:
    channel = pb.Candidate(
        channel_id="ant", provider="anthropic", base_url="http://a.test", api_key_file=str(tmp_path / "absent"), upstream_model="claude-x"
    )
    seen = []
    answer = await count(FakeEdge([channel], lambda r: seen.append(r) or httpx.Response(200, json={"input_tokens": 1})), COUNT_BODY)
    assert answer.status_code == 200 and answer.headers["x-tollgate-token-count"] == "estimate" and not seen


async def test_count_tokens_estimated_without_an_anthropic_channel() -> None:
    other = pb.Candidate(channel_id="oai", provider="openai", base_url="http://o.test", upstream_model="gpt")
    answer = await count(FakeEdge([other], lambda r: httpx.Response(500)), COUNT_BODY)
    assert answer.status_code == 200 and answer.json() == {"input_tokens": 2}
    assert answer.headers["x-tollgate-token-count"] == "estimate"


async def test_count_tokens_errors_use_anthropic_shape() -> None:
    edge = FakeEdge([], lambda r: httpx.Response(500))
    answer = await count(edge, {**COUNT_BODY, "model": "unknown"})
    assert answer.status_code == 404 and answer.json()["type"] == "error" and answer.json()["error"]["type"] == "not_found_error"
    answer = await count(edge, {"model": "m"})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
    answer = await count(FakeEdge([], lambda r: httpx.Response(500), balance=0), COUNT_BODY)
    assert answer.status_code == 402 and answer.json()["error"] == {
        "type": "billing_error",
        "message": InsufficientQuota("").message or answer.json()["error"]["message"],
    }
