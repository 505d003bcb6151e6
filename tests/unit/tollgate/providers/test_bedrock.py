"""The bedrock adapter with canned payloads: request translation (the parameter table),
SigV4 signing, Converse answers, the binary event stream, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tollgate.canonical import ChatRequest, from_openai
from tollgate.providers import REGISTRY, vendor_of
from tollgate.providers.base import ChannelMisconfigured
from tollgate.providers.bedrock import BedrockAdapter, request, signing, wire
from tollgate.providers.bedrock.response import EXCEPTION, Decoder, Framing
from tollgate.sse import Event
from tools.provider_sim import eventstream

BASE = "https://bedrock-runtime.us-west-2.amazonaws.com#region=us-west-2"
SECRET = "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ADAPTER = BedrockAdapter()


def canonical(**body) -> ChatRequest:
    return from_openai({"model": "m", "messages": [{"role": "user", "content": "hi"}], **body})


def body_of(req) -> dict:
    return json.loads(req.body)


# --- request translation ---------------------------------------------------------------------


def test_every_canonical_field_is_in_the_parameter_table():
    assert set(request.PARAMETERS) == set(ChatRequest.__struct_fields__)
    assert all((p.apply is None) != (p.dropped == "") for p in request.PARAMETERS.values())


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
CALL = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
TOOL = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"a": {}}}}}


def test_conversation_with_tools_is_translated():
    req = canonical(
        messages=[
            {"role": "system", "content": "Be terse"},
            {"role": "developer", "content": "Really"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "done"},
            {"role": "user", "content": "and?"},
        ],
        tools=[
            {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"a": {}}}}}
        ],
        tool_choice="required",
        max_tokens=50,
        temperature=1.7,
        top_p=0.5,
        stop=["END", ""],
        seed=3,
        n=2,
        presence_penalty=1.0,
        user="u",
    )
    out = request.request_body(req)
    assert out["system"] == [{"text": "Be terse"}, {"text": "Really"}]
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "look"}, {"image": {"format": "png", "source": {"bytes": "AAAA"}}}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "done"}]}}, {"text": "and?"}]},
    ]
    assert out["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "f", "description": "d", "inputSchema": {"json": {"type": "object", "properties": {"a": {}}}}}}],
        "toolChoice": {"any": {}},
    }
    assert out["inferenceConfig"] == {"maxTokens": 50, "temperature": 1.0, "topP": 0.5, "stopSequences": ["END"]}
    assert set(out) == {"system", "messages", "toolConfig", "inferenceConfig"}  # n, seed, penalties, user: dropped


@pytest.mark.parametrize(
    "choice, expected",
    [("auto", {"auto": {}}), ("none", None), ({"type": "function", "function": {"name": "g"}}, {"tool": {"name": "g"}})],
)
def test_tool_choice(choice, expected):
    out = request.request_body(canonical(tools=[{"type": "function", "function": {"name": "g"}}], tool_choice=choice))
    assert out["toolConfig"].get("toolChoice") == expected
    assert out["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object", "properties": {}}}


def test_tool_history_without_tools_still_gets_a_tool_config():
    out = request.request_body(
        canonical(
            messages=[
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t", "content": "r"},
            ]
        )
    )
    assert [t["toolSpec"]["name"] for t in out["toolConfig"]["tools"]] == ["lookup"]


def test_images_converse_cannot_take_are_dropped():
    part = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    svg = {"type": "image_url", "image_url": {"url": "data:image/svg+xml;base64,AAAA"}}
    out = request.request_body(canonical(messages=[{"role": "user", "content": [{"type": "text", "text": "x"}, part, svg]}]))
    assert out["messages"][0]["content"] == [{"text": "x"}]


# --- signing -----------------------------------------------------------------------------------


def test_request_is_sigv4_signed_over_the_body():
    req = ADAPTER.chat_request(BASE, SECRET, "anthropic.claude-3-haiku-20240307-v1:0", canonical(), stream=True)
    assert req.url == "https://bedrock-runtime.us-west-2.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    auth = req.headers["Authorization"]
    stamp = req.headers["X-Amz-Date"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{stamp[:8]}/us-west-2/bedrock/aws4_request, ")
    assert "SignedHeaders=accept;content-type;host;x-amz-date," in auth
    assert req.headers["Accept"] == "application/vnd.amazon.eventstream"
    assert "wJalrXUtnFEMI" not in json.dumps(req.headers)
    # an independent re-signature (as AWS computes it) of what is sent matches; another body does not
    for body, same in ((req.body, True), (req.body + b" ", False)):
        again = AWSRequest(method="POST", url=req.url, data=body, headers={k: v for k, v in req.headers.items() if k != "Authorization"})
        again.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials("AKIDEXAMPLE", SECRET.split(":")[1]), "bedrock", "us-west-2")
        expected = signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)
        assert (auth.endswith("Signature=" + expected)) is same
    assert abs((datetime.now(UTC) - datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)).total_seconds()) < 60


def test_session_token_is_sent_and_signed():
    req = ADAPTER.chat_request(BASE, SECRET + ":FwoGZXIvYXdzEXAMPLETOKEN", "m", canonical(), stream=False)
    assert req.headers["X-Amz-Security-Token"] == "FwoGZXIvYXdzEXAMPLETOKEN"
    assert "x-amz-security-token" in req.headers["Authorization"]
    assert req.url.endswith("/model/m/converse") and req.headers["Accept"] == "application/json"


@pytest.mark.parametrize("secret", ["just-a-key", "a:b:c:d", ":secret"])
def test_malformed_secret_is_refused_without_quoting_it(secret):
    with pytest.raises(signing.CredentialError) as err:
        ADAPTER.chat_request(BASE, secret, "m", canonical(), stream=False)
    assert secret not in str(err.value)


def test_no_secret_uses_the_aws_credential_chain(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMCHAIN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "chain-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    req = BedrockAdapter().chat_request(BASE, "", "m", canonical(), stream=False)
    assert "Credential=AKIDFROMCHAIN/" in req.headers["Authorization"]


def test_a_failing_or_empty_credential_chain_is_a_misconfigured_channel(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ChannelMisconfigured, match="found none"):
        BedrockAdapter().chat_request(BASE, "", "m", canonical(), stream=False)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(ChannelMisconfigured, match=r"chain failed \(ProfileNotFound\)"):
        BedrockAdapter().chat_request(BASE, "", "m", canonical(), stream=False)


def test_region_comes_from_the_channel_or_the_aws_host():
    assert signing.endpoint("http://127.0.0.1:9/bedrock#region=eu-central-1") == ("http://127.0.0.1:9/bedrock", "eu-central-1")
    assert signing.endpoint("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com") == (
        "https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com",
        "us-gov-west-1",
    )
    with pytest.raises(signing.CredentialError):
        signing.endpoint("http://proxy.internal/bedrock")


def test_registered_with_the_aws_vendor():
    assert REGISTRY["bedrock"] is not None and vendor_of("bedrock") == "aws"


# --- answers -----------------------------------------------------------------------------------


def test_whole_answer_with_tool_use_and_reasoning():
    payload = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "think think", "signature": "s"}}},
                    {"text": "Calling."},
                    {"toolUse": {"toolUseId": "tu1", "name": "f", "input": {"x": 1}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30, "cacheReadInputTokens": 4, "cacheWriteInputTokens": 2},
    }
    answer, usage = ADAPTER.chat_response(msgspec.json.encode(payload))
    message = answer.choices[0].message
    assert message.content == "Calling." and message.reasoning_content == "think think"
    assert message.tool_calls[0].id == "tu1" and json.loads(message.tool_calls[0].function.arguments) == {"x": 1}
    assert answer.choices[0].finish_reason == "tool_calls"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens, usage.reasoning_tokens) == (16, 20, 4, 3)


@pytest.mark.parametrize("stop, finish", [("end_turn", "stop"), ("max_tokens", "length"), ("guardrail_intervened", "content_filter")])
def test_stop_reasons(stop, finish):
    payload = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": stop, "usage": {"inputTokens": 1, "outputTokens": 1}}
    assert ADAPTER.chat_response(msgspec.json.encode(payload))[0].choices[0].finish_reason == finish


def test_unreadable_answer_is_a_value_error():
    with pytest.raises(ValueError):
        ADAPTER.chat_response(b"<html>")


# --- the event stream --------------------------------------------------------------------------


def frames(*events: tuple[str, dict]) -> bytes:
    return b"".join(eventstream.event(kind, msgspec.json.encode(data)) for kind, data in events)


STREAM = frames(
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hello"}}),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": " world"}}),
    ("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu9", "name": "f"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a":'}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "2}"}}}),
    ("contentBlockStop", {"contentBlockIndex": 2}),
    ("messageStop", {"stopReason": "tool_use"}),
    ("metadata", {"usage": {"inputTokens": 7, "outputTokens": 9, "totalTokens": 16}, "metrics": {"latencyMs": 5}}),
)


def decode_all(data: bytes, cut: int) -> tuple[list, Decoder]:
    framing, decoder = ADAPTER.stream_parser(), ADAPTER.stream_decoder("client-model")
    chunks = []
    for i in range(0, len(data), cut):  # byte pieces split frames anywhere
        for event in framing.feed(data[i : i + cut]):
            chunks += decoder.feed(event)
    for event in framing.close():
        chunks += decoder.feed(event)
    return [*chunks, *decoder.close()], decoder


@pytest.mark.parametrize("cut", [1, 7, 10_000])
def test_stream_is_decoded_into_canonical_chunks(cut):
    chunks, decoder = decode_all(STREAM, cut)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant"
    assert "".join(d.content or "" for d in deltas) == "Hello world"
    assert "".join(d.reasoning_content or "" for d in deltas) == "hmm"
    calls = [t for d in deltas for t in d.tool_calls or ()]
    assert (calls[0].id, calls[0].function.name) == ("tu9", "f")
    assert "".join(t.function.arguments for t in calls) == '{"a":2}'
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage == decoder.usage and (decoder.usage.prompt_tokens, decoder.usage.completion_tokens) == (7, 9)
    assert all(c.model == "client-model" for c in chunks)


def test_exception_frame_breaks_the_stream():
    data = frames(("messageStart", {"role": "assistant"})) + eventstream.exception("throttlingException", b'{"message":"slow down"}')
    events = Framing().feed(data)
    assert events[1] == Event(b'{"message":"slow down"}', EXCEPTION + "throttlingException")
    decoder = Decoder("m")
    decoder.feed(events[0])
    with pytest.raises(ValueError, match="rate limited"):
        decoder.feed(events[1])


def test_corrupt_frame_breaks_the_stream():
    with pytest.raises(ValueError, match="malformed"):
        Framing().feed(eventstream.event("messageStart", b"{}", corrupt=True))


def test_frames_before_a_corrupt_one_in_the_same_read_come_out_first():
    """What the upstream sent before the bad frame reaches the client; the break follows on the
    next read, or at the end of the stream."""
    good = frames(("messageStart", {"role": "assistant"}), ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}))
    framing = Framing()
    assert [e.name for e in framing.feed(good + eventstream.event("messageStop", b"{}", corrupt=True))] == [
        "messageStart",
        "contentBlockDelta",
    ]
    with pytest.raises(ValueError, match="malformed"):
        framing.close()
    again = Framing()
    again.feed(good + eventstream.event("messageStop", b"{}", corrupt=True))
    with pytest.raises(ValueError, match="malformed"):
        again.feed(b"")


def test_stream_cut_before_message_stop_is_a_break():
    data = frames(("messageStart", {"role": "assistant"}), ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}))
    with pytest.raises(ValueError, match="messageStop"):
        decode_all(data, 3)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, error_type, counted",
    [
        (429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", 429),
        (429, "ModelNotReadyException", 503),
        (403, "UnrecognizedClientException", 403),
        (403, "AccessDeniedException", 403),
        (400, "ValidationException", 400),
        (503, "ServiceUnavailableException", 503),
        (502, "", 502),
        (418, "SomethingNewException", 418),
    ],
)
def test_error_statuses(status, error_type, counted):
    headers = {"x-amzn-errortype": error_type} if error_type else {}
    assert ADAPTER.upstream_status(status, headers) == counted


def test_error_message_and_table():
    assert ADAPTER.error_message(b'{"message":"Malformed input request"}') == "Malformed input request"
    assert ADAPTER.error_message(b'{"Message":"Other casing"}') == "Other casing"
    assert ADAPTER.error_message(b"not json") == ""
    assert all(wire.ERRORS[name].status == status for status, name in wire.EXCEPTION_BY_STATUS.items() if status != 401)
    assert wire.exception_name("modelStreamErrorException") == "ModelStreamErrorException"
