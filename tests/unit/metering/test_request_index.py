"""The admin lookup of a request by id (no account): request_index (migration 0011) says where
the row is in usage_events. It is fed with every stored event, backfilled from the raw table
on existing deployments, and the lookup answers exactly what the account's lookup answers."""

from __future__ import annotations

from services.metering import queries
from services.metering.store import UsageStore
from tests.unit.metering.test_store import ODD_IDS, event


def admin_lookup(store: UsageStore, request_id: str) -> list[dict]:
    return store.query(queries.request_sql(None), {"account": "", "request_id": request_id})


def account_lookup(store: UsageStore, account: str, request_id: str) -> list[dict]:
    return store.query(queries.request_sql(account), {"account": account, "request_id": request_id})


def index_rows(store: UsageStore) -> dict[str, int]:
    rows = store._client.query("SELECT request_id, count() FROM request_index GROUP BY request_id").result_rows
    return {r: int(n) for r, n in rows}


def test_stored_events_are_found_by_id_without_their_account(clickhouse_dsn) -> None:
    store = UsageStore(clickhouse_dsn)
    store.migrate()
    try:
        batch = [event(i) for i in range(40)] + [event(100 + i, request_id=rid) for i, rid in enumerate(ODD_IDS)]
        assert store.insert(batch) == len(batch)
        assert store.insert(batch[:10]) == 0  # a redelivery adds nothing to the index either
        assert index_rows(store) == {e.request_id: 1 for e in batch}
        for e in batch:
            [row] = admin_lookup(store, e.request_id)
            assert row == account_lookup(store, e.account_id, e.request_id)[0]
            assert (row["request_id"], row["account_id"], row["prompt_tokens"]) == (e.request_id, e.account_id, e.prompt_tokens)
        assert admin_lookup(store, "req_missing") == []
        assert account_lookup(store, "acct_other", batch[0].request_id) == []  # another account's id stays hidden
    finally:
        store.close()


def test_the_migration_backfills_requests_stored_before_it(clickhouse_dsn) -> None:
    store = UsageStore(clickhouse_dsn)
    try:
        store.migrate()
        with store._lock:  # back to the schema before migration 0011
            store._client.command("DROP VIEW IF EXISTS request_index_mv")
            store._client.command("DROP TABLE IF EXISTS request_index")
            store._client.command("ALTER TABLE schema_migrations DELETE WHERE version = 11 SETTINGS mutations_sync = 1")
        before = [event(300 + i, request_id=f"req_before_{i}", account_id="acct_backfill") for i in range(25)]
        assert store.insert(before) == 25
        assert store.migrate() == ["0011_request_index.sql"]
        stored = store._client.query("SELECT count() FROM usage_events").result_rows[0][0]
        assert sum(index_rows(store).values()) == stored  # every stored request, once
        after = [event(400 + i, request_id=f"req_after_{i}", account_id="acct_backfill") for i in range(5)]
        assert store.insert(after) == 5
        ours = {r: n for r, n in index_rows(store).items() if r.startswith(("req_before_", "req_after_"))}
        assert ours == {e.request_id: 1 for e in before + after}
        for e in before + after:
            [row] = admin_lookup(store, e.request_id)
            assert (row["request_id"], row["account_id"], row["cost_micros"]) == (e.request_id, e.account_id, e.cost_micros)
    finally:
        store.close()


def test_the_index_expires_with_the_raw_rows(clickhouse_dsn) -> None:
    store = UsageStore(clickhouse_dsn)
    try:
        store.migrate()
        store.set_raw_ttl(30)
        assert store._has_ttl("usage_events") and store._has_ttl("request_index")
        store.set_raw_ttl(0)
        assert not store._has_ttl("usage_events") and not store._has_ttl("request_index")
    finally:
        store.close()
