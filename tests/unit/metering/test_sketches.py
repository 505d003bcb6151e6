"""Percentiles from DDSketch states (migration 0012), on a deployment that had t-digest states:
the migration fills the sketches from the raw events it still holds, and the hours whose raw
events had expired keep showing their digests' percentiles (``queries.percentiles``)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from services.metering import queries
from services.metering import store as store_module
from services.metering.app import _quantiles
from services.metering.store import UsageStore
from tests.unit.metering.test_analytics import event


@pytest.fixture
def before_0012(tmp_path, monkeypatch):
    """A store at the schema before migration 0012 (t-digest states only), and a function that
    applies the rest of the migrations."""
    older = tmp_path / "migrations"
    older.mkdir()
    for path in sorted(store_module.MIGRATIONS.glob("*.sql")):
        if int(path.name[:4]) < 12:
            shutil.copy(path, older / path.name)
    full = store_module.MIGRATIONS
    monkeypatch.setattr(store_module, "MIGRATIONS", older)
    store = UsageStore(f"chdb://{tmp_path / 'db'}")
    assert "0012_ddsketch.sql" not in store.migrate()

    def upgrade() -> list[str]:
        monkeypatch.setattr(store_module, "MIGRATIONS", full)
        return store.migrate()

    yield store, upgrade
    store.close()


def by_day(store: UsageStore, start: datetime, end: datetime) -> dict[str, dict]:
    store.load_sketch_cut()  # as metering does at start-up
    sql, _ = queries.usage_sql("acct_s", [], "day", store.digests)
    rows = [_quantiles(r) for r in store.query(sql, {"account": "acct_s", **queries.range_params(start, end)})]
    return {r["bucket"][:10]: r for r in rows}


def since(store: UsageStore) -> datetime:
    return store._client.query("SELECT max(since) FROM quantile_sketch_since").result_rows[0][0].replace(tzinfo=UTC)


def test_the_sketches_are_filled_from_the_raw_events_and_match_the_digests(before_0012) -> None:
    store, upgrade = before_0012
    old = [event(i, "acct_s", hours_ago=48, latency_ms=400 + i % 50, ttft_ms=40) for i in range(200)]
    new = [event(1000 + i, "acct_s", hours_ago=0, latency_ms=100 + i % 20, ttft_ms=10) for i in range(200)]
    assert store.insert(old + new) == 400
    start, end = datetime.now(UTC) - timedelta(days=4), datetime.now(UTC) + timedelta(hours=1)
    assert upgrade() == ["0012_ddsketch.sql"]
    assert since(store).year == 1970  # the raw table reaches back to the rollups' first hour: every hour has sketches
    days = by_day(store, start, end)
    assert store.digests is False  # so the queries merge sketches only
    assert sorted(r["requests"] for r in days.values()) == [200, 200]
    [old_day] = [r for r in days.values() if r["latency_ms_p50"] > 300]
    [new_day] = [r for r in days.values() if r["latency_ms_p50"] < 300]
    assert old_day["latency_ms_p50"] == pytest.approx(424.5, rel=0.02) and old_day["ttft_ms_p50"] == pytest.approx(40, rel=0.011)
    assert new_day["latency_ms_p50"] == pytest.approx(109.5, rel=0.02) and new_day["ttft_ms_p50"] == pytest.approx(10, rel=0.011)
    # the backfill came from the sketches, not the digests: a digest gives 10 exactly, a sketch within 1 %
    sketch = store._client.query(
        "SELECT quantilesDDMerge(0.01, 0.5, 0.95, 0.99)(ttft_dd) FROM usage_hourly WHERE account_id = 'acct_s'"
    ).result_rows[0][0]
    assert sketch[0] != 10 and sketch[0] == pytest.approx(10, rel=0.011)
    # events after the migration: sketches only (their digests are empty), counted with the rest
    assert store.insert([event(2000 + i, "acct_s", hours_ago=0, latency_ms=100 + i % 20, ttft_ms=10) for i in range(100)]) == 100
    days = by_day(store, start, end)
    assert sorted(r["requests"] for r in days.values()) == [200, 300]
    digest_rows = store._client.query(
        "SELECT count() FROM usage_hourly WHERE account_id = 'acct_s' AND finalizeAggregation(latency_q)[1] > 0"
    ).result_rows[0][0]
    assert digest_rows >= 1  # the pre-migration rows keep their digests (unmerged or merged with the new rows)


def test_hours_whose_raw_events_expired_keep_their_digests_percentiles(before_0012) -> None:
    store, upgrade = before_0012
    expired = [event(i, "acct_s", hours_ago=24 * 5, latency_ms=800, ttft_ms=80) for i in range(50)]
    kept = [event(100 + i, "acct_s", hours_ago=24 * 2, latency_ms=200, ttft_ms=20) for i in range(50)]
    assert store.insert(expired + kept) == 100
    cut = datetime.now(UTC) - timedelta(days=4)
    store._client.command(  # as TOLLGATE_METERING_RAW_TTL_DAYS=4 would: the raw rows go, the rollups stay
        "ALTER TABLE usage_events DELETE WHERE occurred_at < {cut:DateTime64(3)} SETTINGS mutations_sync = 2", parameters={"cut": cut}
    )
    assert upgrade() == ["0012_ddsketch.sql"]
    kept_at = datetime.fromtimestamp(kept[0].occurred_at_ms / 1000, UTC)
    assert since(store) == kept_at.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)  # the first whole day
    days = by_day(store, datetime.now(UTC) - timedelta(days=7), datetime.now(UTC) + timedelta(hours=1))
    assert store.digests is True
    by_requests = sorted(days.values(), key=lambda r: r["latency_ms_p50"])
    assert [r["requests"] for r in by_requests] == [50, 50]
    assert by_requests[1]["latency_ms_p50"] == 800 and by_requests[1]["ttft_ms_p50"] == 80  # the expired day: its digests
    assert by_requests[0]["latency_ms_p50"] == 200 and by_requests[0]["ttft_ms_p50"] == 20  # before the cut: digests too
    # from the cut on, sketches: an event of tomorrow's hours (a clock ahead) is read from its sketch
    later = event(500, "acct_s", hours_ago=-30, latency_ms=300, ttft_ms=30)
    assert store.insert([later]) == 1
    days = by_day(store, datetime.now(UTC) - timedelta(days=7), datetime.now(UTC) + timedelta(days=3))
    [tomorrow] = [r for r in days.values() if r["requests"] == 1]
    assert tomorrow["latency_ms_p50"] == pytest.approx(300, rel=0.011) and tomorrow["latency_ms_p50"] != 300


def test_a_new_deployment_reads_sketches_from_the_start(tmp_path) -> None:
    store = UsageStore(f"chdb://{tmp_path / 'db'}")
    try:
        store.migrate()
        assert since(store).year == 1970
        assert store.insert([event(i, "acct_s", latency_ms=100, ttft_ms=10) for i in range(10)]) == 10
        [row] = by_day(store, datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(hours=1)).values()
        assert store.digests is False
        assert row["latency_ms_p50"] == pytest.approx(100, rel=0.011) and row["latency_ms_p50"] != 100  # a sketch's estimate
    finally:
        store.close()
