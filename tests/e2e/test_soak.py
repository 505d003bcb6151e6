"""A soak through the running stack: one of two channels fails 30% of the time; the client
(the openai SDK) must never see an error, and ClickHouse must account for every attempt."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from tests.e2e import busutil
from tests.e2e.test_contract import wait_for_usage

REQUESTS = int(os.environ.get("TOLLGATE_SOAK_REQUESTS", "10000"))
THREADS = 8


def test_soak_with_a_flaky_channel(stack, new_account):
    account_id, key = new_account(balance_micros=10**12)
    sim = stack.sim_url.removesuffix("/v1")
    flaky_before = httpx.get(f"{sim}/_sim/stats", timeout=5).json()["requests"].get("sim-flaky-30", 0)
    clients = [openai.OpenAI(base_url=stack.edge_url, api_key=key, max_retries=0, timeout=30) for _ in range(THREADS)]

    def run(worker: int) -> int:
        c, ok = clients[worker], 0
        for _ in range(worker, REQUESTS, THREADS):
            reply = c.chat.completions.create(model="soak", messages=[{"role": "user", "content": "soak"}], max_tokens=1)
            ok += reply.choices[0].message.content == "the"
        return ok

    with ThreadPoolExecutor(THREADS) as pool:
        assert sum(pool.map(run, range(THREADS))) == REQUESTS  # no client-visible error, every answer right

    flaky_after = httpx.get(f"{sim}/_sim/stats", timeout=5).json()["requests"]["sim-flaky-30"]
    flaky = flaky_after - flaky_before
    # The simulator's n-th sim-flaky-30 request fails when floor(30 n / 100) steps up: exactly
    # 30 of every 100, evenly. Those failures among this test's requests:
    failed = flaky_after * 30 // 100 - flaky_before * 30 // 100
    stored = wait_for_usage(stack, account_id, REQUESTS, timeout=60)
    assert stored["requests"] == REQUESTS and stored["errors"] == 0
    # Each failure was retried once on the healthy channel: attempts = requests + failures.
    assert stored["attempts"] == REQUESTS + failed
    # Nearly every request went to the flaky channel first: 30% errors keep its breaker closed,
    # except that 16 threads' outcome reports can reach the router out of order, so a cluster
    # of errors among its first few samples may open it for a moment (cooldown 1 s).
    assert flaky >= REQUESTS * 0.99, flaky

    # Invariant 2: what the ledger debited equals what metering recorded, day by day.
    busutil.wait_consumers_idle(stack.settings.nats_url, timeout=60)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tollgate.cli",
            "--accounts",
            stack.settings.accounts_addr,
            "reconcile",
            account_id,
            "--metering",
            stack.metering_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=stack.env(),
    )
    assert out.returncode == 0 and "no differences" in out.stdout, out.stdout + out.stderr
    assert str(stored["cost_micros"]) in out.stdout
