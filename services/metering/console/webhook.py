"""A payment provider's webhook, Stripe's way: the signature, and what an event credits.

``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` where each ``v1`` is
HMAC-SHA256(secret, "<t>.<raw body>"). A delivery is accepted when one ``v1`` matches one of
the configured secrets (several while a secret is rotated) and ``t`` is within the tolerance
of now (an old signed body replayed later is refused); a delivery replayed within the
tolerance, and a provider's duplicate delivery, carry an event id already credited, which
the ledger applies once (``Billing.CreditPayment``).

Credited events: ``checkout.session.completed`` (paid; ``amount_total``) and
``payment_intent.succeeded`` (``amount_received``), in USD cents, for the account in the
object's ``metadata.account_id`` (or a checkout's ``client_reference_id``). Other event
types are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import msgspec

from tollgate.errors import BadRequest

SIGNATURE_HEADER = "stripe-signature"
MICROS_PER_CENT = 10_000
MAX_SIGNATURES = 8


class WebhookRejected(BadRequest):
    """A delivery that is not the provider's, or not now: 400, nothing credited."""


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The header value the provider would send (tests and fixtures sign with it)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(payload: bytes, header: str, secrets: list[str], now: float, tolerance_s: int) -> int:
    """The delivery's timestamp, or ``WebhookRejected``: no usable header, no matching
    signature, or a timestamp more than ``tolerance_s`` from ``now``."""
    timestamp, signatures = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "v1" and len(value) == 64:
            signatures.append(value)
    if timestamp is None or not signatures or len(signatures) > MAX_SIGNATURES:
        raise WebhookRejected("No valid Stripe-Signature header (t=<timestamp>,v1=<signature>).", code="invalid_signature_header")
    signed = f"{timestamp}.".encode() + payload
    expected = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets if s]
    if not any(hmac.compare_digest(e, given) for e in expected for given in signatures):
        raise WebhookRejected("The webhook signature does not match the payload.", code="invalid_signature")
    if abs(now - timestamp) > tolerance_s:
        raise WebhookRejected(f"The webhook timestamp is outside the {tolerance_s} s tolerance.", code="timestamp_outside_tolerance")
    return timestamp


class Credit(msgspec.Struct, frozen=True):
    event_id: str
    event_type: str
    account_id: str
    amount_micros: int


def credit(payload: bytes) -> Credit | None:
    """What a verified event credits; None for an event that credits nothing (another type,
    an unpaid checkout, another currency). ``BadRequest`` for a body that is not an event."""
    try:
        event = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise BadRequest("The webhook body is not JSON.", code="invalid_event") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise BadRequest("The webhook body is not an event (id, type, data.object).", code="invalid_event")
    obj: Any = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if not isinstance(obj, dict):
        raise BadRequest("The event has no data.object.", code="invalid_event")
    kind = event["type"]
    if kind == "checkout.session.completed":
        if obj.get("payment_status") != "paid":
            return None
        amount = obj.get("amount_total")
    elif kind == "payment_intent.succeeded":
        amount = obj.get("amount_received")
    else:
        return None
    if str(obj.get("currency", "")).lower() != "usd":
        return None
    found = obj.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    account = metadata.get("account_id") or obj.get("client_reference_id") or ""
    if not isinstance(account, str) or not account:
        raise BadRequest("The event names no account (metadata.account_id).", code="missing_account_id")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise BadRequest("The event has no positive amount in cents.", code="invalid_amount")
    return Credit(event_id=event["id"], event_type=kind, account_id=account, amount_micros=amount * MICROS_PER_CENT)
