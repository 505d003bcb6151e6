"""Money at the edge: pre-authorization against balance leases across three edges,
suspension, spend caps and key rotation, through the openai SDK."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from tests.e2e.test_contract import wait_for_usage
from tollgate.rpc import accounts_pb2 as pb

PRICE_IN, PRICE_OUT = 3, 7  # micro-USD per token of sim-1 in tests/data/catalog.toml
MAX_TOKENS = 200  # the simulator answers exactly max_tokens words, one token each


def ask(client: openai.OpenAI, **kw):
    return client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], **{"max_tokens": 1, **kw})


def edges(stack, key: str) -> list[openai.OpenAI]:
    return [
        openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=30)
        for url in (stack.edge_url, f"http://127.0.0.1:{stack.ports.edge2}/v1")
    ]


def usage_debits(accounts, account_id: str) -> list[int]:
    entries = accounts.ListLedger(pb.ListLedgerRequest(account_id=account_id, limit=1000)).entries
    return [-e.amount_micros for e in entries if e.kind == "usage"]


def eventually(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.fixture(scope="module")
def third_edge(stack):
    service, url = stack.start_edge("edge3")
    yield url
    service.proc.terminate()
    service.proc.wait(15)


def test_200_concurrent_requests_on_3_edges_never_overdraw_an_account_with_credit_for_20(stack, new_account, accounts, third_edge):
    one_request = 2 * PRICE_IN + MAX_TOKENS * PRICE_OUT  # what one answer really costs ("hi" + the chat template: 2 prompt tokens)
    credit = 20 * one_request
    account_id, key = new_account(balance_micros=credit)
    urls = [stack.edge_url, f"http://127.0.0.1:{stack.ports.edge2}/v1", third_edge]

    async def run() -> list[int | str]:
        clients = [openai.AsyncOpenAI(base_url=u, api_key=key, max_retries=0, timeout=60) for u in urls]

        async def one(i: int) -> int | str:
            try:
                r = await clients[i % 3].chat.completions.create(
                    model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=MAX_TOKENS
                )
                return r.usage.prompt_tokens * PRICE_IN + r.usage.completion_tokens * PRICE_OUT
            except openai.APIStatusError as err:
                return f"{err.status_code} {err.body.get('code') if isinstance(err.body, dict) else err.body}"

        try:
            return await asyncio.gather(*(one(i) for i in range(200)))
        finally:
            for c in clients:
                await c.close()

    results = asyncio.run(run())
    succeeded = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert set(refused) <= {"402 insufficient_quota"}, set(refused)
    assert 1 <= len(succeeded) <= 20 and len(succeeded) + len(refused) == 200

    # Every success was billed exactly once, by the ledger and by metering; nothing else was.
    debits = eventually(lambda: (d := usage_debits(accounts, account_id)) and len(d) >= len(succeeded) and d)
    assert sorted(debits) == sorted(succeeded)
    usage = wait_for_usage(stack, account_id, len(succeeded))
    assert (usage["requests"], usage["cost_micros"]) == (len(succeeded), sum(succeeded))
    balance = accounts.GetBalance(pb.GetBalanceRequest(account_id=account_id)).balance_micros
    assert balance == credit - sum(succeeded)
    assert balance >= 0  # the documented bound: no overdraft while answers stay within max_tokens
    print(f"credit {credit} µUSD: {len(succeeded)} succeeded, {len(refused)} got 402, balance left {balance} µUSD")


def test_a_request_whose_worst_case_exceeds_the_balance_is_402_and_costs_nothing(stack, new_account, accounts):
    _, key = new_account(balance_micros=1_000)
    client = edges(stack, key)[0]
    ask(client, max_tokens=10)  # worst case well under $0.001
    with pytest.raises(openai.APIStatusError) as err:
        ask(client, max_tokens=100_000)  # up to $0.70
    assert err.value.status_code == 402 and err.value.body["code"] == "insufficient_quota"
    assert "worst-case" in err.value.body["message"]


def test_a_suspended_account_gets_403_on_every_edge_until_reactivated(stack, new_account, accounts):
    account_id, key = new_account()
    clients = edges(stack, key)
    for c in clients:
        ask(c)  # cached on both edges
    accounts.SetAccountStatus(pb.SetAccountStatusRequest(account_id=account_id, status="suspended", reason="provider policy notice"))

    def refused(client) -> bool:
        try:
            ask(client)
            return False
        except openai.PermissionDeniedError as err:
            assert err.body["code"] == "account_suspended" and "provider policy notice" in err.body["message"]
            return True

    def refused_everywhere() -> bool:
        return all([refused(c) for c in clients])

    assert eventually(refused_everywhere, timeout=1.0), "suspension not enforced on every edge within 1 s"
    anthropic_door = httpx.post(
        stack.edge_url.removesuffix("/v1") + "/v1/messages",
        headers={"x-api-key": key},
        json={"model": "sim-1", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert anthropic_door.status_code == 403 and anthropic_door.json()["error"]["type"] == "permission_error"
    accounts.SetAccountStatus(pb.SetAccountStatusRequest(account_id=account_id, status="active"))

    def served_everywhere() -> bool:
        try:
            return all(ask(c).choices for c in clients)
        except openai.PermissionDeniedError:  # this edge has not heard of the reactivation yet
            return False

    assert eventually(served_everywhere, timeout=1.0), "reactivation not seen by every edge within 1 s"


def test_a_daily_spend_cap_gives_402_once_reached(stack, accounts):
    account = accounts.CreateAccount(pb.CreateAccountRequest(name="capped", initial_balance_micros=1_000_000, skip_trial_credit=True))
    per_request = 2 * PRICE_IN + 10 * PRICE_OUT
    cap = 5 * per_request + 200  # room for 5 requests' actual cost (+ change)
    key = accounts.CreateKey(pb.CreateKeyRequest(account_id=account.account_id, rpm_limit=-1, spend_cap_day_micros=cap)).secret
    client = edges(stack, key)[0]
    served = 0
    with pytest.raises(openai.APIStatusError) as err:
        for _ in range(20):
            ask(client, max_tokens=10)
            served += 1
    assert err.value.status_code == 402 and err.value.body["code"] == "spend_cap_exceeded"
    assert 1 <= served <= 5
    # The other edge learns the key's spend from the ledger's notices and refuses too.
    other = edges(stack, key)[1]
    assert eventually(lambda: _capped(other), timeout=2.0)


def _capped(client) -> bool:
    try:
        ask(client, max_tokens=10)
        return False
    except openai.APIStatusError as err:
        return err.status_code == 402 and err.body["code"] == "spend_cap_exceeded"


def test_rotation_keeps_the_old_key_for_its_grace_then_ends_it_everywhere(stack, new_account, accounts):
    account_id, key = new_account()
    old_clients = edges(stack, key)
    for c in old_clients:
        ask(c)
    key_id = accounts.ListKeys(pb.ListKeysRequest(account_id=account_id)).keys[0].key_id
    rotated = accounts.RotateKey(pb.RotateKeyRequest(key_id=key_id, grace_s=3600))
    for c in (*old_clients, *edges(stack, rotated.new_key.secret)):
        assert ask(c).choices  # both keys work during the grace period
    accounts.RotateKey(pb.RotateKeyRequest(key_id=rotated.new_key.key.key_id, grace_s=-1))
    newest_clients = edges(stack, rotated.new_key.secret)

    def expired(client) -> bool:
        try:
            ask(client)
            return False
        except openai.AuthenticationError as err:
            return err.body["code"] == "expired_api_key"

    assert eventually(lambda: all(expired(c) for c in newest_clients), timeout=1.0)
