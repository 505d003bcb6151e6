"""``make bench`` (metering): ingestion throughput into ClickHouse and the latency of the
analytics queries over 10 million events (``--query-events``, ``BENCH_QUERY_EVENTS`` for ``make bench``;
issue 14's target is measured over 100 million).

Ingestion: a nats-server and a real metering process (``python -m services.metering``,
chDB embedded, default settings) on free ports in a temporary folder. N synthetic usage
events are published to JetStream first (a backlog: ``Nats-Msg-Id`` = request id, as
edges publish), then metering is started, and the durable consumer's ack floor is polled:
events/s from the first ack to the last (acks follow the ClickHouse insert; the events acked
at the first sample are not counted, they were stored before it), and over the 10–90 % span.
Afterwards the metering API must report exactly N requests and the published events' cost sum
(from the hourly rollup).

Queries: 10 million (or ``--query-events``) synthetic events over 30 days are generated inside chDB
(``INSERT … SELECT … FROM numbers()`` through the store's client, so the materialized views
fill the rollups) and cached in ``.bench/`` (gitignored; regenerated when the generator or a
migration it was built with changes; migrations added since are applied to it). Each
analytics query of ``services/metering/queries.py`` runs as the API runs it (``UsageStore.query``),
2 warm-ups then ``--runs`` timed runs: p50/p95.

Synthetic traffic: 300 accounts (Zipf-like: the busiest sends ~20 %), 1–4 keys each,
1–6 of 36 models each (the busiest: 4 keys, 6 models), each model on 1–3 channels of 6 providers; exponential token counts,
log-normal latencies, 2 % upstream errors.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats

from tollgate import bus, events
from tollgate.settings import Settings
from tools.stack import ROOT, Ports, Service, Stack, nats_server_binary

BENCH_DIR = ROOT / ".bench"
MIGRATIONS = ROOT / "services" / "metering" / "migrations"
GENERATOR_VERSION = 6  # bump when the generating SQL changes: the cached dataset is rebuilt

MODELS = [
    f"{family}-{size}"
    for family in ("gpt", "claude", "gemini", "llama", "mistral", "qwen", "deepseek")
    for size in ("mini", "pro", "max", "lite", "turbo")
][:36]
PROVIDERS = ["openai", "anthropic", "gemini", "simulator", "azure", "bedrock"]
ACCOUNTS = 300


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- synthetic traffic ------------------------------------------------------------------


class Traffic:
    """Usage events of ACCOUNTS accounts with their own keys and models."""

    def __init__(self, seed: int = 1):
        r = self.r = random.Random(seed)
        self.channels = {m: [f"ch-{m}-{i}" for i in range(1 + i % 3)] for i, m in enumerate(MODELS)}
        self.provider = {c: PROVIDERS[(mi + ci) % len(PROVIDERS)] for mi, m in enumerate(MODELS) for ci, c in enumerate(self.channels[m])}
        self.accounts = []
        for a in range(ACCOUNTS):
            keys = [f"key_{a:04d}_{k}" for k in range(1 + (a + 3) % 4)]
            models = r.sample(MODELS, 1 + (a + 5) % 6)
            self.accounts.append((f"acct_{a:04d}", keys, models))
        self.weights = [1 / (a + 1) for a in range(ACCOUNTS)]

    def event(self, i: int, occurred_at_ms: int) -> events.UsageEvent:
        r = self.r
        account, keys, models = r.choices(self.accounts, self.weights)[0]
        model = r.choice(models)
        channel = r.choice(self.channels[model])
        failed = r.random() < 0.02
        prompt = int(r.expovariate(1 / 800)) + 5
        completion = 0 if failed else int(r.expovariate(1 / 300)) + 1
        latency = min(int(r.lognormvariate(7, 0.6)), 600_000)
        return events.UsageEvent(
            request_id=f"req_{i:08x}{r.getrandbits(64):016x}",
            occurred_at_ms=occurred_at_ms,
            account_id=account,
            key_id=r.choice(keys),
            endpoint="chat",
            model_requested=model,
            model_served=model,
            provider=self.provider[channel],
            channel_id=channel,
            stream=r.random() < 0.6,
            status=500 if failed else 200,
            error_code="upstream_error" if failed else "",
            attempts=2 if failed else 1,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=prompt // 4 if r.random() < 0.2 else 0,
            cost_micros=prompt * 3 + completion * 7,
            price_version="v1",
            latency_ms=latency,
            ttft_ms=latency // 5,
            upstream_latency_ms=max(latency - 3, 0),
            gateway_overhead_ms=3,
        )


def traffic(n: int, rate_per_s: int = 20_000, seed: int = 1) -> list[events.UsageEvent]:
    """n events as a gateway taking ``rate_per_s`` requests/s would publish them: ending now,
    each stamped with its request's start, up to 30 s before it was published (long streams)."""
    t = Traffic(seed)
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - n * 1000 // rate_per_s
    return [t.event(i, start_ms + i * 1000 // rate_per_s - int(t.r.expovariate(1 / 2000)) % 30_000) for i in range(n)]


# -- ingestion ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


async def publish_backlog(url: str, batch: list[events.UsageEvent], per_message: int = 1) -> tuple[float, int]:
    """Publish every event and wait until the stream holds them; (seconds taken, messages).
    ``per_message`` 1: one v1 message per event (``Nats-Msg-Id`` = request id); more: as edges
    publish, UsageBatch messages of that many events (``Nats-Msg-Id`` = the batch's id)."""
    messages = []
    for start in range(0, len(batch), per_message):
        chunk = batch[start : start + per_message]
        if per_message == 1:
            messages.append((events.USAGE_SUBJECT, events.encode(chunk[0]), chunk[0].request_id))
        else:
            data = events.ENCODER.encode({"events": [msgspec.Raw(events.encode(e)) for e in chunk]})
            messages.append((events.USAGE_BATCH_SUBJECT, data, events.batch_msg_id([e.request_id for e in chunk])))
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await bus.ensure_streams(js)
        before = (await js.stream_info(events.USAGE_STREAM)).state.messages
        started = time.perf_counter()
        for subject, data, msg_id in messages:  # core publishes into the stream's subject: the count below is the receipt
            await nc.publish(subject, data, headers={"Nats-Msg-Id": msg_id})
        await nc.flush()
        deadline = time.monotonic() + 60
        while (await js.stream_info(events.USAGE_STREAM)).state.messages < before + len(messages):
            if time.monotonic() > deadline:
                raise RuntimeError("the USAGE stream did not receive every published event")
            await asyncio.sleep(0.05)
        return time.perf_counter() - started, len(messages)
    finally:
        await nc.close()


async def watch_drain(url: str, n: int, metering: Service, nats_proc: Service, timeout_s: float = 300, messages: int = 0) -> dict[str, Any]:
    """Poll the metering consumer until it has acked the ``messages`` carrying n events; the
    timings of the drain (events acked: messages acked x events per message)."""
    messages = messages or n
    from services.metering.consumer import DURABLE

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        samples: list[tuple[float, int]] = []
        first = cpu0 = None
        first_acked = 0
        deadline = time.monotonic() + timeout_s
        while True:
            if metering.proc.poll() is not None:
                raise RuntimeError(f"metering exited with code {metering.proc.returncode} during the load")
            try:
                acked = (await js.consumer_info(events.USAGE_STREAM, DURABLE)).ack_floor.stream_seq
            except Exception:  # the consumer does not exist yet
                acked = 0
            now = time.perf_counter()
            acked = acked * n // messages  # events, as the messages carry them (evenly)
            if acked and first is None:
                first, first_acked, cpu0 = now, acked, (cpu_seconds(metering.proc.pid), cpu_seconds(nats_proc.proc.pid))
            samples.append((now, acked))
            if acked >= n:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"metering acked {acked} of {n} events in {timeout_s:.0f}s")
            await asyncio.sleep(0.02)
        cpu1 = (cpu_seconds(metering.proc.pid), cpu_seconds(nats_proc.proc.pid))
        t10 = next(t for t, a in samples if a >= 0.1 * n)
        t90 = next(t for t, a in samples if a >= 0.9 * n)
        spent = [b - a if a is not None and b is not None else None for a, b in zip(cpu0, cpu1, strict=True)]
        return {
            "seconds": now - first,
            "rate": (n - first_acked) / (now - first),
            "rate_10_90": 0.8 * n / (t90 - t10),
            "cpu_metering": spent[0],
            "cpu_nats": spent[1],
        }
    finally:
        await nc.close()


def bench_ingest(n: int, batch_size: int | None, per_message: int = 1) -> dict[str, Any]:
    """Backlog of n events, then a fresh metering process drains it into chDB; checked through the API."""
    load = traffic(n)
    cost = sum(e.cost_micros for e in load)
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-metering-") as tmp:
        extra = {"TOLLGATE_LOG_LEVEL": "warning"}
        if batch_size:
            extra["TOLLGATE_METERING_BATCH_SIZE"] = str(batch_size)
        stack = Stack(data_dir=Path(tmp), ports=Ports.free(), log_to_files=True, extra_env=extra)
        env = stack.env()
        nats_service = Service(
            "nats",
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(stack.ports.nats), "-js", "-sd", f"{tmp}/nats"],
            ("127.0.0.1", stack.ports.nats, None),
        )
        metering = Service("metering", [sys.executable, "-m", "services.metering"], ("127.0.0.1", stack.ports.metering, "/healthz"))
        try:
            stack._spawn(nats_service, env)
            stack._wait_ready(nats_service)
            publish_s, messages = asyncio.run(publish_backlog(stack.settings.nats_url, load, per_message))
            started = time.perf_counter()
            stack._spawn(metering, env)
            drain = asyncio.run(watch_drain(stack.settings.nats_url, n, metering, nats_service, messages=messages))
            drain["startup_s"] = time.perf_counter() - started - drain["seconds"]
            stack._wait_ready(metering)
            lo = datetime.fromtimestamp(min(e.occurred_at_ms for e in load) / 1000, UTC) - timedelta(hours=1)
            reply = httpx.get(
                f"{stack.metering_url}/v1/usage",
                params={"bucket": "none", "start": lo.isoformat(), "end": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
                headers=stack.admin_headers,
                timeout=30,
            )
            reply.raise_for_status()
            [row] = reply.json()["data"]
            drain["stored_ok"] = (int(row["requests"]), int(row["cost_micros"])) == (n, cost)
            drain["stored"] = int(row["requests"])
        finally:
            stack.stop()
    drain.update(events=n, batch=batch_size or Settings().metering_batch_size, publish_s=publish_s, per_message=per_message)
    return drain


def print_ingest(runs: list[dict[str, Any]]) -> None:
    def cpu(v):
        return f"{v:.1f}" if v is not None else "-"

    print(
        f"{'metering ingest (backlog drain)':<44} {'events':>8} {'batch':>6} {'seconds':>8} {'events/s':>9} {'10-90% ev/s':>12} "
        f"{'cpu s metering/nats':>20}  check"
    )
    for r in runs:
        check = "ok" if r["stored_ok"] else f"FAILED: {r['stored']} stored"
        how = "v1: one event per message" if r["per_message"] == 1 else f"v2: UsageBatch of {r['per_message']} events"
        print(
            f"{how:<44} {r['events']:>8} {r['batch']:>6} {r['seconds']:>8.2f} {r['rate']:>9.0f} "
            f"{r['rate_10_90']:>12.0f} "
            f"{cpu(r['cpu_metering']) + ' / ' + cpu(r['cpu_nats']):>20}  {check}"
        )
        print(f"  (backlog published in {r['publish_s']:.1f}s; metering start-up to first ack {r['startup_s']:.1f}s, not counted)")


# -- queries over 10M+ events ------------------------------------------------------------------


def _migration_digests() -> dict[str, str]:
    """Each migration file's content digest, by file name."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:16] for path in sorted(MIGRATIONS.glob("*.sql"))}


def _reusable(meta: dict[str, Any], want: dict[str, Any]) -> bool:
    """Whether a cached dataset fits: same size and generator, and every migration it was built
    with unchanged. Migrations added since are applied to it, as to a deployment (``migrate``)."""
    if {k: meta.get(k) for k in want} != want:
        return False
    built = meta.get("migrations")
    current = _migration_digests()
    return isinstance(built, dict) and all(current.get(name) == digest for name, digest in built.items())


def _array(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def generate_sql(rows: int, anchor_ms: int) -> str:
    """Events over the 30 days before ``anchor_ms``, with the same shape as ``Traffic``."""
    from services.metering.store import COLUMNS

    return f"""
INSERT INTO usage_events ({", ".join(COLUMNS)})
WITH
    toUInt32(floor(pow(randCanonical(1), 3) * {ACCOUNTS})) AS acct,
    leftPad(toString(acct), 4, '0') AS acct_s,
    (acct * 7 + rand(2) % (1 + (acct + 5) % 6)) % {len(MODELS)} AS mi,
    {_array(MODELS)}[mi + 1] AS model,
    rand(3) % (1 + mi % 3) AS ci,
    rand(4) % 50 = 0 AS failed,
    toUInt64(randExponential(1 / 800, 5)) + 5 AS prompt,
    if(failed, 0, toUInt64(randExponential(1 / 300, 6)) + 1) AS completion,
    toUInt32(least(randLogNormal(7, 0.6, 7), 600000)) AS latency
SELECT
    concat('req_', lower(hex(number)), lower(hex(rand64(8)))),
    fromUnixTimestamp64Milli(toInt64({anchor_ms} - 1 - rand64(9) % (30 * 86400000)), 'UTC'),
    concat('acct_', acct_s), concat('key_', acct_s, '_', toString(rand(10) % (1 + (acct + 3) % 4))),
    'chat', model, model, {_array(PROVIDERS)}[(mi + ci) % {len(PROVIDERS)} + 1], concat('ch-', model, '-', toString(ci)),
    rand(11) % 10 < 6, if(failed, 500, 200), if(failed, 'upstream_error', ''), 1 + failed,
    prompt, completion, if(rand(12) % 5 = 0, intDiv(prompt, 4), 0), 0, toInt64(prompt * 3 + completion * 7), 'v1',
    latency, intDiv(latency, 5), greatest(latency, 3) - 3, 3, '', false, 0,
    CAST([], 'Array(Tuple(unit String, variant String, quantity UInt64))')
FROM numbers({rows})
"""


GENERATE_BLOCK = 1_048_576  # rows per block (and part) the generator inserts
# The rollups the analytics queries read (the raw table and the request index are left as inserted).
SETTLED = ("usage_hourly", "usage_hourly_all", "usage_daily", "usage_daily_all", "model_daily", "units_hourly")


def open_dataset(rows: int, log=print):
    """The cached chDB dataset of ``rows`` events (generated when missing or stale): (store, meta)."""
    from services.metering.store import FEED_COLUMNS, UsageStore

    folder = BENCH_DIR / f"metering-{rows}"
    meta_file = folder / "dataset.json"
    want = {"rows": rows, "generator": GENERATOR_VERSION}
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    if not _reusable(meta, want):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        store = UsageStore(f"chdb://{folder / 'clickhouse'}")
        store.migrate()
        anchor_ms = int(time.time()) // 3600 * 3600 * 1000
        log(f"generating {rows:,} synthetic events in {folder} (once; later runs reuse them)…", flush=True)
        started = time.perf_counter()
        with store._lock:  # one statement, as the API's queries are run
            blocks = {
                "max_insert_threads": 2,
                "max_block_size": GENERATE_BLOCK,
                "max_insert_block_size": GENERATE_BLOCK,
                "min_insert_block_size_rows": GENERATE_BLOCK,
                "min_insert_block_size_bytes": 0,
            }
            store._client.command(generate_sql(rows, anchor_ms), settings=blocks)
            # The rollups are fed from usage_feed (migration 0005), as metering feeds them, a day at a
            # time as metering does in time order: a block spread over the whole month would aggregate
            # into as many groups as it has events, each with its own sketch states (~1 KB each).
            columns = ", ".join(FEED_COLUMNS)
            for day in range(31, -1, -1):
                store._client.command(
                    f"INSERT INTO usage_feed ({columns}) SELECT {columns} FROM usage_events WHERE occurred_at >= "
                    f"fromUnixTimestamp64Milli({anchor_ms - (day + 1) * 86_400_000}, 'UTC') AND occurred_at < "
                    f"fromUnixTimestamp64Milli({anchor_ms - day * 86_400_000}, 'UTC')",
                    settings=blocks,
                )
            # The generator writes each rollup in blocks of a million events; a deployment's rollups
            # take 50,000 at a time and ClickHouse merges their parts in the background, so a month's
            # partition holds few parts. Merged here as those merges leave them (printed with the results).
            for table in SETTLED:
                store._client.command(f"OPTIMIZE TABLE {table} FINAL")
        meta = {
            **want,
            "migrations": _migration_digests(),
            "anchor_ms": anchor_ms,
            "generated_s": round(time.perf_counter() - started, 1),
            "generated_at": datetime.now(UTC).isoformat(),
        }
        meta_file.write_text(json.dumps(meta, indent=2) + "\n")
        log(f"generated in {meta['generated_s']:.0f}s", flush=True)
        return store, meta
    store = UsageStore(f"chdb://{folder / 'clickhouse'}")
    store.migrate()
    return store, meta


def bench_queries(rows: int, runs: int) -> tuple[list[tuple], dict]:
    from services.metering import queries
    from tollgate.events import UsageEvent

    store, meta = open_dataset(rows)
    store.load_sketch_cut()  # as metering does at start-up
    try:
        anchor = datetime.fromtimestamp(meta["anchor_ms"] / 1000, UTC)
        month, week = anchor - timedelta(days=30), anchor - timedelta(days=7)
        [(busiest, share)] = store._client.query(
            "SELECT account_id, count() / (SELECT count() FROM usage_events) FROM usage_events GROUP BY account_id ORDER BY count() DESC "
            "LIMIT 1"
        ).result_rows
        sample = "SELECT request_id FROM usage_events {} ORDER BY cityHash64(request_id) LIMIT {}"
        ids = [r[0] for r in store._client.query(sample.format(f"WHERE account_id = '{busiest}'", runs + 2)).result_rows]
        any_ids = [r[0] for r in store._client.query(sample.format("", runs + 2)).result_rows]
        usage_one, _ = queries.usage_sql(busiest, ["model"], "day", store.digests)
        usage_all, _ = queries.usage_sql(None, ["model"], "day", store.digests)
        usage_hour, _ = queries.usage_sql(busiest, ["model", "key"], "hour", store.digests)
        cases = [
            ("usage by model/day, 1 account, 30 days", usage_one, lambda i: {"account": busiest, **queries.range_params(month, anchor)}),
            ("usage by model/day, all accounts, 30 d", usage_all, lambda i: {"account": "", **queries.range_params(month, anchor)}),
            ("usage by model+key/hour, 1 account, 7 d", usage_hour, lambda i: {"account": busiest, **queries.range_params(week, anchor)}),
            ("model rankings by tokens, 30 days", queries.model_rankings_sql("tokens"), lambda i: {"start": month}),
            ("channel rankings, 30 days", queries.channel_rankings_sql(store.digests), lambda i: queries.range_params(month, anchor)),
            (
                "request log, 1 account, newest 50",
                queries.requests_sql(busiest, key_id=False, model=False, status=False, before=False),
                lambda i: {"account": busiest, "key_id": "", "model": "", "status": 0, "limit": 50},
            ),
            ("request by id, its account's key", queries.request_sql(busiest), lambda i: {"account": busiest, "request_id": ids[i]}),
            ("request by id, admin (any account)", queries.request_sql(None), lambda i: {"account": "", "request_id": any_ids[i]}),
        ]
        results = []
        for label, sql, params in cases:
            times, count = [], 0
            for i in range(runs + 2):
                started = time.perf_counter()
                count = len(store.query(sql, params(i)))
                if i >= 2:  # two warm-up runs
                    times.append((time.perf_counter() - started) * 1000)
            results.append((label, runs, pct(times, 0.5), pct(times, 0.95), count))

        # Exactly-once at scale: a redelivered batch (the newest 10,000 events, all stored)
        # costs one lookup and inserts nothing.
        redelivered = [
            UsageEvent(request_id=r, occurred_at_ms=int(t.timestamp() * 1000), account_id=a, key_id=k)
            for r, t, a, k in store._client.query(
                "SELECT request_id, occurred_at, account_id, key_id FROM usage_events ORDER BY occurred_at DESC LIMIT 10000"
            ).result_rows
        ]
        times = []
        for i in range(max(5, runs // 4) + 1):
            started = time.perf_counter()
            assert store.insert(redelivered) == 0, "a redelivered event was stored twice"
            if i:
                times.append((time.perf_counter() - started) * 1000)
        results.append(("exactly-once lookup, 10,000 redelivered*", len(times), pct(times, 0.5), pct(times, 0.95), 0))
        parts = store._client.query(
            "SELECT table, count(), sum(rows) FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table"
        ).result_rows
        meta = {**meta, "busiest": busiest, "busiest_share": share, "parts": {t: (int(c), int(r)) for t, c, r in parts}}
    finally:
        store.close()
    return results, meta


def print_queries(results: list[tuple], meta: dict[str, Any], target_ms: float = 150) -> None:
    parts = meta["parts"]
    print(
        f"\n{'metering queries (chDB, ' + format(meta['rows'], ',') + ' events / 30 days)':<42} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'rows':>6}  "
        f"target p95 < {target_ms:.0f} ms"
    )
    for label, runs, p50, p95, rows in results:
        verdict = "(no target)" if label.endswith("*") else "ok" if p95 < target_ms else "OVER"
        print(f"{label:<42} {runs:>5} {p50:>8.1f} {p95:>8.1f} {rows:>6}  {verdict}")
    print(
        f"  (one account = the busiest, {meta['busiest']}: {meta['busiest_share']:.0%} of events; rows: raw "
        f"{parts.get('usage_events', (0, 0))[1]:,} in "
        f"{parts.get('usage_events', (0, 0))[0]} parts, hourly rollup {parts.get('usage_hourly', (0, 0))[1]:,}, daily "
        f"{parts.get('model_daily', (0, 0))[1]:,})"
    )
    print(
        "  * one store.insert of events already stored (metering after a crash); a new event of the last minutes skips the lookup\n"
        "    (services/metering/recent.py). The generated parts each span all 30 days, so every part overlaps the batch's time\n"
        "    span: the worst case for this lookup."
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500_000, help="events published for the ingestion run (0: skip it)")
    parser.add_argument("--batch", type=int, default=0, help="TOLLGATE_METERING_BATCH_SIZE for the ingestion run (0: the default)")
    parser.add_argument("--query-events", type=int, default=10_000_000, help="events in the query dataset (0: skip the queries)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query")
    args = parser.parse_args(argv)
    run(args.events, args.batch, args.query_events, args.runs)


# Events per UsageBatch message in the batched runs: 64 (an edge's 10 ms linger at ~6,400 requests/s) and 128 (the most an
# edge puts in one message: what it sends under a load that needs the throughput)
PER_MESSAGE = (64, 128)


def run(events_n: int = 500_000, batch: int = 0, query_events: int = 10_000_000, runs: int = 20) -> None:
    if events_n:
        print_ingest([bench_ingest(events_n, batch or None, per_message) for per_message in (1, *PER_MESSAGE)])
    if query_events:
        print_queries(*bench_queries(query_events, runs))


if __name__ == "__main__":
    main()
