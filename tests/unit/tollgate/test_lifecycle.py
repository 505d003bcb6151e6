"""Process lifecycle: a signal during start-up stops a service at once, and a readiness
probe stuck on a dead socket neither passes nor holds up the process's exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from tools.stack import ROOT, free_port


def _until_line(proc: subprocess.Popen, text: str, lines: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in lines[-1:]):
        assert time.monotonic() < deadline and proc.poll() is None, lines
        lines.append(proc.stdout.readline().decode())


def test_sigterm_while_waiting_for_nats_at_start_up_stops_the_service_at_once(tmp_path) -> None:
    """accounts needs NATS to start (its notices and ledger consumer): a signal while it waits stops it."""
    env = {
        **os.environ,
        "TOLLGATE_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "TOLLGATE_DATA_DIR": str(tmp_path),
        "TOLLGATE_ACCOUNTS_ADDR": f"127.0.0.1:{free_port()}",
        "TOLLGATE_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.accounts"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        lines: list[str] = []
        _until_line(proc, "nats connection error", lines)  # up, and retrying a NATS nothing answers
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        out = "".join(lines) + proc.stdout.read().decode()
        assert "service stopping during start-up" in out
        assert "Traceback" not in out  # connection errors are one line each
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_edge_starts_without_nats_and_stops_cleanly_at_any_moment(tmp_path) -> None:
    """The edge serves without NATS: it finishes starting while NATS is unreachable; SIGTERM
    during start-up or after it stops it at once with no traceback."""
    for when in ("nats connection error", "edge listening"):
        env = {
            **os.environ,
            "TOLLGATE_NATS_URL": f"nats://127.0.0.1:{free_port()}",
            "TOLLGATE_DATA_DIR": str(tmp_path),
            "TOLLGATE_EDGE_PORT": str(free_port()),
            "TOLLGATE_LOG_FORMAT": "json",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.edge"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            lines: list[str] = []
            _until_line(proc, when, lines)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
            out = "".join(lines) + proc.stdout.read().decode()
            assert "service stopped" in out and "Traceback" not in out, out
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_probe_stuck_forever_fails_its_check_and_does_not_block_exit() -> None:
    script = textwrap.dedent(
        """
        import asyncio, threading
        from tollgate import health

        async def main():
            readiness = health.Readiness(timeout_s=0.2).add("db", health.thread_check(threading.Event().wait))
            report = await readiness.evaluate()
            print("ready" if report.ready else "not ready:", report.checks["db"].detail, flush=True)

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0 and proc.stdout.strip() == "not ready: no answer within 0.2s", proc.stderr


def test_a_metering_store_busy_with_a_long_insert_still_answers_readiness(tmp_path) -> None:
    from services.metering.store import UsageStore

    store = UsageStore(f"chdb://{tmp_path / 'ch'}")
    try:
        store.ping()
        held, release = threading.Event(), threading.Event()

        def long_insert() -> None:
            with store._lock:  # what an insert in progress holds
                held.set()
                release.wait(10)

        worker = threading.Thread(target=long_insert)
        worker.start()
        held.wait(5)
        started = time.monotonic()
        store.ping(busy_s=0.3)
        assert time.monotonic() - started < 2
        release.set()
        worker.join()
    finally:
        store.close()


def _gc_after_tune(threshold: int) -> list[int]:
    """gc's young threshold and frozen count after ``tune_gc`` in a fresh interpreter (the
    collector's state is process-wide: never changed in the test process)."""
    code = textwrap.dedent(
        f"""
        import gc
        from tollgate.lifecycle import tune_gc
        from tollgate.telemetry import setup_telemetry
        tune_gc({threshold}, setup_telemetry("t", "warning", "json"))
        print(gc.get_threshold()[0], gc.get_freeze_count())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout.split()
    return [int(v) for v in out]


def test_tune_gc_freezes_start_up_and_raises_the_young_threshold() -> None:
    threshold, frozen = _gc_after_tune(50_000)
    assert threshold == 50_000
    assert frozen > 1_000  # the imported modules' objects are out of every later collection


def test_tune_gc_zero_leaves_the_collector_alone() -> None:
    assert _gc_after_tune(0) == [700, 0]
