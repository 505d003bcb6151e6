"""Three metering processes share the usage stream by shard; one is killed -9 mid-load with
stored events whose acks were lost, then restarted: every request id is stored exactly once,
by the one process that owns its shard, and every rollup counts it once.

Its own nats-server and three metering processes (``TOLLGATE_METERING_REPLICA`` k of 3,
``TOLLGATE_USAGE_SHARDS`` = 12, so four shards each; replica 0 also reads the unsharded
subject). chDB opens a path from one process only, so each replica writes its own chDB path
here (in production they share a ClickHouse server: ``services/metering/shards.py``); the
union of the three stores must be the published events exactly, and no id may sit in two.

The events are published as edges publish them: ``tollgate.usage.v1.<CRC-32(id) % 12>``,
``Nats-Msg-Id`` = request id; 1,000 more on the unsharded ``tollgate.usage.v1`` (an edge from
before sharding). Once replica 1 has stored a part of its share, at a moment it holds delivered
events, its acks stop reaching NATS (a relay drops what it sends, as in ``test_metering_crash``);
when it has stored events whose acks were lost (stored > what JetStream counts as acked) it is
killed with SIGKILL and started again while the rest is still being published. Then 1,000
events are published a second time, on their own subjects, under other message ids (an edge
re-publishing after JetStream's duplicate window).

The shards' durable consumers are created here first with a 3 s ack wait instead of 60 s, so
that what the killed process held is redelivered within the test's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig

from services.metering.shards import Assignment
from tests.e2e.test_metering_crash import RAW_CHECK, Relay
from tollgate import bus, events
from tools.bench_metering import traffic
from tools.stack import ROOT, Ports, Service, Stack, free_ports, nats_server_binary

N = 20_000
UNSHARDED = 1_000  # of N, published on the unsharded subject
REPUBLISHED = 1_000
SHARDS = 12
REPLICAS = 3
VICTIM = 1
ACK_WAIT_S = 3.0


def assignment(k: int) -> Assignment:
    return Assignment(k, REPLICAS, SHARDS)


class Fleet:
    def __init__(self, stack: Stack, tmp_path):
        self.stack = stack
        self.ports = free_ports(REPLICAS)
        self.dsn = [f"chdb://{tmp_path / f'clickhouse-{k}'}" for k in range(REPLICAS)]
        self.runs = [0] * REPLICAS

    def spawn(self, k: int, nats_port: int | None = None) -> Service:
        """Started from the main thread: services get SIGTERM when the thread that started them ends."""
        self.runs[k] += 1
        port = self.ports[k]
        service = Service(f"metering-{k}-run{self.runs[k]}", [sys.executable, "-m", "services.metering"], ("127.0.0.1", port, "/healthz"))
        service.env.update(
            TOLLGATE_METERING_REPLICA=str(k),
            TOLLGATE_METERING_REPLICAS=str(REPLICAS),
            TOLLGATE_USAGE_SHARDS=str(SHARDS),
            TOLLGATE_CLICKHOUSE_DSN=self.dsn[k],
            TOLLGATE_METERING_PORT=str(port),
            TOLLGATE_METERING_METRICS_PORT="0",
        )
        if nats_port:
            service.env["TOLLGATE_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
        self.stack._spawn(service, self.stack.env())
        return service


def subject_of(e: events.UsageEvent, i: int) -> str:
    return events.USAGE_SUBJECT if i % (N // UNSHARDED) == 0 else events.usage_subject(e.request_id, SHARDS)


async def create_consumers(js) -> None:
    await bus.ensure_streams(js)
    for k in range(REPLICAS):
        for durable, subject in assignment(k).consumers():
            await js.add_consumer(
                events.USAGE_STREAM,
                ConsumerConfig(
                    durable_name=durable,
                    name=durable,
                    filter_subject=subject,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ACK_WAIT_S,
                    max_ack_pending=50_000,
                ),
            )


async def consumer_state(js, k: int) -> tuple[int, int]:
    """(pending, ack pending) over replica k's consumers."""
    infos = [await js.consumer_info(events.USAGE_STREAM, durable) for durable, _ in assignment(k).consumers()]
    return sum(i.num_pending for i in infos), sum(i.num_ack_pending for i in infos)


def owner_of(subject: str) -> int:
    return 0 if subject == events.USAGE_SUBJECT else int(subject.rsplit(".", 1)[1]) % REPLICAS


async def acked_by_nats(js, k: int) -> int:
    """How many of replica k's messages JetStream holds as acknowledged: in its subjects, neither
    pending nor awaiting an ack (a redelivered message counts once)."""
    counts = (await js.stream_info(events.USAGE_STREAM, subjects_filter=events.USAGE_SUBJECTS)).state.subjects or {}
    pending, unacked = await consumer_state(js, k)
    return sum(n for subject, n in counts.items() if owner_of(subject) == k) - pending - unacked


async def publish(js, load: list[tuple[str, events.UsageEvent]], msg_id_suffix: str = "", pace_every: int = 1_000) -> list:
    futures = []
    for i, (subject, e) in enumerate(load, 1):
        futures.append(await js.publish_async(subject, events.encode(e), headers={"Nats-Msg-Id": e.request_id + msg_id_suffix}))
        if i % pace_every == 0:
            await asyncio.sleep(0.25)  # a steady load over 5 s or more, not one burst: the kill comes mid-load
    return await asyncio.gather(*futures)


async def stored(http: httpx.AsyncClient, stack: Stack, port: int, since: datetime) -> int:
    end = datetime.now(UTC) + timedelta(hours=1)
    reply = await http.get(
        f"http://127.0.0.1:{port}/v1/usage",
        params={"bucket": "none", "start": since.isoformat(), "end": end.isoformat()},
        headers=stack.admin_headers,
    )
    assert reply.status_code == 200, reply.text
    rows = reply.json()["data"]
    return int(rows[0]["requests"]) if rows else 0


async def scenario(stack: Stack, fleet: Fleet, load: list[tuple[str, events.UsageEvent]], since: datetime) -> dict:
    relay = Relay(stack.ports.nats)
    await relay.start()
    nc = await nats.connect(stack.settings.nats_url)
    http = httpx.AsyncClient(timeout=30)
    try:
        js = nc.jetstream(publish_async_max_pending=2_000)
        await create_consumers(js)
        services = [fleet.spawn(k, nats_port=relay.port if k == VICTIM else None) for k in range(REPLICAS)]
        for service in services:
            await asyncio.to_thread(stack._wait_ready, service)

        publishing = asyncio.create_task(publish(js, load))
        victim_share = sum(1 for subject, _ in load if owner_of(subject) == VICTIM)
        seen: dict = {"victim_share": victim_share}
        while not relay.dropping:
            held = await stored(http, stack, fleet.ports[VICTIM], since)
            assert not publishing.done(), f"the load was published before replica {VICTIM} stored a quarter of its share ({held})"
            if held >= victim_share // 4 and (await consumer_state(js, VICTIM))[1] > 0:  # while it holds delivered events
                relay.dropping = True  # the victim's acks (and pull requests) stop reaching NATS
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)  # acks already on their way when the relay stopped have landed by now
        deadline = time.monotonic() + 30
        while True:  # until the victim holds stored events whose acks were lost (nothing it sends reaches NATS now)
            held = await stored(http, stack, fleet.ports[VICTIM], since)
            acked = await acked_by_nats(js, VICTIM)
            if held > acked:
                await asyncio.sleep(0.2)  # and still so a moment later (the counts are read in separate calls)
                if held > await acked_by_nats(js, VICTIM):
                    break
            assert time.monotonic() < deadline, f"replica {VICTIM}: no stored event with its ack lost ({held} stored, {acked} acked)"
            await asyncio.sleep(0.02)
        services[VICTIM].proc.kill()  # SIGKILL
        services[VICTIM].proc.wait()
        seen.update(acked=await acked_by_nats(js, VICTIM), stored=held, published_done=publishing.done())
        await relay.close()

        await asyncio.to_thread(stack._wait_ready, fleet.spawn(VICTIM))
        acks = await publishing
        assert len({a.seq for a in acks}) == N and not any(a.duplicate for a in acks)
        again = await publish(js, load[:: N // REPUBLISHED], msg_id_suffix="-again")
        assert len(again) == REPUBLISHED and not any(a.duplicate for a in again)

        deadline = time.monotonic() + 90
        while True:
            states = [await consumer_state(js, k) for k in range(REPLICAS)]
            if all(pending == 0 and unacked == 0 for pending, unacked in states):
                break
            assert time.monotonic() < deadline, f"metering did not drain: {states}"
            await asyncio.sleep(0.1)
        seen["api"] = [await stored(http, stack, port, since) for port in fleet.ports]
        return seen
    finally:
        await http.aclose()
        await nc.close()
        with contextlib.suppress(Exception):
            await relay.close()


def test_three_consumers_by_shard_kill_9_one_every_event_once(tmp_path) -> None:
    events_ = traffic(N, rate_per_s=5_000, seed=8)
    load = [(subject_of(e, i), e) for i, e in enumerate(events_)]
    since = datetime.fromtimestamp(min(e.occurred_at_ms for e in events_) / 1000, UTC) - timedelta(hours=1)
    stack = Stack(
        data_dir=tmp_path,
        ports=Ports.free(),
        log_to_files=True,
        extra_env={"TOLLGATE_METERING_BATCH_SIZE": "1000", "TOLLGATE_METERING_BATCH_WAIT_S": "0.2", "TOLLGATE_LOG_LEVEL": "info"},
    )
    fleet = Fleet(stack, tmp_path)
    started = time.monotonic()
    try:
        nats_service = Service(
            "nats",
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(stack.ports.nats), "-js", "-sd", str(tmp_path / "nats")],
            ("127.0.0.1", stack.ports.nats, None),
        )
        stack._spawn(nats_service, stack.env())
        stack._wait_ready(nats_service)
        seen = asyncio.run(scenario(stack, fleet, load, since))
    finally:
        stack.stop()
    assert stack.exit_codes[f"metering-{VICTIM}-run1"] == -9, stack.exit_codes
    assert all(code == 0 for name, code in stack.exit_codes.items() if name != f"metering-{VICTIM}-run1"), stack.exit_codes
    assert seen["stored"] > seen["acked"] and not seen["published_done"], seen  # killed mid-load, holding stored events

    owner = {}
    for subject, e in load:
        owner[e.request_id] = 0 if subject == events.USAGE_SUBJECT else events.usage_shard(e.request_id, SHARDS) % REPLICAS
    expected = [sorted(rid for rid, k in owner.items() if k == replica) for replica in range(REPLICAS)]
    assert seen["api"] == [len(ids) for ids in expected], seen
    by_id = {e.request_id: e for e in events_}
    union: list[str] = []
    for k in range(REPLICAS):
        checked = subprocess.run(
            [sys.executable, "-c", RAW_CHECK, fleet.dsn[k]], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
        assert checked.returncode == 0, checked.stderr[-2000:]
        found = json.loads(checked.stdout.strip().splitlines()[-1])
        cost = sum(by_id[rid].cost_micros for rid in expected[k])
        prompt = sum(by_id[rid].prompt_tokens for rid in expected[k])
        n = len(expected[k])
        assert found["raw"] == [n, n, cost], (k, found["raw"])  # without FINAL: no id inserted twice
        assert found["ids_twice"] == [0]
        assert sorted(found["ids"]) == expected[k]  # only its own shards (and, on replica 0, the unsharded subject)
        assert found["hourly"] == [n, cost, prompt], (k, found["hourly"])  # every rollup counted each event once
        assert found["daily"] == [n, cost], (k, found["daily"])
        union += found["ids"]
    assert len(union) == len(set(union)) == N and set(union) == set(owner)
    print(
        f"\n3 replicas x 4 of {SHARDS} shards; replica {VICTIM} killed -9 with {seen['acked']} of its {seen['victim_share']} acked, "
        f"{seen['stored'] - seen['acked']} stored with their acks lost; per replica {seen['api']}; test {time.monotonic() - started:.0f}s"
    )
