"""Who may call which accounts RPC.

The admin credential opens everything (operators, the CLI, the edges and metering hold
it). A user's API key opens the methods in ``USER_METHODS``, scoped to its own account:
it may leave ``account_id`` empty, and naming another account is refused (403). A console
session token (``tgs_…``, see services/accounts/identity_service.py) opens the same methods for
its organisation's account, each as far as the member's role allows
(``tollgate.identity.ACCOUNTS_METHOD_ACTIONS``).
"""

from __future__ import annotations

import fnmatch
import hmac
from dataclasses import dataclass

from services.accounts.store import KeyRow, SqlStore, now_ms
from tollgate import identity, keys
from tollgate.credentials import presented
from tollgate.errors import BadRequest, Forbidden, Unauthorized

USER_METHODS = frozenset({"GetAccount", "CreateKey", "RevokeKey", "RotateKey", "ListKeys", "GetBalance", "ListLedger", "DailyDebits"})


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """What a new key may do: the request's settings, for a user key no broader than its own."""

    require_zdr: bool
    allowed_models: tuple[str, ...]
    expires_at_ms: int
    rpm_limit: int  # 0 = unlimited
    tpm_limit: int
    spend_cap_day_micros: int
    spend_cap_month_micros: int


def _narrower(asked: int, own: int, what: str) -> int:
    """A limit where 0 means none: inherit ``own`` when not asked, refuse anything looser."""
    if not own:
        return asked
    if not asked:
        return own
    if asked > own:
        raise Forbidden(f"A key cannot create a key with a higher {what} than its own ({own}).", code="forbidden")
    return asked


@dataclass(frozen=True, slots=True)
class Caller:
    admin: bool
    account_id: str = ""  # a user key's own account
    key: KeyRow | None = None  # the presenting user key
    member_id: str = ""  # a console session's member (services/accounts/identity_service.py)
    role: str = ""
    team_ids: tuple[str, ...] = ()

    def account(self, requested: str) -> str:
        """The account this call acts on."""
        if self.admin:
            if not requested:
                raise BadRequest("account_id is required")
            return requested
        if requested and requested != self.account_id:
            raise Forbidden("This API key can only manage its own account.", code="forbidden")
        return self.account_id

    def limits(self, asked: KeyLimits) -> KeyLimits:
        """The admin gets what it asks; a user key gets at most what it has itself."""
        own = self.key
        if own is None:
            return asked
        models = asked.allowed_models or own.allowed_models
        if own.allowed_models:
            wider = [m for m in models if not any(fnmatch.fnmatchcase(m, p) for p in own.allowed_models)]
            if wider:
                raise Forbidden(f"A key cannot create a key for models it may not use itself: {', '.join(wider)}.", code="forbidden")
        return KeyLimits(
            require_zdr=asked.require_zdr or own.require_zdr,
            allowed_models=models,
            expires_at_ms=_narrower(asked.expires_at_ms, own.expires_at_ms, "expiry"),
            rpm_limit=_narrower(asked.rpm_limit, own.rpm_limit, "RPM limit"),
            tpm_limit=_narrower(asked.tpm_limit, own.tpm_limit, "TPM limit"),
            spend_cap_day_micros=_narrower(asked.spend_cap_day_micros, own.spend_cap_day_micros, "daily spend cap"),
            spend_cap_month_micros=_narrower(asked.spend_cap_month_micros, own.spend_cap_month_micros, "monthly spend cap"),
        )

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

    async def caller(self, metadata, method: str, user_methods: frozenset[str] = USER_METHODS, *, while_suspended: bool = False) -> Caller:
        """``user_methods``: the methods a user key may call (another servicer passes its own);
        ``while_suspended``: a suspended or deactivated account's key may still call them (risk
        control's: its user sees why and asks for reactivation)."""
        credential = presented(metadata)
        if not credential:
            raise Unauthorized("This call needs 'authorization: Bearer <admin token or API key>' metadata.", code="missing_credential")
        if hmac.compare_digest(credential.encode(), self._admin):
            return Caller(admin=True)
        if identity.looks_like(credential, identity.SESSION_PREFIX):
            return await self._session_caller(credential, method)
        if not keys.looks_like_key(credential):
            raise Unauthorized("The credential is not valid.", code="invalid_credential")
        if method not in user_methods:
            raise Forbidden(f"{method} needs the admin credential.", code="admin_required")
        found = await self._store.principal_by_hash(keys.hash_key(credential, self._pepper))
        if found is None or found.key.revoked_at_ms or (found.key.expires_at_ms and found.key.expires_at_ms <= now_ms()):
            raise Unauthorized("Incorrect API key provided.")
        if found.account.status != "active" and not while_suspended:
            raise Forbidden(
                "This account is suspended; its keys cannot manage it until an operator reactivates it.", code="account_suspended"
            )
        return Caller(admin=False, account_id=found.account.id, key=found.key)

    async def _session_caller(self, token: str, method: str) -> Caller:
        from services.accounts.identity_store import IdentityStore  # the identity tables live beside the accounts ones

        session = await IdentityStore(self._store).session(identity.hash_token(token))
        if session is None:
            raise Unauthorized("Your session has ended; sign in again.", code="session_expired")
        action = identity.ACCOUNTS_METHOD_ACTIONS.get(method)
        if action is None:
            raise Forbidden(f"{method} needs the admin credential.", code="admin_required")
        if not identity.allowed(session.member.role, action):
            raise Forbidden(f"Your role ({session.member.role}) may not do this ({action}).", code="role_forbidden")
        account = await self._store.get_account(session.org.account_id)
        if account is not None and account.status != "active" and action.endswith(".manage"):
            raise Forbidden("This account is suspended; it cannot be changed until an operator reactivates it.", code="account_suspended")
        member = session.member
        return Caller(admin=False, account_id=session.org.account_id, member_id=member.id, role=member.role, team_ids=member.team_ids)
