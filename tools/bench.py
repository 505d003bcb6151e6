"""``make bench``: first the gateway (``tools/bench_gateway.py``): what Tollgate adds to a
chat completion, measured from outside against calling a mock OpenAI upstream
(``tools/mock_upstream.py``) directly and, with ``BENCH_COMPARE_URL`` / ``BENCH_COMPARE_KEY``,
against another OpenAI-compatible gateway, in one run with alternating rounds: added
p50/p99 at c=1 and c=16, whole and streamed, max RPS, an open-loop run at a fixed rate, CPU
ms per request and RSS of every process of the stack, and the count of answered requests vs.
usage rows vs. ledger debits (the run fails when they differ).

Then metering (``tools/bench_metering.py``): ingestion throughput into ClickHouse, and the
latency of the analytics queries over 10 million events (generated once into ``.bench/``;
``BENCH_QUERY_EVENTS=100000000`` for issue 14's 100 million).

Every option is also an environment variable for ``make bench``: ``--rate 1200`` is
``BENCH_RATE=1200``; a quick run: ``BENCH_DURATION=5 BENCH_ROUNDS=2 BENCH_SKIP_METERING=1 make bench``; only
the open loop and CPU per request: ``BENCH_ROUNDS=0 BENCH_SKIP_METERING=1 make bench``. ``BENCH_STACK_ENV``
sets the stack's own settings (``BENCH_STACK_ENV="TOLLGATE_METERING_BATCH_WAIT_S=2"``).
"""

from __future__ import annotations

import argparse
import os
import sys

from tools import bench_gateway, bench_metering


def env(name: str, default: float) -> float:
    """``--name``'s default: ``BENCH_NAME`` from the environment, else ``default``."""
    return type(default)(os.environ.get("BENCH_" + name.upper().replace("-", "_"), default))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gateway = parser.add_argument_group("gateway")
    gateway.add_argument(
        "--requests",
        type=int,
        default=env("requests", 200),
        help="requests per path per round at c=1 (x4 at c=16); 0: skip the gateway bench",
    )
    gateway.add_argument(
        "--rounds",
        type=int,
        default=env("rounds", 5),
        help="alternating rounds (direct, Tollgate[, the other gateway]); 0: only the open loop and CPU per request",
    )
    gateway.add_argument("--rate", type=float, default=env("rate", 500.0), help="open loop: requests per second (issue 14's target: 1200)")
    gateway.add_argument(
        "--duration", type=float, default=env("duration", 20.0), help="open loop: seconds per path (issue 14's target: 60)"
    )
    gateway.add_argument(
        "--connections",
        type=int,
        default=env("connections", 256),
        help="open loop: most connections per path (a request due when all are busy is dropped)",
    )
    gateway.add_argument(
        "--words", type=int, default=env("words", 24), help="the mock upstream's completion: words = completion tokens = stream events"
    )
    gateway.add_argument(
        "--mock-port",
        type=int,
        default=env("mock-port", 0),
        help="the mock upstream's port (BENCH_MOCK_PORT; default: a free one, 18098 when comparing)",
    )
    gateway.add_argument("--edge-workers", type=int, default=env("edge-workers", 1), help="edge processes (TOLLGATE_EDGE_WORKERS)")
    gateway.add_argument(
        "--soak", type=int, default=env("soak", 0), help="then this many more requests with the edge's RSS sampled (issue 14: 1000000)"
    )
    metering = parser.add_argument_group("metering")
    metering.add_argument(
        "--skip-metering",
        action="store_true",
        default=os.environ.get("BENCH_SKIP_METERING", "") not in ("", "0"),
        help="only the gateway bench",
    )
    metering.add_argument(
        "--metering-events", type=int, default=env("metering-events", 500_000), help="events for metering's ingestion run (0: skip it)"
    )
    metering.add_argument(
        "--query-events", type=int, default=env("query-events", 10_000_000), help="events in metering's query dataset (0: skip the queries)"
    )
    metering.add_argument("--query-runs", type=int, default=env("query-runs", 20), help="timed runs per metering query")
    args = parser.parse_args()
    status = 0
    if args.requests:
        opts = bench_gateway.Options(
            args.requests, args.rounds, args.rate, args.duration, args.connections, args.words, args.mock_port, args.edge_workers, args.soak
        )
        status = bench_gateway.run(opts)
        print()
    if not args.skip_metering:
        bench_metering.run(args.metering_events, 0, args.query_events, args.query_runs)
    return status


if __name__ == "__main__":
    sys.exit(main())
