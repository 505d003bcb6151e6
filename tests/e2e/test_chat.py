"""The whole request path through the running services, with the openai SDK as client."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.e2e import busutil
from tollgate import events
from tollgate.rpc import accounts_pb2 as pb
from tools.provider_sim.app import answer_words

# tests/data/catalog.toml prices sim-1 at 3 / 7 USD per million input / output tokens.
IN_PRICE, OUT_PRICE = 3_000_000, 7_000_000
PROMPT = "Say hello to the gateway please"  # 6 words = 6 simulator prompt tokens


def client(stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)


def ask(c: openai.OpenAI, model: str = "sim-1", **kw):
    return c.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}], **kw)


def cost(prompt: int, completion: int) -> int:
    return -(-(prompt * IN_PRICE + completion * OUT_PRICE) // 1_000_000)


def usage_rows(stack, account_id: str) -> dict[str, dict]:
    r = httpx.get(f"{stack.metering_url}/v1/usage/models", params={"account_id": account_id}, headers=stack.admin_headers, timeout=10)
    r.raise_for_status()
    return {row["model"]: row for row in r.json()["data"]}


def auth_rpcs(stack) -> float:
    """Authenticate calls accounts has handled, whatever their status code."""
    text = httpx.get(f"http://127.0.0.1:{stack.ports.accounts_metrics}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tollgate_grpc_server_handled_total") and "Accounts/Authenticate" in line
    )


def test_non_streaming_completion(stack, new_account):
    _, key = new_account()
    raw = client(stack, key).chat.completions.with_raw_response.create(
        model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=5
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == " ".join(answer_words(5))
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (6, 5)
    assert raw.headers["x-request-id"].startswith("req_")
    assert float(raw.headers["x-tollgate-overhead-ms"]) >= 0
    assert raw.headers["x-tollgate-channel"] == "sim-primary"


def test_streaming_completion_with_and_without_usage(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    chunks = list(ask(c, stream=True, max_tokens=7))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == " ".join(answer_words(7))
    assert all(ch.choices for ch in chunks), "the usage-only chunk must be stripped when the client did not ask for it"

    chunks = list(ask(c, stream=True, max_tokens=4, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4 and chunks[-1].usage.prompt_tokens == 6


def test_alias_resolves_to_the_same_model(stack, new_account):
    _, key = new_account()
    assert ask(client(stack, key), model="tollgate/sim-1", max_tokens=2).usage.completion_tokens == 2


def test_usage_lands_in_clickhouse_and_balance_is_debited_exactly_once(stack, new_account, accounts):
    start_balance = 5_000_000
    account_id, key = new_account(start_balance)
    c = client(stack, key)
    raw = c.chat.completions.with_raw_response.create(model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=9)
    streamed = c.chat.completions.with_raw_response.create(
        model="sim-1", messages=[{"role": "user", "content": PROMPT}], max_tokens=3, stream=True
    )
    list(streamed.parse())
    expected_cost = cost(6, 9) + cost(6, 3)
    # Events are published in the background: wait until both are in the stream.
    busutil.find_event(stack.settings.nats_url, streamed.headers["x-request-id"])

    # Re-publish the same event twice: once under a fresh message id (so JetStream does
    # not drop it as a duplicate and both consumers really see it again), once without.
    data = busutil.find_event(stack.settings.nats_url, raw.headers["x-request-id"])
    event = events.decode(events.USAGE_SUBJECT, data)
    assert (event.prompt_tokens, event.completion_tokens, event.cost_micros) == (6, 9, cost(6, 9))
    busutil.republish(stack.settings.nats_url, data, msg_id=event.request_id + "-replay")
    busutil.republish(stack.settings.nats_url, data, msg_id=None)
    busutil.wait_consumers_idle(stack.settings.nats_url)

    balance = accounts.GetBalance(pb.GetBalanceRequest(account_id=account_id)).balance_micros
    assert balance == start_balance - expected_cost
    row = usage_rows(stack, account_id)["sim-1"]
    assert row == {
        "model": "sim-1",
        "requests": 2,
        "errors": 0,
        "attempts": 2,
        "prompt_tokens": 12,
        "completion_tokens": 12,
        "cost_micros": expected_cost,
    }


def test_bad_key_is_401(stack):
    with pytest.raises(openai.AuthenticationError) as err:
        ask(client(stack, "sk-" + "x" * 48))
    assert err.value.status_code == 401
    assert err.value.body["code"] == "invalid_api_key"
    assert err.value.response.headers["x-request-id"]


def test_exhausted_balance_is_402(stack, new_account):
    _, key = new_account(balance_micros=0)
    with pytest.raises(openai.APIStatusError) as err:
        ask(client(stack, key))
    assert err.value.status_code == 402
    assert err.value.body["code"] == "insufficient_quota"


def test_unknown_model_is_404(stack, new_account):
    _, key = new_account()
    with pytest.raises(openai.NotFoundError) as err:
        ask(client(stack, key), model="no-such-model")
    assert err.value.status_code == 404
    assert err.value.body == {
        "message": "The model no-such-model does not exist",
        "type": "invalid_request_error",
        "code": "model_not_found",
        "param": None,
    }


def test_bad_request_is_400(stack, new_account):
    _, key = new_account()
    r = httpx.post(f"{stack.edge_url}/chat/completions", headers={"Authorization": f"Bearer {key}"}, content=b"{not json", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        client(stack, key).chat.completions.create(model="sim-1", messages=[])


def test_repeated_key_costs_no_authenticate_rpc(stack, new_account):
    _, key = new_account()
    c = client(stack, key)
    before = auth_rpcs(stack)
    ask(c, max_tokens=1)
    after_first = auth_rpcs(stack)
    ask(c, max_tokens=1)
    list(ask(c, max_tokens=1, stream=True))
    assert after_first == before + 1
    assert auth_rpcs(stack) == after_first


def test_failover_to_the_next_channel(stack, new_account):
    _, key = new_account()
    raw = client(stack, key).chat.completions.with_raw_response.create(model="sim-failover", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-tollgate-channel"] == "sim-backup"
    assert raw.headers["x-tollgate-attempts"] == "2"
    assert raw.parse().choices[0].message.content


def test_all_channels_failing_is_502_listing_each_attempt(stack, new_account):
    _, key = new_account()
    with pytest.raises(openai.InternalServerError) as err:
        ask(client(stack, key), model="sim-broken")
    assert err.value.status_code == 502
    assert "broken-a: HTTP 500" in err.value.message and "broken-b: HTTP 503" in err.value.message


def test_upstream_timeout_is_504(stack, new_account):
    _, key = new_account()
    with pytest.raises(openai.InternalServerError) as err:
        ask(client(stack, key), model="sim-timeout")
    assert err.value.status_code == 504


def test_failure_mid_stream_ends_with_an_error_event(stack, new_account):
    _, key = new_account()
    received = []
    with pytest.raises(openai.APIError):
        for chunk in ask(client(stack, key), model="sim-midstream-error", stream=True):
            received.append(chunk)
    assert received, "chunks before the failure reach the client"


def test_revoked_key_stops_working_on_every_edge_within_a_second(stack, new_account, accounts):
    account_id, key = new_account()
    clients = [client(stack, key), openai.OpenAI(base_url=f"http://127.0.0.1:{stack.ports.edge2}/v1", api_key=key, max_retries=0)]
    for c in clients:
        ask(c, max_tokens=1)  # now cached at both edges
    key_id = accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys[0].key_id
    accounts.RevokeKey(pb.RevokeKeyRequest(key_id=key_id))
    deadline = time.monotonic() + 1.0
    pending = list(clients)
    while pending and time.monotonic() < deadline:
        for c in list(pending):
            try:
                ask(c, max_tokens=1)
            except openai.AuthenticationError:
                pending.remove(c)
        time.sleep(0.02)
    assert not pending, f"revoked key still accepted by {len(pending)} edge(s) after 1 s"


def test_models_list(stack, new_account):
    _, key = new_account()
    models = {m.id: m for m in client(stack, key).models.list()}
    assert models["sim-1"].owned_by == "tollgate-simulator" and models["sim-1"].created == 1735689600
    assert models["sim-1"].object == "model"


def test_model_allow_list_and_expiry(stack, accounts):
    account = accounts.CreateAccount(pb.CreateAccountRequest(name="limited", initial_balance_micros=1_000_000))
    limited = accounts.CreateKey(
        pb.CreateKeyRequest(account_id=account.account_id, name="l", allowed_models=["sim-*", "tollgate/*"])
    ).secret
    c = client(stack, limited)
    assert ask(c, max_tokens=1).choices[0].message.content  # sim-1 matches sim-*
    with pytest.raises(openai.PermissionDeniedError) as err:
        ask(c, model="embed-1")
    assert err.value.status_code == 403 and err.value.body["code"] == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError):  # a fallback model is checked too
        c.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "x"}], extra_body={"fallback_models": ["embed-1"]})

    soon = int(time.time() * 1000) + 1500
    expiring = accounts.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, name="e", expires_at_ms=soon)).secret
    c = client(stack, expiring)
    ask(c, max_tokens=1)  # works, and is now cached at the edge
    time.sleep(max(0.0, soon / 1000 - time.time()) + 0.1)
    with pytest.raises(openai.AuthenticationError) as err:
        ask(c, max_tokens=1)
    assert err.value.body["code"] == "expired_api_key"
