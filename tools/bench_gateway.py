"""``make bench`` (the gateway): what Tollgate adds to a chat completion, measured from
outside, against calling the upstream directly and, when ``BENCH_COMPARE_URL`` and
``BENCH_COMPARE_KEY`` are set, another OpenAI-compatible gateway — same client, same mock
upstream, same run, rounds alternating between the paths.

- The upstream is ``tools/mock_upstream.py`` (its own process, uvloop): a fixed completion
  of ``--words`` words, whole or streamed (one SSE event per word, usage last).
- The stack is ``tools/stack.py``'s (nats-server, accounts, router, metering, one edge) on
  free ports in a temporary folder, log level warning, its one channel (OpenAI kind) on the
  mock upstream; a fresh account with an unlimited key.
- Closed loop: non-stream and stream at c=1 and c=16, ``--rounds`` rounds of ``--requests``
  requests per path (x4 at c=16) after a warm-up: p50/p99, added = path − direct, TTFB for
  streams, req/s at c=16 (max RPS, streams/s), and the edge's ``x-tollgate-overhead-ms``.
- Open loop: ``--rate`` requests/s for ``--duration`` s per path, latency from the scheduled
  send time; a request due while all ``--connections`` connections are busy is dropped.
- CPU ms per request of every process of the stack over Tollgate's open-loop run (psutil
  user+system, children included, the run plus a 2 s tail for the asynchronous work), next to
  each process's idle CPU (ms/s, measured before the load) and RSS at the end; the mock
  upstream's and the load generator's CPU per request in a 3 s direct run at c=16.
- Afterwards: Tollgate's answered 200s vs. usage rows in ClickHouse (metering's
  /v1/usage/models) vs. ledger debits (accounts' DailyDebits): equal, or the run fails.

The other gateway must route ``BENCH_COMPARE_MODEL`` (default ``mock-1``) to an OpenAI
upstream at ``http://127.0.0.1:$BENCH_MOCK_PORT/v1`` (default port 18098 when comparing;
any key): the bench starts the mock upstream on that port.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from tollgate import credentials
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tools.loadgen import Pool, Run, Target, closed_loop, open_loop, pct
from tools.stack import ROOT, SIM_KEY, Ports, Stack, free_port

CATALOG = """
[[models]]
id = "bench"
price = {{ input_per_mtok_micros = 1_000_000, output_per_mtok_micros = 1_000_000 }}
[[channels]]
id = "mock-openai"
provider = "openai"
base_url = "http://127.0.0.1:{port}/v1"
api_key_env = "TOLLGATE_SIM_KEY"
models = {{ "bench" = "mock-1" }}
"""
MESSAGES = [{"role": "user", "content": "benchmark prompt of a few words"}]
WHOLE = {"messages": MESSAGES, "max_tokens": 32}
STREAM = {**WHOLE, "stream": True, "stream_options": {"include_usage": True}}
SCENARIOS = [(False, 1), (False, 16), (True, 1), (True, 16)]  # (stream, concurrency)
STACK_PROCESSES = ["edge", "accounts", "router", "metering", "nats"]
TAIL_S = 2.0
WARMUP = 50


@dataclass
class Options:
    requests: int = 200
    rounds: int = 5
    rate: float = 500.0
    duration: float = 20.0
    connections: int = 256
    words: int = 24
    mock_port: int = 0
    compare: Target | None = None

    @classmethod
    def compare_from_env(cls) -> Target | None:
        url, key = os.environ.get("BENCH_COMPARE_URL", ""), os.environ.get("BENCH_COMPARE_KEY", "")
        if not (url and key):
            return None
        url = url.rstrip("/")
        url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        return Target("compare", url, key, os.environ.get("BENCH_COMPARE_MODEL", "mock-1"))


@dataclass
class Results:
    closed: dict[tuple[bool, int, str], Run] = field(default_factory=dict)  # (stream, concurrency, path)
    opened: dict[str, Run] = field(default_factory=dict)
    answered: int = 0  # Tollgate's 200s, warm-ups included
    failed: int = 0  # Tollgate's requests sent and not answered 200 (these may be metered too)
    idle_ms_per_s: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)  # over Tollgate's open-loop run
    cpu_window_requests: int = 0
    side: dict[bool, tuple[float, float, float]] = field(default_factory=dict)  # stream: direct c=16 rate, mock and client CPU µs/request
    rss_mb: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


class Processes:
    """CPU seconds (user+system, live children included) and RSS of named processes."""

    def __init__(self, pids: dict[str, int], alone: tuple[str, ...] = ()):
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.alone = alone  # without their children (the bench itself: the stack is its children)

    def family(self, name: str) -> list[psutil.Process]:
        proc = self.procs[name]
        return [proc] if name in self.alone else [proc, *proc.children(recursive=True)]

    def cpu(self) -> dict[str, float]:
        out = {}
        for name in self.procs:
            total = 0.0
            for p in self.family(name):
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
            out[name] = total
        return out

    def rss_mb(self) -> dict[str, float]:
        out = {}
        for name in self.procs:
            out[name] = sum(p.memory_info().rss for p in self.family(name)) / 2**20
        return out


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after}


# -- the measurements ----------------------------------------------------------------------


async def measure(targets: list[Target], opts: Options, procs: Processes, res: Results) -> None:
    pools = {t.name: Pool(t) for t in targets}
    requests = {(t.name, stream): t.request(STREAM if stream else WHOLE) for t in targets for stream in (False, True)}

    def tally(target: Target, run: Run) -> None:
        if target.name == "tollgate":
            res.answered += run.ok
            res.failed += run.errors - run.dropped

    for t in targets:  # warm-up: connections, caches, leases, the JIT-less interpreters' first paths
        for stream, concurrency in SCENARIOS:
            tally(t, await closed_loop(pools[t.name], requests[t.name, stream], WARMUP, concurrency, stream))

    before = procs.cpu()
    await asyncio.sleep(2.0)
    res.idle_ms_per_s = {k: v * 1000 / 2.0 for k, v in delta(procs.cpu(), before).items()}

    for stream in (False, True):  # what the mock upstream and the load generator cost, alone (c=16, 3 s)
        before = procs.cpu()
        run = await closed_loop(pools["direct"], requests["direct", stream], 0, 16, stream, seconds=3.0)
        used = delta(procs.cpu(), before)
        res.side[stream] = (run.rate, used["mock"] * 1e6 / max(run.ok, 1), used["client"] * 1e6 / max(run.ok, 1))

    for r in range(opts.rounds):
        for stream, concurrency in SCENARIOS:
            n = opts.requests * (4 if concurrency > 1 else 1)
            for t in targets[r % len(targets) :] + targets[: r % len(targets)]:  # a different path first each round
                run = await closed_loop(pools[t.name], requests[t.name, stream], n, concurrency, stream)
                tally(t, run)
                res.closed.setdefault((stream, concurrency, t.name), Run()).add(run)
        print(f"  round {r + 1}/{opts.rounds} done", file=sys.stderr, flush=True)

    for t in targets:
        print(f"  open loop: {t.name}, {opts.rate:g}/s for {opts.duration:g} s", file=sys.stderr, flush=True)
        before = procs.cpu()
        run = await open_loop(pools[t.name], requests[t.name, False], opts.rate, opts.duration, opts.connections)
        tally(t, run)
        res.opened[t.name] = run
        if t.name == "tollgate":
            await asyncio.sleep(TAIL_S)
            used = delta(procs.cpu(), before)
            res.cpu_window_requests = run.ok
            res.cpu_ms_per_request = {k: v * 1000 / max(run.ok, 1) for k, v in used.items()}
    for pool in pools.values():
        pool.close()


def count(stack: Stack, account_id: str, answered: int, timeout: float = 60.0) -> dict[str, int]:
    """Usage rows and ledger debits of the bench's account, once both reach ``answered`` or
    stop moving for 15 s (or ``timeout``)."""
    deadline, last, still = time.monotonic() + timeout, None, time.monotonic()
    with credentials.channel(stack.settings.accounts_addr, stack.settings.admin_credential) as channel:
        accounts = pb_grpc.AccountsStub(channel)
        while True:
            r = httpx.get(
                f"{stack.metering_url}/v1/usage/models", params={"account_id": account_id}, headers=stack.admin_headers, timeout=30
            )
            r.raise_for_status()
            rows = r.json()["data"]
            now_ms = time.time_ns() // 1_000_000
            days = accounts.DailyDebits(
                pb.DailyDebitsRequest(account_id=account_id, start_ms=now_ms - 2 * 86_400_000, end_ms=now_ms + 60_000)
            ).days
            seen = {
                "usage_requests": sum(row["requests"] for row in rows),
                "usage_errors": sum(row["errors"] for row in rows),
                "usage_cost_micros": sum(row["cost_micros"] for row in rows),
                "debited_requests": sum(d.requests for d in days),
                "debited_micros": sum(d.debits_micros for d in days),
            }
            if seen["usage_requests"] >= answered and seen["debited_requests"] >= answered:
                return seen
            if seen != last:
                last, still = seen, time.monotonic()
            if time.monotonic() > deadline or time.monotonic() - still > 15:
                return seen
            time.sleep(0.5)


# -- the stack -----------------------------------------------------------------------------


def start_mock(port: int, words: int) -> subprocess.Popen:
    mock = subprocess.Popen(
        [sys.executable, "-m", "tools.mock_upstream", "--port", str(port), "--words", str(words)], cwd=ROOT, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return mock
        except OSError:
            if mock.poll() is not None or time.monotonic() > deadline:
                mock.kill()
                raise RuntimeError(f"the mock upstream did not start on port {port}") from None
            time.sleep(0.05)


def run(opts: Options) -> int:
    """The whole gateway bench: prints its tables; 0, or 1 when the counts differ."""
    opts.compare = opts.compare or Options.compare_from_env()
    port = opts.mock_port or (18098 if opts.compare else free_port())
    res = Results()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp:
        catalog = Path(tmp) / "catalog.toml"
        catalog.write_text(CATALOG.format(port=port))
        ports = Ports.free()
        ports.edge2 = 0  # one edge: the bench measures a single hop
        mock = start_mock(port, opts.words)
        stack = Stack(data_dir=Path(tmp), ports=ports, catalog=catalog, log_to_files=True, extra_env={"TOLLGATE_LOG_LEVEL": "warning"})
        try:
            stack.start()
            account_id, key = stack.bootstrap_demo(balance_micros=10**13, rpm_limit=-1)  # unlimited: the bench is the load
            targets = [
                Target("direct", f"http://127.0.0.1:{port}/v1/chat/completions", SIM_KEY, "mock-1"),
                Target("tollgate", stack.edge_url + "/chat/completions", key, "bench"),
            ]
            targets += [opts.compare] if opts.compare else []
            pids = {name: stack.service(name).proc.pid for name in STACK_PROCESSES}
            procs = Processes({**pids, "mock": mock.pid, "client": os.getpid()}, alone=("client",))
            print(
                f"gateway bench: {opts.rounds} rounds x {opts.requests} requests (x4 at c=16) per path, then {opts.rate:g}/s open loop for {opts.duration:g} s",
                file=sys.stderr,
            )
            _event_loop_run(measure(targets, opts, procs, res))
            res.counts = count(stack, account_id, res.answered)
            res.rss_mb = procs.rss_mb()
        finally:
            stack.stop()
            mock.terminate()
            mock.wait(10)
    return report(res, [t.name for t in targets], opts)


def _event_loop_run(coro) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


# -- the report ----------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def f2(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.2f}"


def report(res: Results, paths: list[str], opts: Options) -> int:
    print(f"\n== Added latency, closed loop: {opts.rounds} alternating rounds; ms; added = path - direct (same client, same mock upstream)")
    rows = []
    for concurrency in (1, 16):
        direct = res.closed[False, concurrency, "direct"]
        for path in paths:
            run = res.closed[False, concurrency, path]
            p50, p99 = pct(run.latencies, 0.5), pct(run.latencies, 0.99)
            added = path != "direct"
            rows.append(
                [
                    "non-stream",
                    concurrency,
                    path,
                    run.ok,
                    run.errors,
                    f2(p50),
                    f2(p99),
                    f2(p50 - pct(direct.latencies, 0.5)) if added else "-",
                    f2(p99 - pct(direct.latencies, 0.99)) if added else "-",
                    f2(pct(run.overheads, 0.5)) if run.overheads else "-",
                    f"{run.rate:,.0f}",
                ]
            )
    print(table(["", "c", "path", "ok", "errors", "p50", "p99", "added p50", "added p99", "header p50", "req/s"], rows))
    print()
    rows = []
    for concurrency in (1, 16):
        direct = res.closed[True, concurrency, "direct"]
        for path in paths:
            run = res.closed[True, concurrency, path]
            added = path != "direct"
            d = lambda values, base, q: f2(pct(values, q) - pct(base, q)) if added else "-"  # noqa: E731
            rows.append(
                [
                    f"stream ({opts.words} events)",
                    concurrency,
                    path,
                    run.ok,
                    run.errors,
                    f2(pct(run.ttfb, 0.5)),
                    f2(pct(run.latencies, 0.5)),
                    f2(pct(run.latencies, 0.99)),
                    d(run.ttfb, direct.ttfb, 0.5),
                    d(run.latencies, direct.latencies, 0.5),
                    d(run.latencies, direct.latencies, 0.99),
                    f2(pct(run.overheads, 0.5)) if run.overheads else "-",
                    f"{run.rate:,.0f}",
                ]
            )
    print(
        table(
            [
                "",
                "c",
                "path",
                "ok",
                "errors",
                "TTFB p50",
                "total p50",
                "total p99",
                "added TTFB p50",
                "added p50",
                "added p99",
                "header p50",
                "streams/s",
            ],
            rows,
        )
    )
    print("  header p50: the edge's own x-tollgate-overhead-ms (what it says it adds), next to the added latency measured from outside")

    print("\n== Max throughput, closed loop c=16")
    rows = [
        [
            path,
            f"{res.closed[False, 16, path].rate:,.0f}",
            f2(pct(res.closed[False, 16, path].latencies, 0.99)),
            f"{res.closed[True, 16, path].rate:,.0f}",
            f2(pct(res.closed[True, 16, path].latencies, 0.99)),
        ]
        for path in paths
    ]
    print(table(["path", "req/s non-stream", "p99 ms", "streams/s", "p99 ms"], rows))

    print(
        f"\n== Open loop: {opts.rate:g} req/s for {opts.duration:g} s, non-stream, up to {opts.connections} connections; ms from the scheduled send time"
    )
    rows = []
    for path in paths:
        run = res.opened[path]
        rows.append(
            [
                path,
                run.ok + run.errors,
                run.ok,
                run.errors,
                run.dropped,
                run.unfinished,
                f"{run.rate:,.0f}",
                f2(pct(run.latencies, 0.5)),
                f2(pct(run.latencies, 0.99)),
                f2(max(run.latencies, default=None)),
            ]
        )
    print(table(["path", "scheduled", "ok", "errors", "dropped", "unfinished", "achieved/s", "p50", "p99", "max"], rows))
    for (stream, concurrency, path), run in [*res.closed.items(), *(((False, 0, p), r) for p, r in res.opened.items())]:
        if run.error_samples:
            where = "open loop" if not concurrency else f"{'stream' if stream else 'non-stream'} c={concurrency}"
            print(f"  {path} errors ({where}), e.g.: {'; '.join(sorted(set(run.error_samples))[:3])}")

    print(
        f"\n== CPU and memory per process: CPU over Tollgate's open-loop run + {TAIL_S:g} s tail ({res.cpu_window_requests:,} requests answered)"
    )
    rows = [
        [name, f2(res.idle_ms_per_s[name]), f"{res.cpu_ms_per_request[name]:.3f}", f"{res.rss_mb[name]:.0f}"] for name in STACK_PROCESSES
    ]
    others = sum(res.cpu_ms_per_request[n] for n in STACK_PROCESSES if n != "edge")
    rows.append(
        ["accounts+router+metering+nats", f2(sum(res.idle_ms_per_s[n] for n in STACK_PROCESSES if n != "edge")), f"{others:.3f}", "-"]
    )
    rows.append(
        [
            "whole stack",
            f2(sum(res.idle_ms_per_s[n] for n in STACK_PROCESSES)),
            f"{others + res.cpu_ms_per_request['edge']:.3f}",
            f"{sum(res.rss_mb[n] for n in STACK_PROCESSES):.0f}",
        ]
    )
    rows.append(
        [
            "mock upstream (not the stack)",
            f2(res.idle_ms_per_s["mock"]),
            f"{res.cpu_ms_per_request['mock']:.3f}",
            f"{res.rss_mb['mock']:.0f}",
        ]
    )
    rows.append(
        [
            "load generator (not the stack)",
            f2(res.idle_ms_per_s["client"]),
            f"{res.cpu_ms_per_request['client']:.3f}",
            f"{res.rss_mb['client']:.0f}",
        ]
    )
    print(table(["process", "idle ms/s", "CPU ms/request", "RSS MB at end"], rows))
    print("\n== The bench's own tools: direct, closed loop c=16 for 3 s (their CPU per request; the rate one core of each would allow)")
    rows = [
        [
            "stream" if stream else "non-stream",
            f"{rate:,.0f}",
            f"{mock_us:.0f}",
            f"{1e6 / max(mock_us, 1):,.0f}",
            f"{client_us:.0f}",
            f"{1e6 / max(client_us, 1):,.0f}",
        ]
        for stream, (rate, mock_us, client_us) in res.side.items()
    ]
    print(table(["", "achieved/s", "mock µs/req", "mock max/s", "client µs/req", "client max/s"], rows))

    print_targets(res, opts)
    c = res.counts
    print("\n== Every request metered and debited once (Tollgate's account, the whole run)")
    print(
        table(
            [
                "answered 200",
                "sent, not 200",
                "usage rows (requests)",
                "usage errors",
                "ledger debits (requests)",
                "usage cost µ$",
                "debited µ$",
            ],
            [
                [
                    res.answered,
                    res.failed,
                    c["usage_requests"],
                    c["usage_errors"],
                    c["debited_requests"],
                    c["usage_cost_micros"],
                    c["debited_micros"],
                ]
            ],
        )
    )
    exact = c["usage_requests"] == c["debited_requests"] and c["usage_cost_micros"] == c["debited_micros"]
    ok = exact and (
        c["usage_requests"] == res.answered if not res.failed else res.answered <= c["usage_requests"] <= res.answered + res.failed
    )
    if not res.answered:
        print("  TOLLGATE ANSWERED NOTHING: see the errors above and the services' logs")
        return 1
    if res.failed:  # a request that was not answered 200 may have been metered (an upstream error, a timeout after the answer began)
        print(
            f"  {res.failed} requests were sent and not answered 200: usage rows may count them (within [answered, answered + {res.failed}])"
        )
    print("  counts agree" if ok else "  COUNTS DIFFER: answered 200, usage rows and ledger debits must be equal")
    return 0 if ok else 1


def print_targets(res: Results, opts: Options) -> None:
    """This run against issue 14's targets."""
    whole, stream, direct, direct_stream = (
        res.closed[False, 1, "tollgate"],
        res.closed[True, 1, "tollgate"],
        res.closed[False, 1, "direct"],
        res.closed[True, 1, "direct"],
    )
    added = lambda run, base, q, ttfb=False: pct(run.ttfb if ttfb else run.latencies, q) - pct(base.ttfb if ttfb else base.latencies, q)  # noqa: E731
    cpu = res.cpu_ms_per_request
    opened = res.opened["tollgate"]
    rows = [
        [
            "added latency, non-stream c=1, p50 / p99 ms",
            f"{added(whole, direct, 0.5):.2f} / {added(whole, direct, 0.99):.2f}",
            "<= 0.6 / <= 2",
        ],
        [
            "stream c=1: added TTFB p50 / added total p50 ms",
            f"{added(stream, direct_stream, 0.5, True):.2f} / {added(stream, direct_stream, 0.5):.2f}",
            "<= 0.6 / <= 1",
        ],
        [
            "CPU per request: edge / accounts+router+metering+nats ms",
            f"{cpu['edge']:.2f} / {sum(cpu[n] for n in STACK_PROCESSES if n != 'edge'):.2f}",
            "<= 0.5 / <= 0.6",
        ],
        [
            f"open loop {opts.rate:g}/s for {opts.duration:g} s: achieved/s, errors, p99 ms",
            f"{opened.rate:,.0f}, {opened.errors}, {pct(opened.latencies, 0.99):.1f}",
            "1,200/s for 60 s, 0, <= 50",
        ],
        ["edge RSS MB", f"{res.rss_mb['edge']:.0f}", "<= 120"],
    ]
    print("\n== Against issue 14's targets")
    print(table(["figure", "this run", "target"], rows))
