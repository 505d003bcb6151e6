"""The exactly-once index: which request ids ClickHouse may already hold, without asking it.

``RecentIds`` holds a superset of the request ids in ``usage_events`` whose ``occurred_at``
is at or after its ``horizon_ms``, grouped by minute of ``occurred_at``. An event at or
after the horizon whose id is not in it is certainly not stored: it is inserted without a
lookup. Any other event (older than the horizon, or in the index) is looked up in ClickHouse.

Why this holds whatever NATS does: a copy of an event carries the same ``occurred_at`` as
the event, so whether a copy is stored depends only on that value and on what was inserted,
never on delivery counts, stream sequences, duplicate windows or clocks. The index is filled
from ClickHouse on the first insert after start-up, and afterwards every id is added before
its row is inserted (an insert that failed, or whose reply was lost after ClickHouse stored
it, leaves its ids in the index: they are looked up). This needs one writer: metering runs
one replica (``infra/k8s/base/metering.yaml``), as the lookup itself already did.

The cheap path it replaces (``consumer.may_be_stored``: no lookup for a first delivery inside
JetStream's duplicate window) trusted NATS state that a nats-server crash rolls back: after a
kill -9 and restart, messages already stored came again with a delivery count of 1, and the
rollups counted them twice.

Measured (chDB, 1-1.5M raw rows of the last minutes, 10,000-event batches, a shared 2-core
machine): a batch of new events stores in ~215 ms without a lookup and ~285 ms when all of it
is looked up (the lookup alone ~100 ms; it grows with the rows in the batch's accounts and time
span); the index check costs ~4 ms per batch. Looking everything up would have cost about a
third more store time per batch, for every batch; the index costs memory instead: ~150 bytes
an id (the string, its set slot, the per-minute sets), so the default bound of 300,000 ids is
~45 MB (15 minutes at up to ~330 requests/s; above that the horizon is shorter, and only events
delivered later than it are looked up). Loading 500,000 ids at start-up took ~0.8 s.
"""

from __future__ import annotations

MINUTE_MS = 60_000
KEEP_MS = 15 * MINUTE_MS  # how far back (by occurred_at) ids are kept: far beyond normal delivery lag
MAX_IDS = 300_000  # above this, the oldest minutes are dropped and the horizon moves up


class RecentIds:
    def __init__(self, keep_ms: int = KEEP_MS, max_ids: int = MAX_IDS):
        self.keep_ms, self.max_ids = keep_ms, max_ids
        self.horizon_ms: int | None = None  # None: not loaded yet, everything is looked up
        self.size = 0
        self._minutes: dict[int, set[str]] = {}

    def load(self, horizon_ms: int, rows) -> None:
        """Start from ClickHouse's answer: every (request_id, occurred_at ms) stored at or
        after ``horizon_ms`` (more is harmless: the index is a superset)."""
        self._minutes.clear()
        self.size = 0
        self.horizon_ms = horizon_ms
        for request_id, occurred_ms in rows:
            self._put(request_id, int(occurred_ms))

    def may_hold(self, request_id: str, occurred_ms: int) -> bool:
        """Whether ClickHouse may hold this id (so it must be looked up)."""
        if self.horizon_ms is None or occurred_ms < self.horizon_ms:
            return True
        return request_id in self._minutes.get(occurred_ms // MINUTE_MS, ())

    def add(self, items) -> None:
        """(request_id, occurred_at ms) about to be inserted."""
        if self.horizon_ms is None:
            return
        for request_id, occurred_ms in items:
            if occurred_ms >= self.horizon_ms:
                self._put(request_id, occurred_ms)

    def advance(self, now_ms: int) -> None:
        """Forget what is older than ``keep_ms`` before now, then the oldest minutes while the
        index is above ``max_ids``. The horizon only moves up."""
        if self.horizon_ms is None:
            return
        self.horizon_ms = max(self.horizon_ms, now_ms - self.keep_ms)
        for minute in sorted(self._minutes):
            if (minute + 1) * MINUTE_MS <= self.horizon_ms:
                self._drop(minute)
            elif self.size > self.max_ids:
                self._drop(minute)
                self.horizon_ms = (minute + 1) * MINUTE_MS
            else:
                break

    def _put(self, request_id: str, occurred_ms: int) -> None:
        ids = self._minutes.setdefault(occurred_ms // MINUTE_MS, set())
        if request_id not in ids:
            ids.add(request_id)
            self.size += 1

    def _drop(self, minute: int) -> None:
        self.size -= len(self._minutes.pop(minute))
