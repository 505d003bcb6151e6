"""``make run``'s launcher: a child that exits is restarted with backoff, the others go on;
every TOLLGATE_* setting reaches the services."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from tollgate.settings import Settings
from tools.stack import Backoff, Ports, Service, Stack, supervise


def test_backoff_doubles_to_its_cap_and_resets_after_a_healthy_run():
    backoff = Backoff(first_s=0.5, max_s=4.0, healthy_s=60.0)
    assert [backoff.next(1.0) for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.next(61.0) == 0.5


def test_a_child_that_dies_is_restarted_and_the_others_keep_running(tmp_path):
    stack = Stack(data_dir=tmp_path, ports=Ports.free(), log_to_files=True)
    flaky = Service("flaky", [sys.executable, "-c", "import time; time.sleep(0.3)"], ("127.0.0.1", 1, None))
    steady = Service("steady", [sys.executable, "-c", "import time; time.sleep(30)"], ("127.0.0.1", 1, None))
    for service in (flaky, steady):
        stack._spawn(service, stack.env())
    steady_pid = steady.proc.pid
    stopping = threading.Event()
    thread = threading.Thread(target=supervise, args=(stack, stopping, 0.05))
    thread.start()
    try:
        seen = {flaky.proc.pid}
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:  # died and came back twice
            seen.add(stack.service("flaky").proc.pid)
            time.sleep(0.05)
        assert len(seen) >= 3
        assert stack.service("steady").proc.pid == steady_pid and stack.service("steady").proc.poll() is None
    finally:
        stopping.set()
        thread.join(5)
        stack.stop()


def test_make_run_passes_every_tollgate_setting_through(tmp_path, monkeypatch):
    monkeypatch.setenv("TOLLGATE_ACCOUNTS_DB", "postgresql://tollgate@127.0.0.1:5432/tollgate")
    monkeypatch.setenv("TOLLGATE_LEASE_SLICE_MICROS", "12345")
    defaults = Settings.from_env()
    env = Stack(data_dir=Path(tmp_path), ports=Ports.free(), base=defaults, inherit_env=True).env()
    assert env["TOLLGATE_ACCOUNTS_DB"] == "postgresql://tollgate@127.0.0.1:5432/tollgate"
    assert env["TOLLGATE_LEASE_SLICE_MICROS"] == "12345"
    clean = Stack(data_dir=Path(tmp_path), ports=Ports.free()).env()  # the tests' stacks start from defaults
    assert clean["TOLLGATE_ACCOUNTS_DB"] == "" and clean["TOLLGATE_LEASE_SLICE_MICROS"] == str(Settings().lease_slice_micros)
