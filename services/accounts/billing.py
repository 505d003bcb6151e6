"""The Billing gRPC servicer (served by the accounts process beside Accounts): redemption
codes (minted and listed by the admin, redeemed by an account's own key) and credits for
payments a provider's verified webhook reported (``services.metering.console.billing``
verifies the signature, then calls ``CreditPayment`` with the admin credential)."""

from __future__ import annotations

import re

from services.accounts.access import Access, Caller
from services.accounts.billing_store import STATUSES, BillingStore, CodeRow, hash_code
from services.accounts.notices import Notifier
from services.accounts.store import now_ms
from tollgate.errors import BadRequest, Conflict, NotFound, RateLimited, TollgateError, abort
from tollgate.rpc import billing_pb2 as pb
from tollgate.rpc import billing_pb2_grpc as pb_grpc

USER_METHODS = frozenset({"RedeemCode"})  # a user key may redeem a code for its own account; the rest needs the admin
MAX_CODES_PER_CALL = 1000
MAX_CODE_MICROS = 10**12  # one million USD: a typo guard
MAX_NOTE = 200
EVENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
PROVIDER = re.compile(r"[a-z0-9_-]{1,40}")

# Why a code did not redeem, as the caller is told (an unknown and a revoked code look alike).
REFUSALS: dict[str, tuple[type[TollgateError], str, str]] = {
    "invalid": (BadRequest, "This redemption code is not valid.", "invalid_redemption_code"),
    "revoked": (BadRequest, "This redemption code is not valid.", "invalid_redemption_code"),
    "redeemed": (Conflict, "This redemption code has already been redeemed.", "redemption_code_used"),
    "expired": (BadRequest, "This redemption code has expired.", "redemption_code_expired"),
}


def code_info(row: CodeRow, now: int | None = None) -> pb.CodeInfo:
    return pb.CodeInfo(
        code_id=row.id,
        prefix=row.prefix,
        amount_micros=row.amount_micros,
        created_at_ms=row.created_at_ms,
        expires_at_ms=row.expires_at_ms,
        note=row.note,
        redeemed_at_ms=row.redeemed_at_ms,
        redeemed_by=row.redeemed_by,
        revoked_at_ms=row.revoked_at_ms,
        status=row.status(now or now_ms()),
        batch_id=row.batch_id,
    )


def _rpc(method: str):
    impl = "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower()

    async def handler(self: BillingService, request, context):
        try:
            caller = await self._access.caller(context.invocation_metadata(), method, USER_METHODS)
            return await getattr(self, impl)(request, caller)
        except TollgateError as err:
            await abort(context, err)

    handler.__name__ = method
    return handler


class BillingService(pb_grpc.BillingServicer):
    def __init__(self, store: BillingStore, notifier: Notifier, access: Access, *, pepper: str = ""):
        self._store = store
        self._notify = notifier
        self._access = access
        self._pepper = pepper

    CreateCodes = _rpc("CreateCodes")
    ListCodes = _rpc("ListCodes")
    RevokeCode = _rpc("RevokeCode")
    RedeemCode = _rpc("RedeemCode")
    CreditPayment = _rpc("CreditPayment")

    async def _create_codes(self, request: pb.CreateCodesRequest, _caller: Caller) -> pb.CreateCodesResponse:
        if not 1 <= request.count <= MAX_CODES_PER_CALL:
            raise BadRequest(f"count must be between 1 and {MAX_CODES_PER_CALL}")
        if not 0 < request.amount_micros <= MAX_CODE_MICROS:
            raise BadRequest(f"amount_micros must be a positive number of micro-USD, at most {MAX_CODE_MICROS}")
        if request.expires_at_ms and request.expires_at_ms <= now_ms():
            raise BadRequest("expires_at_ms is in the past")
        note = request.note.strip()
        if len(note) > MAX_NOTE:
            raise BadRequest(f"note must be at most {MAX_NOTE} characters")
        minted = await self._store.create_codes(request.count, request.amount_micros, request.expires_at_ms, note, self._pepper)
        return pb.CreateCodesResponse(codes=[pb.CreatedCode(code=code_info(row), secret=secret) for secret, row in minted])

    async def _list_codes(self, request: pb.ListCodesRequest, _caller: Caller) -> pb.ListCodesResponse:
        if request.status and request.status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        if request.limit < 0:
            raise BadRequest("limit must be positive")
        now = now_ms()
        rows = await self._store.list_codes(min(request.limit or 100, 1000), request.status)
        return pb.ListCodesResponse(codes=[code_info(row, now) for row in rows])

    async def _revoke_code(self, request: pb.RevokeCodeRequest, _caller: Caller) -> pb.CodeInfo:
        row = await self._store.revoke_code(request.code_id[:100])
        if row is None:
            raise NotFound(f"no redemption code {request.code_id[:100]!r}")
        if row.redeemed_at_ms:
            raise Conflict("This code was already redeemed; it cannot be revoked.", code="redemption_code_used")
        return code_info(row)

    async def _redeem_code(self, request: pb.RedeemCodeRequest, caller: Caller) -> pb.Redemption:
        account_id = caller.account(request.account_id)
        if not request.code.strip():
            raise BadRequest("code is required", code="missing_code")
        result = await self._store.redeem(account_id, hash_code(request.code[:100], self._pepper))
        if result is None:
            raise NotFound(f"no account {account_id!r}")
        if result.outcome == "throttled":
            raise RateLimited(
                f"Too many invalid redemption codes; try again in {result.retry_after_s} s.",
                code="too_many_redemption_attempts",
                headers={"retry-after": str(result.retry_after_s)},
            )
        if result.outcome != "ok" or result.code is None:
            cls, message, code = REFUSALS[result.outcome]
            raise cls(message, code=code)
        await self._notify.balance_changed(account_id, result.balance_micros)
        return pb.Redemption(
            account_id=account_id, code_id=result.code.id, amount_micros=result.code.amount_micros, balance_micros=result.balance_micros
        )

    async def _credit_payment(self, request: pb.CreditPaymentRequest, _caller: Caller) -> pb.PaymentResult:
        if not PROVIDER.fullmatch(request.provider) or not EVENT_ID.fullmatch(request.event_id):
            raise BadRequest("provider and event_id are required (letters, digits and _ . : -)")
        if not 0 < request.amount_micros <= MAX_CODE_MICROS:
            raise BadRequest("amount_micros must be positive")
        if not request.account_id:
            raise BadRequest("account_id is required")
        result = await self._store.credit_payment(
            request.provider, request.event_id, request.account_id, request.amount_micros, request.note.strip()[:MAX_NOTE]
        )
        if result is None:
            raise NotFound(f"no account {request.account_id!r}", code="account_not_found")
        applied, balance = result
        if applied:
            await self._notify.balance_changed(request.account_id, balance)
        return pb.PaymentResult(applied=applied, account_id=request.account_id, balance_micros=balance)
