"""The metering benchmark's dataset generator (tools/bench_metering.py): it writes events the
way metering does, so the queries it times read what a deployment's rollups hold."""

from __future__ import annotations

import time

from tools import bench_metering


def test_generated_events_fill_the_raw_table_and_every_rollup(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(bench_metering, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(bench_metering, "GENERATE_BLOCK", 300)  # several parts a partition, as 100M events make
    store, meta = bench_metering.open_dataset(2_000, log=lambda *a, **k: None)
    try:
        q = store._client.query
        assert q("SELECT count() FROM usage_events").result_rows[0][0] == 2_000
        assert meta["rows"] == 2_000 and meta["generator"] == bench_metering.GENERATOR_VERSION
        requests = q("SELECT sum(requests) FROM usage_hourly").result_rows[0][0]
        cost = q("SELECT sum(cost_micros) FROM usage_events").result_rows[0][0]
        assert requests == 2_000
        for table in ("usage_hourly_all", "usage_daily", "usage_daily_all", "model_daily"):
            assert q(f"SELECT sum(requests) FROM {table}").result_rows[0][0] == 2_000, table
        assert q("SELECT sum(cost_micros) FROM usage_daily").result_rows[0][0] == cost
        assert q("SELECT count() FROM request_index").result_rows[0][0] == 2_000
        # the rollups merged as background merges leave them: one part per partition (the raw table keeps its several)
        parts = q(
            "SELECT table, partition, count() FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table, partition"
        ).result_rows
        assert {t for t, *_ in parts} >= {"usage_hourly", "usage_daily", "usage_hourly_all", "usage_daily_all", "model_daily"}
        assert all(n == 1 for t, _, n in parts if t in bench_metering.SETTLED), parts
        assert any(n > 1 for t, _, n in parts if t == "usage_events"), parts
        # every event inside the 30 days before the anchor
        ms = "toUnixTimestamp64Milli(occurred_at)"
        lo, hi = q(f"SELECT min({ms}), max({ms}) FROM usage_events").result_rows[0]
        assert meta["anchor_ms"] - 30 * 86_400_000 <= lo and hi < meta["anchor_ms"] <= time.time() * 1000
    finally:
        store.close()
    # A second open reuses it (same rows, generator and migrations).
    again, meta2 = bench_metering.open_dataset(2_000, log=lambda *a, **k: None)
    again.close()
    assert meta2 == meta
