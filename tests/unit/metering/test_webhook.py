"""The payment webhook's signature check and event parsing (services.metering.console.webhook)
against signed fixtures (tests/data/webhooks: signatures made with openssl, not this code)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.metering.console import webhook
from tollgate.errors import BadRequest

FIXTURES = Path(__file__).parents[2] / "data" / "webhooks"
SECRET = "whsec_fixture_secret_do_not_use"
T = 1764900000
SIGNED = dict(line.split(" ", 1) for line in (FIXTURES / "signatures.txt").read_text().splitlines())


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_text().rstrip("\n").encode()


@pytest.mark.parametrize("name", sorted(SIGNED))
def test_the_fixtures_verify(name: str) -> None:
    assert webhook.verify(body(name), SIGNED[name], [SECRET], now=T + 10, tolerance_s=300) == T
    assert webhook.sign(body(name), SECRET, T) == SIGNED[name]  # signs as the provider does


def test_any_configured_secret_verifies_while_rotating() -> None:
    name = "checkout_session_completed"
    assert webhook.verify(body(name), SIGNED[name], ["whsec_new", SECRET], now=T, tolerance_s=300) == T
    several = f"{SIGNED[name]},v1={'0' * 64},v0=ignored"
    assert webhook.verify(body(name), several, [SECRET], now=T, tolerance_s=300) == T


@pytest.mark.parametrize(
    ("header", "secret", "payload", "code"),
    [
        (None, "whsec_other", None, "invalid_signature"),  # signed with another secret
        (None, SECRET, b'{"id":"evt_forged"}', "invalid_signature"),  # the body changed
        ("t=1764900000", SECRET, None, "invalid_signature_header"),  # no v1
        ("v1=" + "a" * 64, SECRET, None, "invalid_signature_header"),  # no timestamp
        ("", SECRET, None, "invalid_signature_header"),
        ("t=1764900000,v1=" + "0" * 64, SECRET, None, "invalid_signature"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, secret: str, payload: bytes | None, code: str) -> None:
    name = "checkout_session_completed"
    with pytest.raises(webhook.WebhookRejected) as refused:
        webhook.verify(payload or body(name), SIGNED[name] if header is None else header, [secret], now=T, tolerance_s=300)
    assert refused.value.code == code and refused.value.status == 400


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_a_delivery_outside_the_tolerance_is_refused(offset: int) -> None:
    name = "checkout_session_completed"
    with pytest.raises(webhook.WebhookRejected) as refused:
        webhook.verify(body(name), SIGNED[name], [SECRET], now=T + offset, tolerance_s=300)
    assert refused.value.code == "timestamp_outside_tolerance"
    assert webhook.verify(body(name), SIGNED[name], [SECRET], now=T + 300, tolerance_s=300) == T


def test_credited_events() -> None:
    assert webhook.credit(body("checkout_session_completed")) == webhook.Credit(
        "evt_1QfixtureCheckout0001", "checkout.session.completed", "acct_fixture", 25_000_000
    )
    assert webhook.credit(body("payment_intent_succeeded")) == webhook.Credit(
        "evt_1QfixtureIntent00002", "payment_intent.succeeded", "acct_fixture", 10_000_000
    )
    assert webhook.credit(body("customer_created")) is None


def _event(**changes) -> bytes:
    event = json.loads(body("checkout_session_completed"))
    event["data"]["object"].update(changes)
    return json.dumps(event).encode()


def test_events_that_credit_nothing_or_are_malformed() -> None:
    assert webhook.credit(_event(payment_status="unpaid")) is None
    assert webhook.credit(_event(currency="eur")) is None
    assert webhook.credit(_event(metadata={}, client_reference_id="acct_ref")).account_id == "acct_ref"  # type: ignore[union-attr]
    for bad, code in (
        (_event(metadata={}), "missing_account_id"),
        (_event(amount_total=0), "invalid_amount"),
        (_event(amount_total=12.5), "invalid_amount"),
        (_event(amount_total=True), "invalid_amount"),
        (b"not json", "invalid_event"),
        (b"[]", "invalid_event"),
        (b'{"id":"evt","type":"checkout.session.completed","data":{}}', "invalid_event"),
    ):
        with pytest.raises(BadRequest) as refused:
            webhook.credit(bad)
        assert refused.value.code == code, bad
