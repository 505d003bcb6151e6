"""Units beyond tokens in metering (migration 0010): stored with each request, rolled up in
units_hourly exactly once, and shown beside the tokens of usage, statement and ranking rows."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from services.metering import queries, units
from services.metering.store import UsageStore
from tollgate.events import UnitUsage, UsageEvent


def test_attach_gives_each_row_its_units_or_none() -> None:
    rows = [{"model": "img", "requests": 2}, {"model": "chat", "requests": 5}]
    found = [{"model": "img", "unit": "image", "quantity": 3}, {"model": "img", "unit": "request", "quantity": 2}]
    assert units.attach([dict(r) for r in rows], found, ["model"]) == [
        {"model": "img", "requests": 2, "units": {"image": 3, "request": 2}},
        {"model": "chat", "requests": 5, "units": {}},
    ]
    flat = units.attach([dict(r) for r in rows], found, ["model"], flat=True)
    assert flat[1] == {"model": "chat", "requests": 5, "units_image": 0, "units_request": 0}


def test_the_units_query_groups_as_the_usage_query_does() -> None:
    sql, keys = units.usage_units_sql("acct", ["model", "key"], "day")
    _, usage_keys = queries.usage_sql("acct", ["model", "key"], "day")
    assert keys == usage_keys == ["bucket", "model", "key"]
    assert "FROM units_hourly" in sql and "account_id = {account:String}" in sql


@pytest.fixture
def store(clickhouse_dsn):
    s = UsageStore(clickhouse_dsn)
    s.migrate()
    yield s
    s.close()


def _event(i: int, used: list[UnitUsage], account: str = "acct_u") -> UsageEvent:
    return UsageEvent(
        request_id=f"u{i}",
        occurred_at_ms=int(time.time() * 1000),
        account_id=account,
        key_id="k",
        endpoint="images" if used else "chat",
        model_served="img" if used else "chat",
        cost_micros=40_000 * sum(u.quantity for u in used),
        units=used,
    )


def test_units_are_stored_and_rolled_up_once(store: UsageStore) -> None:
    two = [UnitUsage(unit="image", variant="256x256/standard", quantity=2)]
    batch = [_event(1, two), _event(2, [UnitUsage(unit="image", variant="1024x1024/hd", quantity=1)]), _event(3, [])]
    assert store.insert(batch) == 3
    assert store.insert(batch) == 0  # redelivered: nothing twice
    logged = store.query("SELECT request_id, units FROM usage_events WHERE account_id = 'acct_u' ORDER BY request_id", {})
    assert [r["units"] for r in logged] == [
        [{"unit": "image", "variant": "256x256/standard", "quantity": 2}],
        [{"unit": "image", "variant": "1024x1024/hd", "quantity": 1}],
        [],
    ]
    now = datetime.now(UTC)
    params = {"account": "acct_u", **queries.range_params(now - timedelta(days=1), now + timedelta(hours=1))}
    sql, keys = units.usage_units_sql("acct_u", ["model"], "none")
    rows = units.attach(store.query(queries.usage_sql("acct_u", ["model"], "none")[0], params), store.query(sql, params), keys)
    assert {r["model"]: (r["requests"], r["units"]) for r in rows} == {"chat": (1, {}), "img": (2, {"image": 3})}
    lines = units.attach(
        store.query(queries.statement_sql(), params), store.query(units.statement_units_sql(), params), ["model", "key_id"]
    )
    assert {line["model"]: line["units"] for line in lines} == {"chat": {}, "img": {"image": 3}}
