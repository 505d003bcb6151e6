"""Bus events (tollgate.events): msgpack encoding, versioned subjects, compatible evolution."""

from __future__ import annotations

import msgspec
import pytest

from tollgate import events
from tollgate.pricing import cost_micros


def usage(**overrides) -> events.UsageEvent:
    base = dict(request_id="req-1", occurred_at_ms=1_700_000_000_000, account_id="acct_1", key_id="key_1")
    return events.UsageEvent(**{**base, **overrides})


@pytest.mark.parametrize(
    "subject, event",
    [
        (events.USAGE_SUBJECT, usage(model_served="m", stream=True, prompt_tokens=5, cost_micros=17, zdr=True)),
        (events.KEY_REVOKED_SUBJECT, events.KeyRevoked(key_id="key_1", key_hash="ab" * 32, account_id="acct_1")),
        (events.BALANCE_CHANGED_SUBJECT, events.BalanceChanged(account_id="acct_1", balance_micros=-42)),
        (events.ROUTING_CHANGED_SUBJECT, events.RoutingTableChanged(table_version=9)),
        (events.USAGE_BATCH_SUBJECT, events.UsageBatch(events=[usage(request_id="req_a"), usage(request_id="req_b", cost_micros=3)])),
    ],
)
def test_round_trip(subject: str, event) -> None:
    data = events.encode(event)
    assert isinstance(data, bytes)
    decoded = events.decode(subject, data)
    assert type(decoded) is type(event)
    assert decoded == event


def test_every_subject_is_versioned_and_has_a_decoder() -> None:
    subjects = [
        events.USAGE_SUBJECT,
        events.USAGE_BATCH_SUBJECT,
        events.KEY_REVOKED_SUBJECT,
        events.BALANCE_CHANGED_SUBJECT,
        events.ROUTING_CHANGED_SUBJECT,
        events.CHANNEL_OUTCOME_SUBJECT,
        events.CHANNEL_OUTCOMES_SUBJECT,
        events.RATE_COUNTS_SUBJECT,
        events.KEY_UPDATED_SUBJECT,
        events.ACCOUNT_STATUS_SUBJECT,
        events.AUTH_FAILED_SUBJECT,
    ]
    assert set(events.DECODERS) == set(subjects)
    assert all(s.startswith("tollgate.") and s.rsplit(".", 1)[1].startswith("v") for s in subjects)
    with pytest.raises(KeyError):
        events.decode("tollgate.nope.v1", b"")


def test_events_are_msgpack_maps_keyed_by_field_name() -> None:
    """Schema evolution relies on named fields, not positional arrays."""
    raw = msgspec.msgpack.decode(events.encode(events.KeyRevoked(key_id="k", key_hash="h", account_id="a")))
    assert raw == {"key_id": "k", "key_hash": "h", "account_id": "a"}


def test_newer_event_with_extra_field_decodes_with_v1_decoder() -> None:
    class UsageEventV2(events.UsageEvent, frozen=True, kw_only=True):
        region: str = "eu-west"
        tags: list[str] = msgspec.field(default_factory=list)

    newer = UsageEventV2(request_id="r", occurred_at_ms=1, account_id="a", key_id="k", cost_micros=99, region="us", tags=["x"])
    decoded = events.decode(events.USAGE_SUBJECT, events.encode(newer))
    assert type(decoded) is events.UsageEvent
    assert decoded == usage(request_id="r", occurred_at_ms=1, account_id="a", key_id="k", cost_micros=99)


def test_older_event_missing_defaulted_fields_decodes() -> None:
    class UsageEventV0(msgspec.Struct, frozen=True, kw_only=True):
        request_id: str
        occurred_at_ms: int
        account_id: str
        key_id: str
        prompt_tokens: int = 0

    old = UsageEventV0(request_id="r", occurred_at_ms=5, account_id="a", key_id="k", prompt_tokens=12)
    decoded = events.decode(events.USAGE_SUBJECT, events.encode(old))
    assert decoded == usage(request_id="r", occurred_at_ms=5, account_id="a", key_id="k", prompt_tokens=12)
    assert (decoded.endpoint, decoded.status, decoded.attempts, decoded.zdr) == ("chat", 200, 1, False)


def test_event_missing_required_field_is_rejected() -> None:
    data = msgspec.msgpack.encode({"request_id": "r", "occurred_at_ms": 1, "account_id": "a"})
    with pytest.raises(msgspec.ValidationError, match="key_id"):
        events.decode(events.USAGE_SUBJECT, data)


def test_event_with_wrong_type_is_rejected() -> None:
    data = msgspec.msgpack.encode({"account_id": "a", "balance_micros": "lots"})
    with pytest.raises(msgspec.ValidationError):
        events.decode(events.BALANCE_CHANGED_SUBJECT, data)


def test_usage_v1_required_fields_are_frozen() -> None:
    """Adding a field without a default to a published v1 event breaks old producers."""
    required = {f.name for f in msgspec.structs.fields(events.UsageEvent) if f.required}
    assert required == {"request_id", "occurred_at_ms", "account_id", "key_id"}


def test_usage_event_carries_no_content_or_secrets() -> None:
    names = {f.name for f in msgspec.structs.fields(events.UsageEvent)}
    forbidden = {"prompt", "messages", "content", "completion", "text", "secret", "api_key", "key", "key_hash"}
    assert not names & forbidden


def test_events_are_frozen() -> None:
    event = usage()
    with pytest.raises(AttributeError):
        event.cost_micros = 5  # type: ignore[misc]  # the point: a frozen Struct refuses it


def test_absurd_provider_counts_are_clamped_so_the_event_stays_billable() -> None:
    from tollgate.providers.base import MAX_TOKENS, Usage

    usage = Usage(prompt_tokens=-5, completion_tokens=10**30, cached_tokens=3, reasoning_tokens=2).bounded()
    assert usage == Usage(0, MAX_TOKENS, 3, 2)
    fine = Usage(10, 20, 1, 0)
    assert fine.bounded() is fine
    # The dearest plausible price on the clamped counts still fits the usage table's Int64 cost,
    # so the event decodes at both consumers and is metered and debited.
    cost = cost_micros(usage.prompt_tokens, usage.completion_tokens, 1_000_000_000, 1_000_000_000)
    event = events.UsageEvent(
        request_id="r", occurred_at_ms=1, account_id="a", key_id="k", completion_tokens=usage.completion_tokens, cost_micros=cost
    )
    assert events.decode(events.USAGE_SUBJECT, events.encode(event)).cost_micros == cost


def test_a_batch_is_its_events_on_the_shard_of_v1() -> None:
    """The edge writes a UsageBatch as a map of raw (already encoded) events: it decodes as
    UsageBatch on the v2 subject of the same shard, and ``unbatched`` gives its events (or a v1
    event alone); the same composition gets the same message id, another one a different id."""
    import msgspec

    batch = [usage(request_id=f"req_{i}", cost_micros=i) for i in range(3)]
    data = events.ENCODER.encode({"events": [msgspec.Raw(events.encode(e)) for e in batch]})
    subject = events.batch_subject(events.usage_subject("req_0", 16))
    assert subject == events.usage_subject("req_0", 16).replace(".v1.", ".v2.")
    assert events.unbatched(events.decode(subject, data)) == batch
    assert events.unbatched(batch[0]) == [batch[0]]
    ids = [e.request_id for e in batch]
    assert events.batch_msg_id(ids) == events.batch_msg_id(list(ids))
    assert events.batch_msg_id(ids) != events.batch_msg_id(ids[:2]) != events.batch_msg_id(ids[::-1])


def test_risk_fields_are_versioned_additions() -> None:
    """A usage event from before risk control decodes with no sensitivity and no attempt log;
    a new one round-trips; an old AccountStatusChanged has no throttle."""

    class OldUsage(msgspec.Struct, kw_only=True):
        request_id: str
        occurred_at_ms: int
        account_id: str
        key_id: str

    old = events.decode(
        events.USAGE_SUBJECT, msgspec.msgpack.encode(OldUsage(request_id="r", occurred_at_ms=1, account_id="a", key_id="k"))
    )
    assert old.sensitivity == "" and old.attempt_log == []
    new = events.UsageEvent(
        request_id="r",
        occurred_at_ms=1,
        account_id="a",
        key_id="k",
        sensitivity="high",
        attempt_log=[events.AttemptNote(channel_id="c", status=503, error="upstream_503")],
    )
    assert events.decode(events.USAGE_SUBJECT, events.encode(new)) == new
    status = events.decode(events.ACCOUNT_STATUS_SUBJECT, msgspec.msgpack.encode({"account_id": "a", "status": "suspended"}))
    assert status.throttle_rpm == 0 and status.throttle_until_ms == 0
    failed = events.AuthFailed(occurred_at_ms=5, address="10.0.0.1", key_hint="0123456789ab", code="invalid_api_key")
    assert events.decode(events.AUTH_FAILED_SUBJECT, events.encode(failed)) == failed
