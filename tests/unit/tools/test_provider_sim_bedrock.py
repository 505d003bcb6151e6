"""The simulator's Bedrock mode: its event-stream frames read back by botocore's parser, its
SigV4 check (botocore's own bedrock-runtime client is accepted, a wrong secret or another
body is not), Converse and ConverseStream as AWS's client reads them, and the edge's
adapter against it."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import msgspec
import pytest
import uvicorn
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, EventStreamError
from botocore.session import Session

from tollgate.canonical import from_openai
from tollgate.providers.bedrock import BedrockAdapter
from tools.provider_sim import bedrock, eventstream
from tools.provider_sim.app import answer_words, create_app

KEY = f"{bedrock.ACCESS_KEY_ID}:{bedrock.SECRET_ACCESS_KEY}"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}


def test_frames_round_trip_through_botocores_parser():
    data = eventstream.event("contentBlockDelta", b'{"delta":{"text":"hi"}}') + eventstream.exception("throttlingException", b"{}")
    buffer = EventStreamBuffer()
    messages = []
    for i in range(len(data)):  # one byte at a time: frames are only yielded whole
        buffer.add_data(data[i : i + 1])
        messages += list(buffer)
    assert [(m.headers, m.payload) for m in messages] == [
        ({":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}, b'{"delta":{"text":"hi"}}'),
        ({":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception"}, b"{}"),
    ]


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
    server.should_exit = server.force_exit = True
    thread.join(timeout=5)


def aws_client(base: str, secret: str = bedrock.SECRET_ACCESS_KEY, key_id: str = bedrock.ACCESS_KEY_ID):
    return Session().create_client(
        "bedrock-runtime",
        region_name="eu-west-3",
        endpoint_url=f"{base}/bedrock",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


MESSAGES = [{"role": "user", "content": [{"text": "What is the weather"}]}]


def test_aws_client_converse(base):
    answer = aws_client(base).converse(modelId="sim-1", messages=MESSAGES, system=[{"text": "be terse"}], inferenceConfig={"maxTokens": 4})
    assert answer["output"]["message"]["content"] == [{"text": " ".join(answer_words(4))}]
    assert answer["stopReason"] == "end_turn"
    assert (answer["usage"]["inputTokens"], answer["usage"]["outputTokens"]) == (6, 4)


def test_aws_client_converse_stream_with_a_tool(base):
    tools = {"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": WEATHER}}}]}
    stream = aws_client(base).converse_stream(modelId="sim-1", messages=MESSAGES, toolConfig=tools)["stream"]
    events = list(stream)
    assert [next(iter(e)) for e in events][:2] == ["messageStart", "contentBlockStart"]
    assert events[1]["contentBlockStart"]["start"]["toolUse"]["name"] == "weather"
    pieces = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert json.loads(pieces) == {"city": "sim", "days": 1}
    assert next(e for e in events if "messageStop" in e)["messageStop"]["stopReason"] == "tool_use"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 7


def test_aws_client_sees_the_mid_stream_exception(base):
    stream = aws_client(base).converse_stream(modelId="sim-midstream-error", messages=MESSAGES)["stream"]
    with pytest.raises(EventStreamError, match="modelStreamErrorException"):
        list(stream)


@pytest.mark.parametrize(
    "model, status, code", [("sim-error-429", 429, "ThrottlingException"), ("sim-error-503", 503, "ServiceUnavailableException")]
)
def test_aws_client_sees_aws_errors(base, model, status, code):
    with pytest.raises(ClientError) as err:
        aws_client(base).converse(modelId=model, messages=MESSAGES)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.parametrize(
    "kwargs, code",
    [({"secret": "not-the-secret"}, "InvalidSignatureException"), ({"key_id": "AKIAUNKNOWN000000000"}, "UnrecognizedClientException")],
)
def test_bad_credentials_are_refused(base, kwargs, code):
    with pytest.raises(ClientError) as err:
        aws_client(base, **kwargs).converse(modelId="sim-1", messages=MESSAGES)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_changed_body_or_no_signature_is_refused(base):
    adapter = BedrockAdapter()
    req = adapter.chat_request(
        f"{base}/bedrock#region=us-east-1",
        KEY,
        "sim-1",
        from_openai({"messages": [{"role": "user", "content": "What is the weather"}]}),
        stream=False,
    )
    assert httpx.post(req.url, headers=req.headers, content=req.body).status_code == 200
    tampered = httpx.post(req.url, headers=req.headers, content=req.body.replace(b"weather", b"WEATHER"))
    assert tampered.status_code == 403 and tampered.headers["x-amzn-errortype"].startswith("InvalidSignatureException")
    unsigned = httpx.post(req.url, headers={"content-type": "application/json"}, content=req.body)
    assert unsigned.status_code == 403


def test_the_adapter_reads_the_simulators_stream(base):
    adapter = BedrockAdapter()
    question = from_openai({"messages": [{"role": "user", "content": "What is the weather"}], "max_tokens": 5})
    req = adapter.chat_request(f"{base}/bedrock#region=ap-south-1", KEY, "sim-1", question, stream=True)
    answer = httpx.post(req.url, headers=req.headers, content=req.body)
    assert answer.headers["content-type"] == "application/vnd.amazon.eventstream"
    framing, decoder = adapter.stream_parser(), adapter.stream_decoder("m")
    chunks = [c for e in framing.feed(answer.content) for c in decoder.feed(e)] + decoder.close()
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == " ".join(answer_words(5))
    assert (decoder.usage.prompt_tokens, decoder.usage.completion_tokens) == (4, 5)
    whole = adapter.chat_request(f"{base}/bedrock#region=ap-south-1", KEY, "sim-1", question, stream=False)
    response, usage = adapter.chat_response(httpx.post(whole.url, headers=whole.headers, content=whole.body).content)
    assert response.choices[0].message.content == " ".join(answer_words(5)) and usage.completion_tokens == 5
    assert msgspec.json.decode(whole.body)["inferenceConfig"] == {"maxTokens": 5}
