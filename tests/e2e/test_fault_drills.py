"""Fault drills on a stack of its own (real nats-server, real services): NATS goes down,
then the edge is killed with SIGKILL, twice, while requests keep coming. Every request
answered 200 must be metered once and debited once, and the statement must equal the ledger.

The edge must also start while NATS is down (a restarted edge serves from accounts and
router), and say it is ready: NATS is not needed to serve, only to ship usage, which waits
in the edge's spool until NATS is back.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.e2e.busutil import wait_consumers_idle
from tests.e2e.test_balance import eventually
from tollgate import credentials
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tools.stack import ROOT, Ports, Stack

WORKERS = 4


@pytest.fixture(scope="module")
def drill_stack(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("drill")
    catalog = data_dir / "catalog.toml"
    catalog.write_text((ROOT / "tests" / "data" / "catalog.toml").read_text())
    env = {"TOLLGATE_METERING_BATCH_WAIT_S": "0.2", "TOLLGATE_UPSTREAM_READ_TIMEOUT_S": "5"}
    stack = Stack(data_dir=data_dir, ports=Ports.free(), catalog=catalog, extra_env=env, log_to_files=True)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


class Load:
    """Requests in a loop from a few threads (every third one streamed); counts the 200s."""

    def __init__(self, url: str, key: str):
        self.url, self.key = url, key
        self.ok = 0
        self.failed: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.key}"}, timeout=15) as http:
            i = 0
            while not self.stop.is_set():
                i += 1
                stream = (i + worker) % 3 == 0
                body = {"model": "sim-1", "messages": [{"role": "user", "content": "drill"}], "max_tokens": 5, "stream": stream}
                try:
                    r = http.post("/chat/completions", json=body)
                    whole = r.status_code == 200 and (b"data: [DONE]" in r.content if stream else b'"usage"' in r.content)
                except httpx.HTTPError as exc:  # the edge was killed under this request: not answered
                    with self.lock:
                        self.failed.append(type(exc).__name__)
                    time.sleep(0.05)
                    continue
                with self.lock:
                    if whole:
                        self.ok += 1
                    else:
                        self.failed.append(f"{r.status_code} {r.text[:200]}")
                time.sleep(0.05)  # ~15 requests/s a worker: a steady load, as in the drills

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.run, args=(w,), daemon=True) for w in range(WORKERS)]
        for t in threads:
            t.start()
        return threads

    def served(self, more: int, timeout: float = 20.0) -> bool:
        target = self.ok + more
        return bool(eventually(lambda: self.ok >= target, timeout=timeout))


def kill(stack: Stack, name: str) -> None:
    service = stack.service(name)
    service.proc.send_signal(signal.SIGKILL)
    service.proc.wait(10)


def ready(base: str) -> httpx.Response:
    return httpx.get(f"{base}/readyz", timeout=5)


def test_nats_down_then_the_edge_killed_twice_loses_no_usage(drill_stack):
    stack = drill_stack
    with credentials.channel(stack.settings.accounts_addr, stack.settings.admin_credential) as channel:
        accounts = pb_grpc.AccountsStub(channel)
        account_id = accounts.CreateAccount(pb.CreateAccountRequest(name="drill", initial_balance_micros=50_000_000)).account_id
        key = accounts.CreateKey(pb.CreateKeyRequest(account_id=account_id, name="k", rpm_limit=-1)).secret
        edge_base = stack.edge_url.removesuffix("/v1")
        load = Load(stack.edge_url, key)
        threads = load.start()
        try:
            assert load.served(20), f"no traffic: {load.failed[:3]}"
            kill(stack, "nats")  # NATS gone: the edge serves on, its usage waits in the spool
            assert load.served(60), f"the edge stopped serving without NATS: {load.failed[-3:]}"
            assert ready(edge_base).status_code == 200, ready(edge_base).text
            assert ready(edge_base).json()["checks"]["nats"]["ok"] is False

            kill(stack, "edge")  # and then the edge dies too, with unpublished usage in its spool
            stack.restart(stack.service("edge"), wait=True)  # it starts while NATS is still down
            assert load.served(40), f"the restarted edge did not serve without NATS: {load.failed[-3:]}"
            assert ready(edge_base).status_code == 200
            kill(stack, "edge")  # once more, with events of both processes in the spool
            stack.restart(stack.service("edge"), wait=True)
            assert load.served(20)

            stack.restart(stack.service("nats"), wait=True)  # NATS back, on the same data
            assert load.served(40), f"no traffic after NATS came back: {load.failed[-3:]}"
        finally:
            load.stop.set()
            for t in threads:
                t.join(30)

        answered, cut = load.ok, len(load.failed)
        assert eventually(lambda: ready(edge_base).json()["checks"]["usage_spool"]["detail"] == "0 events waiting", timeout=30)
        wait_consumers_idle(stack.settings.nats_url, timeout=60)
        now_ms = time.time_ns() // 1_000_000
        ledger = accounts.DailyDebits(pb.DailyDebitsRequest(account_id=account_id, start_ms=now_ms - 86_400_000, end_ms=now_ms + 60_000))
        debited_requests, debited = sum(d.requests for d in ledger.days), sum(d.debits_micros for d in ledger.days)
    rows = _usage(stack, account_id)
    # Every request answered 200 is metered and debited once. A request in flight when its edge
    # was killed may have been spooled just before its client lost the connection: metered, not
    # counted as answered here (at most one per worker per kill).
    assert rows["errors"] == 0, rows
    assert answered <= rows["requests"] <= answered + min(cut, 2 * WORKERS), (rows, answered, load.failed[:5])
    assert debited_requests == rows["requests"] and debited == rows["cost_micros"] > 0, (debited_requests, debited, rows)
    statement = httpx.get(
        f"{stack.metering_url}/v1/statement",
        params={"account_id": account_id, "month": f"{datetime.now(UTC):%Y-%m}"},
        headers=stack.admin_headers,
        timeout=10,
    ).json()
    assert statement["matches_ledger"] is True and statement["total_cost_micros"] == debited, statement
    assert statement["requests"] == rows["requests"]


def _usage(stack: Stack, account_id: str) -> dict:
    r = httpx.get(f"{stack.metering_url}/v1/usage/models", params={"account_id": account_id}, headers=stack.admin_headers, timeout=10)
    rows = r.json()["data"]
    return {k: sum(row[k] for row in rows) for k in ("requests", "errors", "cost_micros")}
