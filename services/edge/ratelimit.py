"""Per-key rate limits (requests and tokens per minute) that hold across edge replicas.

Each edge counts locally, per key and fixed minute window, and broadcasts its cumulative
counts for the current window every ``interval`` seconds over core NATS; every edge adds
the others' latest counts to its own when deciding. The check itself never waits on the
network. Accuracy: a key can exceed its limit by at most what other edges admitted in the
last ``interval`` (plus NATS latency) before their counts arrived — exact when requests on
different edges are further apart than that, and exact on a single edge. Tokens are
counted when a request ends, so a request already admitted may finish over the TPM limit.

Channels with their own ``rpm`` / ``tpm`` (catalog) are counted the same way, in the same
broadcast: a request when an attempt is sent to the channel (``admit_channel``), tokens from
the metered usage of the request it served. A channel at its limit is skipped. The bound is
the same as a key's: with N edges a channel takes at most what the other N−1 edges sent it in
the last ``interval`` beyond its limit; in the worst case — N edges each filling the channel
before any broadcast arrives, within the first ``interval`` of a window — N × the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import defaultdict

from services.edge.auth import Principal
from tollgate import events
from tollgate.errors import RateLimited
from tollgate.rpc import router_pb2 as pb
from tollgate.telemetry import Log

Counts = dict[int, dict[str, list[int]]]  # window -> key or channel id -> [requests, tokens]
Remote = dict[int, dict[str, dict[str, list[int]]]]  # window -> edge -> key or channel id -> counts

WINDOW_S = 60


def _window(now: float) -> int:
    return int(now // WINDOW_S)


class RateLimiter:
    def __init__(self, nc, log: Log, *, interval: float = 0.1, clock=time.time):
        self._nc = nc
        self._log = log
        self._interval = interval
        self._clock = clock
        self.edge_id = secrets.token_hex(6)
        self._local: dict[int, dict[str, list[int]]] = defaultdict(dict)  # window -> key -> [requests, tokens]
        self._remote: dict[int, dict[str, dict[str, list[int]]]] = defaultdict(dict)  # window -> edge -> key -> counts
        self._channels: Counts = defaultdict(dict)  # the same, per channel with limits of its own
        self._remote_channels: Remote = defaultdict(dict)
        self._dirty = False
        self._task: asyncio.Task | None = None

    def _total(self, window: int, key_id: str, local: Counts | None = None, remote: Remote | None = None) -> tuple[int, int]:
        local = self._local if local is None else local
        remote = self._remote if remote is None else remote
        mine = local[window].get(key_id, (0, 0))
        requests, tokens = mine[0], mine[1]
        for counts in remote.get(window, {}).values():
            theirs = counts.get(key_id)
            if theirs:
                requests, tokens = requests + theirs[0], tokens + theirs[1]
        return requests, tokens

    def admit(self, principal: Principal) -> dict[str, str]:
        """Count one request, or raise 429 ``rate_limit_exceeded``; returns OpenAI's
        ``x-ratelimit-*`` headers for the response."""
        self._admit_account(principal)
        rpm, tpm = principal.rpm_limit, principal.tpm_limit
        if not rpm and not tpm:
            return {}
        now = self._clock()
        window = _window(now)
        reset_s = max(1, int((window + 1) * WINDOW_S - now + 0.999))
        requests, tokens = self._total(window, principal.key_id)
        headers: dict[str, str] = {}
        if rpm:
            headers |= {"x-ratelimit-limit-requests": str(rpm), "x-ratelimit-reset-requests": f"{reset_s}s"}
        if tpm:
            headers |= {
                "x-ratelimit-limit-tokens": str(tpm),
                "x-ratelimit-reset-tokens": f"{reset_s}s",
                "x-ratelimit-remaining-tokens": str(max(tpm - tokens, 0)),
            }
        if (rpm and requests >= rpm) or (tpm and tokens >= tpm):
            what = "requests" if rpm and requests >= rpm else "tokens"
            limit = rpm if what == "requests" else tpm
            headers |= {"retry-after": str(reset_s), "x-ratelimit-remaining-requests": str(max(rpm - requests, 0)) if rpm else "0"}
            raise RateLimited(
                f"Rate limit reached for {what} per minute on this API key (limit {limit}). Retry after {reset_s}s.", headers=headers
            )
        counts = self._local[window].setdefault(principal.key_id, [0, 0])
        counts[0] += 1
        self._dirty = True
        if rpm:
            headers["x-ratelimit-remaining-requests"] = str(max(rpm - requests - 1, 0))
        return headers

    def _admit_account(self, principal: Principal) -> None:
        """Risk control's temporary account-wide limit (a throttle), counted across edges like a
        key's under ``acct:<account id>``; 429 ``account_throttled`` when reached."""
        account = principal.account
        now = self._clock()
        if not account.throttle_rpm or account.throttle_until_ms <= now * 1000:
            return
        window = _window(now)
        subject = "acct:" + principal.account_id
        requests, _ = self._total(window, subject)
        if requests >= account.throttle_rpm:
            reset_s = max(1, int((window + 1) * WINDOW_S - now + 0.999))
            raise RateLimited(
                f"This account is temporarily limited to {account.throttle_rpm} requests per minute by risk control. "
                f"Retry after {reset_s}s.",
                code="account_throttled",
                headers={"retry-after": str(reset_s)},
            )
        self._local[window].setdefault(subject, [0, 0])[0] += 1
        self._dirty = True

    def add_tokens(self, key_id: str, tokens: int) -> None:
        if tokens <= 0:
            return
        window = _window(self._clock())
        counts = self._local[window].get(key_id)
        if counts is not None:
            counts[1] += tokens
            self._dirty = True

    def admit_channel(self, candidate: pb.Candidate) -> int | None:
        """Count one attempt against the channel's own limits: None when it has room, else the
        seconds until its window resets (the caller skips the channel)."""
        if not candidate.rpm and not candidate.tpm:
            return None
        now = self._clock()
        window = _window(now)
        requests, tokens = self._total(window, candidate.channel_id, self._channels, self._remote_channels)
        if (candidate.rpm and requests >= candidate.rpm) or (candidate.tpm and tokens >= candidate.tpm):
            return max(1, int((window + 1) * WINDOW_S - now + 0.999))
        self._channels[window].setdefault(candidate.channel_id, [0, 0])[0] += 1
        self._dirty = True
        return None

    def add_channel_tokens(self, candidate: pb.Candidate, tokens: int) -> None:
        """The metered tokens of a request the channel served (TPM)."""
        if tokens > 0 and candidate.tpm:
            self._channels[_window(self._clock())].setdefault(candidate.channel_id, [0, 0])[1] += tokens
            self._dirty = True

    def on_counts(self, event: events.RateCounts) -> None:
        if event.edge_id != self.edge_id and event.window >= _window(self._clock()) - 1:
            self._remote[event.window][event.edge_id] = event.counts
            self._remote_channels[event.window][event.edge_id] = event.channels

    def start(self) -> None:
        self._task = asyncio.create_task(self._broadcast(), name="rate-counts")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _broadcast(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            window = _window(self._clock())
            for old in [w for w in (*self._local, *self._remote, *self._channels, *self._remote_channels) if w < window - 1]:
                for table in (self._local, self._remote, self._channels, self._remote_channels):
                    table.pop(old, None)
            if not self._dirty or not self._nc.is_connected:  # NATS away: shared when it is back
                continue
            self._dirty = False
            event = events.RateCounts(
                edge_id=self.edge_id, window=window, counts=self._local.get(window, {}), channels=self._channels.get(window, {})
            )
            try:
                await self._nc.publish(events.RATE_COUNTS_SUBJECT, events.encode(event))
            except Exception as exc:
                self._log.warning("rate counts not shared", error=type(exc).__name__)
