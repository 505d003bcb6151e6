"""``TOLLGATE_EDGE_WORKERS=N``: N edge processes on one port, so the edge uses every core.

The first process becomes a supervisor: it starts N workers (``python -m services.edge``
with ``TOLLGATE_EDGE_WORKER=1..N``), each a complete edge that binds the port with
SO_REUSEPORT (the kernel spreads connections over them), restarts one that dies (after
0.5 s, doubling to 30 s, reset once it ran a minute), and on SIGTERM/SIGINT passes the
signal on and waits for every worker's graceful shutdown.

Each worker is an edge like any other: its own caches, its own usage spool
(``…-w<i>``), its own balance leases (one holder per process), rate counts shared over
NATS, revocations from the CONTROL stream. So every limit that holds across edges holds
across workers. With ``TOLLGATE_EDGE_METRICS_PORT`` set, worker i serves /metrics on that
port + i - 1 (one series set per process, as Prometheus expects).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from tollgate.settings import Settings
from tollgate.telemetry import Log

FIRST_DELAY_S, MAX_DELAY_S, HEALTHY_S = 0.5, 30.0, 60.0


class Worker:
    def __init__(self, index: int, settings: Settings):
        self.index = index
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.delay = FIRST_DELAY_S
        self.due = 0.0  # when to start it again after it exited (0: running)

    def start(self) -> None:
        env = {**os.environ, "TOLLGATE_EDGE_WORKER": str(self.index)}
        self.proc = subprocess.Popen([sys.executable, "-m", "services.edge"], env=env, preexec_fn=_die_with_parent)
        self.started = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def exited(self, now: float) -> bool:
        """Whether it exited since last asked; schedules its restart."""
        if self.due or self.proc is None or self.proc.poll() is None:
            return False
        if now - self.started >= HEALTHY_S:
            self.delay = FIRST_DELAY_S
        self.due = now + self.delay
        self.delay = min(self.delay * 2, MAX_DELAY_S)
        return True


def supervise(settings: Settings, log: Log) -> int:
    """Run ``settings.edge_workers`` workers until a signal; 0 when they all stopped cleanly."""
    stopping = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    workers = [Worker(i, settings) for i in range(1, settings.edge_workers + 1)]
    for worker in workers:
        worker.start()
    log.info("edge workers started", workers=len(workers), port=settings.edge_port, pids=[w.pid for w in workers])
    while not stopping.wait(0.2):
        now = time.monotonic()
        for worker in workers:
            if worker.exited(now):
                log.warning("edge worker exited; restarting", worker=worker.index, code=worker.returncode, in_s=worker.due - now)
            elif worker.due and now >= worker.due:
                worker.due = 0.0
                worker.start()
    signum = received[0] if received else signal.SIGTERM
    for worker in workers:
        if worker.proc is not None and worker.proc.poll() is None:
            worker.proc.send_signal(signum)
    codes = []
    deadline = time.monotonic() + settings.http_shutdown_grace_s + 30
    for worker in workers:
        if worker.proc is None:
            continue
        try:
            codes.append(worker.proc.wait(max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            codes.append(worker.proc.wait())
    log.info("edge workers stopped", codes=codes)
    return 0 if all(code == 0 for code in codes) else 1


def _die_with_parent() -> None:
    """In the worker before exec, on Linux: SIGTERM when the supervisor dies however it dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
