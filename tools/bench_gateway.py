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
  requests per path (x4 at c=16) after a warm-up: p50/p99, added = path - direct, TTFB for
  streams, req/s at c=16 (max RPS, streams/s), and the edge's ``x-tollgate-overhead-ms``.
- Open loop: ``--rate`` requests/s for ``--duration`` s per path, latency from the scheduled
  send time; a request due while all ``--connections`` connections are busy is dropped.
- CPU ms per request of every process of the stack over Tollgate's open-loop run (psutil
  user+system, children included, the run plus a 2 s tail for the asynchronous work), next to
  each process's idle CPU (ms/s, measured before the load) and RSS at the end; the mock
  upstream's and the load generator's CPU per request in a 3 s direct run at c=16.
- Afterwards: Tollgate's answered 200s vs. usage rows in ClickHouse (metering's
  /v1/usage/models) vs. ledger debits (accounts' DailyDebits): equal, or the run fails.

``BENCH_STACK_ENV`` sets the stack's own settings (``TOLLGATE_NAME=value`` items, space separated).

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
import nats
import psutil

from tollgate import credentials, events
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
    edge_workers: int = 1  # TOLLGATE_EDGE_WORKERS: edge processes on the edge's port (their CPU and RSS summed as "edge")
    soak: int = 0  # after the rest: this many more requests (c=16, non-stream) with the edge's RSS sampled ten times
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
    usage_messages: int = -1  # JetStream messages the USAGE stream took over Tollgate's open-loop run (-1: not measured)
    side: dict[bool, tuple[float, float, float]] = field(default_factory=dict)  # stream: direct c=16 rate, mock and client CPU µs/request
    rss_mb: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    soak: list[tuple[int, float, float, float]] = field(default_factory=list)  # (requests so far, edge RSS MB, metering RSS MB, req/s)


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


async def usage_stream_messages(nats_url: str) -> int:
    """Messages the USAGE stream has stored so far (its last sequence number): how many
    JetStream messages carried the usage events (one per event, or one per UsageBatch)."""
    nc = await nats.connect(nats_url)
    try:
        return (await nc.jetstream().stream_info(events.USAGE_STREAM)).state.last_seq
    finally:
        await nc.close()


async def measure(targets: list[Target], opts: Options, procs: Processes, res: Results, nats_url: str = "") -> None:
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
        stored = await usage_stream_messages(nats_url) if nats_url and t.name == "tollgate" else 0
        before = procs.cpu()
        run = await open_loop(pools[t.name], requests[t.name, False], opts.rate, opts.duration, opts.connections)
        tally(t, run)
        res.opened[t.name] = run
        if t.name == "tollgate":
            await asyncio.sleep(TAIL_S)
            used = delta(procs.cpu(), before)
            if nats_url:
                res.usage_messages = await usage_stream_messages(nats_url) - stored
            res.cpu_window_requests = run.ok
            res.cpu_ms_per_request = {k: v * 1000 / max(run.ok, 1) for k, v in used.items()}
    if opts.soak:
        await soak(pools["tollgate"], requests["tollgate", False], opts.soak, procs, res, tally=lambda run: tally(targets[1], run))
    for pool in pools.values():
        pool.close()


async def soak(pool: Pool, raw: bytes, total: int, procs: Processes, res: Results, tally) -> None:
    """``total`` non-stream requests at c=16 in ten parts; the edge's and metering's RSS after each."""
    done, part = 0, max(1, total // 10)
    print(f"  soak: {total:,} requests, RSS sampled every {part:,}", file=sys.stderr, flush=True)
    while done < total:
        run = await closed_loop(pool, raw, min(part, total - done), 16, False)
        tally(run)
        done += run.ok + run.errors
        rss = procs.rss_mb()
        res.soak.append((done, rss["edge"], rss["metering"], run.rate))


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
        env = {"TOLLGATE_LOG_LEVEL": "warning", "TOLLGATE_EDGE_WORKERS": str(opts.edge_workers)}
        env.update(stack_env(os.environ.get("BENCH_STACK_ENV", "")))
        stack = Stack(data_dir=Path(tmp), ports=ports, catalog=catalog, log_to_files=True, extra_env=env)
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
                f"gateway bench: {opts.rounds} rounds x {opts.requests} requests (x4 at c=16) per path, then {opts.rate:g}/s open loop for "
                f"{opts.duration:g} s",
                file=sys.stderr,
            )
            _event_loop_run(measure(targets, opts, procs, res, stack.settings.nats_url))
            res.counts = count(stack, account_id, res.answered)
            res.rss_mb = procs.rss_mb()
        finally:
            stack.stop()
            mock.terminate()
            mock.wait(10)
    return report(res, [t.name for t in targets], opts)


def stack_env(spec: str) -> dict[str, str]:
    """``BENCH_STACK_ENV``: settings for the stack under test, ``NAME=value`` separated by spaces
    (``TOLLGATE_METERING_BATCH_WAIT_S=1 TOLLGATE_USAGE_SHARDS=4``): the bench starts it clean
    otherwise, whatever ``TOLLGATE_*`` the shell has."""
    pairs = [item.partition("=") for item in spec.split()]
    bad = [name for name, eq, _ in pairs if not eq or not name.startswith("TOLLGATE_")]
    if bad:
        raise SystemExit(f"BENCH_STACK_ENV: expected TOLLGATE_NAME=value items, not {' '.join(bad)}")
    return {name: value for name, _, value in pairs}


def _event_loop_run(coro) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


# -- the report ----------------------------------------------------------------------------


def table(header: list[str], rows: list[list]) -> str:
    """Plain aligned columns: the first left-aligned, the others right-aligned."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


def f2(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.2f}"


def p(values: list[float], q: float) -> str:
    return f2(pct(values, q))


def added(values: list[float], base: list[float], q: float) -> str:
    return f2(pct(values, q) - pct(base, q))


def latencies(run: Run) -> list[str]:
    return [p(run.latencies, 0.5), p(run.latencies, 0.99), f2(max(run.latencies, default=None))]


def header_p50(run: Run) -> str:
    return p(run.overheads, 0.5) if run.overheads else "-"


def latency_rows(res: Results, paths: list[str], stream: bool) -> list[list]:
    rows = []
    for concurrency in (1, 16):
        direct = res.closed[stream, concurrency, "direct"]
        for path in paths:
            run, other = res.closed[stream, concurrency, path], path != "direct"
            first = [concurrency, path, run.ok, run.errors]
            if stream:
                first += [p(run.ttfb, 0.5), p(run.latencies, 0.5), p(run.latencies, 0.99)]
                first += [added(run.ttfb, direct.ttfb, 0.5), added(run.latencies, direct.latencies, 0.5)] if other else ["-", "-"]
            else:
                first += [p(run.latencies, 0.5), p(run.latencies, 0.99), added(run.latencies, direct.latencies, 0.5) if other else "-"]
            rows.append([*first, added(run.latencies, direct.latencies, 0.99) if other else "-", header_p50(run), f"{run.rate:,.0f}"])
    return rows


def report(res: Results, paths: list[str], opts: Options) -> int:
    if opts.edge_workers > 1:
        print(f"\n(the edge: {opts.edge_workers} processes on one port, TOLLGATE_EDGE_WORKERS; their CPU and RSS are summed as 'edge')")
    if opts.rounds:
        closed_report(res, paths, opts)
    else:
        print("\n(--rounds 0: no closed-loop rounds; the open loop and CPU per request only)")
    print_open_and_cpu(res, opts)
    print_targets(res, opts)
    return print_counts(res)


def closed_report(res: Results, paths: list[str], opts: Options) -> None:
    print(f"\n== Added latency, closed loop, {opts.rounds} alternating rounds (ms; added = path - direct; same client, same mock upstream)")
    print(
        table(["c", "path", "ok", "errors", "p50", "p99", "added p50", "added p99", "header p50", "req/s"], latency_rows(res, paths, False))
    )
    print(f"\n   streamed ({opts.words} events):")
    columns = [
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
    ]
    print(table(columns, latency_rows(res, paths, True)))
    print("  header p50: the edge's own x-tollgate-overhead-ms (what it says it adds), beside the added latency measured from outside")

    print("\n== Max throughput, closed loop c=16")
    rows = [
        [
            path,
            *(
                x
                for stream in (False, True)
                for x in (f"{res.closed[stream, 16, path].rate:,.0f}", p(res.closed[stream, 16, path].latencies, 0.99))
            ),
        ]
        for path in paths
    ]
    print(table(["path", "req/s non-stream", "p99 ms", "streams/s", "p99 ms"], rows))


def print_open_and_cpu(res: Results, opts: Options) -> None:
    print(f"\n== Open loop: {opts.rate:g} req/s for {opts.duration:g} s, non-stream, at most {opts.connections} connections")
    print("   (ms from the scheduled send time; dropped: due while every connection was busy)")
    rows = [
        [path, run.ok + run.errors, run.ok, run.errors, run.dropped, run.unfinished, f"{run.rate:,.0f}", *latencies(run)]
        for path, run in res.opened.items()
    ]
    print(table(["path", "scheduled", "ok", "errors", "dropped", "unfinished", "achieved/s", "p50", "p99", "max"], rows))
    for (stream, concurrency, path), run in [*res.closed.items(), *(((False, 0, p), r) for p, r in res.opened.items())]:
        if run.error_samples:
            where = "open loop" if not concurrency else f"{'stream' if stream else 'non-stream'} c={concurrency}"
            print(f"  {path} errors ({where}), e.g.: {'; '.join(sorted(set(run.error_samples))[:3])}")

    print(
        f"\n== CPU and memory per process, CPU over Tollgate's open-loop run + {TAIL_S:g} s ({res.cpu_window_requests:,} requests answered)"
    )
    idle, cpu, rss = res.idle_ms_per_s, res.cpu_ms_per_request, res.rss_mb
    rows = [[name, f2(idle[name]), f"{cpu[name]:.3f}", f"{rss[name]:.0f}"] for name in STACK_PROCESSES]
    rest = [n for n in STACK_PROCESSES if n != "edge"]
    rows.append(["accounts+router+metering+nats", f2(sum(idle[n] for n in rest)), f"{sum(cpu[n] for n in rest):.3f}", "-"])
    rows.append(["whole stack", *(f"{sum(d[n] for n in STACK_PROCESSES):.{q}f}" for d, q in ((idle, 2), (cpu, 3), (rss, 0)))])
    rows += [
        [label, f2(idle[n]), f"{cpu[n]:.3f}", f"{rss[n]:.0f}"]
        for n, label in (("mock", "mock upstream (not the stack)"), ("client", "load generator (not the stack)"))
    ]
    print(table(["process", "idle ms/s", "CPU ms/request", "RSS MB at end"], rows))
    if res.usage_messages >= 0:
        per = res.cpu_window_requests / max(res.usage_messages, 1)
        print(f"  usage events reached JetStream in {res.usage_messages:,} messages over the open loop ({per:.1f} events per message)")
    print("\n== The bench's own tools: direct, closed loop c=16 for 3 s (CPU per request; the rate one core of each would allow)")
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
    if res.soak:
        print(f"\n== Soak: {res.soak[-1][0]:,} more requests, non-stream, c=16 (RSS after each tenth)")
        print(
            table(
                ["requests", "edge RSS MB", "metering RSS MB", "req/s"],
                [[f"{n:,}", f"{e:.0f}", f"{m:.0f}", f"{r:,.0f}"] for n, e, m, r in res.soak],
            )
        )


def print_targets(res: Results, opts: Options) -> None:
    """This run against issue 14's targets."""
    empty = Run()  # --rounds 0: no closed-loop figures ("-")
    whole, direct = res.closed.get((False, 1, "tollgate"), empty), res.closed.get((False, 1, "direct"), empty)
    stream, direct_stream = res.closed.get((True, 1, "tollgate"), empty), res.closed.get((True, 1, "direct"), empty)
    cpu, opened = res.cpu_ms_per_request, res.opened["tollgate"]

    def both(a, b):
        return f"{a} / {b}"

    rows = [
        [
            "added latency, non-stream c=1: p50 / p99 ms",
            both(added(whole.latencies, direct.latencies, 0.5), added(whole.latencies, direct.latencies, 0.99)),
        ],
        [
            "stream c=1: added TTFB p50 / added total p50 ms",
            both(added(stream.ttfb, direct_stream.ttfb, 0.5), added(stream.latencies, direct_stream.latencies, 0.5)),
        ],
        [
            "CPU per request: edge / accounts+router+metering+nats ms",
            both(f"{cpu['edge']:.2f}", f"{sum(cpu[n] for n in STACK_PROCESSES[1:]):.2f}"),
        ],
        [
            f"open loop {opts.rate:g}/s for {opts.duration:g} s: achieved/s, errors, p99 ms",
            f"{opened.rate:,.0f}, {opened.errors}, {p(opened.latencies, 0.99)}",
        ],
        ["edge RSS MB", f"{res.rss_mb['edge']:.0f}"],
    ]
    targets = ["<= 0.6 / <= 2", "<= 0.6 / <= 1", "<= 0.5 / <= 0.6", "1,200/s for 60 s, 0, <= 50", "<= 120"]
    rows = [[*row, target] for row, target in zip(rows, targets, strict=True)]
    print("\n== Against issue 14's targets")
    print(table(["figure", "this run", "target"], rows))


def print_counts(res: Results) -> int:
    """Answered vs. metered vs. debited: 0 when they agree, else 1."""
    c = res.counts
    print("\n== Every request metered and debited once (Tollgate's account, the whole run)")
    columns = [
        "answered 200",
        "sent, not 200",
        "usage rows (requests)",
        "usage errors",
        "ledger debits (requests)",
        "usage cost µ$",
        "debited µ$",
    ]
    values = [
        res.answered,
        res.failed,
        *(c[k] for k in ("usage_requests", "usage_errors", "debited_requests", "usage_cost_micros", "debited_micros")),
    ]
    print(table(columns, [values]))
    if not res.answered:
        print("  TOLLGATE ANSWERED NOTHING: see the errors above and the services' logs")
        return 1
    metered = c["usage_requests"]
    # a request sent and not answered 200 may be metered too (an upstream error; a connection lost after the answer began)
    ok = (
        metered == c["debited_requests"]
        and c["usage_cost_micros"] == c["debited_micros"]
        and res.answered <= metered <= res.answered + res.failed
    )
    if res.failed:
        print(
            f"  {res.failed} requests were sent and not answered 200: usage rows may count them (answered <= rows <= answered + "
            f"{res.failed})"
        )
    print("  counts agree" if ok else "  COUNTS DIFFER: answered 200, usage rows and ledger debits must be equal")
    return 0 if ok else 1
