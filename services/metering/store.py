"""ClickHouse access through clickhouse-connect: chDB embedded, or any ClickHouse server.

All calls are blocking and serialized; the service runs them in a worker thread.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
import msgspec

from services.metering import blocks
from services.metering.recent import RecentIds
from services.metering.shards import Assignment
from tollgate.events import UsageEvent

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

COLUMNS = [
    "request_id",
    "occurred_at",
    "account_id",
    "key_id",
    "endpoint",
    "model_requested",
    "model_served",
    "provider",
    "channel_id",
    "stream",
    "status",
    "error_code",
    "attempts",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_micros",
    "price_version",
    "latency_ms",
    "ttft_ms",
    "upstream_latency_ms",
    "gateway_overhead_ms",
    "client_app",
    "zdr",
    "cache_write_tokens",  # migration 0006
    "units",  # migration 0010
]


# The container image leaves chDB out (~830 MB with its dependencies): there, metering needs a server.
NO_CHDB = (
    "set TOLLGATE_CLICKHOUSE_DSN to a ClickHouse server, e.g. http://user:pass@host:8123/db; "
    "the embedded chDB engine is not installed in this image"
)


def connect(dsn: str):
    """A clickhouse-connect client. A chdb:// DSN (the default when TOLLGATE_CLICKHOUSE_DSN is
    unset) without the chdb package installed exits with ``NO_CHDB``, not an ImportError."""
    if dsn.startswith("chdb:") and importlib.util.find_spec("chdb") is None:
        raise SystemExit(NO_CHDB)
    if dsn.startswith("chdb://"):
        Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(dsn=dsn)


_JSON = msgspec.json.Encoder()


def json_row(e: UsageEvent) -> tuple:
    """The event in COLUMNS order for JSONCompactEachRow. The time is decimal seconds: msgspec
    writes the shortest text that round-trips, which for ``ms / 1000`` is the exact
    millisecond value, and ClickHouse parses it as a decimal into DateTime64(3)."""
    return (
        e.request_id,
        e.occurred_at_ms / 1000,
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
        e.units,
    )


FEED_COLUMNS = [*COLUMNS, "batch_id"]
RAW_TABLES = ("usage_events", "request_index")  # the tables the raw TTL applies to

LOOKUP_CHUNK = 2_000  # request ids per exactly-once lookup query


def _json_literal(values: list[str]) -> str:
    """The values as a JSON array inside a ClickHouse string literal (where only backslash
    and quote need escaping)."""
    text = _JSON.encode(values).decode()
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# Inserts into usage_feed carry the batch id as their deduplication token, and each rollup
# view's insert is deduplicated with it: replaying a batch fills only what is missing.
#
# Both inserts skip optimize_on_insert: the raw block holds each request id once (``insert``
# drops repeats first), and each view's GROUP BY already yields one row per rollup key, so the
# merge-on-insert pass would find nothing to collapse. The views run in parallel
# (parallel_view_processing): the feed insert writes five rollup parts, and most of its cost is
# per part, not per row (measured: ~20-30 ms a part on 2 cores, whatever the block's size).
INSERT_SETTINGS = {"date_time_input_format": "basic", "optimize_on_insert": 0}
FEED_SETTINGS = {**INSERT_SETTINGS, "deduplicate_blocks_in_dependent_materialized_views": 1, "parallel_view_processing": 1}
# A replay reads the batch back as one block (one ordered read): the same single block, and
# so the same deduplication tokens, as the batch's first insert.
REPLAY_SETTINGS = {**FEED_SETTINGS, "max_threads": 1, "max_block_size": 10_000_000}


class UsageStore:
    def __init__(self, dsn: str, assignment: Assignment | None = None, encoder: str | None = None):
        self._client = connect(dsn)
        self._encode = blocks.ENCODERS[encoder or blocks.default_encoder()]()  # the insert format (services/metering/blocks.py)
        self.assignment = assignment or Assignment()  # whose batches this writer completes (services/metering/shards.py)
        self._lock = threading.Lock()
        self._unrolled: set[str] = set()  # batches stored raw whose rollups are not known to be complete
        self._recovered = False
        self._recent = RecentIds()  # which ids may be stored already (loaded on the first insert)
        self.looked_up = 0  # events of the last batch looked up in ClickHouse
        self.digests = True  # whether some hours' percentiles are read from t-digest states (load_sketch_cut)

    def close(self) -> None:
        self._client.close()

    def ping(self, busy_s: float = 1.0) -> None:
        """Raises unless ClickHouse answers a trivial query (readiness). A store busy with an
        insert or a query for ``busy_s`` counts as answering: the check must not wait behind a
        10,000-row insert and take every replica out of service while ClickHouse is fine."""
        if not self._lock.acquire(timeout=busy_s):
            return
        try:
            self._client.query("SELECT 1")
        finally:
            self._lock.release()

    def unapplied(self) -> list[str]:
        """Migration files not yet recorded (replicas other than 0 wait for replica 0 to apply them)."""
        with self._lock:
            try:
                done = {row[0] for row in self._client.query("SELECT version FROM schema_migrations").result_rows}
            except Exception:  # no schema_migrations table yet
                done = set()
        return [p.name for p in sorted(MIGRATIONS.glob("*.sql")) if (m := _MIGRATION_NAME.match(p.name)) and int(m.group(1)) not in done]

    def migrate(self) -> list[str]:
        """Apply numbered migration files not yet recorded; returns the ones applied."""
        with self._lock:
            self._client.command(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime DEFAULT now()) "
                "ENGINE = MergeTree ORDER BY version"
            )
            done = {row[0] for row in self._client.query("SELECT version FROM schema_migrations").result_rows}
            applied = []
            for path in sorted(MIGRATIONS.glob("*.sql")):
                match = _MIGRATION_NAME.match(path.name)
                if not match:
                    raise RuntimeError(f"migration file {path.name} is not named NNNN_name.sql")
                version = int(match.group(1))
                if version in done:
                    continue
                for statement in _statements(path.read_text()):
                    self._client.command(statement)
                self._client.insert("schema_migrations", [[version, path.name]], column_names=["version", "name"])
                applied.append(path.name)
            return applied

    def load_sketch_cut(self) -> None:
        """Whether the percentile queries need t-digest states (``queries.percentiles``): only where
        migration 0012 found hours whose raw events had expired. Once migrations are applied."""
        with self._lock:
            [(cut,)] = self._client.query("SELECT toUnixTimestamp(max(since)) FROM quantile_sketch_since").result_rows
        self.digests = int(cut) > 0

    def set_raw_ttl(self, days: int) -> None:
        """Raw events expire after ``days`` (0 = kept forever); rollups are kept either way. The
        request-id index (migration 0011) expires with the rows it points to."""
        with self._lock:
            for table in RAW_TABLES:
                if days > 0:
                    self._client.command(f"ALTER TABLE {table} MODIFY TTL toDateTime(occurred_at) + INTERVAL {int(days)} DAY")
                elif self._has_ttl(table):
                    self._client.command(f"ALTER TABLE {table} REMOVE TTL")

    def _has_ttl(self, table: str = "usage_events") -> bool:
        rows = self._client.query(
            "SELECT create_table_query FROM system.tables WHERE name = {table:String} AND database = currentDatabase()",
            parameters={"table": table},
        )
        return bool(rows.result_rows) and " TTL " in rows.result_rows[0][0]

    def insert(self, events: list[UsageEvent]) -> int:
        """Store the batch's events that are not stored yet; returns how many were new
        (``looked_up``: how many of them were looked up in ClickHouse).

        Exactly once, whatever the cause of a repeat (a lost ack, metering or nats-server
        killed, an edge re-publishing): an event that may be stored already is found by its
        request id and skipped, so the rollup views never see it twice. Which events may be
        stored comes from ``recent.RecentIds`` (every id inserted lately, by occurred_at),
        never from NATS delivery state; the rest are certainly new. The lookup is narrowed
        by the table's sorting key (account, time): the
        duplicate of an event has the same account and time. ReplacingMergeTree + FINAL on
        the raw table is the second line, should two writers ever race on one id.

        Both statements carry the batch as text ClickHouse parses itself (measured on a
        5,000-event batch): the ids as JSON array literals instead of an Array(String)
        query parameter (clickhouse-connect escapes bound strings character by character,
        ~30 ms), the rows as JSONCompactEachRow instead of clickhouse-connect's typed
        Native insert (~150 ms of Python per batch)."""
        unique: dict[str, UsageEvent] = {}
        for e in events:
            unique.setdefault(e.request_id, e)
        if not unique:
            return 0
        with self._lock:
            self._roll_up_unfinished()
            self._load_recent()
            self._recent.advance(int(time.time() * 1000))
            check = [e for e in unique.values() if self._recent.may_hold(e.request_id, e.occurred_at_ms)]
            self.looked_up = len(check)
            known = self._stored(check) if check else set()
            batch = self.assignment.new_batch_id(uuid.uuid4().hex)
            new = [e for e in unique.values() if e.request_id not in known]
            self._recent.add((e.request_id, e.occurred_at_ms) for e in new)  # before the insert: from now on they may be stored
            if new:
                block = self._encode(new, batch)
                self._client.raw_insert("usage_events", block.columns, insert_block=block.data, fmt=block.fmt, settings=INSERT_SETTINGS)
                self._unrolled.add(batch)
                self._client.raw_insert(
                    "usage_feed",
                    block.columns,
                    insert_block=block.data,
                    fmt=block.fmt,
                    settings={**FEED_SETTINGS, "insert_deduplication_token": batch},
                )
                self._done(batch)
            return len(new)

    def _done(self, batch: str) -> None:
        self._client.insert("usage_batches", [[batch]], column_names=["batch_id"])
        self._unrolled.discard(batch)

    def _roll_up_unfinished(self) -> None:
        """Replay the rollup insert of every batch stored raw but not recorded as rolled up: on
        the first insert after start-up (a crash cut them short), and after a failure.

        Only this writer's batches (``Assignment.owns_batch``): with several metering
        processes on one ClickHouse, another writer's batch that is not yet recorded is, as a
        rule, one it is completing right now; it replays its own after a crash."""
        if not self._recovered:
            rows = self._client.query(
                "SELECT DISTINCT batch_id FROM usage_events WHERE batch_id != '' AND ingested_at >= now() - INTERVAL 7 DAY "
                "AND batch_id NOT IN (SELECT batch_id FROM usage_batches)"
            ).result_rows
            self._unrolled.update(r[0] for r in rows if self.assignment.owns_batch(r[0]))
            self._recovered = True
        for batch in sorted(self._unrolled):
            self._client.command(
                f"INSERT INTO usage_feed ({', '.join(FEED_COLUMNS)}) SELECT {', '.join(FEED_COLUMNS)} FROM usage_events "
                "WHERE batch_id = {batch:String} ORDER BY request_id",
                parameters={"batch": batch},
                settings={**REPLAY_SETTINGS, "insert_deduplication_token": batch},
            )
            self._done(batch)

    def _load_recent(self) -> None:
        """Fill the exactly-once index from the raw table, once: the ids of the last
        ``KEEP_MS`` by occurred_at (the newest ``MAX_IDS`` of them at most)."""
        if self._recent.horizon_ms is not None:
            return
        recent = self._recent
        horizon = int(time.time() * 1000) - recent.keep_ms
        rows = self._client.query(
            "SELECT request_id, toUnixTimestamp64Milli(occurred_at) FROM usage_events "
            f"WHERE occurred_at >= fromUnixTimestamp64Milli({horizon}, 'UTC') ORDER BY occurred_at DESC LIMIT {int(recent.max_ids)}"
        ).result_rows
        if len(rows) >= recent.max_ids:  # cut inside the window: the index covers what it read, from its oldest ms on
            horizon = max(horizon, min(int(r[1]) for r in rows) + 1)
        recent.load(horizon, rows)

    def _stored(self, events: list[UsageEvent]) -> set[str]:
        """The request ids among ``events`` that usage_events holds. One query per chunk of
        LOOKUP_CHUNK events (each query's text stays far below ClickHouse's 256 KiB
        ``max_query_size``), narrowed to the chunk's accounts and time span."""
        known: set[str] = set()
        for i in range(0, len(events), LOOKUP_CHUNK):
            chunk = events[i : i + LOOKUP_CHUNK]
            accounts = sorted({e.account_id for e in chunk})
            lo, hi = min(e.occurred_at_ms for e in chunk), max(e.occurred_at_ms for e in chunk)
            sql = (
                "SELECT request_id FROM usage_events "
                f"WHERE account_id IN (SELECT arrayJoin(JSONExtract({_json_literal(accounts)}, 'Array(String)'))) "
                f"AND occurred_at >= fromUnixTimestamp64Milli({int(lo)}, 'UTC') AND occurred_at <= fromUnixTimestamp64Milli({int(hi)}, "
                "'UTC') "
                f"AND request_id IN (SELECT arrayJoin(JSONExtract({_json_literal([e.request_id for e in chunk])}, 'Array(String)')))"
            )  # no bound parameters: every value above is a JSON string literal or an int
            known.update(row[0] for row in self._client.query(sql).result_rows)
        return known

    def query(self, sql: str, params: dict[str, Any]) -> list[dict]:
        with self._lock:
            result = self._client.query(sql, parameters=params)
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def usage_by_model(self, account_id: str, start: datetime, end: datetime) -> list[dict]:
        sql = (
            "SELECT model_served AS model, count() AS requests, countIf(status >= 400) AS errors, sum(attempts) AS attempts, "
            "sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens, sum(cost_micros) AS cost_micros "
            "FROM usage_events FINAL "
            "WHERE account_id = {account:String} AND occurred_at >= {start:DateTime64(3)} AND occurred_at < {end:DateTime64(3)} "
            "GROUP BY model ORDER BY model"
        )
        return self.query(sql, {"account": account_id, "start": start, "end": end})

    def daily_cost(self, account_id: str, start: datetime, end: datetime) -> list[dict]:
        """Cost per UTC day (by when requests happened), for reconciliation with the ledger."""
        return self.query(daily_cost_sql(), {"account": account_id, "start": start, "end": end})


def daily_cost_sql() -> str:
    return (
        "SELECT toString(toDate(occurred_at)) AS day, countIf(cost_micros > 0) AS billed_requests, sum(cost_micros) AS day_cost_micros "
        "FROM usage_events FINAL "
        "WHERE account_id = {account:String} AND occurred_at >= {start:DateTime64(3)} AND occurred_at < {end:DateTime64(3)} "
        "GROUP BY day ORDER BY day"
    )


def _statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
