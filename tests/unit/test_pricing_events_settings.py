"""Shared library: integer pricing, bus event encoding and environment settings."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import msgspec
import pytest

from tollgate import events
from tollgate.pricing import MTOK, cost_micros
from tollgate.settings import ENV_PREFIX, Settings

# -- pricing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        ((0, 0, 1_000_000, 2_000_000), 0),
        ((1_000_000, 0, 1_000_000, 2_000_000), 1_000_000),
        ((0, 1_000_000, 1_000_000, 2_000_000), 2_000_000),
        ((1_000, 2_000, 2_500_000, 10_000_000), 2_500 + 20_000),  # exact, no rounding
        ((1, 0, 1, 0), 1),  # a millionth of a micro-USD still costs one micro-USD
        ((1, 1, 1, 1), 1),
        ((999_999, 0, 1, 0), 1),
        ((1_000_001, 0, 1, 0), 2),
        ((3, 0, 333_333, 0), 1),  # 0.999999 -> 1
        ((3, 0, 333_334, 0), 2),  # 1.000002 -> 2
        ((100, 100, 0, 0), 0),  # free model
    ],
)
def test_cost_rounds_up(args: tuple[int, ...], expected: int) -> None:
    assert cost_micros(*args) == expected


def test_cached_tokens_billed_at_cached_price() -> None:
    # 600 uncached at 1.0, 400 cached at 0.25, 10 completion at 2.0 (micro-USD per token).
    assert cost_micros(1_000, 10, 1_000_000, 2_000_000, cached_tokens=400, cached_input_per_mtok=250_000) == 600 + 100 + 20


def test_cached_tokens_without_cached_price_billed_at_input_price() -> None:
    full = cost_micros(1_000, 10, 1_000_000, 2_000_000)
    assert cost_micros(1_000, 10, 1_000_000, 2_000_000, cached_tokens=400) == full
    assert cost_micros(1_000, 10, 1_000_000, 2_000_000, cached_tokens=400, cached_input_per_mtok=0) == full == 1_020


def test_cached_tokens_are_clamped() -> None:
    # More cached tokens than prompt tokens: at most the whole prompt is cached.
    assert cost_micros(1_000, 0, 1_000_000, 0, cached_tokens=5_000, cached_input_per_mtok=100_000) == 100
    # Negative cached tokens count as none.
    assert cost_micros(1_000, 0, 1_000_000, 0, cached_tokens=-50, cached_input_per_mtok=100_000) == 1_000


def test_cost_matches_exact_rational_arithmetic() -> None:
    rng = random.Random(2024)
    for _ in range(2_000):
        prompt = rng.randrange(0, 10**7)
        completion = rng.randrange(0, 10**7)
        cached = rng.randrange(0, prompt + 1)
        p_in, p_out, p_cached = rng.randrange(0, 10**8), rng.randrange(0, 10**8), rng.randrange(0, 10**8)
        exact = Fraction((prompt - cached) * p_in + cached * p_cached + completion * p_out, MTOK) if p_cached else Fraction(
            prompt * p_in + completion * p_out, MTOK
        )
        got = cost_micros(prompt, completion, p_in, p_out, cached_tokens=cached, cached_input_per_mtok=p_cached)
        assert type(got) is int
        assert got == math.ceil(exact)


def test_cost_is_exact_for_huge_values() -> None:
    # Beyond float precision: the result must still be an exact integer.
    prompt = 10**15 + 1
    got = cost_micros(prompt, 0, 10**9 + 7, 0)
    assert type(got) is int
    assert got == -(-(prompt * (10**9 + 7)) // MTOK)
    assert got != int(prompt * (10**9 + 7) / MTOK)


# -- events -------------------------------------------------------------------------


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
        events.USAGE_SUBJECT, events.KEY_REVOKED_SUBJECT, events.BALANCE_CHANGED_SUBJECT, events.ROUTING_CHANGED_SUBJECT,
        events.CHANNEL_OUTCOME_SUBJECT, events.RATE_COUNTS_SUBJECT, events.KEY_UPDATED_SUBJECT, events.ACCOUNT_STATUS_SUBJECT,
    ]  # fmt: skip
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
        tags: list[str] = []

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
        event.cost_micros = 5  # type: ignore[misc]


# -- settings -----------------------------------------------------------------------


def test_defaults_when_environment_is_empty() -> None:
    assert Settings.from_env({}) == Settings()


def test_from_env_converts_types() -> None:
    s = Settings.from_env(
        {
            "TOLLGATE_EDGE_PORT": "9000",
            "TOLLGATE_PRINCIPAL_CACHE_TTL_S": "1.5",
            "TOLLGATE_UPSTREAM_READ_TIMEOUT_S": "2",
            "TOLLGATE_LOG_LEVEL": "debug",
            "TOLLGATE_KEY_HASH_PEPPER": "12345",  # numeric-looking, but a str field
            "TOLLGATE_NOT_A_SETTING": "ignored",
            "EDGE_PORT": "1",  # no prefix: ignored
            "tollgate_edge_host": "0.0.0.0",  # wrong case: ignored
        }
    )
    assert s.edge_port == 9000 and type(s.edge_port) is int
    assert s.principal_cache_ttl_s == 1.5
    assert s.upstream_read_timeout_s == 2.0 and type(s.upstream_read_timeout_s) is float
    assert s.log_level == "debug"
    assert s.key_hash_pepper == "12345"
    assert s.edge_host == "127.0.0.1"
    assert s.metering_port == Settings().metering_port


@pytest.mark.parametrize(
    "name, value",
    [("EDGE_PORT", "abc"), ("EDGE_PORT", ""), ("EDGE_PORT", "1.5"), ("PRINCIPAL_CACHE_TTL_S", "soon"), ("CACHE_MAX_ENTRIES", "1e3x")],
)
def test_invalid_value_exits(name: str, value: str) -> None:
    with pytest.raises(SystemExit) as info:
        Settings.from_env({ENV_PREFIX + name: value})
    assert "invalid setting" in str(info.value.code)
    assert name.lower() in str(info.value.code)


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_METERING_BATCH_SIZE", "7")
    assert Settings.from_env().metering_batch_size == 7


def test_to_env_round_trip() -> None:
    original = Settings(
        edge_port=1234,
        principal_cache_ttl_s=0.25,
        metering_batch_wait_s=1e-05,
        key_hash_pepper="p3pp3r with spaces",
        accounts_db="/tmp/x.sqlite3",
        cache_max_entries=7,
    )
    env = original.to_env()
    assert all(k.startswith(ENV_PREFIX) and k == k.upper() for k in env)
    assert all(isinstance(v, str) for v in env.values())
    assert len(env) == len(msgspec.structs.fields(Settings))
    assert env["TOLLGATE_EDGE_PORT"] == "1234"
    assert Settings.from_env(env) == original
    assert Settings.from_env(Settings().to_env()) == Settings()


def test_derived_paths(tmp_path) -> None:
    s = Settings(data_dir=str(tmp_path))
    assert s.accounts_db_path == tmp_path / "accounts.sqlite3"
    assert s.clickhouse == f"chdb://{tmp_path / 'clickhouse'}"
    s = Settings(data_dir=str(tmp_path), accounts_db=str(tmp_path / "elsewhere.db"), clickhouse_dsn="http://ch:8123")
    assert s.accounts_db_path == tmp_path / "elsewhere.db"
    assert s.clickhouse == "http://ch:8123"


def test_absurd_provider_counts_are_clamped_so_the_event_stays_billable() -> None:
    from tollgate.providers.base import MAX_TOKENS, Usage

    usage = Usage(prompt_tokens=-5, completion_tokens=10**30, cached_tokens=3, reasoning_tokens=2).bounded()
    assert usage == Usage(0, MAX_TOKENS, 3, 2)
    fine = Usage(10, 20, 1, 0)
    assert fine.bounded() is fine
    # The dearest plausible price on the clamped counts still fits the usage table's Int64 cost,
    # so the event decodes at both consumers and is metered and debited.
    cost = cost_micros(usage.prompt_tokens, usage.completion_tokens, 1_000_000_000, 1_000_000_000)
    event = events.UsageEvent(request_id="r", occurred_at_ms=1, account_id="a", key_id="k", completion_tokens=usage.completion_tokens, cost_micros=cost)
    assert events.decode(events.USAGE_SUBJECT, events.encode(event)).cost_micros == cost
