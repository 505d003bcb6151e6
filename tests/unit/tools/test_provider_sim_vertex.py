"""The simulator's Vertex AI mode: its token endpoint mints tokens only for a correctly
signed service-account assertion (google-auth, through the vertex kind's own minter, is
the client), and its model endpoints take only those tokens, unexpired, in Vertex's formats."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.vertex_accounts import TOKEN_PATH, service_account, write_registry
from tollgate.providers.tokens import TokenError
from tollgate.providers.vertex.auth import minter
from tools.provider_sim.app import answer_words, create_app

VERTEX = "/vertex/v1/projects/tollgate-test/locations/us-east5/publishers"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    directory = tmp_path_factory.mktemp("vertex")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    good, email, public = service_account(directory, "good", base + TOKEN_PATH)
    stranger, _, _ = service_account(directory, "stranger", base + TOKEN_PATH)  # its key is not registered
    registry = write_registry(directory / "accounts.json", {email: public})
    old = os.environ.get("SIM_VERTEX_ACCOUNTS")
    os.environ["SIM_VERTEX_ACCOUNTS"] = str(registry)
    try:
        app = create_app(latency_ms=0, slow_ms=50)
    finally:
        os.environ.pop("SIM_VERTEX_ACCOUNTS") if old is None else os.environ.__setitem__("SIM_VERTEX_ACCOUNTS", old)
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield base, good, stranger
    server.should_exit = True
    thread.join(timeout=5)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_tokens_are_minted_for_registered_keys_only(sim: tuple[str, Path, Path]) -> None:
    base, good, stranger = sim
    token, lifetime = minter(good.read_text())()
    assert token.startswith("ya29.sim-") and 3500 < lifetime <= 3600
    with pytest.raises(TokenError, match="refused or failed") as caught:
        minter(stranger.read_text())()
    assert "PRIVATE KEY" not in str(caught.value)
    forged = httpx.post(base + TOKEN_PATH, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "a.b.c"})
    assert forged.status_code == 400 and forged.json()["error"] == "invalid_grant"


def test_gemini_and_anthropic_publishers_take_only_minted_tokens(sim: tuple[str, Path, Path]) -> None:
    base, good, _ = sim
    token, _ = minter(good.read_text())()
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hi there"}]}], "generationConfig": {"maxOutputTokens": 3}}
    url = f"{base}{VERTEX}/google/models/gemini-2.5-flash:generateContent"
    answer = httpx.post(url, json=gemini, headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json()["candidates"][0]["content"]["parts"][0]["text"] == " ".join(answer_words(3))
    assert answer.json()["usageMetadata"]["promptTokenCount"] == 2
    for headers in ({}, bearer("ya29.made-up"), {"x-goog-api-key": token}):
        refused = httpx.post(url, json=gemini, headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"

    claude = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 3, "messages": [{"role": "user", "content": "hi there"}]}
    raw = f"{base}{VERTEX}/anthropic/models/claude-sonnet-4@20250514"
    message = httpx.post(raw + ":rawPredict", json=claude, headers=bearer(token))
    assert message.status_code == 200 and message.json()["usage"]["input_tokens"] == 2
    assert message.json()["content"][0]["text"] == " ".join(answer_words(3))
    with httpx.stream("POST", raw + ":streamRawPredict", json={**claude, "stream": True}, headers=bearer(token)) as stream:
        assert stream.status_code == 200 and "event: message_stop" in stream.read().decode()
    for wrong in ({**claude, "model": "claude"}, {**claude, "anthropic_version": "2023-06-01"}, {**claude, "stream": True}):
        rejected = httpx.post(raw + ":rawPredict", json=wrong, headers=bearer(token))
        assert rejected.status_code == 400 and rejected.json()["type"] == "error"
    stats = httpx.get(base + "/_sim/oauth2/stats").json()
    assert stats["refused"] >= 3 and {u["publisher"] for u in stats["used"]} == {"google", "anthropic"}


def test_tokens_expire(sim: tuple[str, Path, Path]) -> None:
    base, good, _ = sim
    httpx.post(base + "/_sim/oauth2/lifetime", json={"seconds": 0.3})
    try:
        token, lifetime = minter(good.read_text())()
        assert lifetime <= 0.3
        url = f"{base}{VERTEX}/google/models/gemini-2.5-flash:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        assert httpx.post(url, json=body, headers=bearer(token)).status_code == 200
        time.sleep(0.4)
        assert httpx.post(url, json=body, headers=bearer(token)).status_code == 401
    finally:
        httpx.post(base + "/_sim/oauth2/lifetime", json={"seconds": 3600})
