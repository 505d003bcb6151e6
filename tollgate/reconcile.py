"""Reconciliation: per account and UTC day, what the ledger debited for usage against
what metering (ClickHouse) recorded as cost. Any difference is a bug or lost data."""

from __future__ import annotations

import time

import httpx

from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc

DAY_MS = 86_400_000


def compare(stub: pb_grpc.AccountsStub, metering_url: str, account_id: str, days: int, credential: str) -> list[tuple[str, int, int]]:
    """(day, ledger debits, metering cost) for every day either side has, oldest first."""
    end_ms = time.time_ns() // 1_000_000 + 60_000
    start_ms = (end_ms // DAY_MS - days + 1) * DAY_MS
    ledger = stub.DailyDebits(pb.DailyDebitsRequest(account_id=account_id, start_ms=start_ms, end_ms=end_ms), timeout=30)
    reply = httpx.get(
        f"{metering_url.rstrip('/')}/v1/usage/daily",
        params={"account_id": account_id, "start": str(start_ms // 1000), "end": str(end_ms // 1000 + 1)},
        headers={"authorization": f"Bearer {credential}"},
        timeout=30,
    )
    reply.raise_for_status()
    debits = {d.day: d.debits_micros for d in ledger.days}
    costs = {row["day"]: int(row["day_cost_micros"]) for row in reply.json()["data"]}
    return [(day, debits.get(day, 0), costs.get(day, 0)) for day in sorted(debits.keys() | costs.keys())]


def report(rows: list[tuple[str, int, int]]) -> tuple[str, bool]:
    lines = [f"{'DAY':<10}  {'LEDGER µUSD':>14}  {'METERING µUSD':>14}  {'DIFF':>10}"]
    lines += [f"{day:<10}  {ledger:>14}  {metering:>14}  {ledger - metering:>10}" for day, ledger, metering in rows]
    ok = all(ledger == metering for _, ledger, metering in rows)
    lines.append("no differences" if ok else "DIFFERENCES FOUND")
    return "\n".join(lines), ok
