"""The provider simulator speaks OpenAI, Anthropic and Gemini faithfully: its output is decoded
here by the official SDKs' own types, and the deterministic numbers agree across protocols."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import anthropic
import httpx
import openai
import pytest
import uvicorn
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from tools.provider_sim.app import answer_words, create_app
from tools.provider_sim.common import embedding

SYSTEM = "you are terse"  # 3 words
PROMPT = "say something nice please"  # 4 words
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "temp": {"type": "number"},
        "metric": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
WEATHER_ARGS = {"city": "sim", "days": 1, "temp": 1.5, "metric": True, "tags": None}
TOOL_RESULT = "sunny and warm today"  # 4 words


@pytest.fixture(scope="module")
def base() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(latency_ms=0, slow_ms=50), log_level="critical", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = server.force_exit = True  # sim-timeout handlers never finish by themselves
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def oai(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0)


@pytest.fixture(scope="module")
def claude(base: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{base}/anthropic", api_key="x", max_retries=0)


@pytest.fixture(scope="module")
def gem(base: str) -> genai.Client:
    return genai.Client(api_key="x", http_options=gtypes.HttpOptions(base_url=f"{base}/gemini"))


def text(n: int) -> str:
    return " ".join(answer_words(n))


def sse_lines(base: str, path: str, body: dict, headers: dict) -> list[str]:
    with httpx.stream("POST", base + path, json=body, headers=headers, timeout=5) as r:
        assert r.status_code == 200
        return [line for line in r.iter_lines() if line]


# --- OpenAI ---------------------------------------------------------------------------------


def test_openai_chat(oai: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": [{"type": "text", "text": PROMPT}]}]
    done = oai.chat.completions.create(model="sim-1", messages=messages, max_tokens=5)
    assert done.choices[0].message.content == text(5) and done.choices[0].finish_reason == "stop"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (7, 5, 12)

    chunks = list(oai.chat.completions.create(model="sim-1", messages=messages, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text(12)
    assert chunks[-1].usage.prompt_tokens == 7 and chunks[-1].usage.completion_tokens == 12


def test_openai_tool_call(oai: openai.OpenAI) -> None:
    tools = [
        {"type": "function", "function": {"name": "weather", "parameters": WEATHER_SCHEMA}},
        {"type": "function", "function": {"name": "other"}},
    ]
    messages = [{"role": "user", "content": PROMPT}]
    done = oai.chat.completions.create(model="sim-1", messages=messages, tools=tools)
    call = done.choices[0].message.tool_calls[0]
    assert done.choices[0].finish_reason == "tool_calls" and call.id == "call_sim_1" and call.function.name == "weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS and done.usage.completion_tokens == 7

    chunks = list(oai.chat.completions.create(model="sim-1", messages=messages, tools=tools, stream=True))
    assert sum(bool(c.choices[0].delta.tool_calls) for c in chunks) >= 3  # id/name, then >= 2 argument pieces
    with oai.chat.completions.stream(model="sim-1", messages=messages, tools=tools) as stream:
        final = stream.get_final_completion()
    assert json.loads(final.choices[0].message.tool_calls[0].function.arguments) == WEATHER_ARGS
    assert final.choices[0].finish_reason == "tool_calls"

    messages += [done.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT}]
    after = oai.chat.completions.create(model="sim-1", messages=messages, tools=tools, max_completion_tokens=3)
    assert after.choices[0].message.content == text(3) and after.usage.prompt_tokens == 8


def test_openai_responses(oai: openai.OpenAI) -> None:
    done = oai.responses.create(model="sim-1", instructions=SYSTEM, input=PROMPT, max_output_tokens=5)
    assert done.output_text == text(5) and done.status == "completed"
    assert (done.usage.input_tokens, done.usage.output_tokens, done.usage.total_tokens) == (7, 5, 12)
    with oai.responses.stream(model="sim-1", input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}]) as stream:
        final = stream.get_final_response()
    assert final.output_text == text(12) and final.usage.input_tokens == 4

    tools = [{"type": "function", "name": "weather", "parameters": WEATHER_SCHEMA}, {"type": "function", "name": "other"}]
    conversation: list = [{"role": "user", "content": PROMPT}]
    first = oai.responses.create(model="sim-1", input=conversation, tools=tools)
    [call] = first.output
    assert (call.type, call.name, json.loads(call.arguments), first.usage.output_tokens) == ("function_call", "weather", WEATHER_ARGS, 7)
    conversation += [*first.output, {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_RESULT}]
    with oai.responses.stream(model="sim-1", input=conversation, tools=tools, max_output_tokens=3) as stream:
        after = stream.get_final_response()
    assert after.output_text == text(3) and after.usage.input_tokens == 8

    deltas = []
    with pytest.raises((httpx.HTTPError, openai.APIError)):  # the connection drops after 3 pieces
        for event in oai.responses.create(model="sim-midstream-error", input=PROMPT, stream=True):
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
    assert "".join(deltas) == text(3)


def test_structured_output_in_every_protocol(oai: openai.OpenAI, claude: anthropic.Anthropic, gem: genai.Client) -> None:
    """A request for JSON matching a schema is answered with the schema's JSON (9 tokens), whatever the protocol."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    expected = {"city": "sim", "days": 1}
    fmt = {"type": "json_schema", "json_schema": {"name": "w", "schema": schema}}
    chat = oai.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": PROMPT}], response_format=fmt)
    assert json.loads(chat.choices[0].message.content) == expected and chat.usage.completion_tokens == 9
    done = oai.responses.create(model="sim-1", input=PROMPT, text={"format": {"type": "json_schema", "name": "w", "schema": schema}})
    assert json.loads(done.output_text) == expected and done.usage.output_tokens == 9
    msg = claude.messages.create(
        model="sim-1",
        max_tokens=50,
        messages=[{"role": "user", "content": PROMPT}],
        extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
    )
    assert json.loads(msg.content[0].text) == expected and msg.usage.output_tokens == 9
    config = gtypes.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema)
    reply = gem.models.generate_content(model="sim-1", contents=PROMPT, config=config)
    assert json.loads(reply.text) == expected and reply.usage_metadata.candidates_token_count == 9
    plain = oai.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=2)
    assert plain.choices[0].message.content == text(2)  # no schema asked: words


def test_openai_embeddings_and_rerank(oai: openai.OpenAI, base: str) -> None:
    got = oai.embeddings.create(model="sim-embed", input=["hello world", "bye"])  # the SDK asks for base64
    assert [d.embedding for d in got.data] == [embedding("hello world"), embedding("bye")]
    assert got.usage.prompt_tokens == 3 and all(-1 <= v <= 1 for v in got.data[0].embedding) and len(got.data[0].embedding) == 8
    floats = oai.embeddings.create(model="sim-embed", input="hello world", encoding_format="float")
    assert floats.data[0].embedding == embedding("hello world")

    body = {
        "model": "sim-rerank",
        "query": "Brown fox fox",
        "documents": ["a lazy dog", {"text": "the brown fox"}, "fox only"],
        "top_n": 2,
        "return_documents": True,
    }
    r = httpx.post(f"{base}/v1/rerank", json=body, headers={"authorization": "Bearer x"}).json()
    assert [(x["index"], x["relevance_score"], x["document"]["text"]) for x in r["results"]] == [
        (1, 1.0, "the brown fox"),
        (2, 0.5, "fox only"),
    ]
    assert r["usage"] == {"total_tokens": 3 * 3 + 3 + 3 + 2}


def test_openai_legacy_completions(oai: openai.OpenAI) -> None:
    done = oai.completions.create(model="sim-1", prompt=["one two", "three"], n=2, max_tokens=3, echo=True, suffix="four")
    assert [c.text for c in done.choices] == ["one two" + text(3)] * 2 + ["three" + text(3)] * 2
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (4, 12)  # 3 prompt words and the suffix; 4 choices x 3
    chunks = list(oai.completions.create(model="sim-1", prompt="hi", max_tokens=2, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == text(2)
    assert chunks[-1].usage.completion_tokens == 2 and [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    with pytest.raises(openai.BadRequestError):
        oai.completions.create(model="sim-1", prompt=[[1, 2]])
    tokens = oai.embeddings.create(model="sim-embed", input=[15339, 1070], encoding_format="float")
    assert tokens.usage.prompt_tokens == 2 and tokens.data[0].embedding == embedding("15339 1070")


def test_openai_errors_and_faults(oai: openai.OpenAI, base: str) -> None:
    with pytest.raises(openai.RateLimitError) as err:
        oai.chat.completions.create(model="sim-error-429", messages=[{"role": "user", "content": "hi"}])
    assert err.value.response.headers["retry-after"] == "1"
    assert httpx.post(f"{base}/v1/chat/completions", json={"model": "sim-1"}).status_code == 401
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(model="sim-midstream-error", messages=[{"role": "user", "content": "hi"}], stream=True):
            pass
    lines = sse_lines(
        base, "/v1/chat/completions", {"model": "sim-malformed-stream", "messages": [], "stream": True}, {"authorization": "Bearer x"}
    )
    assert len(lines) == 4 and lines[-1] == "data: {not json"  # role chunk, 2 words, the bad line; no [DONE]


# --- Anthropic ------------------------------------------------------------------------------


def test_anthropic_messages(claude: anthropic.Anthropic) -> None:
    kw = {"model": "sim-1", "system": [{"type": "text", "text": SYSTEM}], "messages": [{"role": "user", "content": PROMPT}]}
    msg = claude.messages.create(max_tokens=5, **kw)
    assert msg.content[0].type == "text" and msg.content[0].text == text(5) and msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens, msg.usage.cache_read_input_tokens) == (7, 5, 0)
    assert msg.id.startswith("msg_sim") and msg.model == "sim-1"

    with claude.messages.stream(max_tokens=4, **kw) as stream:
        assert "".join(stream.text_stream) == text(4)
        final = stream.get_final_message()
    assert final.content[0].text == text(4) and (final.usage.input_tokens, final.usage.output_tokens) == (7, 4)
    assert claude.messages.count_tokens(**kw).input_tokens == 7


def test_anthropic_tool_use(claude: anthropic.Anthropic, base: str) -> None:
    tools = [{"name": "weather", "input_schema": WEATHER_SCHEMA}, {"name": "other", "input_schema": {"type": "object"}}]
    messages: list = [{"role": "user", "content": PROMPT}]
    msg = claude.messages.create(model="sim-1", max_tokens=50, messages=messages, tools=tools)
    block = msg.content[0]
    assert msg.stop_reason == "tool_use" and block.type == "tool_use" and block.id == "toolu_sim_1"
    assert block.name == "weather" and block.input == WEATHER_ARGS and msg.usage.output_tokens == 7

    with claude.messages.stream(model="sim-1", max_tokens=50, messages=messages, tools=tools) as stream:
        final = stream.get_final_message()
    assert final.content[0].input == WEATHER_ARGS and final.stop_reason == "tool_use" and final.usage.output_tokens == 7

    lines = sse_lines(
        base, "/anthropic/v1/messages", {"model": "sim-1", "messages": messages, "tools": tools, "stream": True}, {"x-api-key": "x"}
    )
    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert events[:3] == ["message_start", "content_block_start", "ping"] and events[-3:] == [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events.count("content_block_delta") >= 2
    assert json.loads(lines[1].removeprefix("data: "))["message"]["usage"]["output_tokens"] == 1

    messages += [
        {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": [{"type": "text", "text": TOOL_RESULT}]}]},
    ]
    after = claude.messages.create(model="sim-1", max_tokens=3, messages=messages, tools=tools)
    assert after.content[0].text == text(3) and after.usage.input_tokens == 8


def test_anthropic_errors_and_faults(claude: anthropic.Anthropic, base: str) -> None:
    with pytest.raises(anthropic.RateLimitError) as err:
        claude.messages.create(model="sim-error-429", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert err.value.response.headers["retry-after"] == "1" and err.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(model="sim-error-529", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.InternalServerError) as err:
        claude.messages.create(model="sim-error-500", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert err.value.body == {"type": "error", "error": {"type": "api_error", "message": "simulated HTTP 500"}}
    r = httpx.post(f"{base}/anthropic/v1/messages", json={"model": "sim-1"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    with (
        pytest.raises(Exception, match="incomplete chunked read"),  # the SDK's vendored httpx2 error
        claude.messages.stream(model="sim-midstream-error", max_tokens=9, messages=[{"role": "user", "content": "hi"}]) as stream,
    ):
        stream.get_final_message()
    lines = sse_lines(base, "/anthropic/v1/messages", {"model": "sim-malformed-stream", "messages": [], "stream": True}, {"x-api-key": "x"})
    assert lines[-1] == "data: {not json" and sum(line == "event: content_block_delta" for line in lines) == 3


# --- Gemini ---------------------------------------------------------------------------------


def test_gemini_generate(gem: genai.Client) -> None:
    config = gtypes.GenerateContentConfig(system_instruction=SYSTEM, max_output_tokens=5)
    resp = gem.models.generate_content(model="sim-1", contents=PROMPT, config=config)
    assert resp.text == text(5) and resp.candidates[0].finish_reason == gtypes.FinishReason.STOP
    usage = resp.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.total_token_count) == (7, 5, 12)
    assert resp.model_version == "sim-1"

    chunks = list(gem.models.generate_content_stream(model="sim-1", contents=PROMPT, config=config))
    assert len(chunks) == 5 and "".join(c.text for c in chunks) == text(5)
    assert chunks[-1].candidates[0].finish_reason == gtypes.FinishReason.STOP and chunks[0].candidates[0].finish_reason is None
    assert chunks[-1].usage_metadata.candidates_token_count == 5 and chunks[0].usage_metadata.prompt_token_count == 7
    assert gem.models.count_tokens(model="sim-1", contents=PROMPT).total_tokens == 4


def test_gemini_function_call(gem: genai.Client) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {k: {"type": v["type"].upper()} for k, v in WEATHER_SCHEMA["properties"].items() if k != "tags"},
    }
    schema["properties"]["tags"] = {"type": "ARRAY", "items": {"type": "STRING"}}
    tool = gtypes.Tool(
        function_declarations=[gtypes.FunctionDeclaration(name="weather", parameters=schema), gtypes.FunctionDeclaration(name="other")]
    )
    config = gtypes.GenerateContentConfig(tools=[tool], max_output_tokens=3)
    resp = gem.models.generate_content(model="sim-1", contents=PROMPT, config=config)
    call = resp.function_calls[0]
    assert call.name == "weather" and call.args == WEATHER_ARGS and resp.usage_metadata.candidates_token_count == 7
    assert resp.candidates[0].finish_reason == gtypes.FinishReason.STOP
    streamed = list(gem.models.generate_content_stream(model="sim-1", contents=PROMPT, config=config))
    assert len(streamed) == 1 and streamed[0].function_calls[0].args == WEATHER_ARGS

    contents = [
        gtypes.Content(role="user", parts=[gtypes.Part(text=PROMPT)]),
        resp.candidates[0].content,
        gtypes.Content(
            role="user",
            parts=[gtypes.Part.from_function_response(name="weather", response={"result": TOOL_RESULT, "n": 3, "more": ["x y"]})],
        ),
    ]
    after = gem.models.generate_content(model="sim-1", contents=contents, config=config)
    assert after.text == text(3) and after.usage_metadata.prompt_token_count == 4 + 4 + 2


def test_gemini_embeddings(gem: genai.Client, base: str) -> None:
    got = gem.models.embed_content(model="sim-embed", contents=["hello world", "bye"])
    assert [e.values for e in got.embeddings] == [embedding("hello world"), embedding("bye")]
    r = httpx.post(f"{base}/gemini/v1beta/models/sim-embed:embedContent?key=x", json={"content": {"parts": [{"text": "bye"}]}})
    assert r.json() == {"embedding": {"values": embedding("bye")}}


def test_gemini_errors_and_faults(gem: genai.Client, base: str) -> None:
    with pytest.raises(genai_errors.ClientError) as err:
        gem.models.generate_content(model="sim-error-429", contents="hi")
    assert err.value.code == 429 and err.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(genai_errors.ServerError) as err:
        gem.models.generate_content(model="sim-error-503", contents="hi")
    assert err.value.status == "UNAVAILABLE"
    r = httpx.post(f"{base}/gemini/v1beta/models/sim-1:generateContent", json={"contents": []})
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    with pytest.raises(Exception, match="incomplete chunked read"):
        list(gem.models.generate_content_stream(model="sim-midstream-error", contents="hi"))
    url = "/gemini/v1beta/models/sim-malformed-stream:streamGenerateContent?alt=sse"
    lines = sse_lines(base, url, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, {"x-goog-api-key": "x"})
    assert len(lines) == 3 and lines[-1] == "data: {not json"


# --- Shared ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/chat/completions", {"authorization": "Bearer x"}),
        ("/anthropic/v1/messages", {"x-api-key": "x"}),
        ("/gemini/v1beta/models/sim-timeout:generateContent", {"x-goog-api-key": "x"}),
    ],
)
def test_timeout_and_slow(base: str, path: str, headers: dict) -> None:
    body = {"model": "sim-timeout", "messages": [{"role": "user", "content": "hi"}], "contents": []}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(base + path, json=body, headers=headers, timeout=0.2)
    started = time.monotonic()
    slow = httpx.post(base + path.replace("sim-timeout", "sim-slow"), json={**body, "model": "sim-slow"}, headers=headers, timeout=5)
    assert slow.status_code == 200 and time.monotonic() - started >= 0.05


def test_stats_count_every_protocol(base: str, oai: openai.OpenAI, claude: anthropic.Anthropic, gem: genai.Client) -> None:
    before = httpx.get(f"{base}/_sim/stats").json()["requests"].get("sim-stats", 0)
    oai.chat.completions.create(model="sim-stats", messages=[{"role": "user", "content": "hi"}])
    claude.messages.create(model="sim-stats", max_tokens=1, messages=[{"role": "user", "content": "hi"}])
    gem.models.generate_content(model="sim-stats", contents="hi")
    assert httpx.get(f"{base}/_sim/stats").json()["requests"]["sim-stats"] == before + 3
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}


def test_anthropic_reports_cache_control_blocks_as_cache_writes(claude: anthropic.Anthropic) -> None:
    """Text blocks marked with cache_control are reported as cache_creation_input_tokens, apart
    from input_tokens, in whole answers and in both usage events of a stream."""
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    kw = {"model": "sim-1", "max_tokens": 3, "system": system, "messages": [{"role": "user", "content": PROMPT}]}
    msg = claude.messages.create(**kw)
    assert (msg.usage.input_tokens, msg.usage.cache_creation_input_tokens, msg.usage.output_tokens) == (4, 3, 3)
    with claude.messages.stream(**kw) as stream:
        final = stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.cache_creation_input_tokens, final.usage.output_tokens) == (4, 3, 3)


@pytest.mark.parametrize(
    "path, headers, body",
    [
        ("/v1/chat/completions", {"authorization": "Bearer x"}, {"messages": [{"role": "user", "content": "hi"}], "stream": True}),
        ("/anthropic/v1/messages", {"x-api-key": "x"}, {"messages": [{"role": "user", "content": "hi"}], "stream": True}),
        ("/gemini/v1beta/models/sim-stall:streamGenerateContent?alt=sse", {"x-goog-api-key": "x"}, {"contents": []}),
    ],
)
def test_sim_stall_sends_three_pieces_then_nothing(base: str, path: str, headers: dict, body: dict) -> None:
    """``sim-stall``: the answer starts, three text pieces arrive, then the stream stays open and silent."""
    got: list[str] = []
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream("POST", base + path, json={**body, "model": "sim-stall", "max_tokens": 12}, headers=headers, timeout=0.5) as r,
    ):
        for line in r.iter_lines():
            got.append(line)
    assert len([line for line in got if re.search(r'"(content|text)":"[^"]+"', line)]) == 3  # non-empty text pieces
