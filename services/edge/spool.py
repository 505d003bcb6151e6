"""The edge's durable hand-off for usage events: an append-only local spool.

Every usage event is written to the spool (one ``os.write``, so it is in the kernel's
page cache) before the client receives its last byte, and stays there until JetStream
has acknowledged it. An edge killed at any moment, with or without NATS, loses nothing:
the next edge process on the same spool directory replays every record it finds, with
the same ``Nats-Msg-Id`` (the request id), and JetStream's duplicate window, metering's
lookup and the ledger's unique request id absorb the ones that had already landed.

Layout: ``<dir>/seg-<n>.log`` files, appended in order; a segment is rotated at
``segment_bytes`` and deleted once it is closed and every record in it is acknowledged.
A record is ``<u32 length of the rest><u32 crc32 of the rest><u16 len(subject)>
<u16 len(request id)> subject request-id payload``; a torn record at the end of a
segment (a crash mid-write) fails its length or crc check and ends that segment.

Bounds (documented in README "Usage events and NATS outages"): a process crash loses
nothing; a machine crash loses at most the events written since the last fsync
(``fsync_s``, default 0.2 s). The spool holds at most ``max_bytes`` on disk; while it is
full the edge refuses new billable requests (503) rather than serve what it could not bill.

Records are read back from disk only when they are not in the publisher's memory queue:
after a restart, or when the queue overflowed during a long NATS outage (``backlog``)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

_HEAD = struct.Struct("<IIHH")  # length of what follows the first 8 bytes, crc32 of it, subject length, id length
_LEN_CRC = 8
READ_CHUNK = 1 << 20


@dataclass(slots=True)
class Segment:
    seq: int
    path: Path
    size: int = 0  # bytes of whole records
    count: int = 0  # records in it
    acked: int = 0
    closed: bool = False
    created: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Record:
    seq: int  # segment
    subject: str
    request_id: str
    data: bytes


class SpoolFull(Exception):
    """The spool holds ``max_bytes``: nothing more can be made durable."""


class Spool:
    def __init__(self, directory: str | Path, *, max_bytes: int, segment_bytes: int = 4 << 20):
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._segments: dict[int, Segment] = {}
        self._fd = -1
        self._active: Segment | None = None
        self._dirty = False
        self._lock_fd = -1
        self.bytes = 0  # on disk, in segments not yet deleted
        # backlog: records on disk that are not in memory, from (segment, byte offset) on
        self._cursor: tuple[int, int] | None = None

    # -- life cycle -----------------------------------------------------------------
    def open(self) -> int:
        """Take the directory (one process at a time) and find what an earlier process left:
        returns how many records wait to be replayed."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(self.dir, 0o700)
        self._lock_fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SystemExit(
                f"the usage spool {self.dir} is in use by another edge process; give each edge its own TOLLGATE_EDGE_SPOOL_DIR"
            ) from None
        self._adopt_orphans()
        left = 0
        for path in sorted(self.dir.glob("seg-*.log")):
            seq = int(path.stem.removeprefix("seg-"))
            size, count = _scan(path)
            if count == 0:
                path.unlink()
                continue
            self._segments[seq] = Segment(seq, path, size, count, closed=True, created=path.stat().st_mtime)
            self.bytes += size
            left += count
        if left:
            self._cursor = (min(self._segments), 0)
        self._rotate()
        return left

    def _adopt_orphans(self) -> None:
        """Take over the segments of sibling spools no live process holds (an edge that died
        and came back under another name: a recreated container, a new port), so they are
        published too. Moved with rename (atomic): a crash mid-way leaves each segment in
        one of the two places."""
        seq = max((int(p.stem.removeprefix("seg-")) for p in self.dir.glob("seg-*.log")), default=0)
        for other in sorted(self.dir.parent.iterdir()):
            if other == self.dir or not other.name.startswith("edge-") or not other.is_dir() or not (other / "lock").exists():
                continue
            fd = os.open(other / "lock", os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live edge's
            try:
                for path in sorted(other.glob("seg-*.log")):
                    seq += 1
                    os.rename(path, self.dir / f"seg-{seq:012d}.log")
                (other / "lock").unlink()
                other.rmdir()
            except OSError:
                pass  # left for a later start
            finally:
                os.close(fd)

    def close(self) -> None:
        """Flush to disk and release; unacknowledged records stay for the next process."""
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1
            if self._active is not None and self._active.acked >= self._active.count and not self._unread(self._active):
                self._forget(self._active)
            self._active = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # -- writing --------------------------------------------------------------------
    @property
    def full(self) -> bool:
        return self.bytes >= self.max_bytes

    @property
    def backlog(self) -> bool:
        """Whether records on disk wait to be read back into memory."""
        return self._cursor is not None

    def append(self, subject: str, request_id: str, data: bytes, *, in_memory: bool) -> int:
        """Write one record; returns its segment number (the ack handle). ``in_memory=False``
        when the caller could not keep it in memory: it will be read back from disk."""
        if self.full:
            raise SpoolFull(str(self.dir))
        active = self._writing()
        if active.size >= self.segment_bytes:
            self._rotate()
            active = self._writing()
        subj, rid = subject.encode(), request_id.encode()
        rest = struct.pack("<HH", len(subj), len(rid)) + subj + rid + data
        record = struct.pack("<II", len(rest), zlib.crc32(rest)) + rest
        if not in_memory and self._cursor is None:
            self._cursor = (active.seq, active.size)
        os.write(self._fd, record)  # O_APPEND: one write, whole or torn at the very end
        active.size += len(record)
        active.count += 1
        self.bytes += len(record)
        self._dirty = True
        return active.seq

    def sync(self) -> None:
        """fsync the active segment if anything was written since the last time."""
        if self._dirty and self._fd >= 0:
            self._dirty = False
            os.fsync(self._fd)

    def take_dirty_fd(self) -> int:
        """A duplicate of the active segment's descriptor to fsync (and close) elsewhere, or -1
        when nothing was written since the last call. A duplicate: rotation may close the
        original while the fsync runs."""
        if not self._dirty or self._fd < 0:
            return -1
        self._dirty = False
        return os.dup(self._fd)

    def ack(self, seq: int) -> None:
        """One record of segment ``seq`` is acknowledged by JetStream."""
        segment = self._segments.get(seq)
        if segment is None:
            return
        segment.acked += 1
        if segment.closed and segment.acked >= segment.count and not self._unread(segment):
            self._forget(segment)

    # -- reading back -----------------------------------------------------------------
    def read_backlog(self, limit: int) -> list[Record]:
        """Up to ``limit`` records from the backlog, oldest first; the backlog ends when it
        reaches what has been written."""
        out: list[Record] = []
        self._advance()
        while self._cursor is not None and len(out) < limit:
            seq, offset = self._cursor
            segment = self._segments[seq]
            with open(segment.path, "rb") as f:
                f.seek(offset)
                chunk = f.read(min(READ_CHUNK, segment.size - offset))
            pos = 0
            while pos + _HEAD.size <= len(chunk) and len(out) < limit:
                length, _crc, ls, li = _HEAD.unpack_from(chunk, pos)
                end = pos + _LEN_CRC + length
                if end > len(chunk):
                    break
                start = pos + _HEAD.size
                subject = chunk[start : start + ls].decode()
                rid = chunk[start + ls : start + ls + li].decode()
                out.append(Record(seq, subject, rid, chunk[start + ls + li : end]))
                pos = end
            if pos == 0:  # a record larger than READ_CHUNK cannot be written by append; never spin
                raise RuntimeError(f"unreadable spool record in {segment.path} at {offset}")
            self._cursor = (seq, offset + pos)
            self._advance()
        return out

    def _advance(self) -> None:
        """Move the cursor past the ends of segments: to the next one after a closed segment
        (which goes if every record in it is acknowledged), to None at the writer's position."""
        while self._cursor is not None:
            seq, offset = self._cursor
            segment = self._segments.get(seq)
            if segment is not None and offset < segment.size:
                return
            if segment is not None and not segment.closed:
                self._cursor = None  # caught up with the writer
                return
            later = [s for s in self._segments if s > seq]
            self._cursor = (min(later), 0) if later else None
            if segment is not None and segment.acked >= segment.count:
                self._forget(segment)

    # -- figures ----------------------------------------------------------------------
    @property
    def unacked(self) -> int:
        return sum(s.count - s.acked for s in self._segments.values())

    def oldest_age_s(self, now: float | None = None) -> float:
        """Age of the oldest segment still holding unacknowledged records (0 when none)."""
        waiting = [s.created for s in self._segments.values() if s.acked < s.count]
        return max(0.0, (now or time.time()) - min(waiting)) if waiting else 0.0

    # -- internals --------------------------------------------------------------------
    def _writing(self) -> Segment:
        """The segment appends go to: there is one from start-up until ``close``."""
        if self._active is None:
            raise RuntimeError(f"the spool {self.dir} is closed")
        return self._active

    def _unread(self, segment: Segment) -> bool:
        return self._cursor is not None and self._cursor[0] <= segment.seq

    def _rotate(self) -> None:
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            old = self._writing()
            old.closed = True
            if old.acked >= old.count and not self._unread(old):
                self._forget(old)
        seq = max(self._segments, default=0) + 1
        path = self.dir / f"seg-{seq:012d}.log"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        self._active = self._segments[seq] = Segment(seq, path)

    def _forget(self, segment: Segment) -> None:
        self._segments.pop(segment.seq, None)
        self.bytes -= segment.size
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()


def _scan(path: Path) -> tuple[int, int]:
    """(bytes of whole, valid records, how many) in a segment left by an earlier process;
    a torn or corrupt record ends it (the file is cut there)."""
    data = path.read_bytes()
    pos = count = 0
    while pos + _HEAD.size <= len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        end = pos + _LEN_CRC + length
        if length < 4 or end > len(data) or zlib.crc32(data[pos + _LEN_CRC : end]) != crc:
            break
        pos, count = end, count + 1
    if pos < len(data):
        with open(path, "r+b") as f:
            f.truncate(pos)
    return pos, count
