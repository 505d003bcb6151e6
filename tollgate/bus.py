"""NATS connection and JetStream stream set-up shared by every service."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError

from tollgate.events import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, USAGE_STREAM, USAGE_SUBJECT

DAY_S = 86_400


# Measured (nats-server 2.x, file storage): a usage event is ~470 bytes of msgpack and ~575
# bytes in the stream with its headers and index; nats-server's RSS grows ~290 bytes per
# message held in the duplicate window (200,000 events: 18 -> 76 MB). So a million requests
# take ~575 MB of disk and, within 10 minutes, ~290 MB of memory. README "Sizing NATS".
USAGE_MAX_BYTES = 2 << 30  # ~3.7M events: 7 days at ~6 requests/s, 50 min at 1,200/s (TOLLGATE_NATS_USAGE_MAX_BYTES)


def usage_stream_config(replicas: int = 1, max_bytes: int = USAGE_MAX_BYTES) -> StreamConfig:
    # Limits retention: each consumer (metering, accounts) keeps its own cursor, so a
    # consumer that is down for a while catches up. The duplicate window absorbs an
    # edge re-publishing an event it is unsure about (Nats-Msg-Id = request id). Bounded
    # by age and by bytes: the oldest events go first, long after both consumers took them
    # (unless a consumer lags by more than max_bytes: alert on tollgate_metering_consumer_lag).
    return StreamConfig(
        name=USAGE_STREAM,
        subjects=[USAGE_SUBJECT.rsplit(".", 1)[0] + ".>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=7 * DAY_S,
        max_bytes=max_bytes,
        duplicate_window=600,
        num_replicas=replicas,
    )


async def connect(url: str, name: str, **kwargs) -> Client:
    """A client that reconnects forever (the first connection too: NATS may start later)."""
    nc = Client()
    await nc.connect(url, **_options(name, kwargs))
    return nc


def connect_later(url: str, name: str, **kwargs) -> tuple[Client, asyncio.Task]:
    """A client whose first connection is made in the background (a task that retries until
    NATS answers), for a service that must start and serve without NATS. Until the task is
    done the client is not connected (``is_connected`` is False): use it only after."""
    nc = Client()
    return nc, asyncio.ensure_future(nc.connect(url, **_options(name, kwargs)))


def _options(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "max_reconnect_attempts": -1, "reconnect_time_wait": 0.5, "error_cb": _log_error, **kwargs}


async def _log_error(exc: Exception) -> None:
    """One line per connection error (the client's default logs a traceback every retry)."""
    structlog.get_logger().warning("nats connection error", error=type(exc).__name__)


def dead_letter_stream_config(replicas: int = 1) -> StreamConfig:
    """Events a consumer could not read, kept 30 days (at most 256 MiB) for an operator to inspect or replay."""
    return StreamConfig(
        name=DEAD_LETTER_STREAM,
        subjects=[DEAD_LETTER_PREFIX + ".>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=30 * DAY_S,
        max_bytes=256 << 20,
        num_replicas=replicas,
    )


async def ensure_streams(js: JetStreamContext, replicas: int = 1, usage_max_bytes: int = USAGE_MAX_BYTES) -> None:
    """Create or update the streams; ``replicas`` (``TOLLGATE_NATS_STREAM_REPLICAS``): 3 on a
    3-server NATS cluster, so a stream survives the loss of a server. A server without the
    storage to reserve a stream's byte bound (a nearly full disk) gets the stream without it,
    and a warning, rather than no stream at all."""
    for config in (usage_stream_config(replicas, usage_max_bytes), dead_letter_stream_config(replicas)):
        await ensure_stream(js, config)


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create or update one stream; a server that cannot reserve its byte bound gets it without
    one, and a warning."""
    try:
        await _create_or_update(js, config)
    except APIError as exc:
        if "insufficient" not in str(exc.description or "").lower():
            raise
        structlog.get_logger().warning(
            "nats cannot reserve the stream's byte bound; created without it", stream=config.name, max_bytes=config.max_bytes
        )
        config.max_bytes = -1
        await _create_or_update(js, config)


async def _create_or_update(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if "insufficient" in str(exc.description or "").lower():
            raise
        await js.update_stream(config)
