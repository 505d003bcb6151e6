"""Billing through the running stack: an admin mints redemption codes over metering's console
API, an account's key redeems one (once; wrong guesses throttled), and the payment webhook
credits signed Stripe-style events once (valid, bad signature, replayed, too old, duplicate)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from services.metering.console import webhook
from tests.conftest import PAYMENT_WEBHOOK_SECRET
from tollgate.rpc import accounts_pb2 as pb

FIXTURES = Path(__file__).parents[1] / "data" / "webhooks"


def call(stack, method: str, path: str, credential: str | None, **kwargs) -> httpx.Response:
    headers = {"authorization": f"Bearer {credential}"} if credential else {}
    return httpx.request(method, f"{stack.metering_url}{path}", headers=headers | kwargs.pop("headers", {}), timeout=30, **kwargs)


def balance(accounts, account_id: str) -> int:
    return accounts.GetAccount(pb.GetAccountRequest(account_id=account_id)).balance_micros


def test_codes_minted_by_the_admin_redeem_once(stack, new_account, accounts, admin_token) -> None:
    account_id, key = new_account(balance_micros=1_000_000, name="redeemer")
    other_id, other_key = new_account(balance_micros=0, name="latecomer")
    refused = call(stack, "POST", "/console/api/billing/codes", key, json={"count": 1, "amount_micros": 1})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_required"
    minted = call(stack, "POST", "/console/api/billing/codes", admin_token, json={"count": 2, "amount_micros": 4_000_000, "note": "e2e"})
    assert minted.status_code == 201, minted.text
    codes = minted.json()["codes"]
    assert len(codes) == 2 and all(c["secret"].startswith("TGC-") and c["code"]["status"] == "active" for c in codes)
    listed = call(stack, "GET", "/console/api/billing/codes", admin_token).json()["codes"]
    assert {c["code"]["code_id"] for c in codes} <= {c["code_id"] for c in listed}
    assert all("secret" not in c for c in listed)

    done = call(stack, "POST", "/console/api/billing/redeem", key, json={"code": codes[0]["secret"].lower()})
    assert done.status_code == 200, done.text
    assert done.json() == {
        "account_id": account_id,
        "code_id": codes[0]["code"]["code_id"],
        "amount_micros": 4_000_000,
        "balance_micros": 5_000_000,
    }
    assert balance(accounts, account_id) == 5_000_000
    again = call(stack, "POST", "/console/api/billing/redeem", other_key, json={"code": codes[0]["secret"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "redemption_code_used"
    assert balance(accounts, other_id) == 0
    # A key names only its own account.
    elsewhere = call(stack, "POST", "/console/api/billing/redeem", key, params={"account_id": other_id}, json={"code": codes[1]["secret"]})
    assert elsewhere.status_code == 403
    for bad in ({"code": ""}, {"nope": 1}):
        assert call(stack, "POST", "/console/api/billing/redeem", key, json=bad).status_code == 400
    assert call(stack, "POST", "/console/api/billing/redeem", None, json={"code": codes[1]["secret"]}).status_code == 401
    # Guesses: five wrong codes, then even the right one waits.
    for _ in range(5):
        wrong = call(stack, "POST", "/console/api/billing/redeem", other_key, json={"code": "TGC-AAAA-BBBB-CCCC-DDDD-EEEE"})
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_redemption_code"
    throttled = call(stack, "POST", "/console/api/billing/redeem", other_key, json={"code": codes[1]["secret"]})
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "too_many_redemption_attempts"
    # The admin revokes the unused code: it no longer redeems.
    revoked = call(stack, "POST", f"/console/api/billing/codes/{codes[1]['code']['code_id']}/revoke", admin_token)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert call(stack, "POST", "/console/api/billing/redeem", key, json={"code": codes[1]["secret"]}).status_code == 400
    assert balance(accounts, account_id) == 5_000_000


def _delivery(account_id: str, event_id: str, cents: int, at: int, secret: str = PAYMENT_WEBHOOK_SECRET) -> tuple[bytes, str]:
    event = json.loads((FIXTURES / "checkout_session_completed.json").read_text())
    event["id"] = event_id
    event["data"]["object"].update(amount_total=cents, metadata={"account_id": account_id})
    payload = json.dumps(event, separators=(",", ":")).encode()
    return payload, webhook.sign(payload, secret, at)


def post_event(stack, payload: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"} | ({"stripe-signature": signature} if signature is not None else {})
    return httpx.post(f"{stack.metering_url}/console/api/billing/webhook/stripe", content=payload, headers=headers, timeout=30)


def test_the_payment_webhook_credits_signed_events_once(stack, new_account, accounts) -> None:
    account_id, _ = new_account(balance_micros=0, name="payer")
    now = int(time.time())
    payload, signature = _delivery(account_id, f"evt_e2e_{now}", 2_500, now)
    first = post_event(stack, payload, signature)
    assert first.status_code == 200, first.text
    assert first.json()["credited"] is True and balance(accounts, account_id) == 25_000_000
    # The same delivery replayed (within the tolerance), and the provider's retry re-signed later: once.
    replayed = post_event(stack, payload, signature)
    assert replayed.status_code == 200 and replayed.json() == {**first.json(), "credited": False, "duplicate": True}
    retried = post_event(stack, payload, webhook.sign(payload, PAYMENT_WEBHOOK_SECRET, now + 5))
    assert retried.status_code == 200 and retried.json()["duplicate"] is True
    assert balance(accounts, account_id) == 25_000_000
    # Not the provider's: another secret, a changed body, no header; or too old.
    forged, forged_signature = _delivery(account_id, "evt_forged", 999_999, now, secret="whsec_guess")
    tampered = payload.replace(b"2500", b"9900")
    stale_payload, stale_signature = _delivery(account_id, "evt_stale", 1_000, now - 3_600)
    for body, header, code in (
        (forged, forged_signature, "invalid_signature"),
        (tampered, signature, "invalid_signature"),
        (payload, None, "invalid_signature_header"),
        (stale_payload, stale_signature, "timestamp_outside_tolerance"),
    ):
        refused = post_event(stack, body, header)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == code, refused.text
    assert balance(accounts, account_id) == 25_000_000
    # An event of another type is acknowledged, credits nothing; an unknown account is refused.
    other = (FIXTURES / "customer_created.json").read_text().rstrip("\n").encode()
    ignored = post_event(stack, other, webhook.sign(other, PAYMENT_WEBHOOK_SECRET, now))
    assert ignored.status_code == 200 and ignored.json() == {"received": True, "credited": False}
    nobody, nobody_signature = _delivery("acct_nobody", f"evt_nobody_{now}", 100, now)
    assert post_event(stack, nobody, nobody_signature).status_code == 404
    ledger = accounts.ListLedger(pb.ListLedgerRequest(account_id=account_id, limit=10)).entries
    assert [(e.kind, e.amount_micros, e.reference) for e in ledger] == [("payment", 25_000_000, f"payment:stripe:evt_e2e_{now}")]
