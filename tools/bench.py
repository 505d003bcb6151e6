"""``make bench``: latency of a chat completion straight to the simulator vs. through
Tollgate (edge + cached auth/route + usage publish), non-streaming, at concurrency 1 and 16.

Starts its own stack on free ports in a temporary folder; prints a table of p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tools.stack import SIM_KEY, Ports, Stack

BODY = {"model": "sim-1", "messages": [{"role": "user", "content": "benchmark prompt of a few words"}], "max_tokens": 16}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, key: str, requests: int, concurrency: int) -> tuple[list[float], float, list[float]]:
    latencies: list[float] = []
    overheads: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                start = time.perf_counter()
                r = await client.post(url, json=BODY)
                latencies.append((time.perf_counter() - start) * 1000)
                r.raise_for_status()
                if "x-tollgate-overhead-ms" in r.headers:
                    overheads.append(float(r.headers["x-tollgate-overhead-ms"]))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, requests / elapsed, overheads


async def bench(stack: Stack, key: str, requests: int) -> None:
    targets = {"direct": (stack.sim_url + "/chat/completions", SIM_KEY), "via edge": (stack.edge_url + "/chat/completions", key)}
    print(f"{'path':<10} {'conc':>4} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'overhead p50/p99 ms':>20}")
    for concurrency in (1, 16):
        for name, (url, secret) in targets.items():
            await run(url, secret, 50, concurrency)  # warm up pools and caches
            n = requests * (4 if concurrency > 1 else 1)
            lat, rps, over = await run(url, secret, n, concurrency)
            extra = f"{statistics.median(over):.2f} / {pct(over, 0.99):.2f}" if over else "-"
            print(f"{name:<10} {concurrency:>4} {n:>6} {pct(lat, 0.5):>8.2f} {pct(lat, 0.99):>8.2f} {rps:>8.0f} {extra:>20}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500, help="requests per run at concurrency 1 (x4 at 16)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp:
        stack = Stack(data_dir=Path(tmp), ports=Ports.free(), log_to_files=True, extra_env={"TOLLGATE_LOG_LEVEL": "warning"})
        stack.start()
        try:
            _, key = stack.bootstrap_demo(balance_micros=10**12)
            asyncio.run(bench(stack, key, args.requests))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
