"""Risk control end to end: rules from the risk TOML (hot-reloaded) over the usage stream,
suspension records, 403 at every door, reactivation requests through the console API and the
admin's decision, permanent deactivation after repeated records; tickets keep their requests'
technical metadata (never content)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from tollgate import credentials
from tollgate.rpc import risk_pb2 as rpb
from tollgate.rpc import risk_pb2_grpc as rpb_grpc

SENSITIVE = "sim-sensitive"
THRESHOLD = 5
CANARY = "tollgate-risk-canary-7f3a91"

RULES = f"""
[deactivation]
records = 2
period_s = 3600

[tickets]
keep_s = 600
lookback_s = 600

[[rules]]
name = "sensitive-burst"
kind = "sensitive_rpm"
threshold = {THRESHOLD}
window_s = 60
action = "suspend"
cooldown_s = 0

[[rules]]
name = "key-guessing"
kind = "auth_failures"
per = "address"
threshold = 5
window_s = 60
action = "warn"
"""


def eventually(check, timeout: float = 10.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


@pytest.fixture(scope="module")
def risk(stack, admin_token):
    with credentials.channel(stack.settings.accounts_addr, admin_token) as channel:
        yield rpb_grpc.RiskStub(channel)


@pytest.fixture
def rules(stack, risk):
    """The test's rules in the stack's risk.toml (hot-reloaded); removed afterwards, so no other
    test's traffic is judged."""
    path = Path(stack.settings.data_dir) / "risk.toml"
    path.write_text(RULES)
    assert eventually(lambda: [r.name for r in risk.ListRules(rpb.ListRulesRequest()).rules] == ["sensitive-burst", "key-guessing"], 5.0)
    yield path
    path.unlink()
    assert eventually(lambda: not risk.ListRules(rpb.ListRulesRequest()).rules, 5.0)


def ask(client: openai.OpenAI, model: str = SENSITIVE, text: str = "translate this"):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], max_tokens=5)


def burst_until_refused(client: openai.OpenAI, code: str) -> openai.PermissionDeniedError:
    """Synthetic traffic on the high-sensitivity model until the edge refuses it with ``code``."""
    deadline = time.monotonic() + 15
    sent = 0
    while time.monotonic() < deadline:
        try:
            ask(client)
            sent += 1
        except openai.PermissionDeniedError as err:
            assert err.body["code"] == code, err.body
            assert sent > THRESHOLD, f"refused after only {sent} requests"
            return err
        time.sleep(0.02 if sent <= THRESHOLD else 0.1)
    raise AssertionError(f"not refused with {code} after {sent} requests")


def console(stack, method: str, path: str, credential: str, **kw) -> httpx.Response:
    return httpx.request(method, stack.metering_url + path, headers={"authorization": f"Bearer {credential}"}, timeout=10, **kw)


def test_a_rule_suspends_then_the_admin_reactivates_then_records_deactivate(stack, new_account, admin_token, risk, rules):
    account_id, key = new_account(name="risk-burst")
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    ask(client, model="sim-1")  # ordinary models are not watched

    # synthetic traffic trips the rule: suspended, with a record, 403 at every door
    err = burst_until_refused(client, "account_suspended")
    assert "sensitive-burst" in err.body["message"] and "reactivation" in err.body["message"]
    anthropic_door = httpx.post(
        stack.edge_url.removesuffix("/v1") + "/v1/messages",
        headers={"x-api-key": key},
        json={"model": "sim-1", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert anthropic_door.status_code == 403 and anthropic_door.json()["error"]["type"] == "permission_error"
    assert "suspended" in anthropic_door.json()["error"]["message"]
    gemini_door = httpx.post(
        stack.edge_url.removesuffix("/v1") + "/gemini/v1beta/models/sim-1:generateContent",
        headers={"x-goog-api-key": key},
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert gemini_door.status_code == 403 and gemini_door.json()["error"]["status"] == "PERMISSION_DENIED"

    records = console(stack, "GET", "/console/api/risk/records", key).json()["records"]
    assert [(r["rule"], r["action"]) for r in records] == [("sensitive-burst", "suspend")]
    figures = json.loads(records[0]["figures"])
    assert figures["requests"] > THRESHOLD and figures["threshold"] == THRESHOLD
    standing = console(stack, "GET", "/console/api/risk/standing", key).json()
    assert standing["status"] == "suspended" and standing["records_in_period"] == 1 and standing["deactivate_after"] == 2

    # the user asks for reactivation (with the suspended key), once
    empty = console(stack, "POST", "/console/api/risk/reactivation", key, json={"message": "  "})
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "missing_message"
    filed = console(stack, "POST", "/console/api/risk/reactivation", key, json={"message": "A batch job looped; fixed."})
    assert filed.status_code == 201, filed.text
    again = console(stack, "POST", "/console/api/risk/reactivation", key, json={"message": "please"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "reactivation_refused"

    # a user key cannot decide; the admin sees the queue and reactivates
    request_id = filed.json()["id"]
    denied = console(stack, "POST", f"/console/api/risk/reactivations/{request_id}/decide", key, json={"approve": True})
    assert denied.status_code == 403
    queue = console(stack, "GET", "/console/api/risk/reactivations?status=pending", admin_token).json()["requests"]
    mine = [r for r in queue if r["account_id"] == account_id]
    assert mine and mine[0]["message"] == "A batch job looped; fixed." and "sensitive-burst" in mine[0]["status_reason"]
    decided = console(
        stack, "POST", f"/console/api/risk/reactivations/{request_id}/decide", admin_token, json={"approve": True, "note": "ok"}
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"

    def served() -> bool:
        try:
            return bool(ask(client, model="sim-1").choices)
        except openai.PermissionDeniedError:
            return False

    assert eventually(served, 2.0), "reactivation not seen by the edge"

    # a second record within the period: permanently deactivated, and no reactivation by request
    time.sleep(0.5)
    err = burst_until_refused(client, "account_deactivated")
    assert "permanently deactivated" in err.body["message"]
    refused = console(stack, "POST", "/console/api/risk/reactivation", key, json={"message": "again?"})
    assert refused.status_code == 409 and "permanently" in refused.json()["error"]["message"]
    actions = [r["action"] for r in console(stack, "GET", "/console/api/risk/records", key).json()["records"]]
    assert actions == ["deactivate", "suspend", "suspend"]


def test_a_ticket_keeps_its_requests_metadata_and_never_content(stack, new_account, admin_token):
    _, key = new_account(name="risk-ticket")
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    ok = client.chat.completions.with_raw_response.create(model="sim-1", messages=[{"role": "user", "content": CANARY}], max_tokens=5)
    request_id = ok.headers["x-request-id"]
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="sim-broken", messages=[{"role": "user", "content": CANARY}], max_tokens=5)
    failed_id = failed.value.response.headers["x-request-id"]
    _, other_key = new_account(name="risk-ticket-other")
    other_id = (
        openai.OpenAI(base_url=stack.edge_url, api_key=other_key, max_retries=0)
        .chat.completions.with_raw_response.create(model="sim-1", messages=[{"role": "user", "content": "x"}], max_tokens=5)
        .headers["x-request-id"]
    )

    def opened():
        reply = console(
            stack,
            "POST",
            "/console/api/tickets",
            key,
            json={"subject": "Errors on sim-broken", "description": "It fails", "request_ids": [request_id, failed_id, other_id]},
        )
        assert reply.status_code == 201, reply.text
        return reply.json()

    ticket = opened()
    ticket_id = ticket["ticket_id"]

    def diagnostics() -> dict | None:
        got = console(stack, "GET", f"/console/api/tickets/{ticket_id}", key).json()
        by_id = {d["request_id"]: d for d in got["diagnostics"]}
        return by_id if by_id[request_id]["found"] and by_id[failed_id]["found"] else None

    by_id = eventually(diagnostics, 10.0)
    assert by_id, "the ticket's requests' metadata was not kept"
    assert by_id[request_id]["status"] == 200 and by_id[request_id]["channel_id"] == "sim-primary"
    broken = by_id[failed_id]
    assert broken["status"] >= 500 and broken["attempts"] >= 1 and broken["error_code"]
    assert broken["attempt_log"] and all(a["channel_id"] and a["error"] for a in broken["attempt_log"])
    assert not by_id[other_id]["found"], "another account's request must never be shown"
    text = json.dumps(console(stack, "GET", f"/console/api/tickets/{ticket_id}", key).json())
    assert CANARY not in text

    # others cannot read it; the admin can; the store never holds content
    assert console(stack, "GET", f"/console/api/tickets/{ticket_id}", other_key).status_code == 404
    assert console(stack, "GET", f"/console/api/tickets/{ticket_id}", admin_token).status_code == 200
    listed = console(stack, "GET", "/console/api/tickets", key).json()["tickets"]
    assert [t["ticket_id"] for t in listed] == [ticket_id]
    bad = console(stack, "POST", "/console/api/tickets", key, json={"subject": "", "request_ids": []})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_subject"
    closed = console(stack, "POST", f"/console/api/tickets/{ticket_id}/close", key)
    assert closed.json()["status"] == "closed"
    db = Path(stack.settings.accounts_db_target)
    if db.exists():
        assert CANARY.encode() not in db.read_bytes()


def test_an_admin_throttle_reaches_the_edge_and_failing_keys_leave_a_record(stack, new_account, admin_token, rules):
    account_id, key = new_account(name="risk-throttle")
    client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
    ask(client, model="sim-1")
    acted = console(
        stack,
        "POST",
        "/console/api/risk/act",
        admin_token,
        json={"account_id": account_id, "action": "throttle", "reason": "review", "throttle_rpm": 2},
    )
    assert acted.status_code == 201 and acted.json()["action"] == "throttle"
    assert (
        console(stack, "POST", "/console/api/risk/act", key, json={"account_id": account_id, "action": "warn", "reason": "x"}).status_code
        == 403
    )

    def limited() -> bool:
        try:
            ask(client, model="sim-1")
            return False
        except openai.RateLimitError as err:
            assert err.body["code"] == "account_throttled"
            return True

    assert eventually(limited, 5.0), "the throttle never reached the edge"
    standing = console(stack, "GET", "/console/api/risk/standing", key).json()
    assert standing["status"] == "active" and standing["throttle_rpm"] == 2

    for _ in range(7):
        wrong = httpx.post(
            stack.edge_url + "/chat/completions", headers={"authorization": "Bearer sk-tg-not-a-real-key-0000"}, json={"model": "sim-1"}
        )
        assert wrong.status_code == 401

    def address_record():
        records = console(stack, "GET", "/console/api/risk/records?account_id=address:127.0.0.1", admin_token).json()["records"]
        return [r for r in records if r["rule"] == "key-guessing"]

    found = eventually(address_record, 5.0)
    assert found and found[0]["action"] == "warn" and "sk-tg" not in json.dumps(found)


ERROR_RULES = """
[[rules]]
name = "error-spike"
kind = "error_rate"
threshold = 0.5
min_requests = 4
window_s = 60
action = "throttle"
throttle_rpm = 3
throttle_s = 120
"""


def test_an_error_spike_throttles_the_account_automatically(stack, new_account, risk):
    path = Path(stack.settings.data_dir) / "risk.toml"
    path.write_text(ERROR_RULES)
    try:
        assert eventually(lambda: [r.name for r in risk.ListRules(rpb.ListRulesRequest()).rules] == ["error-spike"], 5.0)
        account_id, key = new_account(name="risk-errors")
        client = openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30)
        for _ in range(4):
            with pytest.raises(openai.APIStatusError) as failed:
                ask(client, model="sim-broken")
            assert failed.value.status_code == 502

        def throttled() -> bool:
            try:
                ask(client, model="sim-1")
                return False
            except openai.RateLimitError as err:
                assert err.body["code"] == "account_throttled" and "3 requests per minute" in err.body["message"]
                return True

        assert eventually(throttled, 5.0), "the error spike did not throttle the account"
        records = risk.ListRecords(rpb.ListRecordsRequest(account_id=account_id)).records
        assert [(r.rule, r.action) for r in records] == [("error-spike", "throttle")] and records[0].until_ms > 0
        assert json.loads(records[0].figures)["failed"] >= 3
    finally:
        path.unlink()
        assert eventually(lambda: not risk.ListRules(rpb.ListRulesRequest()).rules, 5.0)
