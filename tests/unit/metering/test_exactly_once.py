"""Exactly once in every table, whatever NATS does (issue 12, part 2), on real chDB.

After nats-server was killed -9 and restarted, messages metering had already stored came
again with a delivery count of 1 (the consumer's ack state rolled back), and copies
re-published after the duplicate state was lost reached the stream under new sequences. The
raw table collapsed them (ReplacingMergeTree) but the rollups counted them twice, and so did
the statement, while ``tollgate reconcile`` compared the ledger with the raw table only.

Here the consumer's batch handler gets such deliveries (fake JetStream messages whose ack
subject says delivered=1) in new batch compositions, before and after a metering restart:
every rollup, the statement and the rankings count each request once, and ``reconcile``
compares the ledger with all of them and flags a statement or ranking that differs."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import httpx
import msgspec
import pytest
import uvicorn
from nats.aio.msg import Msg

from services.metering.app import create_app
from services.metering.auth import Viewer
from services.metering.consumer import batch_handler
from services.metering.recent import MINUTE_MS, RecentIds
from services.metering.store import UsageStore
from tollgate import events, reconcile
from tollgate.errors import Unauthorized
from tollgate.rpc import accounts_pb2 as pb

ACCOUNT, MODEL, CHANNEL = "acct_crash", "m-crash", "ch-crash"
ROLLUPS = ("usage_hourly", "usage_hourly_all", "usage_daily", "usage_daily_all", "model_daily")


def usage(i: int, *, ago_ms: int = 30_000, account: str = ACCOUNT) -> events.UsageEvent:
    return events.UsageEvent(
        request_id=f"req_{account}_{i:05d}",
        occurred_at_ms=int(time.time() * 1000) - ago_ms + i,
        account_id=account,
        key_id="key_1",
        endpoint="chat",
        model_requested=MODEL,
        model_served=MODEL if account == ACCOUNT else "m-other",
        provider="openai",
        channel_id=CHANNEL if account == ACCOUNT else "ch-other",
        status=200,
        attempts=1,
        prompt_tokens=10,
        completion_tokens=20,
        cost_micros=29,
        latency_ms=100,
        ttft_ms=10,
    )


class FakeNats:
    """The connection a message came on: records what the handler sends (acks, naks)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def publish(self, subject: str, payload: bytes = b"", **_kw) -> None:
        self.sent.append((subject, payload))


def delivery(
    nc: FakeNats, e: events.UsageEvent, seq: int, *, delivered: int = 1, msg_id: str | None = None
) -> tuple[Msg, events.UsageEvent]:
    """As JetStream delivers a message: stored in the stream 5 ms after the event, ``Nats-Msg-Id`` = request id."""
    ns = (e.occurred_at_ms + 5) * 1_000_000
    reply = f"$JS.ACK.USAGE.metering-usage.{delivered}.{seq}.{seq}.{ns}.0"
    msg = Msg(_client=nc, subject=events.USAGE_SUBJECT, reply=reply, data=events.encode(e), headers={"Nats-Msg-Id": msg_id or e.request_id})
    return msg, e


class QuietLog:
    def error(self, *a, **kw) -> None:
        raise AssertionError(f"the batch failed: {a} {kw}")

    def debug(self, *a, **kw) -> None:
        pass


class FakeAuth:
    async def viewer(self, request) -> Viewer:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token == "admin":
            return Viewer(admin=True)
        if token.startswith("key-"):
            return Viewer(admin=False, account_id=token[4:])
        raise Unauthorized("no")


def rollup_counts(s: UsageStore) -> dict[str, tuple[int, int]]:
    counts = {}
    for table in ROLLUPS:
        where = "account_id = {a:String}" if table in ("usage_hourly", "usage_daily") else "model = {m:String}"
        row = s.query(f"SELECT sum(requests) AS n, sum(cost_micros) AS c FROM {table} WHERE {where}", {"a": ACCOUNT, "m": MODEL})[0]
        counts[table] = (int(row["n"]), int(row["c"]))
    return counts


class Served:
    """The metering app on a real port (``reconcile`` calls it with a blocking client)."""

    def __init__(self, s: UsageStore):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(s, FakeAuth()), log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the metering app did not start"
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class Ledger:
    """DailyDebits as the accounts service answers it: one debit per request id, on its day."""

    def __init__(self, debited: list[events.UsageEvent]):
        self.debited = {e.request_id: e for e in debited}

    def DailyDebits(self, request: pb.DailyDebitsRequest, timeout: float = 0) -> pb.DailyDebitsResponse:
        days: dict[str, list[int]] = {}
        for e in self.debited.values():
            if e.account_id == request.account_id and request.start_ms <= e.occurred_at_ms < request.end_ms and e.cost_micros > 0:
                day = days.setdefault(datetime.fromtimestamp(e.occurred_at_ms / 1000, UTC).strftime("%Y-%m-%d"), [0, 0])
                day[0] += e.cost_micros
                day[1] += 1
        return pb.DailyDebitsResponse(days=[pb.DayDebits(day=d, debits_micros=c, requests=n) for d, (c, n) in sorted(days.items())])


def test_the_index_is_a_superset_of_what_is_stored_since_its_horizon() -> None:
    index = RecentIds(keep_ms=10 * MINUTE_MS, max_ids=5)
    assert index.may_hold("a", 10**13)  # not loaded: everything is looked up
    index.load(100 * MINUTE_MS, [("a", 100 * MINUTE_MS + 1), ("b", 101 * MINUTE_MS)])
    assert index.may_hold("a", 100 * MINUTE_MS + 1) and not index.may_hold("a", 101 * MINUTE_MS)  # a copy has the same time
    assert not index.may_hold("c", 101 * MINUTE_MS) and index.may_hold("c", 100 * MINUTE_MS - 1)  # before the horizon: look it up
    index.add([("c", 102 * MINUTE_MS), ("d", 103 * MINUTE_MS), ("e", 104 * MINUTE_MS), ("f", 1)])
    assert index.may_hold("c", 102 * MINUTE_MS) and index.size == 5  # "f" is below the horizon: not kept, always looked up
    index.add([("g", 104 * MINUTE_MS + 5)])  # six: the oldest minute goes, and the horizon moves past it
    index.advance(105 * MINUTE_MS)
    assert index.size == 5 and index.horizon_ms == 101 * MINUTE_MS and index.may_hold("a", 100 * MINUTE_MS + 1)
    index.advance(112 * MINUTE_MS + 1)  # ten minutes back: minute 101 goes; 102 straddles the horizon and stays
    assert index.horizon_ms == 102 * MINUTE_MS + 1 and index.may_hold("x", 102 * MINUTE_MS) and not index.may_hold("x", 103 * MINUTE_MS)
    assert index.size == 4 and index.may_hold("b", 101 * MINUTE_MS)  # below the horizon: looked up


@pytest.fixture(scope="module")
def store(clickhouse_dsn):
    s = UsageStore(clickhouse_dsn)
    s.migrate()
    yield s
    s.close()


def test_only_events_that_may_be_stored_are_looked_up(store: UsageStore, clickhouse_dsn: str, monkeypatch) -> None:
    looked_up: list[set[str]] = []
    real = store._stored
    monkeypatch.setattr(store, "_stored", lambda batch: looked_up.append({e.request_id for e in batch}) or real(batch))
    fresh = [usage(i, account="acct_look") for i in range(10)]
    assert store.insert(fresh[:6]) == 6 and store.looked_up == 0 and looked_up == []  # new and recent: no lookup
    assert store.insert(fresh) == 4 and looked_up == [{e.request_id for e in fresh[:6]}]  # only the ones inserted before
    old = [usage(i, account="acct_look", ago_ms=3_600_000) for i in range(100, 103)]
    assert store.insert(old) == 3 and looked_up[-1] == {e.request_id for e in old}  # older than the horizon: looked up
    # A restarted metering loads the index from ClickHouse: it knows what its predecessor stored.
    again = UsageStore(clickhouse_dsn)
    try:
        calls: list[set[str]] = []
        real_again = again._stored
        monkeypatch.setattr(again, "_stored", lambda batch: calls.append({e.request_id for e in batch}) or real_again(batch))
        more = [usage(i, account="acct_look") for i in range(10, 13)]
        assert again.insert(fresh[7:] + more) == 3 and calls == [{e.request_id for e in fresh[7:]}]
    finally:
        again.close()


def test_redelivered_with_delivery_count_1_after_a_nats_crash_counts_once_everywhere(store: UsageStore, clickhouse_dsn: str) -> None:
    nc = FakeNats()
    handle = batch_handler(store, QuietLog())
    load = [usage(i) for i in range(120)]

    def run(batch):
        return __import__("asyncio").run(handle(batch))

    run([delivery(nc, e, seq) for seq, e in enumerate(load[:60], 1)])
    assert len(nc.sent) == 60 and all(payload == b"" for _, payload in nc.sent)  # stored, then acked
    # nats-server killed -9 and restarted: the consumer's ack floor went back to 20, so 21..60
    # come again as first deliveries, mixed with new events; and two copies re-published
    # under the same message id (the duplicate state lost) land as new stream messages.
    rolled_back = [delivery(nc, e, seq) for seq, e in enumerate(load[:60], 1) if seq > 20]
    new = [delivery(nc, e, seq) for seq, e in enumerate(load[60:90], 61)]
    republished = [delivery(nc, load[5], 91), delivery(nc, load[45], 92)]
    run(new[:10] + rolled_back[::2] + republished + new[10:] + rolled_back[1::2])
    # Metering restarted as well (an empty index until it loads from ClickHouse), and the
    # stream rolled back once more.
    restarted = UsageStore(clickhouse_dsn)
    try:

        def run_after(batch):
            return __import__("asyncio").run(batch_handler(restarted, QuietLog())(batch))

        run_after([delivery(nc, e, seq) for seq, e in enumerate(load[:120], 1) if seq > 50])
    finally:
        restarted.close()
    assert len(nc.sent) == 60 + len(rolled_back) + len(new) + 2 + 70 and all(payload == b"" for _, payload in nc.sent)

    total = (120, 120 * 29)
    assert rollup_counts(store) == dict.fromkeys(ROLLUPS, total)
    raw = store.query("SELECT count() AS n, uniqExact(request_id) AS ids FROM usage_events WHERE account_id = {a:String}", {"a": ACCOUNT})[
        0
    ]
    assert (raw["n"], raw["ids"]) == (120, 120)  # without FINAL: no id was inserted twice

    served = Served(store)
    try:
        month = datetime.fromtimestamp(load[0].occurred_at_ms / 1000, UTC).strftime("%Y-%m")
        auth = {"authorization": f"Bearer key-{ACCOUNT}"}
        statement = httpx.get(f"{served.url}/v1/statement", params={"month": month}, headers=auth).json()
        assert (statement["requests"], statement["total_cost_micros"]) == total
        rankings = httpx.get(f"{served.url}/v1/rankings", params={"window": "24h", "by": "requests"}, headers=auth).json()
        assert {m["model"]: m["requests"] for m in rankings["models"]}[MODEL] == 120
        assert {c["channel_id"]: c["requests"] for c in rankings["channels"]}[CHANNEL] == 120

        # reconcile: the ledger debited each request once; every table agrees.
        rows = reconcile.compare(Ledger(load), served.url, ACCOUNT, 2, "admin")
        text, ok = reconcile.report(rows)
        assert ok, text
        whats = {r[0] for r in rows}
        for table in ("usage_hourly", "usage_daily", "usage_hourly_all", "usage_daily_all", "model_daily"):
            assert any(table in w for w in whats), (table, whats)
        assert ("cost µUSD: statement (month) vs ledger", month, 120 * 29, 120 * 29) in rows

        # A statement that says more than the ledger: reconcile fails, naming the statement.
        with store._lock:
            store._client.command(
                "INSERT INTO usage_daily (day, account_id, key_id, model, channel_id, provider, endpoint, requests, cost_micros) "
                f"VALUES (toDate(fromUnixTimestamp64Milli({load[0].occurred_at_ms}, 'UTC')), '{ACCOUNT}', 'key_1', '{MODEL}', '{CHANNEL}', "
                "'openai', 'chat', 2, 58)"
            )
        text, ok = reconcile.report(reconcile.compare(Ledger(load), served.url, ACCOUNT, 2, "admin"))
        assert (
            not ok
            and "DIFFERENT: cost µUSD: statement (month) vs ledger" in text
            and "DIFFERENT: cost µUSD: usage_daily (statement) vs ledger" in text
        )
        assert "DIFFERENT: cost µUSD: usage_daily_all" not in text  # the rankings' tables still match the raw one
        # A user key reconciles its own account; the rankings' tables span every account: admin only.
        user_rows = reconcile.compare(Ledger(load), served.url, ACCOUNT, 2, f"key-{ACCOUNT}")
        assert not any("rankings" in r[0] for r in user_rows) and not reconcile.report(user_rows)[1]
    finally:
        served.close()


def test_reconcile_flags_a_ranking_rollup_that_differs(store: UsageStore) -> None:
    load = [usage(i, account="acct_rank") for i in range(5)]
    assert store.insert(load) == 5
    served = Served(store)
    try:
        text, ok = reconcile.report(reconcile.compare(Ledger(load), served.url, "acct_rank", 1, "admin"))
        assert ok, text
        with store._lock:
            store._client.command(
                "INSERT INTO model_daily (day, model, requests, cost_micros) "
                f"VALUES (toDate(fromUnixTimestamp64Milli({load[0].occurred_at_ms}, 'UTC')), 'm-other', 1, 29)"
            )
        text, ok = reconcile.report(reconcile.compare(Ledger(load), served.url, "acct_rank", 1, "admin"))
        assert not ok and "DIFFERENT: cost µUSD: model_daily (rankings) vs raw, all accounts" in text
        assert "DIFFERENT: requests: model_daily (rankings) vs raw, all accounts" in text
        assert "same: cost µUSD: usage_daily (statement) vs ledger" in text  # this account's statement is fine
    finally:
        served.close()


def test_a_start_up_load_cut_at_its_bound_covers_only_what_it_read(store: UsageStore, clickhouse_dsn: str) -> None:
    ahead = [usage(i * 1000, account="acct_ahead", ago_ms=-600_000) for i in range(10)]  # the newest rows (an edge clock 10 min ahead)
    assert store.insert(ahead) == 10
    again = UsageStore(clickhouse_dsn)
    try:
        again._recent = RecentIds(max_ids=4)  # reads the 4 newest ids only: its horizon is just past the 4th newest
        # Half a second after each of ``ahead`` (times taken from ``ahead`` itself: a slow insert above must not shift them).
        later = [msgspec.structs.replace(e, request_id=e.request_id + "_later", occurred_at_ms=e.occurred_at_ms + 500) for e in ahead]
        assert again.insert(ahead + later) == 10
        assert again._recent.horizon_ms == ahead[6].occurred_at_ms + 1
        # Looked up: every stored one (6 below the horizon, 4 in the index) and the new ones below the horizon.
        assert again.looked_up == 10 + 6
        assert again.insert(ahead + later) == 0
    finally:
        again.close()
