"""Restarting an edge under streaming load: SIGTERM stops it accepting, lets every stream
in flight finish inside the grace period, flushes their usage events, and exits cleanly; a
new edge takes the same port; every completed request is metered and debited exactly once."""

from __future__ import annotations

import signal
import socket
import threading
import time
from dataclasses import dataclass, field

import openai

from tests.e2e.test_balance import eventually, usage_debits
from tests.e2e.test_contract import wait_for_usage

WORKERS = 16
MAX_TOKENS = 16  # sim-drip: a frame per word, 200 ms apart (about 4 s a stream)


@dataclass
class Load:
    """Streaming requests in a loop until stopped; what happened to each."""

    client: openai.OpenAI
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    completed: list[tuple[float, float]] = field(default_factory=list)  # (first byte, end) of each whole stream
    refused: int = 0  # no connection: the request never reached an edge
    last_refusal: str = ""
    cut: list[str] = field(default_factory=list)  # a stream that broke after it began, or an error answer
    started: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            began = None
            try:
                stream = self.client.chat.completions.create(
                    model="sim-drip",
                    messages=[{"role": "user", "content": "hi"}],
                    max_tokens=MAX_TOKENS,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                text, finish, usage = [], None, None
                for chunk in stream:
                    if began is None:
                        began = time.monotonic()
                        self.started.set()
                    for choice in chunk.choices:
                        text.append(choice.delta.content or "")
                        finish = choice.finish_reason or finish
                    usage = chunk.usage or usage
                words = "".join(text).split()
                if finish is None or usage is None or len(words) != MAX_TOKENS or usage.completion_tokens != MAX_TOKENS:
                    raise AssertionError(f"incomplete stream: finish={finish} words={len(words)} usage={usage}")
                with self.lock:
                    self.completed.append((began, time.monotonic()))
            except openai.APIConnectionError as exc:
                if began is not None:  # the stream had begun: it was cut
                    with self.lock:
                        self.cut.append(f"{type(exc).__name__}: {exc}")
                else:
                    with self.lock:
                        self.refused += 1
                        self.last_refusal = f"{type(exc).__name__}: {exc.__cause__!r}"
                    time.sleep(0.02)
            except Exception as exc:
                with self.lock:
                    self.cut.append(f"{type(exc).__name__}: {exc}")


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return False
    except OSError:
        return True


def test_an_edge_restarted_under_streaming_load_cuts_no_stream_and_loses_no_usage(stack, accounts, new_account):
    credit = 50_000_000
    account_id, key = new_account(balance_micros=credit)
    old, url = stack.start_edge("edge-restarting")
    port = old.ready[1]
    load = Load(openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=30))
    threads = [threading.Thread(target=load.run, daemon=True) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    try:
        assert load.started.wait(15), "no stream began"
        time.sleep(1.0)  # every worker is mid-stream now
        sigterm = time.monotonic()
        old.proc.send_signal(signal.SIGTERM)
        # It stops accepting at once, while the streams it holds go on.
        assert eventually(lambda: refuses_connections(port), timeout=2.0), "the old edge still accepts connections"
        assert old.proc.poll() is None, "the old edge quit before its streams finished"
        assert old.proc.wait(timeout=20) == 0
        stopped = time.monotonic()
        new, _ = stack.start_edge("edge-restarted", port=port)  # the same address: clients carry on
        # Every stream that begins from now on is the new edge's: let it serve a round of them.
        served = eventually(lambda: sum(1 for began, _ in load.completed if began > stopped) >= WORKERS, timeout=30)
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=30)

    assert not load.cut, f"{len(load.cut)} streams cut or failed, e.g. {load.cut[:3]}"
    spanning = [c for c in load.completed if c[0] < sigterm < c[1]]
    assert len(spanning) >= WORKERS // 2, f"only {len(spanning)} streams were in flight at SIGTERM"
    assert stopped - sigterm < 10, "the old edge took longer than its grace period"
    assert served, f"the restarted edge served too few streams ({load.refused} requests refused meanwhile, the last: {load.last_refusal})"

    # Every completed request was published (the old edge flushed its queue before it
    # exited), metered once and debited once; nothing else was.
    n = len(load.completed)
    stored = wait_for_usage(stack, account_id, n, timeout=30)
    assert stored["requests"] == n
    assert stored["completion_tokens"] == n * MAX_TOKENS
    debits = eventually(lambda: (d := usage_debits(accounts, account_id)) and len(d) >= n and d, timeout=30)
    assert len(debits) == n and sum(debits) == stored["cost_micros"] > 0
    assert stack.exit_codes.get("edge-restarting") in (None, 0)
    assert new.proc.poll() is None


def test_streams_still_open_when_the_grace_period_ends_are_cut_but_still_metered(stack, accounts, new_account):
    account_id, key = new_account(balance_micros=50_000_000)
    edge, url = stack.start_edge("edge-short-grace", env={"TOLLGATE_HTTP_SHUTDOWN_GRACE_S": "0.5"})
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=30)
    outcomes: list[str] = []
    streaming = threading.Semaphore(0)
    STREAMS = 6

    def one() -> None:
        try:
            stream = client.chat.completions.create(
                model="sim-drip",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=40,
                stream=True,  # about 8 s
            )
            for i, _ in enumerate(stream):
                if i == 0:
                    streaming.release()
            outcomes.append("whole")
        except Exception as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=one) for _ in range(STREAMS)]
    for t in threads:
        t.start()
    for _ in range(STREAMS):  # every stream has begun
        assert streaming.acquire(timeout=20)
    edge.proc.send_signal(signal.SIGTERM)
    assert edge.proc.wait(timeout=20) == 0
    for t in threads:
        t.join(30)
    assert len(outcomes) == STREAMS and outcomes.count("whole") < STREAMS, outcomes  # cut by the shutdown (8 s streams, 0.5 s grace)
    # Each cut stream was still metered (what was streamed before the cut) and debited once.
    stored = wait_for_usage(stack, account_id, STREAMS, timeout=30)
    assert stored["requests"] == STREAMS, stored
    debits = eventually(lambda: (d := usage_debits(accounts, account_id)) and len(d) >= STREAMS and d, timeout=30)
    assert len(debits) == STREAMS and sum(debits) == stored["cost_micros"] > 0
