"""Who is calling: API key -> principal, cached, invalidated over NATS by accounts."""

from __future__ import annotations

import fnmatch
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from tollgate import errors, events
from tollgate.cache import CachedLookup
from tollgate.errors import Forbidden, InsufficientQuota, Unauthorized
from tollgate.keys import hash_key
from tollgate.periods import day_number, month_number
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc


class AccountState:
    """One account's last known balance and status, shared by every cached key of it."""

    __slots__ = ("__weakref__", "account_id", "balance_micros", "status", "status_reason", "throttle_rpm", "throttle_until_ms")

    def __init__(self, account_id: str, balance_micros: int, status: str = "active", status_reason: str = ""):
        self.account_id = account_id
        self.balance_micros = balance_micros
        self.status = status
        self.status_reason = status_reason
        self.throttle_rpm = 0  # risk control: a temporary account-wide RPM limit (services/edge/ratelimit.py) ...
        self.throttle_until_ms = 0  # ... until then


class KeySpend:
    """A capped key's spend in the current UTC day and month: what accounts last reported
    (it has debited), plus what this edge has spent since."""

    __slots__ = ("__weakref__", "cap_day", "cap_month", "day", "month", "spent_day", "spent_month")

    def __init__(self, cap_day: int, cap_month: int, day: int, month: int, spent_day: int, spent_month: int):
        self.cap_day, self.cap_month = cap_day, cap_month
        self.day, self.month, self.spent_day, self.spent_month = day, month, spent_day, spent_month

    def _roll(self, now_ms: int) -> None:
        day, month = day_number(now_ms), month_number(now_ms)
        if day != self.day:
            self.day, self.spent_day = day, 0
        if month != self.month:
            self.month, self.spent_month = month, 0

    def check(self, worst_case_micros: int, now_ms: int) -> None:
        self._roll(now_ms)
        for cap, spent, period in ((self.cap_day, self.spent_day, "daily"), (self.cap_month, self.spent_month, "monthly")):
            if cap and spent + worst_case_micros > cap:
                raise InsufficientQuota(
                    f"This API key reached its {period} spend cap (${cap / 1e6:.2f}; spent ${spent / 1e6:.6f}, this request may cost up to "
                    f"${worst_case_micros / 1e6:.6f}).",
                    code="spend_cap_exceeded",
                )

    def room(self, now_ms: int) -> int:
        """What the caps leave by this edge's last figures (a hint for the lease's size; the
        accounts service decides, counting every edge's leases)."""
        self._roll(now_ms)
        left = [cap - spent for cap, spent in ((self.cap_day, self.spent_day), (self.cap_month, self.spent_month)) if cap]
        return max(min(left), 0) if left else 0

    def add(self, micros: int, now_ms: int) -> None:
        self._roll(now_ms)
        self.spent_day += micros
        self.spent_month += micros

    def reported(self, event: events.BalanceChanged) -> None:
        """Totals from accounts include other edges' spend; ours not yet debited may be missing
        from them, so the larger figure wins."""
        if event.day >= self.day:
            self.spent_day = max(self.spent_day if event.day == self.day else 0, event.key_spent_day_micros)
            self.day = event.day
        if event.month >= self.month:
            self.spent_month = max(self.spent_month if event.month == self.month else 0, event.key_spent_month_micros)
            self.month = event.month


REACTIVATION_HINT = (
    "To ask for reactivation, open the console's Reactivation page (or POST /console/api/risk/reactivation "
    "with this key) and say what happened."
)


def status_error(status: str, reason: str) -> Forbidden:
    """The 403 for an account that is not active, saying why and what its user can do."""
    why = f" Reason: {reason}" if reason else ""
    if status == "deactivated":
        return Forbidden(
            f"This account has been permanently deactivated.{why} It cannot be reactivated by request; contact the operator.",
            code="account_deactivated",
        )
    return Forbidden(f"This account is suspended.{why} {REACTIVATION_HINT}", code="account_suspended")


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    key_id: str
    key_prefix: str
    account: AccountState
    require_zdr: bool = False
    allowed_models: tuple[str, ...] = ()  # glob patterns; empty = every model
    expires_at_ms: int = 0
    rpm_limit: int = 0  # 0 = unlimited
    tpm_limit: int = 0
    spend: KeySpend | None = None  # only for keys with a spend cap
    group: str = "default"  # the account's pricing group: its models, its prices
    budgeted: bool = False  # a member's or team's budget bounds the key: it takes leases of its own
    budget_room_micros: int = 0  # what those budgets left when accounts answered (sizes the key's lease slices)

    def check_status(self) -> None:
        if self.account.status != "active":
            raise status_error(self.account.status, self.account.status_reason)

    def check_model(self, model: str) -> None:
        if self.allowed_models and not any(fnmatch.fnmatchcase(model, p) for p in self.allowed_models):
            raise Forbidden(f"This API key is not allowed to use model {model}.", code="model_not_allowed")


class Authenticator:
    def __init__(self, stub: pb_grpc.AccountsStub, *, ttl: float, negative_ttl: float, maxsize: int, pepper: str = ""):
        self._stub = stub
        self._pepper = pepper
        self._accounts: weakref.WeakValueDictionary[str, AccountState] = weakref.WeakValueDictionary()
        self._spend: weakref.WeakValueDictionary[str, KeySpend] = weakref.WeakValueDictionary()
        self._cache: CachedLookup[str, Principal] = CachedLookup(
            self._authenticate, ttl=ttl, maxsize=maxsize, negative=(Unauthorized,), negative_ttl=negative_ttl
        )
        # (key digest, code, address, account id) of each refused credential: services/edge/signals.py
        self.on_failure: Callable[[str, str, str, str], None] | None = None

    @property
    def cached(self) -> int:
        """Keys answered from memory without accounts (what readiness falls back on)."""
        return len(self._cache)

    async def principal(self, key: str, address: str = "") -> Principal:
        """``address``: the client's, reported with a refusal (for the risk engine's rules)."""
        if not key:
            raise self._refused(
                Unauthorized("You didn't provide an API key. Provide it as 'Authorization: Bearer sk-...'.", code="missing_api_key"),
                "",
                address,
            )
        digest = hash_key(key, self._pepper)
        try:
            principal = await self._cache.get(digest, key)
        except Unauthorized as err:
            raise self._refused(err, digest, address) from None
        if principal.expires_at_ms and principal.expires_at_ms <= time.time_ns() // 1_000_000:
            expired = Unauthorized("This API key has expired.", code="expired_api_key")  # also while cached
            raise self._refused(expired, digest, address, principal.account_id)
        return principal

    def _refused(self, err: Unauthorized, digest: str, address: str, account_id: str = "") -> Unauthorized:
        if self.on_failure is not None:
            self.on_failure(digest, err.code or "", address, account_id)
        return err

    async def _authenticate(self, digest: str, key: str) -> Principal:
        try:
            reply: pb.Principal = await self._stub.Authenticate(pb.AuthenticateRequest(key=key), timeout=5)
        except grpc.aio.AioRpcError as err:
            raise errors.from_grpc(err) from None
        account = self._accounts.get(reply.account_id)
        if account is None:
            account = AccountState(reply.account_id, reply.balance_micros, reply.account_status, reply.status_reason)
            self._accounts[reply.account_id] = account
        else:
            account.balance_micros, account.status, account.status_reason = reply.balance_micros, reply.account_status, reply.status_reason
        account.throttle_rpm, account.throttle_until_ms = reply.throttle_rpm, reply.throttle_until_ms
        spend = None
        if reply.spend_cap_day_micros or reply.spend_cap_month_micros:
            spend = KeySpend(
                reply.spend_cap_day_micros,
                reply.spend_cap_month_micros,
                reply.spend_day,
                reply.spend_month,
                reply.spent_day_micros,
                reply.spent_month_micros,
            )
            self._spend[reply.key_id] = spend
        return Principal(
            reply.account_id,
            reply.key_id,
            reply.key_prefix,
            account,
            reply.require_zdr,
            tuple(reply.allowed_models),
            reply.expires_at_ms,
            reply.rpm_limit,
            reply.tpm_limit,
            spend,
            reply.price_group or "default",
            reply.budgeted,
            reply.budget_room_micros,
        )

    # -- invalidations pushed by the accounts service ---------------------------------
    def on_key_changed(self, event: events.KeyRevoked | events.KeyUpdated) -> None:
        self._cache.invalidate(event.key_hash)

    def forget_all(self) -> None:
        """Notices were missed (tollgate/notices.py): every key is asked of accounts again."""
        self._cache.clear()

    def on_balance_changed(self, event: events.BalanceChanged) -> None:
        account = self._accounts.get(event.account_id)
        if account is not None:
            account.balance_micros = event.balance_micros
        spend = self._spend.get(event.key_id) if event.key_id else None
        if spend is not None:
            spend.reported(event)

    def on_account_status(self, event: events.AccountStatusChanged) -> None:
        account = self._accounts.get(event.account_id)
        if account is not None:
            account.status, account.status_reason = event.status, event.reason
            account.throttle_rpm, account.throttle_until_ms = event.throttle_rpm, event.throttle_until_ms
