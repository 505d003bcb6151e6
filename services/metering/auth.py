"""Who is asking metering: the admin credential sees every account; an API key sees only
its own account's rows (resolved through the accounts service, cached briefly); a console
session (cookie, see ``sessions``) sees its organisation's account, with its user, member and
role, CSRF-checked on unsafe methods and held to the web limit (120 requests a minute)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
from litestar import Request

from tollgate import errors, events, identity
from tollgate.cache import CachedLookup
from tollgate.credentials import bearer_token
from tollgate.errors import Forbidden, Unauthorized
from tollgate.rpc import accounts_pb2 as pb
from tollgate.rpc import accounts_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from services.metering.sessions import SessionResolver


@dataclass(frozen=True, slots=True)
class Viewer:
    admin: bool
    account_id: str = ""
    # a console session's (empty for an API key or the admin token)
    user_id: str = ""
    org_id: str = ""
    role: str = ""
    member_id: str = ""

    def may(self, action: str) -> bool:
        """Whether this viewer may do ``action`` (``tollgate.identity.PERMISSIONS``): the admin and
        an API key (which acts as its account) may; a console session as its member's role allows."""
        return self.admin or not self.role or identity.allowed(self.role, action)

    def require(self, action: str) -> None:
        if not self.may(action):
            raise Forbidden(f"Your role ({self.role}) may not do this ({action}).", code="role_forbidden")

    def scope(self, requested: str | None) -> str | None:
        """The account a query covers: the admin's choice (None = all accounts), or the key's own."""
        if self.admin:
            return requested or None
        if requested and requested != self.account_id:
            raise Forbidden("This API key can only see its own account's usage.", code="forbidden")
        return self.account_id

    def one_account(self, requested: str | None) -> str:
        account = self.scope(requested)
        if account is None:
            raise errors.BadRequest("account_id is required", code="missing_account_id")
        return account


def bearer(request: Request) -> str:
    """The credential in ``Authorization: Bearer <API key or admin token>`` ("" when absent)."""
    return bearer_token(request.headers.get("authorization", ""))


class Authorizer:
    """Keys are cached by their hash as accounts stores it (``pepper`` = ``TOLLGATE_KEY_HASH_PEPPER``),
    so a KeyRevoked or KeyUpdated notice (``tollgate/notices.py``) drops the key at once."""

    def __init__(
        self, admin_token: str, stub: pb_grpc.AccountsStub, *, ttl: float = 30.0, pepper: str = "", sessions: SessionResolver | None = None
    ):
        self.sessions = sessions
        self._admin = admin_token.encode()
        self._pepper = pepper.encode()
        self._stub = stub
        self._keys: CachedLookup[str, str] = CachedLookup(
            self._account_of, ttl=ttl, maxsize=10_000, negative=(Unauthorized,), negative_ttl=5.0
        )

    async def viewer(self, request: Request) -> Viewer:
        credential = bearer(request)
        if not credential and self.sessions is not None:
            from services.metering.sessions import cookie_credential

            token = cookie_credential(request)
            if token:
                info = await self.sessions.session(token)
                self.sessions.hit(token)
                return Viewer(False, info.account_id, info.user_id, info.org_id, info.role, info.member_id)
        if not credential:
            raise Unauthorized("Sign in with 'Authorization: Bearer <API key or admin token>'.", code="missing_api_key")
        if hmac.compare_digest(credential.encode(), self._admin):
            return Viewer(admin=True)
        digest = hmac.new(self._pepper, credential.encode(), hashlib.sha256).hexdigest()  # the cache never holds a key itself
        return Viewer(admin=False, account_id=await self._keys.get(digest, credential))

    def on_key_changed(self, event: events.KeyRevoked | events.KeyUpdated) -> None:
        self._keys.invalidate(event.key_hash)

    def forget_all(self) -> None:
        """Notices were missed: every key is asked of accounts again."""
        self._keys.clear()

    async def ledger_debits(self, account_id: str, start_ms: int, end_ms: int) -> int:
        """The ledger's usage debits for an account over [start, end) (for statements)."""
        try:
            reply = await self._stub.DailyDebits(pb.DailyDebitsRequest(account_id=account_id, start_ms=start_ms, end_ms=end_ms), timeout=10)
        except grpc.aio.AioRpcError as err:
            raise errors.from_grpc(err) from None
        return sum(day.debits_micros for day in reply.days)

    async def _account_of(self, _digest: str, key: str) -> str:
        try:
            reply = await self._stub.Authenticate(pb.AuthenticateRequest(key=key), timeout=5)
        except grpc.aio.AioRpcError as err:
            raise errors.from_grpc(err) from None
        return reply.account_id
