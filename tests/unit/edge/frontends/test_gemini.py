"""The Gemini protocol, both directions, with canned payloads: the upstream adapter
(canonical -> GenerateContentRequest, answers and SSE streams -> canonical) and the
front door (client requests -> canonical, canonical answers and chunks -> Gemini).

The canned client request is what the official ``google-genai`` SDK sends, and encoded
answers are also read back with the SDK's own types and stream reader. Importing the SDK
costs ~2.5 s, so those checks run only when it is already loaded (a whole-suite run: the
e2e tests import it) or with TOLLGATE_SDK_TESTS=1, as in test_anthropic.py."""

from __future__ import annotations

import json
import os
import sys

import httpx
import pytest
from litestar import Litestar, Response
from litestar.testing import TestClient

from services.edge.frontends import gemini as front
from services.edge.frontends.base import Parsed
from tollgate import sse
from tollgate.canonical import ChatChunk, ChatResponse, from_openai, to_openai
from tollgate.errors import BadRequest, InsufficientQuota, ModelUnavailable, RateLimited, UpstreamError, UpstreamTimeout
from tollgate.providers import gemini as provider
from tollgate.providers.base import Usage
from tollgate.providers.gemini.request import SKIP_SIGNATURE, clean_schema

needs_sdk = pytest.mark.skipif(
    "google.genai" not in sys.modules and not os.environ.get("TOLLGATE_SDK_TESTS"),
    reason="google-genai SDK not loaded (slow import); set TOLLGATE_SDK_TESTS=1",
)
ADAPTER = provider.ADAPTERS["gemini"]
FRONTEND = front.FRONTEND
BASE = "http://127.0.0.1:9/gemini"
WEATHER = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City"},
        "unit": {"$ref": "#/$defs/Unit"},
        "days": {"type": ["integer", "null"], "format": "uint8"},
    },
    "required": ["city", "ghost"],
    "additionalProperties": False,
    "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
}


def sent(req) -> dict:
    return json.loads(req.body)


def translated(body: dict, **kw) -> dict:
    """A canonical request given as its OpenAI JSON object, as the adapter sends it."""
    return sent(ADAPTER.chat_request(BASE, "k", "m", from_openai(body), **kw))


def canonical_of(parsed: Parsed) -> dict:
    """The front door's canonical request as its OpenAI JSON object."""
    return to_openai(FRONTEND.to_canonical(parsed))


def answered(payload: bytes) -> tuple[dict, Usage]:
    """The adapter's canonical answer as its OpenAI JSON object, and the usage."""
    body, usage = ADAPTER.chat_response(payload)
    return to_openai(body), usage


# --- adapter: canonical -> Gemini -----------------------------------------------------------


def test_request_url_headers_and_native_pass_through() -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generation_config": {"max_output_tokens": 3}}
    req = ADAPTER.native_request(BASE, "g-secret", "gemini-2.5-flash", body, stream=False)
    assert req.url == f"{BASE}/v1beta/models/gemini-2.5-flash:generateContent"
    assert req.headers == {"content-type": "application/json", "x-goog-api-key": "g-secret"}
    assert sent(req) == body  # passed through unchanged, snake_case and all
    streamed = ADAPTER.native_request(BASE + "/", "g-secret", "models/gemini-2.5-flash", body, stream=True)
    assert streamed.url == f"{BASE}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert "g-secret" not in streamed.url


def test_canonical_conversation_to_gemini() -> None:
    body = {
        "model": "alias",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a/photo.webp?x=1"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/noext"}},
                ],
            },
            {"role": "user", "content": "Paris and Rome."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
                    {"id": "t2", "type": "function", "function": {"name": "get_time", "arguments": "{not json"}},
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "Sunny"},
            {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "noon"}]},
            {"role": "assistant", "content": "Sunny at noon."},
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
        ],
        "tool_choice": "required",
        "max_tokens": 10,
        "max_completion_tokens": 20,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": "END",
        "n": 2,
        "seed": 7,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
            },
        },
        "logit_bias": {"1": 2},
        "user": "u",
    }
    out = translated(body, stream=True)
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief.\n\nUse metric."}]}
    user, model, results, answer = out["contents"]
    assert user == {
        "role": "user",
        "parts": [
            {"text": "Weather here?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
            {"fileData": {"fileUri": "https://example.com/a/photo.webp?x=1", "mimeType": "image/webp"}},
            {"fileData": {"fileUri": "https://example.com/noext", "mimeType": "image/jpeg"}},
            {"text": "Paris and Rome."},
        ],
    }
    assert model == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP_SIGNATURE},
            {"functionCall": {"name": "get_time", "args": {}}},
        ],
    }
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "Sunny"}}},
            {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}},
        ],
    }
    assert answer == {"role": "model", "parts": [{"text": "Sunny at noon."}]}
    weather, clock = out["tools"][0]["functionDeclarations"]
    assert weather["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer", "nullable": True},
        },
        "required": ["city"],
    }
    assert clock == {"name": "get_time"}  # an OBJECT without properties is rejected by Gemini
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert out["generationConfig"] == {
        "maxOutputTokens": 20,
        "temperature": 0.5,
        "topP": 0.9,
        "seed": 7,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
    }
    assert not {"model", "messages", "stream", "logit_bias", "user"} & set(out)


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ],
)
def test_tool_choice(choice, config) -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": choice,
    }
    out = translated({**body, "stop": ["a", "b"], "response_format": {"type": "json_object"}}, stream=False)
    assert out["toolConfig"] == {"functionCallingConfig": config}
    assert out["generationConfig"] == {"stopSequences": ["a", "b"], "responseMimeType": "application/json"}


def test_schema_cleaning_edge_cases() -> None:
    node = {"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}], "oneOf": None, "const": "x"}
    assert clean_schema(node) == {"nullable": True, "type": "string", "enum": ["x"]}
    recursive = {"$defs": {"N": {"type": "object", "properties": {"child": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"}
    assert clean_schema(recursive)["properties"]["child"]["type"] == "object"  # inlined up to a depth limit
    assert clean_schema({"type": ["string", "number"]}) == {"anyOf": [{"type": "string"}, {"type": "number"}]}
    assert clean_schema({"enum": [1, 2], "type": "integer", "format": "int32"}) == {"type": "integer", "format": "int32"}
    assert clean_schema("nope") is None


# --- adapter: Gemini answers -> canonical ---------------------------------------------------


def answer(parts: list[dict], finish: str | None = "STOP", **extra) -> bytes:
    candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return json.dumps({"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r-1/x", **extra}).encode()


def test_whole_answer_with_thoughts_function_calls_and_usage() -> None:
    usage = {
        "promptTokenCount": 100,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "cachedContentTokenCount": 60,
        "totalTokenCount": 150,
    }
    payload = answer(
        [
            {"text": "pondering", "thought": True},
            {"text": "Let me "},
            {"text": "check."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time"}},
        ],
        usageMetadata=usage,
    )
    body, got = answered(payload)
    assert got == Usage(prompt_tokens=100, completion_tokens=50, cached_tokens=60, reasoning_tokens=30)
    assert body["object"] == "chat.completion" and body["id"] == "chatcmpl-r-1/x" and body["model"] == "gemini-2.5-flash"
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me check."
    assert [c["id"] for c in message["tool_calls"]] == ["call_r-1x_0", "call_r-1x_1"]
    assert [(c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]] == [
        ("function", "get_weather", {"city": "Paris"}),
        ("function", "get_time", {}),
    ]
    assert body["usage"] == got.to_openai()
    assert ADAPTER.native_usage(payload) == got
    assert ADAPTER.native_usage(b"<html>") is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("SOMETHING_NEW", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(reason, expected) -> None:
    body, usage = answered(answer([{"text": "x"}], reason))
    assert body["choices"][0]["finish_reason"] == expected
    assert usage == Usage()


def test_blocked_prompt_and_errors() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}
    body, usage = answered(json.dumps(blocked).encode())
    assert body["choices"] == [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "content_filter"}]
    assert usage == Usage(prompt_tokens=9)
    with pytest.raises(ValueError):
        answered(b"not json")
    google_error = b'{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}}'
    assert ADAPTER.error_message(google_error) == "API key not valid."
    assert ADAPTER.error_message(b"<html>") == ""


# --- adapter: SSE stream -> canonical chunks ------------------------------------------------

STREAM_EVENTS = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "thinking", "thought": True}]}, "index": 0}], "responseId": "abc"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Héllo"}]}, "index": 0}], "usageMetadata": {"promptTokenCount": 5}},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": " wörld"}]}, "index": 0}]},
    {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "f", "args": {"q": "x y"}}}, {"functionCall": {"name": "g", "args": {}}}],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7, "thoughtsTokenCount": 2, "cachedContentTokenCount": 1},
    },
]
STREAM_BYTES = b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\r\n\r\n" for e in STREAM_EVENTS)


def decode_stream(raw: bytes, step: int) -> tuple[list[dict], provider.response.StreamDecoder]:
    parser, decoder, chunks = sse.Parser(), ADAPTER.stream_decoder("client-model"), []
    for i in range(0, len(raw), step):
        for event in parser.feed(raw[i : i + step]):
            chunks.extend(decoder.feed(event))
    for event in parser.close():
        chunks.extend(decoder.feed(event))
    return [to_openai(c) for c in chunks + decoder.close()], decoder


@pytest.mark.parametrize("step", [1, 3, 7, 64, 100_000])
def test_stream_decoding_at_any_byte_boundary(step: int) -> None:
    chunks, decoder = decode_stream(STREAM_BYTES, step)
    assert {c["id"] for c in chunks} == {"chatcmpl-abc"} and {c["model"] for c in chunks} == {"client-model"}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant" and sum("role" in d for d in deltas) == 1
    assert "".join(d.get("content", "") for d in deltas) == "Héllo wörld"
    calls = [tc for d in deltas for tc in d.get("tool_calls", ())]
    assert [(tc["index"], tc["id"], tc["function"]["name"], json.loads(tc["function"]["arguments"])) for tc in calls] == [
        (0, "call_abc_0", "f", {"q": "x y"}),
        (1, "call_abc_1", "g", {}),
    ]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["tool_calls"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == Usage(5, 9, 1, 2).to_openai()
    assert decoder.usage == Usage(5, 9, 1, 2)


def test_stream_failures_and_pass_through_observation() -> None:
    decoder = ADAPTER.stream_decoder("m")
    with pytest.raises(ValueError):
        decoder.feed(sse.Event(b'{"candidates": [{"content": '))
    with pytest.raises(ValueError):
        decoder.feed(sse.Event(b'{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}'))
    observer = ADAPTER.stream_decoder("m")
    assert [observer.observe(sse.Event(json.dumps(e).encode())) for e in STREAM_EVENTS] == [False] * 4
    assert observer.usage == Usage(5, 9, 1, 2)
    with pytest.raises(ValueError):
        observer.observe(sse.Event(b"{oops"))
    blocked = ADAPTER.stream_decoder("m")
    assert (
        to_openai(blocked.feed(sse.Event(b'{"promptFeedback": {"blockReason": "OTHER"}}'))[0])["choices"][0]["finish_reason"]
        == "content_filter"
    )
    assert blocked.close() == []  # no usage seen, no usage chunk


# --- front door: client requests -> canonical -------------------------------------------------


# What google-genai 3.4 sends for a tool-call round trip (note the mixed spellings:
# inlineData.mime_type, parameters_json_schema); see test_canned_request_is_what_the_sdk_sends.
SDK_REQUEST = {
    "contents": [
        {"parts": [{"text": "Weather in Paris and Rome?"}, {"inlineData": {"data": "YWJj", "mime_type": "image/png"}}], "role": "user"},
        {
            "parts": [
                {"text": "pondering", "thought": True},
                {"functionCall": {"args": {"city": "Paris"}, "name": "get_weather"}},
                {"functionCall": {"args": {"city": "Rome"}, "name": "get_weather"}},
            ],
            "role": "model",
        },
        {
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "Sunny"}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"text": "Thanks!"},
            ],
            "role": "user",
        },
    ],
    "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"},
    "tools": [
        {
            "functionDeclarations": [
                {
                    "description": "Weather",
                    "name": "get_weather",
                    "parameters_json_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
                {"name": "legacy", "parameters": {"properties": {"n": {"nullable": True, "type": "INTEGER"}}, "type": "OBJECT"}},
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"allowedFunctionNames": ["get_weather"], "mode": "ANY"}},
    "generationConfig": {
        "temperature": 0.2,
        "topP": 0.8,
        "candidateCount": 2,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
        "seed": 3,
        "responseMimeType": "application/json",
        "responseSchema": {"properties": {"a": {"type": "STRING"}}, "type": "OBJECT"},
    },
}


def test_client_request_to_canonical_and_back() -> None:
    raw = json.dumps(SDK_REQUEST).encode()
    parsed = FRONTEND.parse(raw, model="alias", stream=True)
    canonical = canonical_of(parsed)
    assert canonical["model"] == "alias" and canonical["stream"] is True and canonical["stream_options"] == {"include_usage": True}
    system, user, assistant, tool1, tool2, thanks = canonical["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    assert user == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather in Paris and Rome?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,YWJj"}},
        ],
    }
    assert assistant["content"] is None and [c["id"] for c in assistant["tool_calls"]] == ["call_0", "call_1"]
    assert [json.loads(c["function"]["arguments"]) for c in assistant["tool_calls"]] == [{"city": "Paris"}, {"city": "Rome"}]
    assert tool1 == {"role": "tool", "tool_call_id": "call_0", "content": "Sunny"}  # {"result": str} -> the string
    assert tool2 == {"role": "tool", "tool_call_id": "call_1", "content": '{"temp":21}'}  # anything else -> JSON
    assert thanks == {"role": "user", "content": "Thanks!"}
    assert canonical["tools"][0]["function"] == {
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    assert canonical["tools"][1]["function"]["parameters"] == {"type": "object", "properties": {"n": {"type": ["integer", "null"]}}}
    assert canonical["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert {k: canonical[k] for k in ("max_tokens", "temperature", "top_p", "stop", "n", "seed")} == {
        "max_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.8,
        "stop": ["END"],
        "n": 2,
        "seed": 3,
    }
    assert canonical["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }

    # ... and back to Gemini through the adapter: the function-call round trip survives.
    back = translated(canonical, stream=True)
    assert [c["role"] for c in back["contents"]] == ["user", "model", "user"]
    assert [p["functionCall"]["args"] for p in back["contents"][1]["parts"]] == [{"city": "Paris"}, {"city": "Rome"}]
    assert back["contents"][2]["parts"][:2] == [
        {"functionResponse": {"name": "get_weather", "response": {"result": "Sunny"}}},
        {"functionResponse": {"name": "get_weather", "response": {"result": '{"temp":21}'}}},
    ]
    assert back["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert back["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


@needs_sdk
def test_canned_request_is_what_the_sdk_sends() -> None:
    from google import genai
    from google.genai import types as gtypes

    captured = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(json.loads(request.content))
        return httpx.Response(200, json={"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]})

    client = genai.Client(
        api_key="k", http_options=gtypes.HttpOptions(base_url=BASE, httpx_client=httpx.Client(transport=httpx.MockTransport(handler)))
    )
    contents = [
        gtypes.Content(
            role="user", parts=[gtypes.Part(text="Weather in Paris and Rome?"), gtypes.Part.from_bytes(data=b"abc", mime_type="image/png")]
        ),
        gtypes.Content(
            role="model",
            parts=[
                gtypes.Part(text="pondering", thought=True),
                gtypes.Part(function_call=gtypes.FunctionCall(name="get_weather", args={"city": "Paris"})),
                gtypes.Part(function_call=gtypes.FunctionCall(name="get_weather", args={"city": "Rome"})),
            ],
        ),
        gtypes.Content(
            role="user",
            parts=[
                gtypes.Part(function_response=gtypes.FunctionResponse(name="get_weather", response={"result": "Sunny"})),
                gtypes.Part(function_response=gtypes.FunctionResponse(name="get_weather", response={"temp": 21})),
                gtypes.Part(text="Thanks!"),
            ],
        ),
    ]
    config = gtypes.GenerateContentConfig(
        system_instruction="Be brief.",
        max_output_tokens=50,
        temperature=0.2,
        top_p=0.8,
        stop_sequences=["END"],
        candidate_count=2,
        seed=3,
        tools=[
            gtypes.Tool(
                function_declarations=[
                    gtypes.FunctionDeclaration(
                        name="get_weather",
                        description="Weather",
                        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
                    ),
                    gtypes.FunctionDeclaration(
                        name="legacy",
                        parameters=gtypes.Schema(type="OBJECT", properties={"n": gtypes.Schema(type="INTEGER", nullable=True)}),
                    ),
                ]
            )
        ],
        tool_config=gtypes.ToolConfig(
            function_calling_config=gtypes.FunctionCallingConfig(mode="ANY", allowed_function_names=["get_weather"])
        ),
        response_mime_type="application/json",
        response_schema={"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
        automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True),
    )
    client.models.generate_content(model="m", contents=contents, config=config)
    canonical = canonical_of(FRONTEND.parse(json.dumps(captured[0]).encode(), model="alias", stream=False))
    assert canonical == canonical_of(Parsed(model="alias", stream=False, body=SDK_REQUEST))


def test_parse_rejects_bad_requests() -> None:
    with pytest.raises(BadRequest):
        FRONTEND.parse(b"[1]", model="m", stream=False)
    with pytest.raises(BadRequest):
        FRONTEND.parse(b'{"contents": []}', model="m", stream=False)
    with pytest.raises(BadRequest):
        FRONTEND.parse(b'{"contents": [{"parts": [{"text": "x"}]}]}', model="", stream=False)
    pdf = {"contents": [{"parts": [{"inline_data": {"mime_type": "application/pdf", "data": "JVBE"}}]}]}
    with pytest.raises(BadRequest):
        FRONTEND.to_canonical(Parsed(model="m", stream=False, body=pdf))
    parsed = FRONTEND.parse(b'{"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {}}', model="m", stream=False)
    assert parsed == Parsed(model="m", stream=False, body={"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {}})
    assert canonical_of(parsed) == {"model": "m", "messages": [{"role": "user", "content": "x"}]}


# --- front door: canonical answers -> Gemini ------------------------------------------------


def canonical_answer(finish: str) -> dict:
    usage = Usage(prompt_tokens=12, completion_tokens=8, cached_tokens=4, reasoning_tokens=3).to_openai()
    message = {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": [1]}'}}],
    }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


FINISHES = [("stop", "STOP"), ("length", "MAX_TOKENS"), ("tool_calls", "STOP"), ("content_filter", "SAFETY"), ("weird", "STOP")]


@pytest.mark.parametrize(("finish", "expected"), FINISHES)
def test_from_canonical(finish: str, expected: str) -> None:
    assert FRONTEND.from_canonical(from_openai(canonical_answer(finish), ChatResponse), "alias") == {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Checking."}, {"functionCall": {"name": "f", "args": {"a": [1]}}}]},
                "finishReason": expected,
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 12,
            "candidatesTokenCount": 5,
            "totalTokenCount": 20,
            "cachedContentTokenCount": 4,
            "thoughtsTokenCount": 3,
        },
        "modelVersion": "alias",
        "responseId": "chatcmpl-1",
    }


@needs_sdk
@pytest.mark.parametrize(("finish", "expected"), FINISHES)
def test_from_canonical_read_by_the_sdk(finish: str, expected: str) -> None:
    from google.genai import types as gtypes

    r = gtypes.GenerateContentResponse.model_validate(FRONTEND.from_canonical(from_openai(canonical_answer(finish), ChatResponse), "alias"))
    assert r.candidates[0].content.parts[0].text == "Checking."
    assert (r.function_calls[0].name, r.function_calls[0].args) == ("f", {"a": [1]})
    assert r.candidates[0].finish_reason.value == expected
    meta = r.usage_metadata
    assert (
        meta.prompt_token_count,
        meta.candidates_token_count,
        meta.thoughts_token_count,
        meta.cached_content_token_count,
        meta.total_token_count,
    ) == (12, 5, 3, 4, 20)
    assert r.model_version == "alias" and r.response_id == "chatcmpl-1"


def encoded_events(raw: bytes) -> list[dict]:
    parser = sse.Parser()
    return [json.loads(e.data) for e in parser.feed(raw) + parser.close()]


def canonical_chunks() -> list[dict]:
    head = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "up"}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        chunk({}, "tool_calls"),
        {**head, "choices": [], "usage": Usage(7, 9, 0, 0).to_openai()},
    ]


def encode_all(chunks: list[dict]) -> bytes:
    encoder = FRONTEND.stream_encoder(Parsed(model="alias", stream=True, body={}))
    return b"".join(encoder.encode(from_openai(c, ChatChunk)) for c in chunks) + encoder.finish()


def test_stream_encoding() -> None:
    raw = encode_all(canonical_chunks())
    assert raw.endswith(b"\r\n\r\n") and b"[DONE]" not in raw
    events = encoded_events(raw)
    assert {e["modelVersion"] for e in events} == {"alias"} and {e["responseId"] for e in events} == {"chatcmpl-9"}
    candidates = [e["candidates"][0] for e in events]
    assert [c["content"]["parts"] for c in candidates] == [
        [{"text": "Hel"}],
        [{"text": "lo"}],
        [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
        [{"text": ""}],
    ]
    assert [c.get("finishReason") for c in candidates] == [None, None, None, "STOP"]  # the finishReason goes out with the usage, last
    assert events[-1]["usageMetadata"] == {"promptTokenCount": 7, "candidatesTokenCount": 9, "totalTokenCount": 16}
    assert all("usageMetadata" not in e for e in events[:-1])
    # Calls still open when the upstream ended without a finish_reason go out in finish().
    events = encoded_events(encode_all(canonical_chunks()[3:6]))
    assert events[0]["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" not in events[-1]


@needs_sdk
def test_stream_encoding_read_by_the_sdk() -> None:
    from google.genai import types as gtypes

    responses = [gtypes.GenerateContentResponse.model_validate(e) for e in encoded_events(encode_all(canonical_chunks()))]
    assert "".join(p.text or "" for r in responses for p in r.candidates[0].content.parts) == "Hello"
    calls = [fc for r in responses for fc in r.function_calls or ()]
    assert [(fc.name, fc.args) for fc in calls] == [("get_weather", {"city": "Paris"})]
    assert [r.candidates[0].finish_reason.value for r in responses if r.candidates[0].finish_reason] == ["STOP"]
    assert responses[-1].usage_metadata.prompt_token_count == 7 and responses[-1].usage_metadata.candidates_token_count == 9
    assert {r.model_version for r in responses} == {"alias"}


@needs_sdk
def test_stream_through_the_sdk_and_in_stream_error() -> None:
    from google import genai
    from google.genai import errors as gerrors
    from google.genai import types as gtypes

    encoder = FRONTEND.stream_encoder(Parsed(model="alias", stream=True, body={}))
    broken = encoder.encode(from_openai(canonical_chunks()[1], ChatChunk)) + encoder.error(
        UpstreamError("The upstream stream ended abnormally.")
    )

    def client(payload: bytes) -> genai.Client:
        transport = httpx.MockTransport(lambda _r: httpx.Response(200, content=payload, headers={"content-type": "text/event-stream"}))
        return genai.Client(api_key="k", http_options=gtypes.HttpOptions(base_url=BASE, httpx_client=httpx.Client(transport=transport)))

    seen = list(client(encode_all(canonical_chunks()[:3])).models.generate_content_stream(model="alias", contents="hi"))
    assert "".join(r.text or "" for r in seen) == "Hello" and seen[-1].candidates[0].finish_reason == gtypes.FinishReason.STOP
    with pytest.raises(gerrors.APIError) as err:
        list(client(broken).models.generate_content_stream(model="alias", contents="hi"))
    assert err.value.code == 502


def test_in_stream_error_event() -> None:
    raw = FRONTEND.stream_encoder(Parsed(model="alias", stream=True, body={})).error(UpstreamTimeout("slow"))
    assert raw.startswith(b'data: {"error":') and raw.endswith(b"\r\n\r\n")  # the SDK raises on a chunk starting with {"error":
    assert encoded_events(raw) == [{"error": {"code": 504, "message": "slow", "status": "DEADLINE_EXCEEDED"}}]


def test_gemini_upstream_to_gemini_client_through_canonical() -> None:
    """A Gemini stream decoded to canonical and encoded back gives the same answer."""
    chunks, _ = decode_stream(STREAM_BYTES, 5)
    events = encoded_events(encode_all(chunks))
    parts = [p for e in events for p in e["candidates"][0].get("content", {}).get("parts", ())]
    assert "".join(p.get("text", "") for p in parts if not p.get("thought")) == "Héllo wörld"
    assert [p["text"] for p in parts if p.get("thought")] == ["thinking"]  # the thought part, kept as one
    assert [p["functionCall"] for p in parts if "functionCall" in p] == [{"name": "f", "args": {"q": "x y"}}, {"name": "g", "args": {}}]
    assert events[-1]["usageMetadata"] == {
        "promptTokenCount": 5,
        "candidatesTokenCount": 7,
        "totalTokenCount": 14,
        "cachedContentTokenCount": 1,
        "thoughtsTokenCount": 2,
    }


@pytest.mark.parametrize(
    ("err", "status", "name"),
    [
        (BadRequest("bad"), 400, "INVALID_ARGUMENT"),
        (InsufficientQuota("q"), 402, "RESOURCE_EXHAUSTED"),
        (RateLimited("r"), 429, "RESOURCE_EXHAUSTED"),
        (ModelUnavailable("m"), 503, "UNAVAILABLE"),
        (UpstreamTimeout("t"), 504, "DEADLINE_EXCEEDED"),
        (UpstreamError("u"), 502, "INTERNAL"),
    ],
)
def test_error_bodies(err, status, name) -> None:
    assert FRONTEND.error_body(err) == {"error": {"code": status, "message": err.message, "status": name}}
    assert FRONTEND.passthrough_end() == b""


# --- front door: routes, keys, countTokens, embeddings helpers ------------------------------------


def test_routes_and_keys() -> None:
    keys = []

    async def fake_generate(request, model):
        keys.append(FRONTEND.api_key(request))
        return Response({"model": model})

    class Auth:
        async def principal(self, key: str, address: str = "") -> None:
            keys.append(key)

    app = Litestar(route_handlers=front.ROUTES)
    app.state.edge = type("Edge", (), {"auth": Auth()})()
    original = front.ACTIONS["generateContent"]
    front.ACTIONS["generateContent"] = fake_generate
    try:
        with TestClient(app) as client:
            assert client.post("/gemini/v1beta/models/gemini-x:generateContent", json={}, headers={"x-goog-api-key": "hk"}).json() == {
                "model": "gemini-x"
            }
            assert client.post("/gemini/v1/models/openai/gpt-4o:generateContent?key=qk", json={}).json() == {"model": "openai/gpt-4o"}
            client.post("/gemini/v1beta/models/m:generateContent", json={}, headers={"authorization": "Bearer bk"})
            missing = client.post("/gemini/v1beta/models/m:launchRockets", json={})
            assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
            missing_key = client.post("/gemini/v1beta/models/m:generateContent", json={})
            assert missing_key.status_code == 401 and "x-goog-api-key" in missing_key.json()["error"]["message"]
    finally:
        front.ACTIONS["generateContent"] = original
    assert keys == ["hk", "qk", "bk"]


def test_embeddings_helpers() -> None:
    assert front.embed_request_to_openai("embedContent", {"content": {"parts": [{"text": "a"}, {"text": "b"}]}}) == ["ab"]
    batch = {"requests": [{"model": "models/e", "content": {"parts": [{"text": "x"}]}}, {"content": {"parts": [{"text": "y"}]}}]}
    assert front.embed_request_to_openai("batchEmbedContents", batch) == ["x", "y"]
    with pytest.raises(BadRequest):
        front.embed_request_to_openai("batchEmbedContents", {"requests": []})
    openai = {"data": [{"index": 1, "embedding": [0.2]}, {"index": 0, "embedding": [0.1]}]}
    assert front.openai_embeddings_to_gemini("batchEmbedContents", openai) == {"embeddings": [{"values": [0.1]}, {"values": [0.2]}]}
    assert front.openai_embeddings_to_gemini("embedContent", openai) == {"embedding": {"values": [0.1]}}
    req = ADAPTER.embeddings_request(BASE, "k", "text-embedding-004", ["x", "y"])
    assert req.url == f"{BASE}/v1beta/models/text-embedding-004:batchEmbedContents" and req.headers["x-goog-api-key"] == "k"
    assert sent(req) == {"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": t}]}} for t in "xy"]}
    assert sent(ADAPTER.embeddings_request(BASE, "k", "e", {"input": "z", "dimensions": 8}))["requests"][0]["outputDimensionality"] == 8
    with pytest.raises(BadRequest):
        ADAPTER.embeddings_request(BASE, "k", "e", {"input": [[1, 2]]})
    assert ADAPTER.embeddings_response(b'{"embeddings": [{"values": [1.0, 2.5]}]}') == [[1.0, 2.5]]
    result, usage = ADAPTER.embeddings_result(b'{"embeddings": [{"values": [1.0]}]}')
    assert result["data"] == [{"object": "embedding", "index": 0, "embedding": [1.0]}] and usage == Usage()
