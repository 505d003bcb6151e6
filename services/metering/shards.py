"""Which usage events this metering process consumes: scale-out without a shared writer.

Edges publish usage events to ``tollgate.usage.v1.<shard>`` (one event) or ``tollgate.usage.v2.<shard>``
(a UsageBatch), shard < ``TOLLGATE_USAGE_SHARDS``: an edge's publisher picks the shard for a
batch in turn (services/edge/publisher.py; other publishers may use ``tollgate.events.usage_subject``,
CRC-32 of the request id), and every copy of an event (an edge's retry, a spool replayed by a
restarted or sibling edge) goes to the subject recorded with it in the spool. Metering replica k of n (``TOLLGATE_METERING_REPLICA`` /
``TOLLGATE_METERING_REPLICAS``; in Kubernetes k is the StatefulSet ordinal of the host name
``metering-<k>``) owns the shards s with s % n == k, one durable consumer each
(``metering-usage-s<s>``, filter ``tollgate.usage.*.<s>``), read as one stream of batches;
replica 0 also owns the unsharded subjects (``metering-usage``, filter ``tollgate.usage.*``:
events of edges from before sharding, their spools). So every copy of a request id reaches one
process, and that process's exactly-once index (``recent.RecentIds``) and lookup stay those of
a single writer, as before. A consumer's position belongs to its shard, not to a process: a
changed assignment resumes each shard where it was acked.

Each process tags its batches with its writer id (``m<k>of<n>``), and at start-up replays the
unfinished rollup inserts of its own batches only (``UsageStore._roll_up_unfinished``): never a
batch another live writer is still completing. Replica 0 also adopts batches no current writer
owns (untagged ones from before, or of a replica count no longer deployed).

Rules for the deployment: never two processes with the same k (a StatefulSet guarantees it);
change n only with every replica stopped (scale to 0, change, scale up), else old and new
assignments overlap during the roll-out. chDB (embedded) opens a path from one process only:
several replicas need a ClickHouse server (``TOLLGATE_CLICKHOUSE_DSN``).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from tollgate import events

LEGACY_DURABLE = "metering-usage"  # the unsharded subjects (and, before sharding, every usage subject)
_ORDINAL = re.compile(r"-(\d+)$")
_WRITER = re.compile(r"^m(\d+)of(\d+)\.")


def shard_durable(shard: int) -> str:
    return f"{LEGACY_DURABLE}-s{shard}"


@dataclass(frozen=True)
class Assignment:
    replica: int = 0
    replicas: int = 1
    shards: int = 16  # TOLLGATE_USAGE_SHARDS

    @classmethod
    def from_settings(cls, settings, hostname: str | None = None) -> Assignment:
        replicas, replica = settings.metering_replicas, settings.metering_replica
        if replica < 0:
            match = _ORDINAL.search(hostname or socket.gethostname())
            if replicas > 1 and not match:
                raise SystemExit(
                    f"TOLLGATE_METERING_REPLICAS={replicas} needs TOLLGATE_METERING_REPLICA, or a host name ending in -<ordinal>"
                )
            replica = int(match.group(1)) if match and replicas > 1 else 0
        assignment = cls(replica, replicas, settings.usage_shards)
        assignment.check()
        return assignment

    def check(self) -> None:
        if self.replicas < 1 or not 0 <= self.replica < self.replicas:
            raise SystemExit(f"metering replica {self.replica} of {self.replicas}: needs 0 <= replica < replicas")
        if self.replicas > 1 and self.replicas > self.shards:
            raise SystemExit(f"{self.replicas} metering replicas for {self.shards} usage shards: some would own none")

    @property
    def writer(self) -> str:
        """This process's writer id, the prefix of its batch ids."""
        return f"m{self.replica}of{self.replicas}"

    @property
    def owned(self) -> list[int]:
        return [s for s in range(self.shards) if s % self.replicas == self.replica]

    def consumers(self) -> list[tuple[str, str]]:
        """(durable, filter subject) of every consumer this process reads."""
        pairs = [(shard_durable(s), events.usage_shard_filter(s)) for s in self.owned]
        if self.replica == 0:
            pairs.insert(0, (LEGACY_DURABLE, events.USAGE_UNSHARDED))
        return pairs

    def new_batch_id(self, unique: str) -> str:
        return f"{self.writer}.{unique}"

    def owns_batch(self, batch_id: str) -> bool:
        """Whether this process completes ``batch_id`` if it was cut short: its own, and on
        replica 0 any batch no current writer owns."""
        match = _WRITER.match(batch_id)
        if match and int(match.group(2)) == self.replicas and int(match.group(1)) < self.replicas:
            return int(match.group(1)) == self.replica
        return self.replica == 0
