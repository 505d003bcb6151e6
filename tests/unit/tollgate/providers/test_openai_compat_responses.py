"""The Responses API passed through to a channel that serves it natively: the request (the
client's body, model replaced, to the profile's path, with the channel's key), and the usage
read from whole answers and from streams whose events go on untouched."""

from __future__ import annotations

import json

import pytest

from tollgate.providers import REGISTRY
from tollgate.providers.base import RESPONSES_PROTOCOL, Usage
from tollgate.sse import Event

VIEW = REGISTRY["openai"].native_for(RESPONSES_PROTOCOL)
USAGE = {
    "input_tokens": 12,
    "output_tokens": 30,
    "total_tokens": 42,
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens_details": {"reasoning_tokens": 9},
}


def event(data: dict) -> Event:
    return Event(data=json.dumps(data).encode(), name=data.get("type", ""))


def test_the_request_is_the_clients_body_with_the_upstream_model_and_nothing_stored():
    assert VIEW is not None
    body = {"model": "catalog-id", "input": [{"role": "user", "content": "hi"}], "tools": [{"type": "web_search"}], "store": True}
    req = VIEW.native_request("https://api.openai.com/v1", "sk-up", "gpt-up", body, stream=True)
    assert req.url == "https://api.openai.com/v1/responses"
    assert req.headers["authorization"] == "Bearer sk-up"
    assert json.loads(req.body) == {**body, "model": "gpt-up", "store": False}
    assert body["model"] == "catalog-id"  # the client's body is not changed


def test_usage_of_a_whole_response():
    assert VIEW is not None
    payload = json.dumps({"id": "resp_1", "object": "response", "output": [], "usage": USAGE}).encode()
    assert VIEW.native_usage(payload) == Usage(prompt_tokens=12, completion_tokens=30, cached_tokens=4, reasoning_tokens=9)
    assert VIEW.native_usage(b'{"id": "resp_1"}') is None
    assert VIEW.native_usage(b"not json") is None


def test_a_stream_is_observed_for_its_final_usage_and_no_event_is_held_back():
    assert VIEW is not None
    decoder = VIEW.stream_decoder("m")
    events = [
        {"type": "response.created", "sequence_number": 0, "response": {"id": "r", "usage": None}},
        {"type": "response.output_text.delta", "sequence_number": 1, "delta": "hi"},
        {"type": "response.completed", "sequence_number": 2, "response": {"id": "r", "usage": USAGE}},
    ]
    assert [decoder.observe(event(e)) for e in events] == [False, False, False]
    assert decoder.usage == Usage(12, 30, 4, 9)


def test_a_failed_stream_still_reports_its_usage():
    assert VIEW is not None
    decoder = VIEW.stream_decoder("m")
    decoder.observe(event({"type": "response.failed", "response": {"usage": {"input_tokens": 3, "output_tokens": 1}}}))
    assert decoder.usage == Usage(3, 1)


def test_a_malformed_event_is_an_upstream_error():
    assert VIEW is not None
    with pytest.raises(ValueError, match="malformed"):
        VIEW.stream_decoder("m").observe(Event(data=b"{not json", name="x"))


def test_errors_are_read_as_openais():
    assert VIEW is not None
    assert VIEW.error_message(b'{"error": {"message": "bad input", "type": "invalid_request_error"}}') == "bad input"
