"""Hot reload: poll the catalog file and the data-policy table; on a change, parse and
validate, then swap the routing table's catalog (which bumps the version and notifies
edges). A file that does not validate is logged and ignored: the old catalog keeps serving.

Polling compares content digests, not just mtimes, so two quick writes within the
filesystem's timestamp granularity are not missed; the files are small.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from services.router.catalog import CatalogError, digest, load
from services.router.table import RoutingTable
from tollgate.telemetry import Log

POLL_S = 0.25


def _read(path: Path) -> str | None:
    try:
        return digest(path.read_bytes())
    except OSError:
        return None


def fingerprint(paths: list[Path]) -> tuple[tuple[Path, str | None], ...]:
    return tuple((p, _read(p)) for p in paths)


class CatalogWatcher:
    def __init__(self, path: Path, table: RoutingTable, log: Log):
        self.path = path
        self._table = table
        self._log = log
        self._seen = tuple(table.catalog.sources) or fingerprint([path])

    def _paths(self) -> list[Path]:
        return list(dict.fromkeys([self.path, *(p for p, _ in self._seen)]))

    def check(self) -> bool:
        """Reload if any watched file changed; True when a new catalog is being served."""
        current = fingerprint(self._paths())
        if current == self._seen:
            return False
        try:
            catalog = load(self.path, version=self._table.version + 1)
        except CatalogError as exc:
            # Remember what we saw, so the same bad file is reported once, not every poll;
            # also watch any file the failed load depended on (e.g. a newly named policy table).
            extra = [p for p in exc.paths if p not in dict(current)]
            self._seen = current + fingerprint(extra)
            self._log.error("catalog reload failed; still serving the previous catalog", error=str(exc), table_version=self._table.version)
            return False
        self._seen = catalog.sources
        self._table.swap(catalog)
        return True

    async def run(self, stop: asyncio.Event, poll_s: float = POLL_S) -> None:
        while not stop.is_set():
            try:
                self.check()
            except Exception as exc:  # never let the watcher die: the router must keep serving
                self._log.error("catalog watcher error", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), poll_s)
