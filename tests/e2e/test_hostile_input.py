"""Hostile client input against the running stack (issue 12, part 6, and part 4): every one is
answered 4xx in the door's own error shape — never a 5xx, never internal or transport
detail — and nothing that bounds cost is guessed."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.hostile import ENDPOINTS, GEMINI_CONTENTS, MESSAGES, assert_error_shape, headers_for, raw_http
from tollgate.rpc import accounts_pb2 as pb

DEEP = b"[" * 10_000 + b"]" * 10_000
CHAT, MESSAGES_PATH, GEMINI = "/v1/chat/completions", "/v1/messages", "/gemini/v1beta/models/sim-1:generateContent"
GEMINI_CONFIG = {"contents": GEMINI_CONTENTS}


def _gemini(**config) -> dict:
    return {"contents": GEMINI_CONTENTS, "generationConfig": config}


# (path, raw body or JSON value, the 4xx expected)
CASES = [
    # every numeric field that bounds cost: an integer in range, or 400
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "max_tokens": "200000"}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "max_tokens": 20000.0}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "max_tokens": True}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "max_tokens": 0}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "max_tokens": -5}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "max_tokens": 2**64}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "max_completion_tokens": "100"}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "max_output_tokens": 1.5}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "n": "3"}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "n": 10_000}, 400),
    (MESSAGES_PATH, {"model": "sim-1", "messages": MESSAGES, "max_tokens": "200000"}, 400),
    (MESSAGES_PATH, {"model": "sim-1", "messages": MESSAGES, "max_tokens": 20000.0}, 400),
    (MESSAGES_PATH, {"model": "sim-1", "messages": MESSAGES, "max_tokens": 2**64}, 400),
    (GEMINI, _gemini(maxOutputTokens="9999"), 400),
    (GEMINI, _gemini(maxOutputTokens=9999.0), 400),
    (GEMINI, _gemini(max_output_tokens=2**64), 400),
    (GEMINI, _gemini(candidateCount="2"), 400),
    (GEMINI, _gemini(candidateCount=2**64), 400),
    (GEMINI, {"contents": GEMINI_CONTENTS, "generationConfig": "fast"}, 400),
    # bodies
    (CHAT, b'{"model":"sim-1","messages":' + DEEP + b"}", 400),
    (MESSAGES_PATH, b'{"model":"sim-1","max_tokens":5,"messages":' + DEEP + b"}", 400),
    (GEMINI, b'{"contents":' + DEEP + b"}", 400),
    ("/v1/embeddings", b'{"model":"embed-1","input":' + DEEP + b"}", 400),
    ("/v1/messages/count_tokens", b'{"model":"sim-1","messages":' + DEEP + b"}", 400),
    ("/gemini/v1beta/models/sim-1:countTokens", b'{"contents":' + DEEP + b"}", 400),
    (CHAT, b'{"model":"sim-1","messages":[{"role":"user","content":"\xff\xfe"}]}', 400),
    (MESSAGES_PATH, b'{"model":"sim-1","max_tokens":5,"messages":[{"role":"user","content":"\xc3\x28"}]}', 400),
    (GEMINI, b'{"contents":[{"parts":[{"text":"\xed\xa0\x80"}]}]}', 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "stream_options": "x"}, 400),
    (CHAT, {"model": "sim-1", "messages": MESSAGES, "stream": True, "stream_options": ["x"]}, 400),
    ("/gemini/v1beta/models/sim-1:countTokens", {"contents": 5}, 400),
    (
        "/gemini/v1beta/models/sim-1:countTokens",
        {"contents": [{"parts": [{"text": 5}]}], "systemInstruction": {"parts": [{"text": 7}]}},
        None,
    ),
    ("/v1/messages/count_tokens", {"model": "sim-1", "messages": MESSAGES, "tools": 5}, None),  # counted (an estimate) or refused
    # model names far beyond any catalog: refused before they reach gRPC metadata
    (CHAT, {"model": "m" * 10_000, "messages": MESSAGES}, 400),
    (CHAT, {"model": "m" * 100_000, "messages": MESSAGES}, 400),
    (MESSAGES_PATH, {"model": "m" * 100_000, "messages": MESSAGES, "max_tokens": 5}, 400),
    ("/v1/messages/count_tokens", {"model": "m" * 100_000, "messages": MESSAGES}, 400),
    ("/v1/embeddings", {"model": "m" * 100_000, "input": "hi"}, 400),
    ("/v1/rerank", {"model": "m" * 100_000, "query": "q", "documents": ["a"]}, 400),
    ("/gemini/v1beta/models/" + "m" * 20_000 + ":generateContent", GEMINI_CONFIG, 400),
    ("/gemini/v1beta/models/" + "m" * 20_000 + ":embedContent", {"content": {"parts": [{"text": "hi"}]}}, 400),
    (CHAT, {"model": "sim-1", "models": ["m" * 100_000], "messages": MESSAGES}, None),
]


@pytest.fixture(scope="module")
def key(accounts) -> str:
    account = accounts.CreateAccount(pb.CreateAccountRequest(name="hostile", initial_balance_micros=50_000_000))
    return accounts.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="k", rpm_limit=-1)).secret


@pytest.mark.parametrize("case", range(len(CASES)), ids=lambda i: f"{i}-{CASES[i][0][:40]}")
def test_hostile_body_is_a_4xx_in_the_door_shape(stack, key, case):
    path, body, expected = CASES[case]
    base = stack.edge_url.removesuffix("/v1")
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(base + path, content=content, headers=headers_for(path, key), timeout=30)
    if expected is None:
        assert response.status_code < 500, (response.status_code, response.text[:300])
    else:
        assert response.status_code == expected, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert_error_shape(path, response)


def test_n_multiplies_the_hold(stack, new_account):
    """One completion of 1,000 tokens fits a $0.05 balance; 100 of them do not: refused
    before any upstream is called (402, not served and billed into the red)."""
    _, key = new_account(balance_micros=50_000)
    url = stack.edge_url + "/chat/completions"
    body = {"model": "sim-1", "messages": MESSAGES, "max_tokens": 1000}
    one = httpx.post(url, json=body, headers=headers_for(CHAT, key), timeout=30)
    assert one.status_code == 200, one.text
    many = httpx.post(url, json={**body, "n": 100}, headers=headers_for(CHAT, key), timeout=30)
    assert many.status_code == 402, many.text
    assert_error_shape(CHAT, many)
    gemini = httpx.post(
        stack.edge_url.removesuffix("/v1") + GEMINI,
        json=_gemini(maxOutputTokens=1000, candidateCount=100),
        headers=headers_for(GEMINI, key),
        timeout=30,
    )
    assert gemini.status_code == 402, gemini.text
    assert_error_shape(GEMINI, gemini)


@pytest.mark.parametrize(
    "request_bytes, path",
    [
        (b"GARBAGE\r\n\r\n", CHAT),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n", CHAT),
        (b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", MESSAGES_PATH),
        (b"POST /gemini/v1beta/models/\xff:generateContent HTTP/1.1\r\nHost: x\r\n\r\n", GEMINI),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", CHAT),
    ],
)
def test_malformed_http_is_a_json_400_in_the_door_shape(stack, request_bytes, path):
    edge = urlsplit(stack.edge_url)
    answer = raw_http(edge.hostname, edge.port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = dict(line.decode("latin-1").lower().split(": ", 1) for line in head.split(b"\r\n")[1:])
    assert status == 400, answer[:300]
    assert_error_shape(path, httpx.Response(status, headers=headers, content=body))


METERING_CASES = [
    ("/v1/requests", {"status": "-1"}),
    ("/v1/requests", {"status": "70000"}),
    ("/v1/requests", {"before": "99999999999999999"}),
    ("/v1/requests", {"before": "0001-01-01"}),
    ("/v1/requests", {"limit": "99999999999999999999"}),
    ("/v1/requests", {"limit": "x"}),
    ("/v1/usage", {"start": "99999999999999999"}),
    ("/v1/usage", {"start": "0001-01-01"}),
    ("/v1/usage", {"end": "9999-12-31"}),
    ("/v1/usage", {"start": "1970-01-01", "end": "1970-01-02"}),
    ("/v1/usage", {"start": "not a date"}),
    ("/v1/usage/models", {"start": "0001-01-01"}),
    ("/v1/usage/daily", {"end": "99999999999999999"}),
    ("/v1/statement", {"month": "9999-12"}),
    ("/v1/statement", {"month": "0001-01"}),
    ("/v1/statement", {"month": "2026-13"}),
    ("/v1/ledger", {"before": "99999999999999999999"}),
    ("/v1/ledger", {"limit": "-1"}),
    ("/v1/accounts", {"limit": "99999999999999999999"}),
    ("/v1/rankings", {"window": "x" * 10_000}),
    # ids far beyond any real one: refused before they reach an RPC (whose error would echo them past gRPC's metadata limit)
    ("/v1/statement", {"account_id": "a" * 30_000}),
    ("/v1/ledger", {"account_id": "a" * 30_000}),
    ("/v1/keys", {"account_id": "a" * 30_000}),
    ("/v1/account", {"account_id": "a" * 30_000}),
    ("/v1/usage", {"account_id": "a" * 30_000}),
    ("/v1/requests", {"key_id": "k" * 30_000}),
]


@pytest.mark.parametrize("path, params", METERING_CASES, ids=[f"{i}-{p}-{'-'.join(q)}" for i, (p, q) in enumerate(METERING_CASES)])
def test_metering_query_parameters_are_validated(stack, admin_token, path, params):
    response = httpx.get(f"{stack.metering_url}{path}", params=params, headers={"authorization": f"Bearer {admin_token}"}, timeout=30)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert_error_shape(path, response)
    if any(len(v) > 256 for v in params.values()):
        assert response.status_code == 400, response.text[:300]
    if params.get("start") == "1970-01-01":  # in range: answered
        assert response.status_code == 200
    elif path in ("/v1/requests", "/v1/usage", "/v1/usage/daily", "/v1/usage/models", "/v1/statement") and "limit" not in params:
        assert response.status_code == 400, response.text[:300]


def test_endpoints_still_serve_valid_bodies(stack, key):
    """The hardening refuses nothing valid: every endpoint's plain body is served."""
    base = stack.edge_url.removesuffix("/v1")
    for path, body in ENDPOINTS.items():
        path_ = path.replace("{model}", "sim-1")
        payload = json.loads(json.dumps(body).replace("{model}", "sim-1"))
        response = httpx.post(base + path_, json=payload, headers=headers_for(path_, key), timeout=30)
        assert response.status_code == 200, (path_, response.status_code, response.text[:300])


@pytest.mark.parametrize(
    "method, path, content, status",
    [
        ("GET", CHAT, b"", 405),
        ("PUT", MESSAGES_PATH, b"{}", 405),
        ("POST", "/v1/no-such-thing", b"{}", 404),
        ("POST", "/v1/messages/nope", b"{}", 404),
        ("POST", "/gemini/v1beta/models/sim-1:nope", b"{}", 404),
        ("POST", CHAT, b"x" * (33 << 20), 413),
        ("POST", MESSAGES_PATH, b"x" * (33 << 20), 413),
    ],
)
def test_framework_errors_keep_their_status_in_the_door_shape(stack, key, method, path, content, status):
    base = stack.edge_url.removesuffix("/v1")
    response = httpx.request(method, base + path, content=content, headers=headers_for(path, key), timeout=60)
    assert response.status_code == status, response.text[:300]
    assert_error_shape(path, response)


def test_metering_refuses_hostile_json_bodies(stack, admin_token):
    headers = {"authorization": f"Bearer {admin_token}", "content-type": "application/json"}
    for content in (b"[" * 10_000 + b"]" * 10_000, b'{"name": "\xff"}', b"{", b'{"grace_s": "x"}'):
        response = httpx.post(f"{stack.metering_url}/v1/keys", content=content, headers=headers, timeout=30)
        assert response.status_code == 400, response.text[:300]
        assert_error_shape("/v1/keys", response)
    response = httpx.post(
        f"{stack.metering_url}/v1/keys", params={"account_id": "a" * 30_000}, json={"name": "x"}, headers=headers, timeout=30
    )
    assert response.status_code == 400, response.text[:300]
    assert_error_shape("/v1/keys", response)


def test_the_running_stack_keeps_its_data_private(stack):
    """The accounts database (balances, key hashes) and the admin token: 0600, in a 0700 directory."""
    import stat

    data = stack.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("accounts.sqlite3", "accounts.sqlite3-wal", "accounts.sqlite3-shm", "admin-token"):
        path = data / name
        if name == "accounts.sqlite3" or path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
