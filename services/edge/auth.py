"""Who is calling: API key -> principal, cached, invalidated over NATS by accounts."""

from __future__ import annotations

import fnmatch
import time
import weakref
from dataclasses import dataclass

import grpc

from services.accounts.keys import hash_key
from services.edge.cache import CachedLookup
from tollgate import errors, events
from tollgate.errors import Forbidden, Unauthorized
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc


class AccountState:
    """One account's last known balance, shared by every cached key of that account."""

    __slots__ = ("account_id", "balance_micros", "__weakref__")

    def __init__(self, account_id: str, balance_micros: int):
        self.account_id = account_id
        self.balance_micros = balance_micros


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

    def check_model(self, model: str) -> None:
        if self.allowed_models and not any(fnmatch.fnmatchcase(model, p) for p in self.allowed_models):
            raise Forbidden(f"This API key is not allowed to use model {model}.", code="model_not_allowed")


class Authenticator:
    def __init__(self, stub: pb_grpc.AccountsStub, *, ttl: float, negative_ttl: float, maxsize: int, pepper: str = ""):
        self._stub = stub
        self._pepper = pepper
        self._accounts: weakref.WeakValueDictionary[str, AccountState] = weakref.WeakValueDictionary()
        self._cache: CachedLookup[str, Principal] = CachedLookup(
            self._authenticate, ttl=ttl, maxsize=maxsize, negative=(Unauthorized,), negative_ttl=negative_ttl
        )

    async def principal(self, key: str) -> Principal:
        if not key:
            raise Unauthorized("You didn't provide an API key. Provide it as 'Authorization: Bearer sk-...'.", code="missing_api_key")
        principal = await self._cache.get(hash_key(key, self._pepper), key)
        if principal.expires_at_ms and principal.expires_at_ms <= time.time_ns() // 1_000_000:
            raise Unauthorized("This API key has expired.", code="expired_api_key")  # also while cached
        return principal

    async def _authenticate(self, digest: str, key: str) -> Principal:
        try:
            reply: pb.Principal = await self._stub.Authenticate(pb.AuthenticateRequest(key=key), timeout=5)
        except grpc.aio.AioRpcError as err:
            raise errors.from_grpc(err) from None
        account = self._accounts.get(reply.account_id)
        if account is None:
            account = AccountState(reply.account_id, reply.balance_micros)
            self._accounts[reply.account_id] = account
        else:
            account.balance_micros = reply.balance_micros
        return Principal(
            reply.account_id, reply.key_id, reply.key_prefix, account, reply.require_zdr, tuple(reply.allowed_models), reply.expires_at_ms,
            reply.rpm_limit, reply.tpm_limit,
        )  # fmt: skip

    # -- invalidations pushed by the accounts service ---------------------------------
    def on_key_revoked(self, event: events.KeyRevoked) -> None:
        self._cache.invalidate(event.key_hash)

    def on_balance_changed(self, event: events.BalanceChanged) -> None:
        account = self._accounts.get(event.account_id)
        if account is not None:
            account.balance_micros = event.balance_micros
