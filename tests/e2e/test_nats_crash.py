"""nats-server killed with SIGKILL under load and restarted on the same data, repeatedly
(issue 12, part 2): every request answered 200 is one usage row and one ledger debit, and the
statement, the rankings and every rollup count it once — checked by ``tollgate reconcile``,
which compares the ledger with all of them and exits 0 only when nothing differs.

A kill -9 of nats-server loses what it had not yet written: consumer acks (messages metering
stored come again with a delivery count of 1) and possibly the duplicate-window state (an
edge re-publishing an event it had no ack for adds a second stream message). Before the fix
metering trusted both and its rollups counted such requests twice; the raw table (collapsed
by ReplacingMergeTree) and the old raw-only reconcile did not show it.

A stack of its own (real nats-server, accounts, router, metering, edge, provider simulator).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import httpx

from tests.e2e.busutil import wait_consumers_idle
from tollgate import credentials
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tools.stack import ROOT, Ports, Stack

WORKERS = 4
# Crashes until metering has been handed events it had stored already: a kill -9 loses acks
# only when it comes before nats-server has written the consumer's state after them (not at
# every ack), so small batches (acks every few tens of ms) and a few tries.
MIN_CRASHES, MAX_CRASHES = 2, 10


class Load:
    """Requests in a loop from a few threads (every third one streamed); counts the whole 200s."""

    def __init__(self, url: str, key: str):
        self.url, self.key = url, key
        self.ok = 0
        self.failed: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(w,), daemon=True) for w in range(WORKERS)]

    def run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.key}"}, timeout=15) as http:
            i = 0
            while not self.stop.is_set():
                i += 1
                stream = (i + worker) % 3 == 0
                body = {"model": "sim-1", "messages": [{"role": "user", "content": "crash"}], "max_tokens": 5, "stream": stream}
                try:
                    r = http.post("/chat/completions", json=body)
                    whole = r.status_code == 200 and (b"data: [DONE]" in r.content if stream else b'"usage"' in r.content)
                    outcome = "" if whole else f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with self.lock:
                    if outcome:
                        self.failed.append(outcome)
                    else:
                        self.ok += 1
                time.sleep(0.02)

    def served(self, more: int, timeout: float = 30.0) -> bool:
        target, deadline = self.ok + more, time.monotonic() + timeout
        while self.ok < target and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.ok >= target


def raw_requests(stack: Stack, account_id: str) -> int:
    r = httpx.get(f"{stack.metering_url}/v1/usage/models", params={"account_id": account_id}, headers=stack.admin_headers, timeout=10)
    return sum(row["requests"] for row in r.json()["data"])


def accounts_call(stack: Stack, call):
    """One call on a channel of its own: no gRPC channel stays open while the test forks
    nats-server again (gRPC's fork handlers can abort the child between fork and exec)."""
    with credentials.channel(stack.settings.accounts_addr, stack.settings.admin_credential) as channel:
        return call(pb_grpc.AccountsStub(channel))


def ledger_debits(stack: Stack, account_id: str) -> tuple[int, int]:
    now_ms = time.time_ns() // 1_000_000
    request = pb.DailyDebitsRequest(account_id=account_id, start_ms=now_ms - 86_400_000, end_ms=now_ms + 60_000)
    days = accounts_call(stack, lambda accounts: accounts.DailyDebits(request).days)
    return sum(d.requests for d in days), sum(d.debits_micros for d in days)


def metric(stack: Stack, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{stack.ports.metering_metrics}/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith((name + " ", name + "{")))


def just_acked(stack: Stack, timeout: float = 5.0) -> None:
    """Returns as soon as metering has stored a batch: it acks that batch right after, so a kill
    now comes while nats-server has the acks in hand and has likely not yet written them."""
    name = "tollgate_metering_events_inserted_total"
    before, deadline = metric(stack, name), time.monotonic() + timeout
    while metric(stack, name) == before and time.monotonic() < deadline:
        time.sleep(0.002)


def test_nats_killed_9_and_restarted_under_load_counts_each_request_once_everywhere(tmp_path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text((ROOT / "tests" / "data" / "catalog.toml").read_text())
    env = {"TOLLGATE_METERING_BATCH_WAIT_S": "0.02", "TOLLGATE_UPSTREAM_READ_TIMEOUT_S": "5"}
    stack = Stack(data_dir=tmp_path / "stack", ports=Ports.free(), catalog=catalog, extra_env=env, log_to_files=True)
    stack.start()
    try:
        account_id = accounts_call(
            stack, lambda a: a.CreateAccount(pb.CreateAccountRequest(name="nats-crash", initial_balance_micros=50_000_000)).account_id
        )
        key = accounts_call(stack, lambda a: a.CreateKey(pb.CreateKeyRequest(account_id=account_id, name="k", rpm_limit=-1)).secret)
        load = Load(stack.edge_url, key)
        for t in load.threads:
            t.start()
        try:
            assert load.served(50), f"no traffic: {load.failed[:3]}"
            crashes = 0
            while crashes < MIN_CRASHES or (crashes < MAX_CRASHES and metric(stack, "tollgate_metering_events_duplicate_total") == 0):
                nats = stack.service("nats")
                just_acked(stack)
                nats.proc.send_signal(signal.SIGKILL)  # mid-load: acks and publishes in flight
                nats.proc.wait(10)
                crashes += 1
                time.sleep(0.5)
                stack.restart(nats, wait=True)  # on the same data directory
                assert load.served(100), f"no traffic after nats-server came back: {load.failed[-3:]}"
        finally:
            load.stop.set()
            for t in load.threads:
                t.join(30)
        answered = load.ok

        # Everything the edge holds reaches both consumers (it re-publishes what NATS did not ack).
        deadline = time.monotonic() + 90
        while raw_requests(stack, account_id) < answered or ledger_debits(stack, account_id)[0] < answered:
            assert time.monotonic() < deadline, (answered, raw_requests(stack, account_id), ledger_debits(stack, account_id))
            time.sleep(0.5)
        wait_consumers_idle(stack.settings.nats_url, timeout=60)
        time.sleep(1.0)  # a late re-publication would be consumed by now
        wait_consumers_idle(stack.settings.nats_url, timeout=60)
        debited_requests, debited = ledger_debits(stack, account_id)
        rows = raw_requests(stack, account_id)
        skipped = metric(stack, "tollgate_metering_events_duplicate_total")

        month = f"{datetime.now(UTC):%Y-%m}"
        statement = httpx.get(
            f"{stack.metering_url}/v1/statement", params={"account_id": account_id, "month": month}, headers=stack.admin_headers, timeout=10
        ).json()
        rankings = httpx.get(
            f"{stack.metering_url}/v1/rankings", params={"window": "24h", "by": "requests"}, headers=stack.admin_headers, timeout=10
        ).json()
        cli = [sys.executable, "-m", "tollgate.cli", "--accounts", stack.settings.accounts_addr]
        where = [account_id, "--days", "2", "--metering", stack.metering_url]
        reconciled = subprocess.run(
            [*cli, "--json", "reconcile", *where], capture_output=True, text=True, timeout=60, env=stack.env(), check=False
        )
        shown = subprocess.run([*cli, "reconcile", *where], capture_output=True, text=True, timeout=60, env=stack.env(), check=False)
    finally:
        stack.stop()

    print(
        f"\n{crashes} nats-server kills: {answered} answered 200, {len(load.failed)} not answered, {rows} metered, "
        f"{debited_requests} debited, {skipped:.0f} events delivered again after being stored (skipped)\n{shown.stdout}"
    )
    # Only the edge's answers count: it was never killed, so every request was answered whole.
    assert load.failed == [], load.failed[:5]
    assert skipped > 0, f"{crashes} kills never made NATS deliver a stored event again: the test proved nothing"
    assert rows == answered == debited_requests, (answered, rows, debited_requests)
    assert statement["requests"] == answered and statement["total_cost_micros"] == debited > 0, statement
    assert statement["matches_ledger"] is True, statement
    assert {m["model"]: m["requests"] for m in rankings["models"]} == {"sim-1": answered}, rankings["models"]
    assert sum(c["requests"] for c in rankings["channels"]) == answered, rankings["channels"]
    assert reconciled.returncode == 0 and shown.returncode == 0, reconciled.stdout + reconciled.stderr + shown.stdout
    report = json.loads(reconciled.stdout)
    assert report["ok"] is True and sum(d["metering_micros"] for d in report["days"]) == debited, report
    whats = {c["what"] for c in report["checks"]}
    for table in ("usage_hourly", "usage_daily", "statement", "usage_hourly_all", "usage_daily_all", "model_daily"):
        assert any(table in w for w in whats), (table, whats)  # the statement's and the rankings' tables were compared too
    ranked = [c for c in report["checks"] if c["what"] == "requests: model_daily (rankings) vs raw, all accounts"]
    assert sum(c["metering"] for c in ranked) == answered, ranked
    assert "no differences" in shown.stdout
