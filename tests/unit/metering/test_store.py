"""Metering's ingestion path: rows reach ClickHouse exactly as published (JSONCompactEachRow),
and the exactly-once lookup works across chunks and on any request id. Which events are looked
up, and redeliveries after a nats-server crash: test_exactly_once.py."""

from __future__ import annotations

import time

import pytest

from services.metering import blocks
from services.metering import store as store_module
from services.metering.shards import Assignment
from services.metering.store import UsageStore
from tollgate.events import UsageEvent

NOW_MS = int(time.time() * 1000) // 1000 * 1000 - 3_600_000
ODD_IDS = ["req_'quote", 'req_"dq', "req_back\\slash", "req_{id:String}", "req_ünïcödé_✓", "req_tab\there", "req_new\nline", "req_%(x)s"]


def event(i: int, request_id: str | None = None, **kw) -> UsageEvent:
    fields = dict(
        request_id=request_id or f"req_{i:06d}",
        occurred_at_ms=NOW_MS + i * 7 + i % 1000,
        account_id=f"acct_{i % 37}",
        key_id=f"key_{i % 5}",
        endpoint="chat",
        model_requested="m-req",
        model_served="m-served",
        provider="openai",
        channel_id="ch1",
        stream=i % 2 == 0,
        status=500 if i % 11 == 0 else 200,
        error_code="upstream_error" if i % 11 == 0 else "",
        attempts=1 + i % 3,
        prompt_tokens=i,
        completion_tokens=2 * i,
        cached_tokens=i // 3,
        reasoning_tokens=i % 17,
        cost_micros=10 * i + 1,
        price_version="v9",
        latency_ms=100 + i,
        ttft_ms=i % 50,
        upstream_latency_ms=90 + i,
        gateway_overhead_ms=i % 4,
        client_app='app\'s "x"',
        zdr=i % 3 == 0,
        cache_write_tokens=i // 4,
    )
    fields.update(kw)
    return UsageEvent(**fields)


@pytest.fixture(scope="module")
def store(clickhouse_dsn):
    s = UsageStore(clickhouse_dsn)
    s.migrate()
    yield s
    s.close()


def stored_rows(s: UsageStore, ids: list[str]) -> dict[str, tuple]:
    rows = s.query(
        "SELECT request_id, toUnixTimestamp64Milli(occurred_at) AS ms, account_id, key_id, endpoint, model_requested, model_served, "
        "provider, "
        "channel_id, stream, status, error_code, attempts, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_micros, "
        "price_version, latency_ms, ttft_ms, upstream_latency_ms, gateway_overhead_ms, client_app, zdr, cache_write_tokens "
        "FROM usage_events "
        "WHERE request_id IN {ids:Array(String)}",
        {"ids": ids},
    )
    return {r["request_id"]: tuple(r.values()) for r in rows}


def expected(e: UsageEvent) -> tuple:
    return (
        e.request_id,
        e.occurred_at_ms,
        e.account_id,
        e.key_id,
        e.endpoint,
        e.model_requested,
        e.model_served,
        e.provider,
        e.channel_id,
        e.stream,
        e.status,
        e.error_code,
        e.attempts,
        e.prompt_tokens,
        e.completion_tokens,
        e.cached_tokens,
        e.reasoning_tokens,
        e.cost_micros,
        e.price_version,
        e.latency_ms,
        e.ttft_ms,
        e.upstream_latency_ms,
        e.gateway_overhead_ms,
        e.client_app,
        e.zdr,
        e.cache_write_tokens,
    )


def test_rows_arrive_exactly_and_odd_ids_are_found_again(store: UsageStore) -> None:
    batch = [event(i) for i in range(1, 40)] + [event(100 + i, rid) for i, rid in enumerate(ODD_IDS)]
    assert store.insert(batch) == len(batch)
    assert store.insert(batch) == 0  # every id, quotes and all, is found by the lookup
    rows = stored_rows(store, [e.request_id for e in batch])
    assert rows == {e.request_id: expected(e) for e in batch}


def test_lookup_spans_chunks(store: UsageStore, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "LOOKUP_CHUNK", 50)
    batch = [event(1_000 + i) for i in range(230)]
    assert store.insert(batch[:120]) == 120
    assert store.insert(batch) == 110  # the first 120 are found across three chunks
    assert store.insert(list(reversed(batch))) == 0


ROLLUPS = ("usage_hourly", "usage_hourly_all", "usage_daily", "usage_daily_all", "model_daily")


def rollup_requests(s: UsageStore, account: str) -> dict[str, int]:
    """Requests of ``account`` in every rollup (the all-accounts ones: of its model, which only it uses)."""
    counts = {}
    for table in ROLLUPS:
        where = "account_id = {a:String}" if table in ("usage_hourly", "usage_daily") else "model = {m:String}"
        counts[table] = int(s.query(f"SELECT sum(requests) AS n FROM {table} WHERE {where}", {"a": account, "m": f"m-{account}"})[0]["n"])
    return counts


def own_events(account: str, n: int, start: int) -> list[UsageEvent]:
    return [event(start + i, account_id=account, model_served=f"m-{account}") for i in range(n)]


def test_a_crash_between_the_raw_rows_and_the_rollups_is_made_good_at_restart(clickhouse_dsn) -> None:
    # The first process stores a batch's raw rows, then dies before its rollup insert.
    first = UsageStore(clickhouse_dsn)
    first.migrate()
    cut = own_events("acct_cut", 40, 500_000)
    with first._lock:
        rows = store_module._JSON.encode_lines([(*store_module.json_row(e), "batch-cut") for e in cut])
        first._client.raw_insert(
            "usage_events", store_module.FEED_COLUMNS, insert_block=rows, fmt="JSONCompactEachRow", settings=store_module.FEED_SETTINGS
        )
    first.close()
    # The restarted process: its redelivered events are all stored already, yet the rollups
    # get them, once, before anything else is inserted.
    second = UsageStore(clickhouse_dsn)
    try:
        assert second.insert(cut) == 0
        assert rollup_requests(second, "acct_cut") == dict.fromkeys(ROLLUPS, 40)
        assert second.insert(cut) == 0 and rollup_requests(second, "acct_cut") == dict.fromkeys(ROLLUPS, 40)
    finally:
        second.close()


def test_a_replayed_batch_fills_only_the_rollups_that_missed_it(clickhouse_dsn) -> None:
    first = UsageStore(clickhouse_dsn)
    first.migrate()
    batch = own_events("acct_part", 30, 600_000)
    assert first.insert(batch) == 30
    with first._lock:
        # As if the process died after some rollup views had run and before the others, and
        # before it recorded the batch: usage_daily lost it, the rest have it.
        [(batch_id,)] = first._client.query("SELECT DISTINCT batch_id FROM usage_events WHERE account_id = 'acct_part'").result_rows
        first._client.command(
            "ALTER TABLE usage_batches DELETE WHERE batch_id = {b:String} SETTINGS mutations_sync = 1", parameters={"b": batch_id}
        )
        first._client.command("TRUNCATE TABLE usage_daily")  # and its deduplication log with it
    first.close()
    second = UsageStore(clickhouse_dsn)
    try:
        assert second.insert(own_events("acct_other", 1, 700_000)) == 1  # any insert replays the unfinished batch first
        assert rollup_requests(second, "acct_part") == dict.fromkeys(ROLLUPS, 30)
    finally:
        second.close()


def test_a_writer_replays_only_its_own_unfinished_batches(clickhouse_dsn) -> None:
    """Several metering processes on one ClickHouse: a batch stored raw and not yet recorded is,
    for any writer but its own, one that writer may be completing right now. Each replays its
    own (``m<k>of<n>.`` prefix); replica 0 also adopts what no current writer owns."""
    setup = UsageStore(clickhouse_dsn)
    setup.migrate()
    cut = {
        "m1of3.live": own_events("acct_w1", 5, 800_000),  # replica 1's, in flight
        "m0of3.cut": own_events("acct_w0", 6, 810_000),  # replica 0's own, cut short
        "legacy0123abcd": own_events("acct_wl", 7, 820_000),  # untagged, from before sharding
        "m4of5.gone": own_events("acct_wg", 8, 830_000),  # of a replica count no longer deployed
    }
    with setup._lock:
        for batch_id, rows_ in cut.items():
            rows = store_module._JSON.encode_lines([(*store_module.json_row(e), batch_id) for e in rows_])
            setup._client.raw_insert(
                "usage_events", store_module.FEED_COLUMNS, insert_block=rows, fmt="JSONCompactEachRow", settings=store_module.FEED_SETTINGS
            )
    setup.close()
    zero = UsageStore(clickhouse_dsn, Assignment(0, 3, 12))
    try:
        assert zero.insert(own_events("acct_w0new", 1, 840_000)) == 1
        got = {acct: rollup_requests(zero, acct)["usage_hourly"] for acct in ("acct_w1", "acct_w0", "acct_wl", "acct_wg")}
        assert got == {"acct_w1": 0, "acct_w0": 6, "acct_wl": 7, "acct_wg": 8}, got  # never replica 1's live batch
        batch_ids = {r["b"] for r in zero.query("SELECT DISTINCT batch_id AS b FROM usage_events WHERE account_id = 'acct_w0new'", {})}
        assert len(batch_ids) == 1 and next(iter(batch_ids)).startswith("m0of3.")
    finally:
        zero.close()
    one = UsageStore(clickhouse_dsn, Assignment(1, 3, 12))  # replica 1 restarted: it completes its own
    try:
        assert one.insert(own_events("acct_w1new", 1, 850_000)) == 1
        assert rollup_requests(one, "acct_w1") == dict.fromkeys(ROLLUPS, 5)
        assert rollup_requests(one, "acct_w0")["usage_hourly"] == 6  # nothing replayed twice
    finally:
        one.close()


@pytest.mark.parametrize("encoder", sorted(blocks.ENCODERS))
def test_every_insert_format_stores_the_same_rows_and_rollups(clickhouse_dsn, encoder: str) -> None:
    """Arrow (the default where pyarrow is installed) and JSON (the container image's fallback)
    store the events exactly, odd strings and extreme integers included, and feed the rollups."""
    s = UsageStore(clickhouse_dsn, encoder=encoder)
    s.migrate()
    try:
        base = 5_000 if encoder == "arrow" else 6_000
        batch = [event(base + i, account_id=f"acct_{encoder}_{i % 3}") for i in range(60)] + [
            event(
                base + 100 + i,
                f"{rid}-{encoder}",
                account_id=f"acct_{encoder}",
                client_app=rid,
                prompt_tokens=2**64 - 1,
                cost_micros=-(2**63),
            )
            for i, rid in enumerate(ODD_IDS)
        ]
        assert s.insert(batch) == len(batch)
        assert stored_rows(s, [e.request_id for e in batch]) == {e.request_id: expected(e) for e in batch}
        [row] = s.query(
            "SELECT sum(requests) AS requests FROM usage_hourly WHERE account_id IN {accounts:Array(String)} "
            "AND hour >= toStartOfHour(fromUnixTimestamp64Milli({lo:Int64}, 'UTC'))",
            {"accounts": sorted({e.account_id for e in batch}), "lo": NOW_MS + base * 7},
        )
        assert row["requests"] == len(batch)  # the rollups were fed from the same block
        assert s.insert(batch) == 0
    finally:
        s.close()


def test_an_empty_block_encodes() -> None:
    for name, build in blocks.ENCODERS.items():
        block = build()([], "b")
        assert block.rows == 0 and block.columns == blocks.COLUMNS, name


def test_blocks_write_every_stored_column_and_no_other() -> None:
    """The insert blocks carry exactly the columns usage_events and usage_feed have (an event field
    added for another consumer, such as risk control's, is never sent to ClickHouse)."""
    assert sorted(blocks.COLUMNS) == sorted(store_module.FEED_COLUMNS)


@pytest.mark.parametrize("encoder", sorted(blocks.ENCODERS))
def test_every_insert_format_stores_units_beside_risk_only_fields(clickhouse_dsn, encoder: str) -> None:
    """Units beyond tokens reach the raw rows and units_hourly in both formats; the fields only
    risk control reads (sensitivity, the failed attempts) ride along without being stored."""
    from tollgate.events import AttemptNote, UnitUsage

    s = UsageStore(clickhouse_dsn, encoder=encoder)
    s.migrate()
    try:
        base = 7_000 if encoder == "arrow" else 8_000
        images = [UnitUsage(unit="image", variant="1024x1024/hd", quantity=3)]
        batch = [
            event(
                base,
                account_id=f"acct_units_{encoder}",
                units=images,
                sensitivity="high",
                attempt_log=[AttemptNote(channel_id="c", status=503)],
            ),
            event(base + 1, account_id=f"acct_units_{encoder}"),
        ]
        assert s.insert(batch) == 2
        rows = s.query(
            "SELECT request_id, units FROM usage_events WHERE account_id = {a:String} ORDER BY request_id", {"a": f"acct_units_{encoder}"}
        )
        units = {row["request_id"]: [tuple(u.values() if isinstance(u, dict) else u) for u in row["units"]] for row in rows}
        assert units == {batch[0].request_id: [("image", "1024x1024/hd", 3)], batch[1].request_id: []}
        [hourly] = s.query(
            "SELECT sum(quantity) AS quantity, sum(requests) AS requests FROM units_hourly WHERE account_id = {a:String}",
            {"a": f"acct_units_{encoder}"},
        )
        assert (hourly["quantity"], hourly["requests"]) == (3, 1)
    finally:
        s.close()
