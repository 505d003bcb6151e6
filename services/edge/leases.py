"""Pre-authorization against balance leases (docs/balance-leases.md).

An edge reserves a slice of an account's balance from the accounts service (a lease) and
admits requests against it locally: each request holds its worst-case cost while it runs
and, when it is metered, keeps its actual cost and gives the rest back to the lease. Only
when a lease cannot cover a request does the edge ask accounts for more, once per account
at a time. A lease unused for ``idle_s`` goes back, reporting what was spent under it.

A key with a spend cap has a lease of its own (per account and key): accounts grants it
only what both the balance and the caps of the key and of the keys above it leave, so
caps are reserved exactly like the balance. Uncapped keys share their account's lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc

from tollgate import errors
from tollgate.errors import InsufficientQuota
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc
from tollgate.telemetry import Log

RENEW_BEFORE_MS = 20_000  # renew a lease this long before accounts would let it lapse


class Lease:
    """One account's lease on this edge, or one capped key's."""

    __slots__ = (
        "account_id",
        "closed",
        "expires_at_ms",
        "granted",
        "held",
        "key_id",
        "last_used",
        "lease_id",
        "limited_by",
        "lock",
        "spent",
    )

    def __init__(self, account_id: str, key_id: str = ""):
        self.account_id = account_id
        self.key_id = key_id  # "" = the account's lease
        self.limited_by = ""  # what limited the last grant: "balance", "spend_cap" or ""
        self.lease_id = ""
        self.granted = 0  # everything accounts granted under lease_id
        self.held = 0  # worst-case costs of requests in flight
        self.spent = 0  # actual costs of finished requests
        self.expires_at_ms = 0
        self.last_used = time.monotonic()
        self.closed = False
        self.lock = asyncio.Lock()

    @property
    def slot(self) -> str:
        return self.key_id or self.account_id

    @property
    def remaining(self) -> int:
        return self.granted - self.held - self.spent


class Hold:
    """One request's reservation; settled exactly once with what the request cost."""

    __slots__ = ("amount", "lease", "settled")

    def __init__(self, lease: Lease, amount: int):
        self.lease = lease
        self.amount = amount
        self.settled = False
        lease.held += amount

    def settle(self, cost: int) -> str:
        """Keep ``cost`` of the hold and return the rest to the lease; the lease's id."""
        lease = self.lease
        if not self.settled:
            self.settled = True
            lease.held -= self.amount
            lease.spent += cost
            lease.last_used = time.monotonic()
        return lease.lease_id


class LeaseBook:
    def __init__(self, stub: pb_grpc.AccountsStub, log: Log, *, holder: str, slice_micros: int, idle_s: float):
        self._stub = stub
        self._log = log
        self._holder = holder
        self._slice = slice_micros
        self._idle_s = idle_s
        self._leases: dict[str, Lease] = {}
        self._task: asyncio.Task | None = None

    async def hold(self, account_id: str, amount: int, balance_hint: int, *, key_id: str = "", cap_hint: int = 0) -> Hold:
        """Reserve ``amount`` for one request, or raise 402 when the account cannot cover it.
        ``key_id``: a capped key, held against its own lease (``cap_hint``: what its caps
        leave by this edge's figures, to size the slice)."""
        slot = key_id or account_id
        lease = self._leases.get(slot)
        if lease is None or lease.closed:
            lease = self._leases[slot] = Lease(account_id, key_id)
        lease.last_used = time.monotonic()
        if lease.lease_id and lease.remaining >= amount:
            return Hold(lease, amount)
        async with lease.lock:
            if not (lease.lease_id and lease.remaining >= amount):
                await self._grow(lease, amount, min(balance_hint, cap_hint) if key_id else balance_hint)
            if (lease.remaining < amount or lease.closed) and lease.limited_by == "budget":
                raise InsufficientQuota(
                    f"The budget of this API key's member or team cannot cover this request's worst-case cost (${amount / 1e6:.6f}) "
                    f"beside what it has spent and what is reserved for its requests in flight. Ask an organisation admin to raise "
                    f"the budget, wait for its period to end, or lower max_tokens.",
                    code="budget_exceeded",
                )
            if (lease.remaining < amount or lease.closed) and lease.limited_by == "spend_cap":
                raise InsufficientQuota(
                    f"This API key's spend cap (or that of the key it was created from) cannot cover this request's worst-case cost "
                    f"(${amount / 1e6:.6f}) beside what it has spent and what is reserved for its requests in flight. Wait for the "
                    f"cap's period to end, or lower max_tokens.",
                    code="spend_cap_exceeded",
                )
            if lease.remaining < amount or lease.closed:
                raise InsufficientQuota(
                    f"You exceeded your current quota: the account's balance cannot cover this request's worst-case cost "
                    f"(${amount / 1e6:.6f}). Top up, or lower max_tokens."
                )
            return Hold(lease, amount)

    async def _grow(self, lease: Lease, amount: int, hint: int) -> None:
        short = amount - lease.remaining if lease.lease_id else amount
        want = max(short, min(self._slice, hint // 4))  # small balances (and caps) are shared in small slices
        reply = await self._call(
            self._stub.AcquireLease,
            pb.AcquireLeaseRequest(
                account_id=lease.account_id,
                lease_id=lease.lease_id,
                amount_micros=want,
                needed_micros=short,
                holder=self._holder,
                key_id=lease.key_id,
            ),
        )
        lease.limited_by = reply.limited_by
        if reply.lease_id != lease.lease_id:  # a new lease (the old one, if any, had lapsed)
            lease.lease_id, lease.spent = reply.lease_id, 0
        lease.granted = reply.total_granted_micros
        lease.expires_at_ms = reply.expires_at_ms

    async def _call(self, method, request):
        try:
            return await method(request, timeout=5)
        except grpc.aio.AioRpcError as err:
            raise errors.from_grpc(err) from None

    # -- housekeeping -----------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lease-keeper")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self.tend()

    async def tend(self, *, closing: bool = False) -> None:
        """Return idle leases (all of them when ``closing``) and renew busy ones."""
        now, now_ms = time.monotonic(), time.time_ns() // 1_000_000
        for lease in list(self._leases.values()):
            if not lease.lease_id or lease.closed:
                continue
            try:
                if lease.held == 0 and (closing or now - lease.last_used > self._idle_s):
                    lease.closed = True  # no await since held was read: no request can join it now
                    if self._leases.get(lease.slot) is lease:
                        del self._leases[lease.slot]
                    await self._call(self._stub.ReturnLease, pb.ReturnLeaseRequest(lease_id=lease.lease_id, spent_micros=lease.spent))
                elif lease.expires_at_ms - now_ms < RENEW_BEFORE_MS:
                    reply = await self._call(
                        self._stub.AcquireLease,
                        pb.AcquireLeaseRequest(
                            account_id=lease.account_id, lease_id=lease.lease_id, holder=self._holder, key_id=lease.key_id
                        ),
                    )
                    if reply.lease_id == lease.lease_id:
                        lease.expires_at_ms = reply.expires_at_ms
                    else:  # it lapsed: the next request takes a new one
                        lease.closed = True
                        if self._leases.get(lease.slot) is lease:
                            del self._leases[lease.slot]
            except errors.TollgateError as err:
                self._log.warning("lease upkeep failed", lease_id=lease.lease_id, error=err.code)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.tend(closing=True)
