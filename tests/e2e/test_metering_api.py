"""Metering's API on the running stack: real keys, real traffic, real ClickHouse (chDB);
who sees what, statements against the ledger, and dead letters."""

from __future__ import annotations

import asyncio
import time

import httpx
import nats
import openai

from services.metering.consumer import DURABLE
from tests.e2e.test_contract import wait_for_usage
from tollgate import events
from tollgate.rpc import accounts_pb2 as pb


def get(stack, path: str, credential: str, **params) -> httpx.Response:
    return httpx.get(f"{stack.metering_url}{path}", params=params, headers={"authorization": f"Bearer {credential}"}, timeout=30)


def traffic(stack, key: str, n: int, model: str = "sim-1") -> list[str]:
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0)
    ids = []
    for _ in range(n):
        raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=3)
        ids.append(raw.headers["x-request-id"])
    return ids


def test_each_key_sees_only_its_own_account_and_the_admin_sees_all(stack, new_account, admin_token):
    a_id, a_key = new_account()
    b_id, b_key = new_account()
    a_requests = traffic(stack, a_key, 3)
    traffic(stack, b_key, 2)
    wait_for_usage(stack, a_id, 3)
    wait_for_usage(stack, b_id, 2)

    assert get(stack, "/v1/whoami", a_key).json() == {"admin": False, "account_id": a_id}
    assert get(stack, "/v1/whoami", admin_token).json()["admin"] is True
    mine = get(stack, "/v1/usage", a_key, bucket="none").json()["data"]
    assert [r["requests"] for r in mine] == [3]
    log = get(stack, "/v1/requests", a_key).json()["data"]
    assert {r["request_id"] for r in log} == set(a_requests) and {r["account_id"] for r in log} == {a_id}
    one = get(stack, f"/v1/requests/{a_requests[0]}", a_key).json()
    assert one["model_served"] == "sim-1" and one["completion_tokens"] == 3 and one["status"] == 200
    # Another account's rows are invisible, whatever is asked.
    assert get(stack, f"/v1/requests/{a_requests[0]}", b_key).status_code == 404
    for path in ("/v1/usage", "/v1/requests", "/v1/statement", "/v1/usage/models", "/v1/usage/daily"):
        answer = get(stack, path, b_key, account_id=a_id)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden", path
    assert get(stack, "/v1/usage", "sk-" + "x" * 48).status_code == 401
    assert httpx.get(f"{stack.metering_url}/v1/usage", timeout=10).status_code == 401
    admin = get(stack, "/v1/usage", admin_token, bucket="none", account_id=b_id).json()["data"]
    assert [r["requests"] for r in admin] == [2]
    # The admin finds any request by its id alone (request_index, migration 0011): the same row its account sees.
    assert get(stack, f"/v1/requests/{a_requests[0]}", admin_token).json() == one
    assert get(stack, "/v1/requests/req_no_such_request", admin_token).status_code == 404


def test_the_statement_matches_the_ledger(stack, new_account, accounts):
    account_id, key = new_account()
    traffic(stack, key, 4)
    usage = wait_for_usage(stack, account_id, 4)
    deadline = time.monotonic() + 10
    while True:
        entries = accounts.ListLedger(pb.ListLedgerRequest(account_id=account_id)).entries
        debited = -sum(e.amount_micros for e in entries if e.kind == "usage")
        if debited >= usage["cost_micros"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    statement = get(stack, "/v1/statement", key).json()
    assert statement["total_cost_micros"] == usage["cost_micros"] == debited == statement["ledger_debits_micros"] > 0
    assert statement["matches_ledger"] is True
    assert [(line["model"], line["requests"]) for line in statement["lines"]] == [("sim-1", 4)]


def test_malformed_and_unknown_version_events_are_dead_lettered_without_blocking(stack, new_account):
    account_id, key = new_account()

    async def publish_bad() -> None:
        nc = await nats.connect(stack.settings.nats_url)
        try:
            js = nc.jetstream()
            await js.publish(events.USAGE_SUBJECT, b"\xc1 not msgpack", headers={"Nats-Msg-Id": f"bad-{account_id}"})
            await js.publish("tollgate.usage.v9", b"\x80", headers={"Nats-Msg-Id": f"v9-{account_id}"})
            # Well-formed, but outside the table's column range: ClickHouse would refuse its batch forever.
            huge = events.UsageEvent(
                request_id=f"huge-{account_id}", occurred_at_ms=int(time.time() * 1000), account_id=account_id, key_id="k", latency_ms=2**32
            )
            await js.publish(events.USAGE_SUBJECT, events.encode(huge), headers={"Nats-Msg-Id": f"huge-{account_id}"})
        finally:
            await nc.close()

    async def dead_letters() -> list[tuple[str, str]]:
        nc = await nats.connect(stack.settings.nats_url)
        try:
            js = nc.jetstream()
            sub = await js.pull_subscribe(f"{events.DEAD_LETTER_PREFIX}.{DURABLE}", stream=events.DEAD_LETTER_STREAM)
            found = []
            try:
                for msg in await sub.fetch(100, timeout=2):
                    found.append((msg.headers["Tollgate-Subject"], msg.headers["Tollgate-Reason"]))
                    await msg.ack()
            except nats.errors.TimeoutError:
                pass
            return found
        finally:
            await nc.close()

    asyncio.run(publish_bad())
    traffic(stack, key, 1)  # a good event behind the bad ones is still stored
    assert wait_for_usage(stack, account_id, 1)["requests"] == 1
    letters = asyncio.run(dead_letters())
    subjects = {subject for subject, _ in letters}
    assert {events.USAGE_SUBJECT, "tollgate.usage.v9"} <= subjects
    assert any("unknown event version" in reason for subject, reason in letters if subject == "tollgate.usage.v9")
    assert any("latency_ms" in reason for subject, reason in letters if subject == events.USAGE_SUBJECT)


def test_ingestion_metrics_are_exposed(stack, new_account):
    account_id, key = new_account()
    traffic(stack, key, 2)
    wait_for_usage(stack, account_id, 2)
    deadline = time.monotonic() + 10
    while True:
        text = httpx.get(f"http://127.0.0.1:{stack.ports.metering_metrics}/metrics", timeout=10).text
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")}
        if "tollgate_metering_consumer_lag" in values or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert values["tollgate_metering_events_inserted_total"] >= 2
    assert values["tollgate_metering_insert_seconds_count"] >= 1
    assert values["tollgate_metering_consumer_lag"] >= 0 and "tollgate_metering_consumer_ack_pending" in values
