"""Test-side access to JetStream: find a published usage event, re-publish it, and wait
until both durable consumers have processed everything."""

from __future__ import annotations

import asyncio
import time

import nats

from services.accounts.consumer import DURABLE as LEDGER
from services.metering.consumer import DURABLE as METERING
from tollgate import events


async def _find(url: str, request_id: str) -> bytes:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(events.USAGE_STREAM)
        for seq in range(info.state.last_seq, max(info.state.first_seq, 1) - 1, -1):
            msg = await js.get_msg(events.USAGE_STREAM, seq)
            if (msg.headers or {}).get("Nats-Msg-Id") == request_id:
                return msg.data
            if msg.subject.startswith(events.USAGE_BATCH_SUBJECT):  # a UsageBatch: the event, as a v1 message would carry it
                for event in events.decode(msg.subject, msg.data).events:
                    if event.request_id == request_id:
                        return events.encode(event)
        raise AssertionError(f"no usage event published for {request_id}")
    finally:
        await nc.close()


async def _republish(url: str, data: bytes, msg_id: str | None) -> None:
    nc = await nats.connect(url)
    try:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await nc.jetstream().publish(events.USAGE_SUBJECT, data, headers=headers)
    finally:
        await nc.close()


async def _idle(url: str, timeout: float) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        while True:
            names = {LEDGER, METERING} | {c.name for c in await js.consumers_info(events.USAGE_STREAM)}  # metering: one per shard
            infos = [await js.consumer_info(events.USAGE_STREAM, name) for name in sorted(names)]
            if all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"consumers still busy: {[(i.name, i.num_pending, i.num_ack_pending) for i in infos]}")
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


def find_event(url: str, request_id: str, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return asyncio.run(_find(url, request_id))
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def republish(url: str, data: bytes, msg_id: str | None) -> None:
    asyncio.run(_republish(url, data, msg_id))


def wait_consumers_idle(url: str, timeout: float = 15.0) -> None:
    asyncio.run(_idle(url, timeout))
