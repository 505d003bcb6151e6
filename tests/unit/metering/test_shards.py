"""Which usage events a metering process consumes (services/metering/shards.py): every shard,
and the unsharded subject, owned by exactly one replica; copies of an event on one subject."""

from __future__ import annotations

import zlib

import pytest

from services.metering.shards import LEGACY_DURABLE, Assignment, shard_durable
from tollgate import events
from tollgate.settings import Settings


def test_every_shard_has_exactly_one_owner() -> None:
    for replicas in (1, 2, 3, 5, 16):
        owners: dict[str, list[int]] = {}
        for k in range(replicas):
            for durable, subject in Assignment(k, replicas, 16).consumers():
                owners.setdefault(durable, []).append(k)
                assert subject == (
                    events.USAGE_UNSHARDED if durable == LEGACY_DURABLE else events.usage_shard_filter(int(durable.rsplit("s", 1)[1]))
                )
        assert owners == {LEGACY_DURABLE: [0]} | {shard_durable(s): [s % replicas] for s in range(16)}, replicas


def test_the_subject_is_a_stable_shard_of_the_request_id() -> None:
    assert events.usage_subject("req_1", 16) == f"tollgate.usage.v1.{zlib.crc32(b'req_1') % 16}" == "tollgate.usage.v1.5"
    assert events.usage_subject("req_1", 0) == events.USAGE_SUBJECT  # unsharded
    assert {events.usage_shard(f"req_{i}", 16) for i in range(1_000)} == set(range(16))
    assert events.decoder_for("tollgate.usage.v1.5") is events.DECODERS[events.USAGE_SUBJECT]
    assert events.decoder_for("tollgate.usage.v9.5") is None and events.decoder_for("tollgate.keys.revoked.v1.5") is None
    e = events.UsageEvent(request_id="req_1", occurred_at_ms=1, account_id="a", key_id="k")
    assert events.decode("tollgate.usage.v1.5", events.encode(e)) == e


def test_a_filter_matches_every_version_of_its_shard_only() -> None:
    def matches(pattern: str, subject: str) -> bool:
        p, s = pattern.split("."), subject.split(".")
        return len(p) == len(s) and all(a in ("*", b) for a, b in zip(p, s, strict=True))

    assert matches(events.usage_shard_filter(5), "tollgate.usage.v1.5") and matches(events.usage_shard_filter(5), "tollgate.usage.v2.5")
    assert not matches(events.usage_shard_filter(5), "tollgate.usage.v1.15") and not matches(
        events.usage_shard_filter(5), "tollgate.usage.v1"
    )
    assert matches(events.USAGE_UNSHARDED, "tollgate.usage.v1") and not matches(events.USAGE_UNSHARDED, "tollgate.usage.v1.5")


def test_the_replica_comes_from_settings_or_the_statefulset_ordinal() -> None:
    settings = Settings.from_env({"TOLLGATE_METERING_REPLICAS": "3"})
    assert Assignment.from_settings(settings, hostname="metering-2") == Assignment(2, 3, 16)
    assert Assignment.from_settings(Settings.from_env({}), hostname="metering-7") == Assignment(0, 1, 16)  # one replica owns all
    explicit = Settings.from_env({"TOLLGATE_METERING_REPLICAS": "3", "TOLLGATE_METERING_REPLICA": "1", "TOLLGATE_USAGE_SHARDS": "6"})
    assert Assignment.from_settings(explicit, hostname="whatever").owned == [1, 4]
    with pytest.raises(SystemExit, match="ordinal"):
        Assignment.from_settings(settings, hostname="metering")
    with pytest.raises(SystemExit, match="0 <= replica"):
        Assignment.from_settings(settings, hostname="metering-3")  # scaled up without TOLLGATE_METERING_REPLICAS
    with pytest.raises(SystemExit, match="own none"):
        Assignment.from_settings(Settings.from_env({"TOLLGATE_METERING_REPLICAS": "3", "TOLLGATE_USAGE_SHARDS": "2"}), hostname="m-0")


def test_a_writer_completes_its_own_batches_and_replica_0_the_orphans() -> None:
    zero, one = Assignment(0, 3), Assignment(1, 3)
    mine = one.new_batch_id("abc")
    assert mine == "m1of3.abc" and one.owns_batch(mine) and not zero.owns_batch(mine)
    for orphan in ("0123abcdef", "m3of3.x", "m1of2.x", ""):  # untagged, or no current writer's
        assert zero.owns_batch(orphan) and not one.owns_batch(orphan), orphan
