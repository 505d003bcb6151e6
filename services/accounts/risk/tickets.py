"""Opt-in diagnostics for tickets: the technical metadata of the requests a ticket names.

What is kept is the usage event's technical part — endpoint, model, provider, channel,
status and error code, attempts and each failed attempt's channel / status / error, timings
— never a prompt, a completion or a key. Where it comes from:

- ``Recent``: the last ``lookback_s`` of requests (at most ``max_recent``), in this
  process's memory only, so a ticket can name a request made a moment ago. Nothing of it is
  written anywhere unless a ticket names the request; a restart forgets it.
- A named request not seen yet (still running, or its event not consumed yet) waits: the
  risk consumer stores its metadata when its event arrives (``RiskStore.fill``), and only
  for a ticket of the request's own account.
- Stored metadata is deleted when the ticket's keep time is over (``purge``), open or not.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from tollgate import events


def metadata(event: events.UsageEvent) -> dict[str, Any]:
    """The event's technical metadata (what a ticket keeps)."""
    return {
        "occurred_at_ms": event.occurred_at_ms,
        "endpoint": event.endpoint,
        "model": event.model_served or event.model_requested,
        "provider": event.provider,
        "channel_id": event.channel_id,
        "status": event.status,
        "error_code": event.error_code,
        "attempts": event.attempts,
        "latency_ms": event.latency_ms,
        "ttft_ms": event.ttft_ms,
        "upstream_latency_ms": event.upstream_latency_ms,
        "gateway_overhead_ms": event.gateway_overhead_ms,
        "stream": event.stream,
        "attempt_log": [{"channel_id": a.channel_id, "status": a.status, "error": a.error} for a in event.attempt_log],
    }


class Recent:
    """Request id -> its event, for ``lookback_ms``, at most ``limit`` entries (metadata is
    made of it only when a ticket names the request)."""

    def __init__(self, lookback_s: int, limit: int):
        self.configure(lookback_s, limit)
        self._items: OrderedDict[str, events.UsageEvent] = OrderedDict()

    def configure(self, lookback_s: int, limit: int) -> None:
        self._lookback_ms, self._limit = lookback_s * 1000, limit

    def add(self, event: events.UsageEvent, now_ms: int) -> None:
        if self._limit <= 0 or self._lookback_ms <= 0:
            self._items.clear()
            return
        self._items[event.request_id] = event
        self._items.move_to_end(event.request_id)
        self.expire(now_ms)

    def expire(self, now_ms: int) -> None:
        while len(self._items) > self._limit:
            self._items.popitem(last=False)
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.occurred_at_ms > now_ms - self._lookback_ms:
                break
            self._items.popitem(last=False)

    def find(self, account_id: str, request_id: str) -> str | None:
        """The request's metadata, only if it is the account's own."""
        event = self._items.get(request_id)
        return json.dumps(metadata(event)) if event is not None and event.account_id == account_id else None

    def __len__(self) -> int:
        return len(self._items)
