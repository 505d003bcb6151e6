"""What real clients found (issue 15, "Also found by real clients"), each through the running
stack: an ``Upgrade: h2c`` POST keeps its body, a wrong method is 405 and an unknown route a
404 in the door's shape, an unknown model is each provider's 404, embeddings take token
arrays, ``GET /v1/models`` takes ``x-api-key``, missing-key errors name the door's own
header, and every answer names the model the client asked for."""

from __future__ import annotations

import socket
import time

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from tests.e2e.test_contract import wait_for_usage

KINDS = ("openai", "anthropic", "gemini")


def _base(stack) -> str:
    return stack.edge_url.removesuffix("/v1")


def _openai(stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)


def _anthropic(stack, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=_base(stack), api_key=key, max_retries=0, timeout=30)


def _genai(stack, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=_base(stack) + "/gemini"))


# -- Upgrade: h2c ------------------------------------------------------------------------


def test_a_post_with_an_h2c_upgrade_keeps_its_body_and_is_metered(stack, new_account):
    """What ``curl --http2`` sends to an http:// URL: answered as HTTP/1.1, body read."""
    account_id, key = new_account()
    body = b'{"model":"sim-1","max_tokens":3,"messages":[{"role":"user","content":"hello there"}]}'
    host, port = stack.edge_url.removeprefix("http://").removesuffix("/v1").split(":")
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Authorization: Bearer " + key.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    assert b'"chat.completion"' in payload and b'"model":"sim-1"' in payload
    assert wait_for_usage(stack, account_id, 1)["requests"] == 1


# -- wrong methods and unknown routes ------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, headers, shape",
    [
        ("GET", "/v1/chat/completions", {}, "openai"),
        ("GET", "/v1/embeddings", {}, "openai"),
        ("GET", "/v1/messages", {"anthropic-version": "2023-06-01"}, "anthropic"),
        ("GET", "/gemini/v1beta/models/sim-1:generateContent", {}, "gemini"),
        ("DELETE", "/gemini/v1beta/models/sim-1", {}, "gemini"),
    ],
)
def test_a_wrong_method_is_405_in_the_door_shape(stack, new_account, method, path, headers, shape):
    _, key = new_account()
    r = httpx.request(method, _base(stack) + path, headers={"authorization": f"Bearer {key}", **headers}, timeout=10)
    assert r.status_code == 405, r.text
    _assert_shape(r.json(), shape)


@pytest.mark.parametrize(
    "path, headers, shape",
    [
        ("/v1/nowhere", {}, "openai"),
        ("/v1/messages/batches", {}, "anthropic"),
        ("/v1/complete", {"x-api-key": "k", "anthropic-version": "2023-06-01"}, "anthropic"),
        ("/gemini/v1beta/nowhere", {}, "gemini"),
        ("/gemini/v1beta/models/sim-1:noSuchAction", {}, "gemini"),
    ],
)
def test_an_unknown_route_is_404_in_the_door_shape(stack, path, headers, shape):
    r = httpx.post(_base(stack) + path, json={}, headers=headers, timeout=10)
    assert r.status_code == 404, r.text
    _assert_shape(r.json(), shape)


def _assert_shape(body: dict, shape: str) -> None:
    if shape == "openai":
        assert set(body["error"]) >= {"message", "type", "code"}, body
    elif shape == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
    else:
        assert set(body["error"]) == {"code", "message", "status"}, body


# -- unknown models --------------------------------------------------------------------------


def test_an_unknown_model_is_404_on_every_door(stack, new_account):
    """404, as the providers answer: the SDKs raise "not found" and do not retry (a 503 they retry)."""
    _, key = new_account()
    with pytest.raises(openai.NotFoundError) as oai:
        _openai(stack, key).chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert oai.value.body["code"] == "model_not_found" and oai.value.body["type"] == "invalid_request_error"
    with pytest.raises(anthropic.NotFoundError) as claude:
        _anthropic(stack, key).messages.create(model="no-such-model", max_tokens=3, messages=[{"role": "user", "content": "hi"}])
    assert claude.value.body["error"]["type"] == "not_found_error"
    google = _genai(stack, key)  # held: a client collected mid-call closes its connection
    with pytest.raises(genai_errors.ClientError) as gem:
        google.models.generate_content(model="no-such-model", contents="hi")
    assert gem.value.code == 404 and gem.value.status == "NOT_FOUND"


def test_a_known_model_without_a_routable_channel_stays_503(stack, new_account):
    """Provider preferences that exclude every channel of a real model: the model exists, so 503."""
    _, key = new_account()
    with pytest.raises(openai.InternalServerError) as err:
        _openai(stack, key).chat.completions.create(
            model="sim-1", messages=[{"role": "user", "content": "hi"}], extra_body={"provider": {"only": ["no-such-provider"]}}
        )
    assert err.value.status_code == 503 and err.value.body["code"] == "model_unavailable"


# -- embeddings token arrays ----------------------------------------------------------------


def test_embeddings_take_a_token_array_and_token_arrays(stack, new_account):
    account_id, key = new_account()
    c = _openai(stack, key)
    one = c.embeddings.create(model="embed-1", input=[15339, 1070], encoding_format="float")
    assert len(one.data) == 1 and len(one.data[0].embedding) == 8 and one.usage.prompt_tokens == 2
    many = c.embeddings.create(model="embed-1", input=[[15339, 1070], [9906]], encoding_format="float")
    assert [d.index for d in many.data] == [0, 1] and many.data[0].embedding == one.data[0].embedding
    with pytest.raises(openai.BadRequestError) as err:
        c.embeddings.create(model="embed-1", input=[[]])
    assert err.value.body["code"] == "invalid_input"
    stored = wait_for_usage(stack, account_id, 2)
    assert (stored["requests"], stored["prompt_tokens"]) == (2, 5)


# -- keys --------------------------------------------------------------------------------------


def test_models_list_takes_x_api_key_and_missing_keys_name_the_door_header(stack, new_account):
    _, key = new_account()
    r = httpx.get(stack.edge_url + "/models", headers={"x-api-key": key}, timeout=10)
    assert r.status_code == 200 and any(m["id"] == "sim-1" for m in r.json()["data"])
    missing = httpx.get(stack.edge_url + "/models", timeout=10)
    assert missing.status_code == 401 and "Authorization: Bearer" in missing.json()["error"]["message"]
    claude = httpx.post(
        _base(stack) + "/v1/messages", json={"model": "sim-1"}, headers={"anthropic-version": "2023-06-01"}, timeout=10
    ).json()
    assert claude["error"]["type"] == "authentication_error" and "x-api-key" in claude["error"]["message"]
    assert "Bearer" not in claude["error"]["message"]
    gem = httpx.post(_base(stack) + "/gemini/v1beta/models/sim-1:generateContent", json={}, timeout=10).json()
    assert gem["error"]["status"] == "UNAUTHENTICATED" and "x-goog-api-key" in gem["error"]["message"]
    assert "Bearer" not in gem["error"]["message"]


# -- the model an answer names ------------------------------------------------------------------


@pytest.mark.parametrize("upstream", KINDS)
def test_every_answer_names_the_model_asked_for(stack, new_account, upstream):
    """``contract-<kind>`` is upstream model ``sim-1``: whole or streamed, native or translated,
    every door answers with the name the client used."""
    _, key = new_account()
    asked = f"contract-{upstream}"
    hi = [{"role": "user", "content": "hi"}]
    oai = _openai(stack, key)
    assert oai.chat.completions.create(model=asked, messages=hi, max_tokens=2).model == asked
    chunks = list(oai.chat.completions.create(model=asked, messages=hi, max_tokens=2, stream=True))
    assert chunks and {c.model for c in chunks} == {asked}
    claude = _anthropic(stack, key)
    assert claude.messages.create(model=asked, messages=hi, max_tokens=2).model == asked
    with claude.messages.stream(model=asked, messages=hi, max_tokens=2) as s:
        assert s.get_final_message().model == asked
    gem = _genai(stack, key)
    assert gem.models.generate_content(model=asked, contents="hi").model_version == asked
    versions = {c.model_version for c in gem.models.generate_content_stream(model=asked, contents="hi")}
    assert versions == {asked}


# -- token counts: the upstream's when it can count, else the one estimator's ---------------------


def test_count_tokens_from_the_upstream_or_the_one_estimator(stack, new_account):
    account_id, key = new_account()
    text = "count these five words"  # 4 words (the simulator's count), 22 characters (6 tokens estimated)
    claude = _anthropic(stack, key)
    native = claude.messages.with_raw_response.count_tokens(model="contract-anthropic", messages=[{"role": "user", "content": text}])
    assert native.headers["x-tollgate-token-count"] == "upstream" and native.parse().input_tokens == 4
    guessed = claude.messages.with_raw_response.count_tokens(model="contract-openai", messages=[{"role": "user", "content": text}])
    assert guessed.headers["x-tollgate-token-count"] == "estimate" and guessed.parse().input_tokens == 6
    google = _genai(stack, key)
    assert google.models.count_tokens(model="contract-gemini", contents=text).total_tokens == 4  # the Gemini upstream's count
    assert google.models.count_tokens(model="contract-anthropic", contents=text).total_tokens == 6  # the same estimate as above
    time.sleep(0.5)
    assert wait_for_usage(stack, account_id, 1, timeout=0.5)["requests"] == 0  # counting is never metered
