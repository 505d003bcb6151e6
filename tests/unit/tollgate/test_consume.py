"""The pull loop every consumer runs (tollgate.consume.pull_loop) on a real nats-server: v1
usage messages and UsageBatch messages side by side, each event handed over once as a
(message, event) pair, each message acked once; a batch stays about ``batch`` events."""

from __future__ import annotations

import asyncio
import subprocess

import msgspec
import pytest
import structlog

from tests.unit.tollgate.test_health_metrics import connect
from tollgate import bus, events
from tollgate.consume import ack_batch, pull_loop
from tools.stack import free_ports, nats_server_binary


@pytest.fixture
def nats_port(tmp_path):
    [port] = free_ports(1)
    proc = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield port
    proc.terminate()
    proc.wait(10)


def usage(i: int) -> events.UsageEvent:
    return events.UsageEvent(request_id=f"req_{i:05d}", occurred_at_ms=1, account_id="acct", key_id="key", cost_micros=i)


async def test_batches_and_single_events_are_handed_over_event_by_event_and_acked_once(nats_port) -> None:
    nc = await connect(nats_port)
    js = nc.jetstream()
    await bus.ensure_streams(js)
    sent = [usage(i) for i in range(1000)]
    for start in range(0, 900, 100):  # nine UsageBatch messages of 100 events on shard 3, then 100 v1 messages
        chunk = sent[start : start + 100]
        data = events.ENCODER.encode({"events": [msgspec.Raw(events.encode(e)) for e in chunk]})
        await js.publish(
            f"{events.USAGE_BATCH_SUBJECT}.3", data, headers={"Nats-Msg-Id": events.batch_msg_id([e.request_id for e in chunk])}
        )
    for e in sent[900:]:
        await js.publish(f"{events.USAGE_SUBJECT}.3", events.encode(e), headers={"Nats-Msg-Id": e.request_id})

    got: list[events.UsageEvent] = []
    sizes: list[int] = []
    stop = asyncio.Event()

    async def handle(batch):
        got.extend(event for _, event in batch)
        sizes.append(len(batch))
        await ack_batch([msg for msg, _ in batch])
        if len(got) >= len(sent):
            stop.set()

    log = structlog.get_logger()
    await asyncio.wait_for(
        pull_loop(
            stop, js, durable="t", subject=events.USAGE_SUBJECTS, stream=events.USAGE_STREAM, handle=handle, log=log, batch=256, wait_s=0.5
        ),
        20,
    )
    assert got == sent  # in order, each once
    assert max(sizes) <= 256 + 100  # the first ask assumes full messages; later ones follow what came
    info = await js.consumer_info(events.USAGE_STREAM, "t")
    assert info.ack_floor.stream_seq == 9 + 100 and info.num_ack_pending == 0  # every message acked, once
    await nc.close()
