"""Reconciliation: per account and UTC day, what the ledger debited for usage against what
metering (ClickHouse) holds, in every table a reader sees: the raw table (with FINAL, and as
the request log reads it, without), the rollups the statement reads (usage_hourly and
usage_daily, per day) and the statement itself (per month); with the admin credential also
the rollups the rankings read (usage_hourly_all, usage_daily_all, model_daily), against the
raw table over every account (they have no account column). Any difference is a bug or lost
data: invariant 2 of the design."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc

DAY_MS = 86_400_000

# (what metering read, and what it is compared with; day or month; the reference's value; metering's value)
Row = tuple[str, str, int, int]

RAW_COST = "cost µUSD: raw usage_events vs ledger"
STATEMENT_TABLES = ("usage_hourly", "usage_daily")
RANKING_TABLES = ("usage_hourly_all", "usage_daily_all", "model_daily")


def compare(stub: pb_grpc.AccountsStub, metering_url: str, account_id: str, days: int, credential: str) -> list[Row]:
    """Every comparison for the last ``days`` UTC days up to today, oldest first within each."""
    base = metering_url.rstrip("/")
    headers = {"authorization": f"Bearer {credential}"}
    today = time.time_ns() // 1_000_000 // DAY_MS
    start_ms, end_ms = (today - days + 1) * DAY_MS, (today + 1) * DAY_MS

    def get(path: str, **params) -> dict[str, Any]:
        reply = httpx.get(f"{base}{path}", params=params, headers=headers, timeout=60)
        reply.raise_for_status()
        return reply.json()

    ledger = stub.DailyDebits(pb.DailyDebitsRequest(account_id=account_id, start_ms=start_ms, end_ms=end_ms), timeout=30)
    figures = get("/v1/reconcile", account_id=account_id, start=str(start_ms // 1000), end=str(end_ms // 1000))
    debits = {d.day: d.debits_micros for d in ledger.days}
    debit_counts = {d.day: d.requests for d in ledger.days}
    tables = {name: {r["utc_day"]: r for r in rows} for name, rows in figures["tables"].items()}
    raw = tables["usage_events"]

    rows: list[Row] = []
    rows += _by_day(RAW_COST, debits, _column(raw, "total_cost_micros"))
    rows += _by_day("billed requests: raw usage_events vs ledger debits", debit_counts, _column(raw, "billed_requests"))
    rows += _by_day(
        "requests: request log (usage_events without FINAL) vs raw",
        _column(raw, "total_requests"),
        _column(tables["usage_events_unmerged"], "total_requests"),
    )
    for table in STATEMENT_TABLES:
        rows += _by_day(f"cost µUSD: {table} (statement) vs ledger", debits, _column(tables[table], "total_cost_micros"))
        rows += _by_day(f"requests: {table} (statement) vs raw", _column(raw, "total_requests"), _column(tables[table], "total_requests"))
    for month in _months(start_ms, end_ms):
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        after = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=UTC)
        month_debits = stub.DailyDebits(
            pb.DailyDebitsRequest(account_id=account_id, start_ms=int(first.timestamp() * 1000), end_ms=int(after.timestamp() * 1000)),
            timeout=30,
        )
        statement = get("/v1/statement", account_id=account_id, month=month)
        rows.append(
            (
                "cost µUSD: statement (month) vs ledger",
                month,
                sum(d.debits_micros for d in month_debits.days),
                int(statement["total_cost_micros"]),
            )
        )
    everyone = figures.get("all_accounts")
    if everyone:
        all_raw = {r["utc_day"]: r for r in everyone["usage_events"]}
        for table in RANKING_TABLES:
            by_day = {r["utc_day"]: r for r in everyone[table]}
            rows += _by_day(
                f"cost µUSD: {table} (rankings) vs raw, all accounts",
                _column(all_raw, "total_cost_micros"),
                _column(by_day, "total_cost_micros"),
            )
            rows += _by_day(
                f"requests: {table} (rankings) vs raw, all accounts", _column(all_raw, "total_requests"), _column(by_day, "total_requests")
            )
    return rows


def _column(by_day: dict[str, dict], name: str) -> dict[str, int]:
    return {day: int(row[name]) for day, row in by_day.items()}


def _by_day(what: str, reference: dict[str, int], metering: dict[str, int]) -> list[Row]:
    return [(what, day, reference.get(day, 0), metering.get(day, 0)) for day in sorted(reference.keys() | metering.keys())]


def _months(start_ms: int, end_ms: int) -> list[str]:
    months, day = [], start_ms
    while day < end_ms:
        month = datetime.fromtimestamp(day / 1000, UTC).strftime("%Y-%m")
        if month not in months:
            months.append(month)
        day += DAY_MS
    return months


def report(rows: list[Row]) -> tuple[str, bool]:
    """The raw cost against the ledger day by day; every other comparison as one line when it
    matches, else with each differing day or month."""
    ok = all(reference == metering for _, _, reference, metering in rows)
    lines = [f"{'DAY':<10}  {'LEDGER µUSD':>14}  {'METERING µUSD':>14}  {'DIFF':>10}"]
    lines += [f"{day:<10}  {ref:>14}  {got:>14}  {ref - got:>10}" for what, day, ref, got in rows if what == RAW_COST]
    checks: dict[str, list[Row]] = {}
    for row in rows:
        if row[0] != RAW_COST:
            checks.setdefault(row[0], []).append(row)
    for what, found in checks.items():
        wrong = [r for r in found if r[2] != r[3]]
        if not wrong:
            lines.append(f"same: {what} ({len(found)} days/months, total {sum(r[3] for r in found)})")
            continue
        lines.append(f"DIFFERENT: {what}")
        lines += [f"  {day:<10}  expected {ref:>14}  metering {got:>14}  diff {ref - got:>10}" for _, day, ref, got in wrong]
    lines.append("no differences" if ok else "DIFFERENCES FOUND")
    return "\n".join(lines), ok
