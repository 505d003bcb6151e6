"""Kill -9 of metering in the middle of a 50,000-event load, then a restart: ClickHouse holds
every published request exactly once.

Its own nats-server and metering processes on free ports, with their own data folder. The
events are published as edges publish them (JetStream, ``Nats-Msg-Id`` = request id, each
publish acknowledged). A third of the way in, metering's acks stop reaching NATS (its
connection goes through a relay here that then drops what metering sends: acks lost on the
wire); once it has stored at least one more batch whose ack is lost, it is killed with
SIGKILL, and a new metering starts while the rest of the load is still being published.
JetStream redelivers what the killed process held, stored or not. Then 1,000 of the events
are published a second time under other message ids (as an edge re-publishing after
JetStream's duplicate window would), which JetStream cannot drop: metering must.

Checked through the metering API and metrics, then — with metering stopped, since only one
process may open a chDB path — in the raw table read without FINAL: exactly the 50,000
published request ids, none twice, the cost sum of the published events, and the hourly and
daily rollups counting 50,000 requests (so the materialized views never saw a duplicate).

The durable consumer is created here first, with a 3 s ack wait instead of metering's 60 s,
so that what the killed process held is redelivered within the test's time.
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

from services.metering.consumer import DURABLE
from tollgate import bus, events
from tools.bench_metering import traffic
from tools.stack import ROOT, Ports, Service, Stack, nats_server_binary

N = 50_000
REPUBLISHED = 1_000
ACK_WAIT_S = 3.0


class Relay:
    """A TCP relay in front of nats-server that can stop passing on what clients send (the
    server's messages still reach them): their acks are lost, as on a broken link."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.dropping = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [client_w, server_w]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_client: bool) -> None:
            try:
                while data := await src.read(65536):
                    if from_client and self.dropping:
                        continue  # never resumed on this connection: the server sees a cut-off stream
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(client_r, server_w, True), pipe(server_r, client_w, False))

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


def spawn_metering(stack: Stack, name: str, nats_port: int | None = None) -> Service:
    """Started from the main thread: services get SIGTERM when the thread that started them ends."""
    service = Service(name, [sys.executable, "-m", "services.metering"], ("127.0.0.1", stack.ports.metering, "/healthz"))
    if nats_port:
        service.env["TOLLGATE_NATS_URL"] = f"nats://127.0.0.1:{nats_port}"
    stack._spawn(service, stack.env())
    return service


async def create_consumer(js) -> None:
    await bus.ensure_streams(js)
    await js.add_consumer(
        events.USAGE_STREAM,
        ConsumerConfig(
            durable_name=DURABLE,
            name=DURABLE,
            filter_subject=events.USAGE_SUBJECTS,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=50_000,
        ),
    )


async def publish(js, batch: list[events.UsageEvent], msg_id_suffix: str = "", pace_every: int = 1_000) -> list:
    futures = []
    for i, e in enumerate(batch, 1):
        futures.append(
            await js.publish_async(events.USAGE_SUBJECT, events.encode(e), headers={"Nats-Msg-Id": e.request_id + msg_id_suffix})
        )
        if i % pace_every == 0:
            await asyncio.sleep(0.05)  # a steady load over a few seconds, not one burst
    return await asyncio.gather(*futures)


async def stored_requests(http: httpx.AsyncClient, stack: Stack, since: datetime) -> tuple[int, int, int]:
    """(requests, cost, prompt tokens) the metering API reports (from the hourly rollup)."""
    end = datetime.now(UTC) + timedelta(hours=1)
    reply = await http.get(
        f"{stack.metering_url}/v1/usage",
        params={"bucket": "none", "start": since.isoformat(), "end": end.isoformat()},
        headers=stack.admin_headers,
    )
    assert reply.status_code == 200, reply.text
    rows = reply.json()["data"]
    return (int(rows[0]["requests"]), int(rows[0]["cost_micros"]), int(rows[0]["prompt_tokens"])) if rows else (0, 0, 0)


async def metric(http: httpx.AsyncClient, stack: Stack, name: str) -> float:
    text = (await http.get(f"http://127.0.0.1:{stack.ports.metering_metrics}/metrics")).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith((name + " ", name + "{")))


async def scenario(stack: Stack, load: list[events.UsageEvent], since: datetime) -> dict:
    relay = Relay(stack.ports.nats)
    await relay.start()
    nc = await nats.connect(stack.settings.nats_url)
    http = httpx.AsyncClient(timeout=30)
    try:
        js = nc.jetstream(publish_async_max_pending=2_000)
        await create_consumer(js)
        first = spawn_metering(stack, "metering-1", nats_port=relay.port)
        await asyncio.to_thread(stack._wait_ready, first)

        publishing = asyncio.create_task(publish(js, load))
        seen: dict = {}
        while not relay.dropping:
            info = await js.consumer_info(events.USAGE_STREAM, DURABLE)
            assert not publishing.done(), f"the load was published before metering acked a third of it ({info.ack_floor.stream_seq} acked)"
            if info.ack_floor.stream_seq >= N // 3:
                relay.dropping = True  # metering's acks (and pull requests) stop reaching NATS
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)  # acks sent before the cut are processed by now
        deadline = time.monotonic() + 20
        while True:  # until metering has stored a batch whose ack was lost
            stored = (await stored_requests(http, stack, since))[0]
            acked = (await js.consumer_info(events.USAGE_STREAM, DURABLE)).ack_floor.stream_seq
            if stored > acked:
                break
            assert time.monotonic() < deadline, f"metering stored nothing after its acks were cut ({stored} stored, {acked} acked)"
            await asyncio.sleep(0.02)
        first.proc.kill()  # SIGKILL
        first.proc.wait()
        info = await js.consumer_info(events.USAGE_STREAM, DURABLE)
        seen.update(stored=stored, acked=info.ack_floor.stream_seq, in_flight=info.num_ack_pending, published_done=publishing.done())
        await relay.close()

        restarted = time.monotonic()
        await asyncio.to_thread(stack._wait_ready, spawn_metering(stack, "metering-2"))
        seen["restart_s"] = time.monotonic() - restarted
        acks = await publishing
        assert len({a.seq for a in acks}) == N and not any(a.duplicate for a in acks)
        # An edge re-publishing after the duplicate window: a new stream message, the same event.
        again = await publish(js, load[:: N // REPUBLISHED], msg_id_suffix="-again")
        assert len(again) == REPUBLISHED and not any(a.duplicate for a in again)

        deadline = time.monotonic() + 60
        while True:
            info = await js.consumer_info(events.USAGE_STREAM, DURABLE)
            if info.ack_floor.stream_seq >= again[-1].seq and info.num_pending == 0 and info.num_ack_pending == 0:
                break
            assert time.monotonic() < deadline, (
                f"metering did not drain: acked {info.ack_floor.stream_seq}/{again[-1].seq}, {info.num_ack_pending} unacked"
            )
            await asyncio.sleep(0.1)
        seen["api"] = await stored_requests(http, stack, since)
        seen["skipped"] = await metric(http, stack, "tollgate_metering_events_duplicate_total")
        return seen
    finally:
        await http.aclose()
        await nc.close()
        await relay.close()


RAW_CHECK = """
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
one = lambda sql: list(client.query(sql).result_rows[0])
print(json.dumps({
    "raw": one("SELECT count(), uniqExact(request_id), sum(cost_micros) FROM usage_events"),
    "ids_twice": one("SELECT count() FROM (SELECT request_id FROM usage_events GROUP BY request_id HAVING count() > 1)"),
    "hourly": one("SELECT sum(requests), sum(cost_micros), sum(prompt_tokens) FROM usage_hourly"),
    "daily": one("SELECT sum(requests), sum(cost_micros) FROM model_daily"),
    "ids": [r[0] for r in client.query("SELECT request_id FROM usage_events").result_rows],
}))
"""


def test_kill_9_mid_load_stores_every_event_exactly_once(tmp_path) -> None:
    load = traffic(N, rate_per_s=10_000, seed=6)
    cost, prompt = sum(e.cost_micros for e in load), sum(e.prompt_tokens for e in load)
    since = datetime.fromtimestamp(min(e.occurred_at_ms for e in load) / 1000, UTC) - timedelta(hours=1)
    stack = Stack(
        data_dir=tmp_path,
        ports=Ports.free(),
        log_to_files=True,
        extra_env={"TOLLGATE_METERING_BATCH_SIZE": "2000", "TOLLGATE_METERING_BATCH_WAIT_S": "0.2", "TOLLGATE_LOG_LEVEL": "info"},
    )
    started = time.monotonic()
    try:
        nats_service = Service(
            "nats",
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(stack.ports.nats), "-js", "-sd", str(tmp_path / "nats")],
            ("127.0.0.1", stack.ports.nats, None),
        )
        stack._spawn(nats_service, stack.env())
        stack._wait_ready(nats_service)
        seen = asyncio.run(scenario(stack, load, since))
    finally:
        stack.stop()
    assert stack.exit_codes == {"metering-1": -9, "metering-2": 0, "nats": 0}, stack.exit_codes

    lost_acks = seen["stored"] - seen["acked"]
    assert lost_acks > 0 and seen["acked"] < N and not seen["published_done"], seen  # killed mid-load, holding stored events
    assert seen["api"] == (N, cost, prompt), seen["api"]
    # The restarted metering found (and skipped) every stored event delivered again.
    assert seen["skipped"] >= REPUBLISHED + lost_acks, seen

    checked = subprocess.run(
        [sys.executable, "-c", RAW_CHECK, stack.settings.clickhouse], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stderr[-2000:]
    found = json.loads(checked.stdout.strip().splitlines()[-1])
    assert found["raw"] == [N, N, cost], found["raw"]  # read without FINAL: no request id was inserted twice
    assert found["ids_twice"] == [0]
    assert set(found["ids"]) == {e.request_id for e in load}
    assert found["hourly"] == [N, cost, prompt], found["hourly"]  # the views saw each event once
    assert found["daily"] == [N, cost], found["daily"]
    print(
        f"\nkill -9 with {seen['acked']} acked, {lost_acks} stored with their acks lost, {seen['in_flight']} unacked in all; "
        f"restart {seen['restart_s']:.1f}s; {seen['skipped']:.0f} stored events skipped after it; test {time.monotonic() - started:.0f}s"
    )
