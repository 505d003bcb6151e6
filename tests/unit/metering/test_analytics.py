"""Metering on real chDB: exactly-once inserts, rollups kept by materialized views, and the
analytics API (grouping, buckets, quantiles, CSV, statements, the request log, rankings,
and who may see what)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.metering import queries
from services.metering.app import create_app
from services.metering.auth import Viewer
from services.metering.store import UsageStore
from tollgate.errors import Unauthorized
from tollgate.events import UsageEvent

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=2)


def event(i: int, account: str = "acct_a", *, hours_ago: int = 0, **kw) -> UsageEvent:
    at = NOW - timedelta(hours=hours_ago)
    fields = dict(
        request_id=f"req_{account}_{i}",
        occurred_at_ms=int(at.timestamp() * 1000) + i,
        account_id=account,
        key_id="key_1",
        endpoint="chat",
        model_requested="m1",
        model_served="m1",
        provider="openai",
        channel_id="ch1",
        status=200,
        attempts=1,
        prompt_tokens=10,
        completion_tokens=20,
        cost_micros=100,
        latency_ms=100 + i,
        ttft_ms=10,
    )
    fields.update(kw)
    return UsageEvent(**fields)


class FakeAuth:
    """Bearer "admin" is the admin; "key-<account>" is a user key of that account."""

    async def viewer(self, request) -> Viewer:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token == "admin":
            return Viewer(admin=True)
        if token.startswith("key-"):
            return Viewer(admin=False, account_id=token[4:])
        raise Unauthorized("no")


@pytest.fixture(scope="module")
def store(clickhouse_dsn):
    s = UsageStore(clickhouse_dsn)
    s.migrate()
    events = [event(i) for i in range(100)]
    events += [
        event(
            i + 1000, hours_ago=30, latency_ms=150, model_served="m2", key_id="key_2", channel_id="ch2", status=500 if i % 4 == 0 else 200
        )
        for i in range(20)
    ]
    events += [event(i, "acct_b", model_served="m2", latency_ms=5_000) for i in range(7)]
    assert s.insert(events) == 127
    assert s.insert(events[:50] + events[:50]) == 0  # redelivered: nothing twice
    assert s.insert([event(200), event(200)]) == 1  # one new, once
    yield s
    s.close()


@pytest.fixture
async def api(store):
    app = create_app(store, FakeAuth())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://metering") as client:

        async def call(path: str, who: str = "key-acct_a", **params):
            return await client.get(path, params=params, headers={"authorization": f"Bearer {who}"})

        yield call


async def test_rollups_count_each_request_once(api) -> None:
    body = (await api("/v1/usage", bucket="none")).json()
    [row] = body["data"]
    assert (row["requests"], row["errors"], row["cost_micros"]) == (121, 5, 12_100)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (1_210, 2_420)
    assert 140 <= row["latency_ms_p50"] <= 170 and row["latency_ms_p99"] >= row["latency_ms_p95"] >= row["latency_ms_p50"]
    assert row["ttft_ms_p50"] == pytest.approx(10, rel=0.011)  # DDSketch states: within 1 % (migration 0012)


async def test_grouping_and_buckets(api) -> None:
    rows = (await api("/v1/usage", group_by="model,key", bucket="day")).json()["data"]
    by_model = {}
    for r in rows:
        by_model[r["model"], r["key"]] = by_model.get((r["model"], r["key"]), 0) + r["requests"]
        assert r["bucket"].endswith("T00:00:00Z")
    assert by_model == {("m1", "key_1"): 101, ("m2", "key_2"): 20}
    hourly = (await api("/v1/usage", bucket="hour", group_by="channel")).json()["data"]
    assert {(r["channel"], r["requests"]) for r in hourly} == {("ch1", 101), ("ch2", 20)}
    bad = await api("/v1/usage", group_by="model,prompt")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_group_by"
    assert (await api("/v1/usage", bucket="week")).status_code == 400


async def test_csv_download(api) -> None:
    answer = await api("/v1/usage", group_by="model", bucket="none", format="csv")
    assert answer.headers["content-type"].startswith("text/csv") and "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {r["model"]: int(r["requests"]) for r in rows} == {"m1": 101, "m2": 20}


async def test_a_user_never_sees_another_account(api) -> None:
    assert (await api("/v1/usage", "key-acct_b", bucket="none")).json()["data"][0]["requests"] == 7
    for path, params in (("/v1/usage", {}), ("/v1/requests", {}), ("/v1/statement", {}), ("/v1/usage/models", {})):
        refused = await api(path, "key-acct_b", account_id="acct_a", **params)
        assert refused.status_code == 403, path
    log = (await api("/v1/requests", "key-acct_b", limit=1000)).json()["data"]
    assert len(log) == 7 and {r["account_id"] for r in log} == {"acct_b"}
    assert (await api("/v1/requests/req_acct_a_1", "key-acct_b")).status_code == 404
    assert (await api("/v1/usage", "nobody")).status_code == 401
    # The admin sees everything, or one account.
    assert (await api("/v1/usage", "admin", bucket="none")).json()["data"][0]["requests"] == 128
    assert (await api("/v1/usage", "admin", bucket="none", account_id="acct_b")).json()["data"][0]["requests"] == 7


async def test_all_accounts_queries_match_the_sum_of_every_account_to_the_hour(api) -> None:
    # Every account comes from its own rollups (whole days from usage_daily_all, the partial
    # first and last days from usage_hourly_all): they must agree with the per-account one.
    for start in (NOW - timedelta(hours=40), NOW - timedelta(hours=29, minutes=10), NOW - timedelta(days=3)):
        params = {"bucket": "day", "group_by": "model", "start": start.isoformat(), "end": (NOW + timedelta(hours=3)).isoformat()}
        rows = (await api("/v1/usage", "admin", **params)).json()["data"]
        per_account = [(await api("/v1/usage", f"key-{a}", **params)).json()["data"] for a in ("acct_a", "acct_b")]
        total = {}
        for r in (r for rs in per_account for r in rs):
            total[r["bucket"], r["model"]] = total.get((r["bucket"], r["model"]), 0) + r["requests"]
        assert {(r["bucket"], r["model"]): r["requests"] for r in rows} == total
        assert sum(total.values()) == (128 if start < NOW - timedelta(hours=31) else 108)


@pytest.mark.parametrize(
    ("start", "end", "d0", "d1"),
    [
        ("2026-03-01T00:40", "2026-03-04T05:00", "2026-03-01", "2026-03-04"),  # start rounds down to midnight: day 1 is whole
        ("2026-03-01T01:00", "2026-03-04T00:00", "2026-03-02", "2026-03-04"),  # an end at midnight closes day 3
        ("2026-03-01T10:00", "2026-03-01T20:00", "2026-03-02", "2026-03-02"),  # no whole day: every hour from the hourly rollup
        ("2026-03-01T23:59:59+05:00", "2026-03-03T12:00+02:00", "2026-03-02", "2026-03-03"),  # UTC days, whatever the offset
    ],
)
def test_whole_days_are_utc_days_inside_the_hour_rounded_range(start, end, d0, d1) -> None:
    def parse(s):
        return datetime.fromisoformat(s if "+" in s else s + "+00:00")

    days = queries.whole_days(parse(start), parse(end))
    assert (days["d0"].isoformat(), days["d1"].isoformat()) == (d0, d1)


async def test_request_log_filters_and_lookup(api) -> None:
    errors = (await api("/v1/requests", status=500, limit=100)).json()["data"]
    assert len(errors) == 5 and all(r["status"] == 500 and r["model_served"] == "m2" for r in errors)
    by_key = (await api("/v1/requests", key_id="key_2", limit=100)).json()["data"]
    assert len(by_key) == 20
    newest = (await api("/v1/requests", limit=3)).json()["data"]
    assert [r["request_id"] for r in newest] == ["req_acct_a_200", "req_acct_a_99", "req_acct_a_98"]
    one = (await api("/v1/requests/req_acct_a_7")).json()
    assert (one["request_id"], one["prompt_tokens"], one["cost_micros"], one["latency_ms"]) == ("req_acct_a_7", 10, 100, 107)
    assert "messages" not in one and "content" not in one


async def test_request_log_pages_back_with_before(api) -> None:
    first = (await api("/v1/requests", limit=40)).json()["data"]
    page = (await api("/v1/requests", limit=40, before=first[-1]["occurred_at"])).json()["data"]
    seen = [r["request_id"] for r in first + page]
    assert len(set(seen)) == len(seen) == 80
    times = [r["occurred_at"] for r in first + page]
    assert times == sorted(times, reverse=True)


def test_request_log_reads_the_table_in_reverse_order(store: UsageStore) -> None:
    """Newest first by the column (the table's sort order, read backwards and stopped at the
    limit), not by the formatted text of the same name, which sorted every row of the account."""
    sql = queries.requests_sql("acct_a", key_id=False, model=False, status=False, before=True)
    plan = "\n".join(
        r["explain"] for r in store.query("EXPLAIN actions = 1 " + sql, {"account": "acct_a", "before": datetime.now(UTC), "limit": 10})
    )
    assert "InReverseOrder" in plan


async def test_statement_matches_the_usage(api) -> None:
    body = (await api("/v1/statement")).json()
    this_month = {(line["model"], line["key_id"]): line["cost_micros"] for line in body["lines"]}
    assert body["month"] == datetime.now(UTC).strftime("%Y-%m")
    assert body["total_cost_micros"] == sum(this_month.values())
    assert (await api("/v1/statement", "admin")).status_code == 400  # the admin names the account
    assert (await api("/v1/statement", month="2026-13")).status_code == 400


async def test_rankings(api) -> None:
    body = (await api("/v1/rankings", "key-acct_b", window="7d")).json()
    models = {m["model"]: m for m in body["models"]}
    assert models["m1"]["requests"] == 101 and models["m2"]["requests"] == 27
    assert models["m2"]["accounts"] == 2 and models["m1"]["tokens"] == 101 * 30
    assert [m["model"] for m in body["models"]] == ["m1", "m2"]  # by tokens
    channels = {c["channel_id"]: c for c in body["channels"]}
    assert channels["ch2"]["error_rate"] == 0.25 and channels["ch1"]["requests"] == 108
    assert channels["ch1"]["tokens_per_s"] > 0 and channels["ch1"]["latency_ms_p50"] > 0
    assert (await api("/v1/rankings", window="2y")).status_code == 400
