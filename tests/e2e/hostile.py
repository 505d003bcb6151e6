"""Helpers for the hostile-input tests: every edge endpoint, and the error shape of its door."""

from __future__ import annotations

import socket

import httpx

MESSAGES = [{"role": "user", "content": "hi"}]
GEMINI_CONTENTS = [{"role": "user", "parts": [{"text": "hi"}]}]

# path -> a valid body for it (model "{model}" filled in per request)
ENDPOINTS: dict[str, dict] = {
    "/v1/chat/completions": {"model": "{model}", "messages": MESSAGES, "max_tokens": 5},
    "/v1/messages": {"model": "{model}", "messages": MESSAGES, "max_tokens": 5},
    "/v1/messages/count_tokens": {"model": "{model}", "messages": MESSAGES},
    "/v1/completions": {"model": "{model}", "prompt": "hi", "max_tokens": 5},
    "/v1/embeddings": {"model": "embed-1", "input": "hi"},
    "/v1/rerank": {"model": "rerank-1", "query": "q", "documents": ["a", "b"]},
    "/v1/images/generations": {"model": "image-1", "prompt": "hi", "size": "256x256"},
    "/v1/moderations": {"model": "moderation-1", "input": "hi"},
    "/gemini/v1beta/models/image-1:predict": {"instances": [{"prompt": "hi"}], "parameters": {"sampleCount": 1}},
    "/v1/audio/speech": {"model": "tts-1", "voice": "alloy", "input": "hi", "response_format": "wav"},
    "/v1/responses": {"model": "{model}", "input": "hi", "max_output_tokens": 5},
    "/gemini/v1beta/models/{model}:generateContent": {"contents": GEMINI_CONTENTS, "generationConfig": {"maxOutputTokens": 5}},
    "/gemini/v1beta/models/{model}:streamGenerateContent": {"contents": GEMINI_CONTENTS, "generationConfig": {"maxOutputTokens": 5}},
    "/gemini/v1beta/models/{model}:countTokens": {"contents": GEMINI_CONTENTS},
    "/gemini/v1beta/models/embed-1:embedContent": {"content": {"parts": [{"text": "hi"}]}},
    "/gemini/v1beta/models/embed-1:batchEmbedContents": {"requests": [{"content": {"parts": [{"text": "hi"}]}}]},
}
_TOOL = {
    "type": "function",
    "function": {"name": "weather", "description": "d", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
# Richer bodies (tools, tool calls and results, images, system prompts): where translation between protocols does the most.
RICH: list[tuple[str, dict]] = [
    (
        "/v1/chat/completions",
        {
            "model": "{model}",
            "max_tokens": 5,
            "stream": False,
            "tools": [_TOOL],
            "tool_choice": "auto",
            "stream_options": {"include_usage": True},
            "messages": [
                {"role": "system", "content": "terse"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"x"}'}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
        },
    ),
    (
        "/v1/messages",
        {
            "model": "{model}",
            "max_tokens": 5,
            "system": [{"type": "text", "text": "terse"}],
            "tools": [
                {"name": "weather", "description": "d", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
            ],
            "tool_choice": {"type": "auto"},
            "stream": False,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "x"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "sunny"}]}]},
            ],
        },
    ),
    (
        "/gemini/v1beta/models/{model}:generateContent",
        {
            "systemInstruction": {"parts": [{"text": "terse"}]},
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "weather",
                            "description": "d",
                            "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
                        }
                    ]
                }
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}},
            "generationConfig": {
                "maxOutputTokens": 5,
                "candidateCount": 1,
                "temperature": 0.5,
                "stopSequences": ["x"],
                "responseMimeType": "application/json",
            },
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "x"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"result": "sunny"}}}]},
            ],
        },
    ),
]
RICH.append(  # the Responses API door: items of every kind it translates
    (
        "/v1/responses",
        {
            "model": "{model}",
            "max_output_tokens": 5,
            "instructions": "terse",
            "tools": [{"type": "function", "name": "weather", "description": "d", "parameters": _TOOL["function"]["parameters"]}],
            "tool_choice": "auto",
            "text": {"format": {"type": "json_schema", "name": "w", "schema": _TOOL["function"]["parameters"]}},
            "reasoning": {"effort": "low", "summary": "auto"},
            "metadata": {"k": "v"},
            "stream": False,
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hi"}, {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}],
                },
                {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city":"x"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            ],
        },
    )
)
# Models served by an upstream of each protocol (so translation runs both ways).
MODELS = ("sim-1", "contract-anthropic", "contract-gemini")


def door(path: str) -> str:
    return "anthropic" if path.startswith("/v1/messages") else "gemini" if path.startswith("/gemini/") else "openai"


def headers_for(path: str, key: str) -> dict[str, str]:
    if door(path) == "anthropic":
        return {"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    if door(path) == "gemini":
        return {"x-goog-api-key": key, "content-type": "application/json"}
    return {"authorization": f"Bearer {key}", "content-type": "application/json"}


def fill(value, model: str):
    if isinstance(value, str):
        return value.replace("{model}", model)
    if isinstance(value, dict):
        return {k: fill(v, model) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, model) for v in value]
    return value


def assert_error_shape(path: str, response: httpx.Response) -> None:
    """A 4xx/5xx answer is JSON in the door's own error shape, and shows no internals."""
    assert response.headers.get("content-type", "").startswith("application/json"), (path, response.status_code, response.text[:300])
    body = response.json()
    text = response.text
    for leak in ("Traceback", "grpc", "Stream removed", "metadata size", 'File "', "Exception"):
        assert leak not in text, (path, text[:300])
    kind = door(path)
    if kind == "anthropic":
        assert body["type"] == "error" and isinstance(body["error"]["type"], str) and isinstance(body["error"]["message"], str), body
    elif kind == "gemini":
        error = body["error"]
        assert error["code"] == response.status_code and isinstance(error["message"], str) and isinstance(error["status"], str), body
    else:
        error = body["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str) and "code" in error, body


def raw_http(host: str, port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers before closing."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
