"""The console's Playground over HTTP through the running stack: metering calls the edge with
the account's console key (never handed to the browser), streams the answer, bills the
account, refuses bad input in the API's shape, and holds the web to 120 requests/min."""

from __future__ import annotations

import json
import time

import httpx

from tollgate.rpc import accounts_pb2 as pb

WEB_RPM = 120


def chat(stack, credential: str, body: dict, **params) -> httpx.Response:
    return httpx.post(
        f"{stack.metering_url}/console/api/playground/chat",
        params=params,
        json=body,
        headers={"authorization": f"Bearer {credential}"},
        timeout=30,
    )


def test_the_playground_answers_through_the_edge_as_the_account(stack, new_account, accounts, admin_token) -> None:
    account_id, key = new_account(balance_micros=2_000_000, name="playground")
    models = httpx.get(f"{stack.metering_url}/console/api/playground/models", headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert models.status_code == 200 and "sim-1" in {m["id"] for m in models.json()["data"]}

    streamed = chat(stack, key, {"model": "sim-1", "messages": [{"role": "user", "content": "Hello, playground"}], "max_tokens": 16})
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[5:]) for line in streamed.text.splitlines() if line.startswith("data:") and line[5:].strip() != "[DONE]"]
    text = "".join((e["choices"][0]["delta"].get("content") or "") for e in events if e.get("choices"))
    assert text and streamed.headers["x-request-id"]
    assert events[-1]["usage"]["completion_tokens"] > 0  # the page shows the answer's token counts
    plain = chat(stack, key, {"model": "sim-1", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "stream": False})
    assert plain.status_code == 200 and plain.json()["choices"][0]["message"]["content"]

    # The console's key: the account's own, limited to the web's rate, its secret nowhere in the answers.
    console_keys = [k for k in accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys if k.name.startswith("console-playground")]
    assert len(console_keys) == 1 and console_keys[0].rpm_limit == WEB_RPM and not console_keys[0].revoked_at_ms
    assert "sk-" not in streamed.text and "sk-" not in plain.text

    # Metered and billed to the account, like any request.
    def metered() -> bool:
        found = httpx.get(
            f"{stack.metering_url}/v1/requests/{plain.headers['x-request-id']}", headers={"authorization": f"Bearer {key}"}, timeout=10
        )
        return found.status_code == 200 and found.json()["key_id"] == console_keys[0].key_id

    deadline = time.monotonic() + 20
    while not metered():
        assert time.monotonic() < deadline, "the playground's request never reached metering"
        time.sleep(0.3)

    # If someone revokes the console key (Tokens page), the next chat mints another.
    accounts.RevokeKey(pb.RevokeKeyRequest(key_id=console_keys[0].key_id))
    again = chat(
        stack, key, {"model": "sim-1", "messages": [{"role": "user", "content": "Still there?"}], "max_tokens": 4, "stream": False}
    )
    assert again.status_code == 200, again.text

    # The admin chats as an account it names; without one it is told to choose.
    assert chat(stack, admin_token, {"model": "sim-1", "messages": [{"role": "user", "content": "x"}], "stream": False}).status_code == 400
    as_admin = chat(
        stack, admin_token, {"model": "sim-1", "messages": [{"role": "user", "content": "x"}], "stream": False}, account_id=account_id
    )
    assert as_admin.status_code == 200

    for bad, status in (
        ({"model": "sim-1", "messages": []}, 400),
        ({"model": "sim-1", "messages": [{"role": "robot", "content": "x"}]}, 400),
        ({"model": "sim-1", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, 400),
        ({"messages": [{"role": "user", "content": "x"}]}, 400),
        ({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}], "stream": False}, 404),
    ):
        refused = chat(stack, key, bad)
        assert refused.status_code == status and refused.json()["error"]["message"], (bad, refused.text)
    anonymous = httpx.post(f"{stack.metering_url}/console/api/playground/chat", json={"model": "sim-1", "messages": []}, timeout=10)
    assert anonymous.status_code == 401


def test_the_playground_is_limited_to_120_requests_a_minute(stack, new_account) -> None:
    _, key = new_account(balance_micros=50_000_000, name="playground-limit")
    if time.time() % 60 > 40:  # one fixed minute window for the whole burst
        time.sleep(61 - time.time() % 60)
    body = {"model": "sim-1", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1, "stream": False}
    statuses = []
    with httpx.Client(timeout=30, headers={"authorization": f"Bearer {key}"}) as client:
        for _ in range(WEB_RPM + 5):
            statuses.append(client.post(f"{stack.metering_url}/console/api/playground/chat", json=body).status_code)
            if statuses[-1] == 429:
                break
    assert statuses.count(200) == WEB_RPM and statuses[-1] == 429, statuses[-10:]
