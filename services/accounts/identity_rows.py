"""The identity tables' rows (``identity_store``) and how a SELECT's columns become them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    email: str
    name: str
    password_hash: str
    email_verified_at_ms: int
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class OrgRow:
    id: str
    name: str
    account_id: str
    oidc_issuer: str
    oidc_client_id: str
    oidc_email_domain: str
    oidc_default_role: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class MemberRow:
    id: str
    org_id: str
    user_id: str
    role: str
    created_at_ms: int
    email: str = ""
    name: str = ""
    team_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    user: UserRow
    org: OrgRow
    member: MemberRow
    via: str
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class InvitationRow:
    id: str
    org_id: str
    email: str
    role: str
    invited_by: str
    created_at_ms: int
    expires_at_ms: int
    accepted_at_ms: int
    revoked_at_ms: int


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: str
    org_id: str
    name: str
    created_at_ms: int
    member_ids: tuple[str, ...] = ()


USER_COLS = "u.id, u.email, u.name, u.password_hash, u.email_verified_at_ms, u.created_at_ms"
ORG_COLS = "o.id, o.name, o.account_id, o.oidc_issuer, o.oidc_client_id, o.oidc_email_domain, o.oidc_default_role, o.created_at_ms"
MEMBER_COLS = "m.id, m.org_id, m.user_id, m.role, m.created_at_ms"
INVITE_COLS = "i.id, i.org_id, i.email, i.role, i.invited_by, i.created_at_ms, i.expires_at_ms, i.accepted_at_ms, i.revoked_at_ms"


def user_row(row) -> UserRow:
    return UserRow(row[0], row[1], row[2], row[3], int(row[4]), int(row[5]))


def org_row(row) -> OrgRow:
    return OrgRow(row[0], row[1], row[2], row[3], row[4], row[5], row[6], int(row[7]))


def member_row(row) -> MemberRow:
    return MemberRow(row[0], row[1], row[2], row[3], int(row[4]))
