"""The bench's mock OpenAI upstream (request parsing, whole and streamed answers, usage) and
its load generator's response parsing, over a real socket. Nothing here is timed."""

from __future__ import annotations

import asyncio

import msgspec
import openai
import pytest

from tools import loadgen, mock_upstream
from tools.mock_upstream import CONTINUE, Completion, parse

BODY = {
    "model": "m",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "three words here"}]}],
}


def test_parse_content_length_pipelined_and_incomplete():
    one = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    buffer = bytearray(one + one[:30])
    request = parse(buffer)
    assert (request.method, request.path, request.body, request.close) == (b"POST", b"/v1/chat/completions", b"{}", False)
    assert parse(buffer) is None and buffer == one[:30]  # the second request waits for the rest
    buffer += one[30:]
    assert parse(buffer).body == b"{}" and not buffer


def test_parse_chunked_close_and_expect_continue():
    buffer = bytearray(b"POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
    request = parse(buffer)
    assert (request.body, request.close, buffer) == (b"abcde", True, bytearray())
    assert parse(bytearray(b"POST /x HTTP/1.1\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n")) == CONTINUE
    assert parse(bytearray(b"GET / HTTP/1.0\r\n\r\n")).close is True
    assert parse(bytearray(b"nonsense\r\n\r\n")) == 400


def test_stream_events_and_usage():
    events = Completion(words=3).events("m", 5, include_usage=True)
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [msgspec.json.decode(e[6:]) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "w0 w1 w2"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert all(c["usage"] is None for c in chunks[:-1])
    assert all("usage" not in msgspec.json.decode(e[6:]) for e in Completion(words=3).events("m", 5, include_usage=False)[:-1])


@pytest.fixture
async def mock():
    server = await mock_upstream.serve("127.0.0.1", 0, Completion(words=4))
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    server.close()


async def test_the_openai_sdk_reads_it(mock):
    client = openai.AsyncOpenAI(base_url=mock, api_key="k", max_retries=0)
    whole = await client.chat.completions.create(**BODY)
    assert whole.choices[0].message.content == "w0 w1 w2 w3"
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens, whole.usage.total_tokens) == (5, 4, 9)
    chunks = [c async for c in await client.chat.completions.create(**BODY, stream=True, stream_options={"include_usage": True})]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "w0 w1 w2 w3"
    assert chunks[-1].usage.completion_tokens == 4
    await client.close()


async def test_the_load_generator_keeps_one_connection(mock):
    target = loadgen.Target("direct", mock + "/chat/completions", "k", "m")
    pool = loadgen.Pool(target)
    whole = await loadgen.closed_loop(pool, target.request(BODY), 20, 2, stream=False)
    streamed = await loadgen.closed_loop(pool, target.request({**BODY, "stream": True}), 20, 2, stream=True)
    assert (whole.ok, whole.errors, streamed.ok, streamed.errors) == (20, 0, 20, 0)
    assert len(pool.idle) == 2  # the two workers' connections, reused for both runs
    missing = loadgen.Target("direct", mock.removesuffix("/v1") + "/nowhere", "k", "m")
    run = await loadgen.closed_loop(loadgen.Pool(missing), missing.request(BODY), 3, 1, stream=False)
    assert (run.ok, run.errors, run.error_samples[0]) == (0, 3, "HTTP 404")
    opened = await loadgen.open_loop(pool, target.request(BODY), rate=200, duration=0.1, max_connections=4)
    assert opened.ok + opened.dropped == 20 and opened.unfinished == 0
    pool.close()
    await asyncio.sleep(0)
