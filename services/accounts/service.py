"""The Accounts gRPC servicer. Each RPC checks its caller (``access``), then runs one
``_<method>`` coroutine; errors are ``TollgateError``s, aborted with their gRPC code."""

from __future__ import annotations

import datetime
import re

from services.accounts import budgets
from services.accounts.access import Access, Caller, KeyLimits
from services.accounts.notices import Notifier  # control notices durably (outbox + JetStream), balance hints on core NATS
from services.accounts.store import AccountRow, KeyRow, LeaseRow, SqlStore, new_id, now_ms
from tollgate import events, keys
from tollgate.errors import BadRequest, Forbidden, NotFound, TollgateError, Unauthorized, abort
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc

DEFAULT_KEY_RPM = 180  # requests per minute for a key created without a limit (-1 = unlimited)
DEFAULT_ROTATION_GRACE_S = 86_400
STATUSES = ("active", "suspended")


def key_info(row: KeyRow) -> pb.KeyInfo:
    return pb.KeyInfo(
        key_id=row.id,
        account_id=row.account_id,
        name=row.name,
        prefix=row.prefix,
        created_at_ms=row.created_at_ms,
        revoked_at_ms=row.revoked_at_ms,
        require_zdr=row.require_zdr,
        allowed_models=row.allowed_models,
        expires_at_ms=row.expires_at_ms,
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        last_used_at_ms=row.last_used_at_ms,
        spend_cap_day_micros=row.spend_cap_day_micros,
        spend_cap_month_micros=row.spend_cap_month_micros,
        member_id=row.member_id,
        team_id=row.team_id,
    )


def day_name(day_number: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day_number)).isoformat()


def account_msg(row: AccountRow) -> pb.Account:
    return pb.Account(
        account_id=row.id,
        name=row.name,
        balance_micros=row.balance_micros,
        created_at_ms=row.created_at_ms,
        require_zdr=row.require_zdr,
        status=row.status,
        status_reason=row.status_reason,
        price_group=row.price_group,
    )


def lease_msg(row: LeaseRow) -> pb.Lease:
    return pb.Lease(
        lease_id=row.id,
        account_id=row.account_id,
        granted_micros=row.granted_now,
        total_granted_micros=row.total_granted,
        expires_at_ms=row.expires_at_ms,
        available_micros=row.available,
        key_id=row.key_id,
        limited_by=row.limited_by,
    )


def _rpc(method: str):
    """The servicer method ``method``: check the caller, run ``_<snake_case method>``."""
    impl = "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower()

    async def handler(self: AccountsService, request, context):
        try:
            caller = await self._access.caller(context.invocation_metadata(), method)
            return await getattr(self, impl)(request, caller)
        except TollgateError as err:
            await abort(context, err)

    handler.__name__ = method
    return handler


class AccountsService(pb_grpc.AccountsServicer):
    def __init__(self, store: SqlStore, notifier: Notifier, access: Access, *, pepper: str = "", trial_credit_micros: int = 0):
        self._store = store
        self._notify = notifier
        self._access = access
        self._pepper = pepper
        self._trial = trial_credit_micros

    Authenticate = _rpc("Authenticate")
    CreateAccount = _rpc("CreateAccount")
    GetAccount = _rpc("GetAccount")
    ListAccounts = _rpc("ListAccounts")
    SetAccountStatus = _rpc("SetAccountStatus")
    CreateKey = _rpc("CreateKey")
    RevokeKey = _rpc("RevokeKey")
    RotateKey = _rpc("RotateKey")
    ListKeys = _rpc("ListKeys")
    TopUp = _rpc("TopUp")
    Adjust = _rpc("Adjust")
    GetBalance = _rpc("GetBalance")
    ListLedger = _rpc("ListLedger")
    DailyDebits = _rpc("DailyDebits")
    AcquireLease = _rpc("AcquireLease")
    ReturnLease = _rpc("ReturnLease")

    # -- keys presented at the edge --------------------------------------------------
    async def _authenticate(self, request: pb.AuthenticateRequest, _caller: Caller) -> pb.Principal:
        key = request.key
        if not keys.looks_like_key(key):
            raise Unauthorized("Incorrect API key provided.")
        found = await self._store.principal_by_hash(keys.hash_key(key, self._pepper))
        if found is None or found.key.revoked_at_ms:
            raise Unauthorized("Incorrect API key provided.")
        if found.key.expires_at_ms and found.key.expires_at_ms <= now_ms():
            raise Unauthorized("This API key has expired.", code="expired_api_key")
        k, a = found.key, found.account
        budgeted, budget_room = await self._store.run(budgets.budget_room, k.id)
        return pb.Principal(
            account_id=a.id,
            key_id=k.id,
            key_prefix=k.prefix,
            balance_micros=a.balance_micros,
            account_name=a.name,
            require_zdr=k.require_zdr or a.require_zdr,
            allowed_models=k.allowed_models,
            expires_at_ms=k.expires_at_ms,
            rpm_limit=k.rpm_limit,
            tpm_limit=k.tpm_limit,
            account_status=a.status,
            status_reason=a.status_reason,
            spend_cap_day_micros=k.spend_cap_day_micros,
            spend_cap_month_micros=k.spend_cap_month_micros,
            spent_day_micros=found.spent_day_micros,
            spent_month_micros=found.spent_month_micros,
            spend_day=found.day,
            spend_month=found.month,
            price_group=a.price_group,
            budgeted=budgeted,
            budget_room_micros=budget_room,
            member_id=k.member_id,
            team_id=k.team_id,
            throttle_rpm=a.throttle_rpm if a.throttle_until_ms > now_ms() else 0,
            throttle_until_ms=a.throttle_until_ms if a.throttle_until_ms > now_ms() else 0,
        )

    # -- accounts -----------------------------------------------------------------------
    async def _create_account(self, request: pb.CreateAccountRequest, _caller: Caller) -> pb.Account:
        if not request.name.strip():
            raise BadRequest("account name is required")
        if request.initial_balance_micros < 0:
            raise BadRequest("initial balance cannot be negative")
        trial = 0 if request.skip_trial_credit else self._trial
        row = await self._store.create_account(request.name.strip(), request.initial_balance_micros, request.require_zdr, trial)
        return account_msg(row)

    async def _get_account(self, request: pb.GetAccountRequest, caller: Caller) -> pb.Account:
        return account_msg(await self._account(caller.account(request.account_id)))

    async def _list_accounts(self, request: pb.ListAccountsRequest, _caller: Caller) -> pb.ListAccountsResponse:
        limit = min(request.limit or 100, 1000)
        if limit < 0:
            raise BadRequest("limit must be positive")
        return pb.ListAccountsResponse(accounts=[account_msg(r) for r in await self._store.list_accounts(limit, request.after_id)])

    async def _set_account_status(self, request: pb.SetAccountStatusRequest, caller: Caller) -> pb.Account:
        if request.status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        reason = request.reason.strip()[:500] if request.status == "suspended" else ""
        row = await self._store.set_status(caller.account(request.account_id), request.status, reason)
        if row is None:
            raise NotFound(f"no account {request.account_id!r}")
        await self._notify.publish(
            events.ACCOUNT_STATUS_SUBJECT, events.AccountStatusChanged(account_id=row.id, status=row.status, reason=row.status_reason)
        )
        return account_msg(row)

    # -- keys ---------------------------------------------------------------------------
    async def _create_key(self, request: pb.CreateKeyRequest, caller: Caller) -> pb.CreatedKey:
        account_id = caller.account(request.account_id)
        await self._account(account_id)
        if request.expires_at_ms and request.expires_at_ms <= now_ms():
            raise BadRequest("expires_at_ms is in the past")
        if min(request.spend_cap_day_micros, request.spend_cap_month_micros) < 0:
            raise BadRequest("spend caps cannot be negative")
        patterns = tuple(p.strip() for p in request.allowed_models if p.strip())
        if caller.key is None:  # the admin: 0 = the default, -1 = unlimited
            rpm = DEFAULT_KEY_RPM if request.rpm_limit == 0 else max(request.rpm_limit, 0)
        elif request.rpm_limit < 0 and caller.key.rpm_limit:
            raise Forbidden("A key cannot create a key with a higher RPM limit than its own.", code="forbidden")
        else:  # a user key: 0 = as the presenting key
            rpm = max(request.rpm_limit, 0)
        asked = KeyLimits(
            request.require_zdr,
            patterns,
            request.expires_at_ms,
            rpm,
            max(request.tpm_limit, 0),
            request.spend_cap_day_micros,
            request.spend_cap_month_micros,
        )
        k = caller.limits(asked)
        member_id, team_id = budgets.owners(caller, request.member_id, request.team_id)
        secret, row = await self._insert_key(
            account_id,
            request.name or "default",
            k.require_zdr,
            k.allowed_models,
            k.expires_at_ms,
            k.rpm_limit,
            k.tpm_limit,
            k.spend_cap_day_micros,
            k.spend_cap_month_micros,
            parent_key_id=caller.key.id if caller.key else "",
            member_id=member_id,
            team_id=team_id,
        )
        return pb.CreatedKey(key=key_info(row), secret=secret)

    async def _insert_key(
        self, account_id: str, name: str, *settings, parent_key_id: str = "", member_id: str = "", team_id: str = ""
    ) -> tuple[str, KeyRow]:
        """``parent_key_id``: the key whose caps the new key's spend also counts against (the
        user key that created it, or the key it replaces)."""
        secret = keys.new_key()
        digest = keys.hash_key(secret, self._pepper)
        row = await self._store.create_key(
            account_id,
            name,
            keys.display_prefix(secret),
            digest,
            *settings,
            parent_key_id=parent_key_id,
            member_id=member_id,
            team_id=team_id,
        )
        return secret, row

    async def _revoke_key(self, request: pb.RevokeKeyRequest, caller: Caller) -> pb.KeyInfo:
        caller.check((await self._key(request.key_id)).account_id)
        row = await self._store.revoke_key(request.key_id)
        if row is None:  # removed since: keys are never deleted, but say so rather than fail on None
            raise NotFound(f"no key {request.key_id!r}")
        await self._notify.publish(
            events.KEY_REVOKED_SUBJECT, events.KeyRevoked(key_id=row.id, key_hash=row.key_hash, account_id=row.account_id)
        )
        return key_info(row)

    async def _rotate_key(self, request: pb.RotateKeyRequest, caller: Caller) -> pb.RotatedKey:
        old = await self._key(request.key_id)
        caller.check(old.account_id)
        if old.revoked_at_ms or (old.expires_at_ms and old.expires_at_ms <= now_ms()):
            raise BadRequest("only a working key can be rotated")
        grace_s = DEFAULT_ROTATION_GRACE_S if request.grace_s == 0 else max(request.grace_s, 0)
        secret, new = await self._insert_key(
            old.account_id,
            old.name,
            old.require_zdr,
            old.allowed_models,
            old.expires_at_ms,
            old.rpm_limit,
            old.tpm_limit,
            old.spend_cap_day_micros,
            old.spend_cap_month_micros,
            parent_key_id=old.id,
            member_id=old.member_id,
            team_id=old.team_id,
        )
        expired = await self._store.expire_key(old.id, now_ms() + grace_s * 1000)
        if expired is None:
            raise NotFound(f"no key {old.id!r}")
        old = expired
        await self._notify.publish(
            events.KEY_UPDATED_SUBJECT, events.KeyUpdated(key_id=old.id, key_hash=old.key_hash, account_id=old.account_id)
        )
        return pb.RotatedKey(new_key=pb.CreatedKey(key=key_info(new), secret=secret), old_key=key_info(old))

    async def _list_keys(self, request: pb.ListKeysRequest, caller: Caller) -> pb.ListKeysResponse:
        account_id = caller.account(request.account_id)
        await self._account(account_id)
        return pb.ListKeysResponse(keys=[key_info(row) for row in await self._store.list_keys(account_id)])

    # -- money --------------------------------------------------------------------------
    async def _top_up(self, request: pb.TopUpRequest, caller: Caller) -> pb.Balance:
        if request.amount_micros <= 0:
            raise BadRequest("top-up amount must be a positive number of micro-USD")
        account_id = caller.account(request.account_id)
        reference = request.reference or new_id("ref")
        return await self._entry(account_id, "topup", request.amount_micros, f"topup:{account_id}:{reference}")

    async def _adjust(self, request: pb.AdjustRequest, caller: Caller) -> pb.Balance:
        if request.amount_micros == 0:
            raise BadRequest("an adjustment needs a non-zero amount")
        if not request.reason.strip():
            raise BadRequest("an adjustment needs a reason")
        account_id = caller.account(request.account_id)
        reference = request.reference or new_id("ref")
        return await self._entry(
            account_id, "adjustment", request.amount_micros, f"adjustment:{account_id}:{reference}", request.reason.strip()[:500]
        )

    async def _entry(self, account_id: str, kind: str, amount: int, reference: str, note: str = "") -> pb.Balance:
        result = await self._store.apply(account_id, kind, amount, reference, note=note)
        if result is None:
            raise NotFound(f"no account {account_id!r}")
        applied, balance = result
        if applied:
            await self._notify.balance_changed(account_id, balance)
        return pb.Balance(account_id=account_id, balance_micros=balance)

    async def _get_balance(self, request: pb.GetBalanceRequest, caller: Caller) -> pb.Balance:
        account = await self._account(caller.account(request.account_id))
        return pb.Balance(account_id=account.id, balance_micros=account.balance_micros)

    async def _list_ledger(self, request: pb.ListLedgerRequest, caller: Caller) -> pb.ListLedgerResponse:
        account_id = caller.account(request.account_id)
        if request.limit < 0 or request.before_id < 0:
            raise BadRequest("limit and before_id must be positive")
        found = await self._store.ledger(account_id, min(request.limit or 50, 1000), request.before_id)
        if found is None:
            raise NotFound(f"no account {account_id!r}")
        rows, balance = found
        entries = [
            pb.LedgerEntry(
                id=r.id,
                kind=r.kind,
                amount_micros=r.amount_micros,
                reference=r.reference,
                note=r.note,
                key_id=r.key_id,
                created_at_ms=r.created_at_ms,
                effective_at_ms=r.effective_at_ms,
            )
            for r in rows
        ]
        return pb.ListLedgerResponse(entries=entries, balance_micros=balance)

    async def _daily_debits(self, request: pb.DailyDebitsRequest, caller: Caller) -> pb.DailyDebitsResponse:
        account_id = caller.account(request.account_id)
        await self._account(account_id)
        end = request.end_ms or 2**62
        days = await self._store.daily_debits(account_id, request.start_ms, end)
        return pb.DailyDebitsResponse(
            days=[pb.DayDebits(day=day_name(day), debits_micros=total, requests=count) for day, total, count in days]
        )

    # -- balance leases -----------------------------------------------------------------
    async def _acquire_lease(self, request: pb.AcquireLeaseRequest, caller: Caller) -> pb.Lease:
        if request.amount_micros < 0:
            raise BadRequest("amount_micros cannot be negative")
        account_id = caller.account(request.account_id)
        needed = min(max(request.needed_micros, 0), request.amount_micros)
        row = await self._store.acquire_lease(account_id, request.lease_id, request.amount_micros, needed, request.holder, request.key_id)
        if row is None:
            raise NotFound(f"no account {account_id!r}")
        return lease_msg(row)

    async def _return_lease(self, request: pb.ReturnLeaseRequest, _caller: Caller) -> pb.Lease:
        row = await self._store.return_lease(request.lease_id, request.spent_micros)
        if row is None:
            raise NotFound(f"no lease {request.lease_id!r}")
        return lease_msg(row)

    # -- lookups ------------------------------------------------------------------------
    async def _account(self, account_id: str) -> AccountRow:
        account = await self._store.get_account(account_id)
        if account is None:
            raise NotFound(f"no account {account_id!r}")
        return account

    async def _key(self, key_id: str) -> KeyRow:
        key = await self._store.get_key(key_id)
        if key is None:
            raise NotFound(f"no key {key_id!r}")
        return key
