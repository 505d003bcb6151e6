"""``make bench``: latency of a chat completion straight to the simulator vs. through
Tollgate (edge + cached auth/route + usage publish), non-streaming, at concurrency 1 and 16:
OpenAI client to an OpenAI upstream (pass-through) and to Anthropic and Gemini upstreams
(translated both ways).

Starts its own stack on free ports in a temporary folder; prints a table of p50/p99 and
the overhead the edge reports (``x-tollgate-overhead-ms``). Then metering
(``tools/bench_metering.py``): ingestion throughput into ClickHouse, and the latency of the
analytics queries over 10 million events (generated once into ``.bench/``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tools import bench_metering
from tools.stack import SIM_KEY, Ports, Stack

CATALOG = """
[[models]]
id = "bench"
price = { input_per_mtok_micros = 1, output_per_mtok_micros = 1 }
[[models]]
id = "bench-anthropic"
price = { input_per_mtok_micros = 1, output_per_mtok_micros = 1 }
[[models]]
id = "bench-gemini"
price = { input_per_mtok_micros = 1, output_per_mtok_micros = 1 }
[[channels]]
id = "openai-kind"
provider = "simulator"
base_url = "http://127.0.0.1:${TOLLGATE_SIM_PORT}/v1"
api_key_env = "TOLLGATE_SIM_KEY"
models = { "bench" = "sim-1" }
[[channels]]
id = "anthropic-kind"
provider = "anthropic"
base_url = "http://127.0.0.1:${TOLLGATE_SIM_PORT}/anthropic"
api_key_env = "TOLLGATE_SIM_KEY"
models = { "bench-anthropic" = "sim-1" }
[[channels]]
id = "gemini-kind"
provider = "gemini"
base_url = "http://127.0.0.1:${TOLLGATE_SIM_PORT}/gemini"
api_key_env = "TOLLGATE_SIM_KEY"
models = { "bench-gemini" = "sim-1" }
"""
BODY = {"model": "sim-1", "messages": [{"role": "user", "content": "benchmark prompt of a few words"}], "max_tokens": 16}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, key: str, requests: int, concurrency: int, model: str = "sim-1") -> tuple[list[float], float, list[float]]:
    latencies: list[float] = []
    overheads: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers={"Authorization": f"Bearer {key}"}) as client:
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                start = time.perf_counter()
                r = await client.post(url, json={**BODY, "model": model})
                latencies.append((time.perf_counter() - start) * 1000)
                r.raise_for_status()
                if "x-tollgate-overhead-ms" in r.headers:
                    overheads.append(float(r.headers["x-tollgate-overhead-ms"]))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, requests / elapsed, overheads


async def bench(stack: Stack, key: str, requests: int) -> None:
    edge = stack.edge_url + "/chat/completions"
    targets = {
        "direct": (stack.sim_url + "/chat/completions", SIM_KEY, "sim-1"),
        "edge openai→openai": (edge, key, "bench"),
        "edge openai→anthropic": (edge, key, "bench-anthropic"),
        "edge openai→gemini": (edge, key, "bench-gemini"),
    }
    print(f"{'path':<24} {'conc':>4} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'overhead p50/p99 ms':>20}")
    for concurrency in (1, 16):
        for name, (url, secret, model) in targets.items():
            await run(url, secret, 50, concurrency, model)  # warm up pools and caches
            n = requests * (4 if concurrency > 1 else 1)
            lat, rps, over = await run(url, secret, n, concurrency, model)
            extra = f"{statistics.median(over):.2f} / {pct(over, 0.99):.2f}" if over else "-"
            print(f"{name:<24} {concurrency:>4} {n:>6} {pct(lat, 0.5):>8.2f} {pct(lat, 0.99):>8.2f} {rps:>8.0f} {extra:>20}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests per run at concurrency 1 (x4 at 16; 0: skip the edge)")
    parser.add_argument("--metering-events", type=int, default=200_000, help="events for metering's ingestion run (0: skip it)")
    parser.add_argument("--query-events", type=int, default=10_000_000, help="events in metering's query dataset (0: skip the queries)")
    parser.add_argument("--query-runs", type=int, default=20, help="timed runs per metering query")
    args = parser.parse_args()
    if args.requests:
        bench_edge(args.requests)
        print()
    bench_metering.run(args.metering_events, 0, args.query_events, args.query_runs)


def bench_edge(requests: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp:
        catalog = Path(tmp) / "catalog.toml"
        catalog.write_text(CATALOG)
        ports = Ports.free()
        ports.edge2 = 0  # one edge: the bench measures a single hop
        stack = Stack(data_dir=Path(tmp), ports=ports, catalog=catalog, log_to_files=True, extra_env={"TOLLGATE_LOG_LEVEL": "warning"})
        stack.start()
        try:
            _, key = stack.bootstrap_demo(balance_micros=10**12, rpm_limit=-1)  # unlimited: the bench is the load
            asyncio.run(bench(stack, key, requests))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
