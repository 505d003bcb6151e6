"""Identity primitives shared by the accounts service (which stores them) and metering (which
sets the cookies): token formats and hashes, email normalization, the CSRF token of a session,
and the role table (which role may do what). No state; nothing here logs.

Tokens are random (256 bits) and shown once: a session token lives in an HttpOnly cookie, a
verification / reset / invitation token in the link of one mail. Only their SHA-256 is
stored. A session's CSRF token is derived from the session token (a keyed hash), so it needs
no storage and reveals nothing about the session token; the page reads it from a readable
cookie and sends it back in the ``x-csrf-token`` header on unsafe methods.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from types import MappingProxyType

SESSION_PREFIX = "tgs_"  # session tokens (cookie)
EMAIL_TOKEN_PREFIX = "tge_"  # verification and reset links
INVITE_PREFIX = "tgi_"  # invitation links
SESSION_COOKIE = "tollgate_session"
CSRF_COOKIE = "tollgate_csrf"
CSRF_HEADER = "x-csrf-token"

ROLES = ("owner", "admin", "developer", "billing", "viewer")

# action -> the roles allowed to do it (the one place role checks live)
PERMISSIONS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "org.view": frozenset(ROLES),
        "usage.view": frozenset(ROLES),
        "members.view": frozenset(ROLES),
        "members.invite": frozenset({"owner", "admin"}),
        "members.set_role": frozenset({"owner", "admin"}),
        "members.remove": frozenset({"owner", "admin"}),
        "teams.manage": frozenset({"owner", "admin"}),
        "org.configure": frozenset({"owner"}),  # OIDC settings, deleting the org
        "keys.view": frozenset({"owner", "admin", "developer", "billing", "viewer"}),
        "keys.manage": frozenset({"owner", "admin", "developer"}),
        "billing.view": frozenset({"owner", "admin", "billing", "viewer"}),
        "billing.manage": frozenset({"owner", "admin", "billing"}),
        "playground.use": frozenset({"owner", "admin", "developer"}),
        "tickets.manage": frozenset({"owner", "admin", "developer", "billing"}),
        "budgets.manage": frozenset({"owner", "admin"}),  # members' and teams' budgets
        "risk.appeal": frozenset({"owner", "admin"}),  # a suspended organisation's reactivation request
    }
)

# Accounts RPCs a session may call (as a user API key may), and the action each needs.
ACCOUNTS_METHOD_ACTIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "GetAccount": "org.view",
        "ListKeys": "keys.view",
        "CreateKey": "keys.manage",
        "RevokeKey": "keys.manage",
        "RotateKey": "keys.manage",
        "GetBalance": "billing.view",
        "ListLedger": "billing.view",
        "DailyDebits": "usage.view",
    }
)


def allowed(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action`` (an unknown action is allowed to nobody)."""
    return role in PERMISSIONS.get(action, frozenset())


def role_rank(role: str) -> int:
    """Owner 0 … viewer 4: a member may only grant roles at or below their own."""
    return ROLES.index(role) if role in ROLES else len(ROLES)


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like(token: str, prefix: str) -> bool:
    return token.startswith(prefix) and 40 <= len(token) <= 100 and token[len(prefix) :].replace("-", "").replace("_", "").isalnum()


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: a one-way function of the session token."""
    return hmac.new(b"tollgate-csrf", session_token.encode(), hashlib.sha256).hexdigest()[:43]


def csrf_ok(session_token: str, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session_token), presented)


def normalize_email(email: str) -> str:
    """NFKC, trimmed, lower case: what makes two spellings of one address the same user."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def valid_email(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return bool(at and local and "." in domain and len(email) <= 254 and not any(c.isspace() for c in email) and "@" not in local)


def email_hash(email: str, pepper: str = "") -> str:
    """The keyed hash that records a verified email's free quota (the address itself is not kept there)."""
    return hmac.new(("free-quota:" + pepper).encode(), normalize_email(email).encode(), hashlib.sha256).hexdigest()
