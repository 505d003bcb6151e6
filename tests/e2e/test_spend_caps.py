"""Spend caps under concurrency (docs/balance-leases.md, "Spend caps per key"): caps are
reserved through leases, so 100 concurrent requests over two edges cannot push a key,
or a tree of child keys, past its cap; every request answered 200 is metered and debited
exactly once."""

from __future__ import annotations

import asyncio

import httpx
import openai

from tests.e2e.test_balance import PRICE_IN, PRICE_OUT, eventually, usage_debits
from tests.e2e.test_contract import wait_for_usage
from tollgate.rpc import accounts_pb2 as pb

MAX_TOKENS = 50  # the simulator answers exactly max_tokens words, one token each
CAP = 10_000  # $0.01 a day, as in the drill (issue 12, part 3)


def capped_account(accounts, cap_day: int = 0, cap_month: int = 0) -> tuple[str, pb.CreatedKey]:
    account = accounts.CreateAccount(pb.CreateAccountRequest(name="capped", initial_balance_micros=10_000_000, skip_trial_credit=True))
    key = accounts.CreateKey(
        pb.CreateKeyRequest(account_id=account.account_id, rpm_limit=-1, spend_cap_day_micros=cap_day, spend_cap_month_micros=cap_month)
    )
    return account.account_id, key


def storm(urls: list[str], keys: list[str], n: int) -> list[int | str]:
    """``n`` concurrent chat requests, spread over ``urls`` and ``keys``: each one's cost (200) or
    "<status> <code>"."""

    async def run() -> list[int | str]:
        clients = {(u, k): openai.AsyncOpenAI(base_url=u, api_key=k, max_retries=0, timeout=60) for u in urls for k in keys}

        async def one(i: int) -> int | str:
            client = clients[(urls[i % len(urls)], keys[(i // len(urls)) % len(keys)])]
            try:
                r = await client.chat.completions.create(model="sim-1", messages=[{"role": "user", "content": "hi"}], max_tokens=MAX_TOKENS)
                return r.usage.prompt_tokens * PRICE_IN + r.usage.completion_tokens * PRICE_OUT
            except openai.APIStatusError as err:
                return f"{err.status_code} {err.body.get('code') if isinstance(err.body, dict) else err.body}"

        try:
            return await asyncio.gather(*(one(i) for i in range(n)))
        finally:
            for c in clients.values():
                await c.close()

    return asyncio.run(run())


def settled(stack, accounts, account_id: str, succeeded: list[int]) -> list[int]:
    """The account's usage debits once every success is in; checks ClickHouse agrees."""
    debits = eventually(lambda: (d := usage_debits(accounts, account_id)) and len(d) >= len(succeeded) and d, timeout=15)
    usage = wait_for_usage(stack, account_id, len(succeeded))
    assert sorted(debits) == sorted(succeeded)  # answered 200 = ledger debits, each once
    assert (usage["requests"], usage["cost_micros"]) == (len(succeeded), sum(succeeded))  # = usage rows
    return debits


def test_100_concurrent_requests_on_2_edges_stay_within_a_keys_daily_cap(stack, accounts):
    account_id, key = capped_account(accounts, cap_day=CAP)
    urls = [stack.edge_url, f"http://127.0.0.1:{stack.ports.edge2}/v1"]
    results = storm(urls, [key.secret], 100)
    succeeded = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert set(refused) <= {"402 spend_cap_exceeded"}, set(refused)
    assert len(succeeded) >= 5 and len(succeeded) + len(refused) == 100  # the cap is shared, not refused outright
    debits = settled(stack, accounts, account_id, succeeded)
    # The documented bound: cap + Σ (actual − hold)⁺ + what lapsed leases spent undebited. Both
    # extra terms are 0 here (answers stay within max_tokens, no edge stalls), so well within
    # "cap + one lease slice".
    assert sum(debits) <= CAP, f"{sum(debits)} µUSD debited against a cap of {CAP}"
    print(f"cap {CAP} µUSD: {len(succeeded)} succeeded ({sum(debits)} µUSD), {len(refused)} got 402")

    # A second wave gets at most what the first left under the cap.
    later = storm(urls, [key.secret], 100)
    extra = [r for r in later if isinstance(r, int)]
    assert all(isinstance(r, int) or r == "402 spend_cap_exceeded" for r in later)
    debits = settled(stack, accounts, account_id, succeeded + extra)
    assert sum(debits) <= CAP, f"{sum(debits)} µUSD debited against a cap of {CAP} after two waves"


def test_child_keys_of_a_capped_key_share_its_cap(stack, accounts):
    account_id, parent = capped_account(accounts, cap_day=CAP)
    as_parent = {"authorization": f"Bearer {parent.secret}"}
    created = [httpx.post(f"{stack.metering_url}/v1/keys", json={"name": f"child-{i}"}, headers=as_parent, timeout=10) for i in range(3)]
    assert [r.status_code for r in created] == [201] * 3
    assert all(r.json()["key"]["spend_cap_day_micros"] == CAP for r in created)  # inherited, never more
    wider = httpx.post(
        f"{stack.metering_url}/v1/keys", json={"name": "wider", "spend_cap_day_micros": 2 * CAP}, headers=as_parent, timeout=10
    )
    assert wider.status_code == 403
    children = [r.json()["secret"] for r in created]
    # A grandchild with a cap of its own, below its parent's.
    grand = httpx.post(
        f"{stack.metering_url}/v1/keys",
        json={"name": "grandchild", "spend_cap_day_micros": CAP // 2},
        headers={"authorization": f"Bearer {children[0]}"},
        timeout=10,
    )
    assert grand.status_code == 201
    keys = [parent.secret, *children, grand.json()["secret"]]

    urls = [stack.edge_url, f"http://127.0.0.1:{stack.ports.edge2}/v1"]
    results = storm(urls, keys, 150)
    succeeded = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert set(refused) <= {"402 spend_cap_exceeded"}, set(refused)
    assert succeeded and len(succeeded) + len(refused) == 150
    debits = settled(stack, accounts, account_id, succeeded)
    # Without the parent's cap counting its children, 5 keys could spend up to 4.5 × CAP.
    assert sum(debits) <= CAP, f"{sum(debits)} µUSD debited by the key tree against the parent's cap of {CAP}"
    spent_by_key: dict[str, int] = {}
    for e in accounts.ListLedger(pb.ListLedgerRequest(account_id=account_id, limit=1000)).entries:
        if e.kind == "usage":
            spent_by_key[e.key_id] = spent_by_key.get(e.key_id, 0) - e.amount_micros
    parent_view = accounts.Authenticate(pb.AuthenticateRequest(key=parent.secret))
    assert parent_view.spent_day_micros == sum(spent_by_key.values())  # the parent's figure counts the whole tree
    print(f"parent cap {CAP} µUSD: {len(succeeded)} succeeded over {len(spent_by_key)} keys ({sum(debits)} µUSD), {len(refused)} got 402")

    # Rotating a child does not reset what it may spend: the new key counts against the old one's cap.
    child_id = created[1].json()["key"]["key_id"]
    rotated = accounts.RotateKey(pb.RotateKeyRequest(key_id=child_id, grace_s=-1)).new_key
    more = storm(urls, [rotated.secret], 30)
    extra = [r for r in more if isinstance(r, int)]
    settled(stack, accounts, account_id, succeeded + extra)
    assert sum(debits) + sum(extra) <= CAP
