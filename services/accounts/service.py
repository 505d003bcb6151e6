"""The Accounts gRPC servicer."""

from __future__ import annotations

import datetime

import grpc
from nats.aio.client import Client

from services.accounts import keys
from services.accounts.store import AccountRow, KeyRow, SqlStore, new_id, now_ms
from tollgate import events
from tollgate.errors import BadRequest, NotFound, TollgateError, Unauthorized, abort
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc


def key_info(row: KeyRow) -> pb.KeyInfo:
    return pb.KeyInfo(
        key_id=row.id, account_id=row.account_id, name=row.name, prefix=row.prefix, created_at_ms=row.created_at_ms,
        revoked_at_ms=row.revoked_at_ms, require_zdr=row.require_zdr, allowed_models=row.allowed_models, expires_at_ms=row.expires_at_ms,
        rpm_limit=row.rpm_limit, tpm_limit=row.tpm_limit,
    )  # fmt: skip


DEFAULT_KEY_RPM = 180  # requests per minute for a key created without a limit (-1 = unlimited)


def day_name(day_number: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day_number)).isoformat()


def account_msg(row: AccountRow) -> pb.Account:
    return pb.Account(account_id=row.id, name=row.name, balance_micros=row.balance_micros, created_at_ms=row.created_at_ms, require_zdr=row.require_zdr)


class Notifier:
    """Pushes cache invalidations to every edge over core NATS (fire and forget)."""

    def __init__(self, nc: Client, log):
        self._nc = nc
        self._log = log

    async def publish(self, subject: str, event) -> None:
        try:
            await self._nc.publish(subject, events.encode(event))
        except Exception as exc:  # a lost notice only delays the edge until its cache TTL
            self._log.warning("notify failed", subject=subject, error=type(exc).__name__)

    async def balance_changed(self, account_id: str, balance: int) -> None:
        await self.publish(events.BALANCE_CHANGED_SUBJECT, events.BalanceChanged(account_id=account_id, balance_micros=balance))


class AccountsService(pb_grpc.AccountsServicer):
    def __init__(self, store: SqlStore, notifier: Notifier, pepper: str = ""):
        self._store = store
        self._notify = notifier
        self._pepper = pepper

    async def _guard(self, context, coro):
        try:
            return await coro
        except TollgateError as err:
            await abort(context, err)

    async def Authenticate(self, request: pb.AuthenticateRequest, context: grpc.aio.ServicerContext) -> pb.Principal:
        return await self._guard(context, self._authenticate(request.key))

    async def _authenticate(self, key: str) -> pb.Principal:
        if not keys.looks_like_key(key):
            raise Unauthorized("Incorrect API key provided.")
        found = await self._store.principal_by_hash(keys.hash_key(key, self._pepper))
        if found is None or found.key.revoked_at_ms:
            raise Unauthorized("Incorrect API key provided.")
        if found.key.expires_at_ms and found.key.expires_at_ms <= now_ms():
            raise Unauthorized("This API key has expired.", code="expired_api_key")
        return pb.Principal(
            account_id=found.account.id,
            key_id=found.key.id,
            key_prefix=found.key.prefix,
            balance_micros=found.account.balance_micros,
            account_name=found.account.name,
            require_zdr=found.key.require_zdr or found.account.require_zdr,
            allowed_models=found.key.allowed_models,
            expires_at_ms=found.key.expires_at_ms,
            rpm_limit=found.key.rpm_limit,
            tpm_limit=found.key.tpm_limit,
        )

    async def CreateAccount(self, request: pb.CreateAccountRequest, context) -> pb.Account:
        return await self._guard(context, self._create_account(request))

    async def _create_account(self, request: pb.CreateAccountRequest) -> pb.Account:
        if not request.name.strip():
            raise BadRequest("account name is required")
        if request.initial_balance_micros < 0:
            raise BadRequest("initial balance cannot be negative")
        return account_msg(await self._store.create_account(request.name.strip(), request.initial_balance_micros, request.require_zdr))

    async def CreateKey(self, request: pb.CreateKeyRequest, context) -> pb.CreatedKey:
        return await self._guard(context, self._create_key(request))

    async def _create_key(self, request: pb.CreateKeyRequest) -> pb.CreatedKey:
        await self._account(request.account_id)
        secret = keys.new_key()
        if request.expires_at_ms and request.expires_at_ms <= now_ms():
            raise BadRequest("expires_at_ms is in the past")
        patterns = tuple(p.strip() for p in request.allowed_models if p.strip())
        row = await self._store.create_key(
            request.account_id, request.name or "default", keys.display_prefix(secret), keys.hash_key(secret, self._pepper),
            request.require_zdr, patterns, request.expires_at_ms,
            DEFAULT_KEY_RPM if request.rpm_limit == 0 else max(request.rpm_limit, 0), max(request.tpm_limit, 0),
        )  # fmt: skip
        return pb.CreatedKey(key=key_info(row), secret=secret)

    async def RevokeKey(self, request: pb.RevokeKeyRequest, context) -> pb.KeyInfo:
        return await self._guard(context, self._revoke_key(request.key_id))

    async def _revoke_key(self, key_id: str) -> pb.KeyInfo:
        row = await self._store.revoke_key(key_id)
        if row is None:
            raise NotFound(f"no key {key_id!r}")
        await self._notify.publish(events.KEY_REVOKED_SUBJECT, events.KeyRevoked(key_id=row.id, key_hash=row.key_hash, account_id=row.account_id))
        return key_info(row)

    async def ListKeys(self, request: pb.ListKeysRequest, context) -> pb.ListKeysResponse:
        return await self._guard(context, self._list_keys(request.account_id))

    async def _list_keys(self, account_id: str) -> pb.ListKeysResponse:
        await self._account(account_id)
        return pb.ListKeysResponse(keys=[key_info(row) for row in await self._store.list_keys(account_id)])

    async def TopUp(self, request: pb.TopUpRequest, context) -> pb.Balance:
        return await self._guard(context, self._top_up(request))

    async def _top_up(self, request: pb.TopUpRequest) -> pb.Balance:
        if request.amount_micros <= 0:
            raise BadRequest("top-up amount must be a positive number of micro-USD")
        reference = request.reference or new_id("ref")
        result = await self._store.apply(request.account_id, "topup", request.amount_micros, f"topup:{request.account_id}:{reference}")
        if result is None:
            raise NotFound(f"no account {request.account_id!r}")
        applied, balance = result
        if applied:
            await self._notify.balance_changed(request.account_id, balance)
        return pb.Balance(account_id=request.account_id, balance_micros=balance)

    async def GetBalance(self, request: pb.GetBalanceRequest, context) -> pb.Balance:
        return await self._guard(context, self._balance(request.account_id))

    async def _balance(self, account_id: str) -> pb.Balance:
        account = await self._account(account_id)
        return pb.Balance(account_id=account.id, balance_micros=account.balance_micros)

    async def DailyDebits(self, request: pb.DailyDebitsRequest, context) -> pb.DailyDebitsResponse:
        return await self._guard(context, self._daily_debits(request))

    async def _daily_debits(self, request: pb.DailyDebitsRequest) -> pb.DailyDebitsResponse:
        await self._account(request.account_id)
        end = request.end_ms or 2**62
        days = await self._store.daily_debits(request.account_id, request.start_ms, end)
        return pb.DailyDebitsResponse(
            days=[pb.DayDebits(day=day_name(day), debits_micros=total, requests=count) for day, total, count in days]
        )

    async def _account(self, account_id: str) -> AccountRow:
        account = await self._store.get_account(account_id)
        if account is None:
            raise NotFound(f"no account {account_id!r}")
        return account

