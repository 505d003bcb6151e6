"""Events on the bus: frozen, versioned msgspec Structs, msgpack on the wire.

The version is part of the subject (``tollgate.usage.v1``); a new field is only ever
added with a default, so old consumers keep decoding new events and vice versa.
Each subject has exactly one Decoder, built here.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Any, Final

import msgspec

USAGE_STREAM: Final = "USAGE"
USAGE_SUBJECT: Final = "tollgate.usage.v1"
USAGE_BATCH_SUBJECT: Final = "tollgate.usage.v2"  # a UsageBatch: several UsageEvents of one shard in one message
KEY_REVOKED_SUBJECT: Final = "tollgate.keys.revoked.v1"
KEY_UPDATED_SUBJECT: Final = "tollgate.keys.updated.v1"
ACCOUNT_STATUS_SUBJECT: Final = "tollgate.accounts.status.v1"
BALANCE_CHANGED_SUBJECT: Final = "tollgate.balance.changed.v1"
ROUTING_CHANGED_SUBJECT: Final = "tollgate.routing.changed.v1"
CHANNEL_OUTCOME_SUBJECT: Final = "tollgate.channel.outcome.v1"
CHANNEL_OUTCOMES_SUBJECT: Final = "tollgate.channel.outcome.v2"  # ChannelOutcomes: what an edge gathered in one linger, one message
RATE_COUNTS_SUBJECT: Final = "tollgate.ratelimit.counts.v1"
AUTH_FAILED_SUBJECT: Final = "tollgate.risk.auth_failed.v1"  # core NATS, fire and forget: the risk engine's auth-failure rules
USAGE_SUBJECTS: Final = "tollgate.usage.>"  # every version and shard; a consumer dead-letters the ones it cannot read
# Usage subjects carry a shard: ``tollgate.usage.v1.<shard>``, shard < the edge's
# TOLLGATE_USAGE_SHARDS (the edge publisher's current one, which moves on with every batch;
# ``usage_subject``: CRC-32 of the request id), recorded with the event, so every copy of an event
# (a retry, a spool replay) goes to the same subject, and to the one metering process that owns the shard. The unsharded
# ``tollgate.usage.v1`` (edges before sharding, spools they left) is still read: metering's
# replica 0 owns it.
USAGE_UNSHARDED: Final = "tollgate.usage.*"  # every version, no shard
DEAD_LETTER_STREAM: Final = "DEADLETTER"
DEAD_LETTER_PREFIX: Final = "tollgate.deadletter"

# Ranges of the usage table's columns: an event outside them fails to decode, so consumers
# dead-letter it instead of retrying an insert ClickHouse would refuse forever.
UInt8 = Annotated[int, msgspec.Meta(ge=0, le=2**8 - 1)]
UInt16 = Annotated[int, msgspec.Meta(ge=0, le=2**16 - 1)]
UInt32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
UInt64 = Annotated[int, msgspec.Meta(ge=0)]  # msgpack holds no larger integer
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=10**13)]  # DateTime64(3) holds up to 2299


class UnitUsage(msgspec.Struct, frozen=True, kw_only=True):
    """A quantity billed in a unit other than tokens (``tollgate.units``): ``image`` (variant
    ``<size>/<quality>``), ``audio_ms`` (milliseconds of audio), ``character`` (characters of
    input, e.g. text to speech) or ``request``."""

    unit: str
    variant: str = ""
    quantity: UInt64 = 0


class AttemptNote(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One failed upstream attempt of a request (technical metadata only: no content)."""

    channel_id: str
    status: UInt16 = 0  # the upstream's HTTP status; 0 = none (connection failure, timeout)
    error: str = ""  # "timeout", "connect", "upstream_503", "rate_limited", ...


class UsageEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One request's metadata. Never prompt or completion text, never secrets."""

    request_id: str
    occurred_at_ms: EpochMs
    account_id: str
    key_id: str
    endpoint: str = "chat"
    model_requested: str = ""
    model_served: str = ""
    provider: str = ""
    channel_id: str = ""
    stream: bool = False
    status: UInt16 = 200
    error_code: str = ""
    attempts: UInt8 = 1
    prompt_tokens: UInt64 = 0
    completion_tokens: UInt64 = 0
    cached_tokens: UInt64 = 0
    reasoning_tokens: UInt64 = 0
    cost_micros: Int64 = 0
    cache_write_tokens: UInt64 = 0  # part of prompt_tokens: written to the provider's prompt cache, billed at its own price
    price_version: str = ""
    latency_ms: UInt32 = 0
    ttft_ms: UInt32 = 0
    upstream_latency_ms: UInt32 = 0
    gateway_overhead_ms: UInt32 = 0
    client_app: str = ""
    zdr: bool = False
    usage_estimated: bool = False  # the provider reported no usage (e.g. it failed mid-stream): counted by Tollgate
    lease_id: str = ""  # the balance lease the edge pre-authorized the request under
    sensitivity: str = ""  # "high": the catalog marks the served model high-sensitivity (risk rules watch it)
    attempt_log: list[AttemptNote] = []  # the failed attempts (most requests: none); kept only for tickets, not by metering
    units: list[UnitUsage] = []  # what the request used beyond tokens (images, audio, characters, requests); cost_micros includes it


class ChannelOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One upstream attempt, reported by an edge so the router can keep channel health.

    ``kind``: "ok" | "error" (5xx, connection failure) | "timeout" | "rate_limited" (429)
    | "auth_failed" (401/403 from the provider) | "client_error" (the request's own fault:
    says nothing about the channel's health)."""

    channel_id: str
    model: str
    kind: str
    http_status: int = 0
    latency_ms: int = 0
    ttft_ms: int = 0
    retry_after_s: float = 0.0
    occurred_at_ms: int = 0


class ChannelOutcomes(msgspec.Struct, frozen=True, kw_only=True):
    """The ``ChannelOutcome``s an edge gathered within one linger, in one core NATS message
    (one per linger instead of one per upstream attempt); the router applies them in order."""

    outcomes: list[ChannelOutcome]


class RateCounts(msgspec.Struct, frozen=True, kw_only=True):
    """One edge's cumulative per-key (and per-channel) usage in the current minute window,
    broadcast so that every edge enforces a key's (a channel's) limits over the traffic of all edges."""

    edge_id: str
    window: int  # minutes since the epoch
    counts: dict[str, list[int]]  # key id -> [requests, tokens]
    channels: dict[str, list[int]] = {}  # channel id -> [requests, tokens]: channels with their own rpm/tpm


class AuthFailed(msgspec.Struct, frozen=True, kw_only=True):
    """An edge refused a presented credential. Carries no secret: ``key_hint`` is the first 12
    hex digits of the key's (peppered) hash, ``account_id`` is known only for a key the edge
    still knew (an expired one)."""

    occurred_at_ms: EpochMs
    address: str = ""  # the client's address as the edge saw it
    key_hint: str = ""
    account_id: str = ""
    code: str = ""  # the error code answered (invalid_api_key, expired_api_key, ...)


class KeyRevoked(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    key_hash: str
    account_id: str


class KeyUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """A key's settings changed (e.g. rotation set its expiry): edges drop it from their cache."""

    key_id: str
    key_hash: str
    account_id: str


class AccountStatusChanged(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    status: str  # "active" | "suspended" | "deactivated"
    reason: str = ""
    throttle_rpm: int = 0  # risk control: an account-wide requests-per-minute limit (0 = none) ...
    throttle_until_ms: int = 0  # ... until then


class BalanceChanged(msgspec.Struct, frozen=True, kw_only=True):
    """An account's balance after a ledger entry; after a usage debit also the spending
    key's totals for the UTC day and month (for its spend caps)."""

    account_id: str
    balance_micros: int
    key_id: str = ""
    key_spent_day_micros: int = 0
    key_spent_month_micros: int = 0
    day: int = 0  # UTC day number the day total counts
    month: int = 0  # year * 12 + month - 1


class UsageBatch(msgspec.Struct, frozen=True, kw_only=True):
    """Usage events of one shard in one JetStream message: the edge's publisher sends one
    message per flush instead of one per request, so JetStream stores, delivers and acks a
    batch at a time. Consumers apply it event by event (each one exactly once by its request
    id, as they do v1 events); a redelivered or re-composed batch (an edge replaying its
    spool) adds nothing twice. ``Nats-Msg-Id`` is the batch's (``batch_msg_id``)."""

    events: list[UsageEvent]


def batch_msg_id(request_ids: list[str]) -> str:
    """The same batch, retried, gets the same id (JetStream's duplicate window drops it)."""
    return f"batch:{len(request_ids)}:{zlib.crc32(chr(0).join(request_ids).encode()):08x}:{request_ids[0]}"


def batch_subject(usage_subject_: str) -> str:
    """The v2 (batch) subject of a v1 usage subject, shard kept: tollgate.usage.v1.7 -> tollgate.usage.v2.7."""
    return USAGE_BATCH_SUBJECT + usage_subject_[len(USAGE_SUBJECT) :]


def unbatched(decoded: msgspec.Struct) -> list:
    """The events a decoded usage message carries: a UsageBatch's events, else the event itself."""
    return decoded.events if isinstance(decoded, UsageBatch) else [decoded]


class RoutingTableChanged(msgspec.Struct, frozen=True, kw_only=True):
    table_version: int


ENCODER: Final = msgspec.msgpack.Encoder()

DECODERS: Final[dict[str, msgspec.msgpack.Decoder[Any]]] = {
    USAGE_SUBJECT: msgspec.msgpack.Decoder(UsageEvent),
    USAGE_BATCH_SUBJECT: msgspec.msgpack.Decoder(UsageBatch),
    KEY_REVOKED_SUBJECT: msgspec.msgpack.Decoder(KeyRevoked),
    KEY_UPDATED_SUBJECT: msgspec.msgpack.Decoder(KeyUpdated),
    ACCOUNT_STATUS_SUBJECT: msgspec.msgpack.Decoder(AccountStatusChanged),
    BALANCE_CHANGED_SUBJECT: msgspec.msgpack.Decoder(BalanceChanged),
    ROUTING_CHANGED_SUBJECT: msgspec.msgpack.Decoder(RoutingTableChanged),
    CHANNEL_OUTCOME_SUBJECT: msgspec.msgpack.Decoder(ChannelOutcome),
    CHANNEL_OUTCOMES_SUBJECT: msgspec.msgpack.Decoder(ChannelOutcomes),
    RATE_COUNTS_SUBJECT: msgspec.msgpack.Decoder(RateCounts),
    AUTH_FAILED_SUBJECT: msgspec.msgpack.Decoder(AuthFailed),
}


SHARDED: Final = frozenset({USAGE_SUBJECT, USAGE_BATCH_SUBJECT})  # subjects that may carry a trailing ``.<shard>`` token


def usage_shard(request_id: str, shards: int) -> int:
    """The request id's shard: stable across processes and releases (CRC-32, as ClickHouse's ``CRC32``)."""
    return zlib.crc32(request_id.encode()) % shards


def usage_subject(request_id: str, shards: int) -> str:
    """Where the edge publishes the request's UsageEvent; ``shards`` <= 0: the unsharded subject."""
    return f"{USAGE_SUBJECT}.{zlib.crc32(request_id.encode()) % shards}" if shards > 0 else USAGE_SUBJECT


def usage_shard_filter(shard: int) -> str:
    """Every version of one shard (a durable consumer's filter)."""
    return f"{USAGE_SUBJECTS[:-1]}*.{shard}"


def decoder_for(subject: str) -> msgspec.msgpack.Decoder[Any] | None:
    """The subject's Decoder; a sharded subject (``tollgate.usage.v1.7``) decodes as its base."""
    decoder = DECODERS.get(subject)
    if decoder is None:
        base, _, shard = subject.rpartition(".")
        if shard.isdigit() and base in SHARDED:
            decoder = DECODERS[base]
    return decoder


def encode(event: msgspec.Struct) -> bytes:
    return ENCODER.encode(event)


def decode(subject: str, data: bytes):
    decoder = decoder_for(subject)
    if decoder is None:
        raise KeyError(subject)
    return decoder.decode(data)
