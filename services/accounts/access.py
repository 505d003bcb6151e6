"""Who may call which accounts RPC.

The admin credential opens everything (operators, the CLI, the edges and metering hold
it). A user's API key opens the methods in ``USER_METHODS``, scoped to its own account:
it may leave ``account_id`` empty, and naming another account is refused (403).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from services.accounts import keys
from services.accounts.store import SqlStore, now_ms
from tollgate.credentials import presented
from tollgate.errors import BadRequest, Forbidden, Unauthorized

USER_METHODS = frozenset({"GetAccount", "CreateKey", "RevokeKey", "RotateKey", "ListKeys", "GetBalance", "ListLedger", "DailyDebits"})


@dataclass(frozen=True, slots=True)
class Caller:
    admin: bool
    account_id: str = ""  # a user key's own account

    def account(self, requested: str) -> str:
        """The account this call acts on."""
        if self.admin:
            if not requested:
                raise BadRequest("account_id is required")
            return requested
        if requested and requested != self.account_id:
            raise Forbidden("This API key can only manage its own account.", code="forbidden")
        return self.account_id

    def check(self, account_id: str) -> None:
        """Refuse a user key acting on an object (e.g. a key) of another account."""
        if not self.admin and account_id != self.account_id:
            raise Forbidden("This API key can only manage its own account.", code="forbidden")


class Access:
    def __init__(self, admin_token: str, store: SqlStore, pepper: str = ""):
        if not admin_token:
            raise ValueError("the accounts service needs an admin credential")
        self._admin = admin_token.encode()
        self._store = store
        self._pepper = pepper

    async def caller(self, metadata, method: str) -> Caller:
        credential = presented(metadata)
        if not credential:
            raise Unauthorized("This call needs 'authorization: Bearer <admin token or API key>' metadata.", code="missing_credential")
        if hmac.compare_digest(credential.encode(), self._admin):
            return Caller(admin=True)
        if not keys.looks_like_key(credential):
            raise Unauthorized("The credential is not valid.", code="invalid_credential")
        if method not in USER_METHODS:
            raise Forbidden(f"{method} needs the admin credential.", code="admin_required")
        found = await self._store.principal_by_hash(keys.hash_key(credential, self._pepper))
        if found is None or found.key.revoked_at_ms or (found.key.expires_at_ms and found.key.expires_at_ms <= now_ms()):
            raise Unauthorized("Incorrect API key provided.")
        return Caller(admin=False, account_id=found.account.id)
