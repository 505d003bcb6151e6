"""Users, organisations, members, teams, invitations, sessions and one-time email tokens, in
the accounts database (SQLite or PostgreSQL, migration 0010).

It shares the accounts store's connection and lock (``SqlStore``), so a registration creates
the user, the organisation, its account and the owner's membership in one transaction, and
a verification grants the free quota through the same ledger as every other credit. Every
token is stored as its SHA-256 (``tollgate.identity.hash_token``), never itself.
"""

from __future__ import annotations

from services.accounts.identity_rows import (
    INVITE_COLS,
    MEMBER_COLS,
    ORG_COLS,
    USER_COLS,
    InvitationRow,
    MemberRow,
    OrgRow,
    SessionRow,
    TeamRow,
    UserRow,
    member_row,
    org_row,
    user_row,
)
from services.accounts.store import SqlStore, new_id, now_ms
from tollgate import identity
from tollgate.errors import BadRequest, Conflict, Forbidden, NotFound

__all__ = ["IdentityStore", "InvitationRow", "MemberRow", "OrgRow", "SessionRow", "TeamRow", "UserRow"]


class IdentityStore:
    """Blocking SQL on the accounts store's connection; the async methods run it in a thread."""

    def __init__(self, store: SqlStore):
        self._store = store
        self._db = store._db  # one connection and lock for the whole accounts database

    async def _run(self, fn, *args):
        return await self._store._run(fn, *args)

    # -- users and registration ---------------------------------------------------------
    async def register(self, email: str, name: str, password_hash: str, org_name: str) -> tuple[UserRow, OrgRow, MemberRow]:
        """A new user owning a new organisation and its account (no credit yet: the free quota comes with verification)."""
        return await self._run(self._register, email, name, password_hash, org_name)

    def _register(self, email: str, name: str, password_hash: str, org_name: str) -> tuple[UserRow, OrgRow, MemberRow]:
        with self._store._tx():
            user = self._insert_user(email, name, password_hash, 0)
            org, member = self._insert_org(org_name, user.id)
        return user, org, member

    async def create_user(self, email: str, name: str, password_hash: str, verified: bool) -> UserRow:
        return await self._run(self._create_user, email, name, password_hash, verified)

    def _create_user(self, email: str, name: str, password_hash: str, verified: bool) -> UserRow:
        with self._store._tx():
            return self._insert_user(email, name, password_hash, now_ms() if verified else 0)

    def _insert_user(self, email: str, name: str, password_hash: str, verified_at: int) -> UserRow:
        user = UserRow(new_id("usr"), email, name, password_hash, verified_at, now_ms())
        if self._db.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
            raise Conflict("A user with this email address already exists; sign in or reset the password.", code="email_taken")
        self._db.execute(
            "INSERT INTO users (id, email, name, password_hash, email_verified_at_ms, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (user.id, user.email, user.name, user.password_hash, user.email_verified_at_ms, user.created_at_ms),
        )
        return user

    def _insert_org(self, org_name: str, owner_user_id: str) -> tuple[OrgRow, MemberRow]:
        now = now_ms()
        account_id = new_id("acct")
        self._db.execute(
            "INSERT INTO accounts (id, name, balance_micros, created_at_ms) VALUES (?, ?, 0, ?)",
            (account_id, org_name, now),
        )
        org = OrgRow(new_id("org"), org_name, account_id, "", "", "", "developer", now)
        self._db.execute("INSERT INTO orgs (id, name, account_id, created_at_ms) VALUES (?, ?, ?, ?)", (org.id, org.name, account_id, now))
        member = self._insert_member(org.id, owner_user_id, "owner")
        return org, member

    def _insert_member(self, org_id: str, user_id: str, role: str) -> MemberRow:
        member = MemberRow(new_id("mem"), org_id, user_id, role, now_ms())
        self._db.execute(
            "INSERT INTO members (id, org_id, user_id, role, created_at_ms) VALUES (?, ?, ?, ?, ?)",
            (member.id, member.org_id, member.user_id, member.role, member.created_at_ms),
        )
        return member

    async def user_by_email(self, email: str) -> UserRow | None:
        return await self._run(self._user_by, "email", email)

    async def get_user(self, user_id: str) -> UserRow | None:
        return await self._run(self._user_by, "id", user_id)

    def _user_by(self, column: str, value: str) -> UserRow | None:
        row = self._db.execute(f"SELECT {USER_COLS} FROM users u WHERE u.{column} = ?", (value,)).fetchone()
        return user_row(row) if row else None

    async def set_password(self, user_id: str, password_hash: str) -> None:
        await self._run(self._set_password, user_id, password_hash)

    def _set_password(self, user_id: str, password_hash: str) -> None:
        self._db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    async def delete_user(self, user_id: str) -> None:
        """Remove a user, their sessions, tokens and memberships. Refused while they are the
        only owner of an organisation that has other members. The free-quota record stays."""
        await self._run(self._delete_user, user_id)

    def _delete_user(self, user_id: str) -> None:
        with self._store._tx():
            for (org_id,) in self._db.execute("SELECT org_id FROM members WHERE user_id = ? AND role = 'owner'", (user_id,)).fetchall():
                owners = self._db.execute("SELECT COUNT(*) FROM members WHERE org_id = ? AND role = 'owner'", (org_id,)).fetchone()[0]
                others = self._db.execute("SELECT COUNT(*) FROM members WHERE org_id = ? AND user_id <> ?", (org_id, user_id)).fetchone()[0]
                if owners == 1 and others:
                    raise Conflict("Make another member an owner before deleting this user.", code="last_owner")
            self._db.execute(
                "DELETE FROM team_members WHERE member_id IN (SELECT id FROM members WHERE user_id = ?)",
                (user_id,),
            )
            for table in ("members", "sessions", "email_tokens"):
                self._db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
            self._db.execute("DELETE FROM users WHERE id = ?", (user_id,))

    # -- one-time email tokens (verify, reset) ----------------------------------------------
    async def add_email_token(self, user_id: str, purpose: str, token_hash: str, ttl_ms: int) -> None:
        await self._run(self._add_email_token, user_id, purpose, token_hash, ttl_ms)

    def _add_email_token(self, user_id: str, purpose: str, token_hash: str, ttl_ms: int) -> None:
        now = now_ms()
        self._db.execute(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?)",
            (token_hash, user_id, purpose, now, now + ttl_ms),
        )

    def _take_email_token(self, token_hash: str, purpose: str) -> UserRow:
        now = now_ms()
        row = self._db.execute(
            "SELECT user_id FROM email_tokens WHERE token_hash = ? AND purpose = ? AND used_at_ms = 0 AND expires_at_ms > ?",
            (token_hash, purpose, now),
        ).fetchone()
        if row is None:
            raise BadRequest("This link is invalid, was already used or has expired.", code="invalid_token")
        self._db.execute("UPDATE email_tokens SET used_at_ms = ? WHERE token_hash = ?", (now, token_hash))
        user = self._user_by("id", row[0])
        if user is None:
            raise BadRequest("This link is invalid, was already used or has expired.", code="invalid_token")
        return user

    async def verify_email(self, token_hash: str, pepper: str, free_quota_micros: int) -> tuple[UserRow, int]:
        """Mark the user's email verified; the first verification of this email (by its hash,
        ever; ``tollgate.identity.email_hash`` keyed with ``pepper``) credits
        ``free_quota_micros`` to the account of the organisation the user owns.
        Returns the user and the micro-USD granted (0 when this email had it already)."""
        return await self._run(self._verify_email, token_hash, pepper, free_quota_micros)

    def _verify_email(self, token_hash: str, pepper: str, free_quota_micros: int) -> tuple[UserRow, int]:
        with self._store._tx():
            user = self._take_email_token(token_hash, "verify")
            email_hash = identity.email_hash(user.email, pepper)
            now = now_ms()
            self._db.execute("UPDATE users SET email_verified_at_ms = ? WHERE id = ? AND email_verified_at_ms = 0", (now, user.id))
            granted = 0
            owned = self._db.execute(
                f"SELECT {ORG_COLS} FROM orgs o JOIN members m ON m.org_id = o.id WHERE m.user_id = ? AND m.role = 'owner' "
                "ORDER BY m.created_at_ms LIMIT 1",
                (user.id,),
            ).fetchone()
            if free_quota_micros > 0 and owned:
                org = org_row(owned)
                cur = self._db.execute(
                    "INSERT INTO free_quota_grants (email_hash, account_id, micros, granted_at_ms) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (email_hash) DO NOTHING",
                    (email_hash, org.account_id, free_quota_micros, now),
                )
                if cur.rowcount == 1:
                    self._store._apply(org.account_id, "trial", free_quota_micros, f"free_quota:{email_hash[:32]}", note="free quota")
                    granted = free_quota_micros
            return self._user_by("id", user.id) or user, granted

    async def reset_password(self, token_hash: str, password_hash: str) -> UserRow:
        """Consume a reset token, set the new password, end every session of the user, and
        count the email as verified (the link reached its mailbox)."""
        return await self._run(self._reset_password, token_hash, password_hash)

    def _reset_password(self, token_hash: str, password_hash: str) -> UserRow:
        with self._store._tx():
            user = self._take_email_token(token_hash, "reset")
            now = now_ms()
            self._db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user.id))
            self._db.execute("UPDATE users SET email_verified_at_ms = ? WHERE id = ? AND email_verified_at_ms = 0", (now, user.id))
            self._db.execute("UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND revoked_at_ms = 0", (now, user.id))
            return user

    # -- sessions ---------------------------------------------------------------------------
    async def create_session(self, user_id: str, org_id: str, token_hash: str, ttl_ms: int, via: str = "password") -> str:
        return await self._run(self._create_session, user_id, org_id, token_hash, ttl_ms, via)

    def _create_session(self, user_id: str, org_id: str, token_hash: str, ttl_ms: int, via: str) -> str:
        now, session_id = now_ms(), new_id("ses")
        self._db.execute(
            "INSERT INTO sessions (id, token_hash, user_id, org_id, via, created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, token_hash, user_id, org_id, via, now, now + ttl_ms),
        )
        self._db.execute("DELETE FROM sessions WHERE user_id = ? AND expires_at_ms < ?", (user_id, now - 86_400_000))
        return session_id

    async def session(self, token_hash: str) -> SessionRow | None:
        """The live session with this token hash, with its user, organisation and membership
        (None when unknown, expired, signed out, or the user is no longer a member)."""
        return await self._run(self._session, token_hash)

    def _session(self, token_hash: str) -> SessionRow | None:
        row = self._db.execute(
            f"SELECT s.id, s.via, s.expires_at_ms, {USER_COLS}, {ORG_COLS}, {MEMBER_COLS} FROM sessions s "
            "JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = s.org_id "
            "JOIN members m ON m.org_id = s.org_id AND m.user_id = s.user_id "
            "WHERE s.token_hash = ? AND s.revoked_at_ms = 0 AND s.expires_at_ms > ?",
            (token_hash, now_ms()),
        ).fetchone()
        if row is None:
            return None
        user, org, member = user_row(row[3:9]), org_row(row[9:17]), member_row(row[17:22])
        return SessionRow(row[0], user, org, member, row[1], int(row[2]))

    async def revoke_session(self, token_hash: str) -> bool:
        return await self._run(self._revoke_session, token_hash)

    def _revoke_session(self, token_hash: str) -> bool:
        cur = self._db.execute("UPDATE sessions SET revoked_at_ms = ? WHERE token_hash = ? AND revoked_at_ms = 0", (now_ms(), token_hash))
        return cur.rowcount == 1

    async def revoke_session_id(self, session_id: str) -> None:
        await self._run(self._revoke_session_id, session_id)

    def _revoke_session_id(self, session_id: str) -> None:
        self._db.execute("UPDATE sessions SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms = 0", (now_ms(), session_id))

    async def orgs_of(self, user_id: str) -> list[tuple[OrgRow, MemberRow]]:
        return await self._run(self._orgs_of, user_id)

    def _orgs_of(self, user_id: str) -> list[tuple[OrgRow, MemberRow]]:
        rows = self._db.execute(
            f"SELECT {ORG_COLS}, {MEMBER_COLS} FROM orgs o JOIN members m ON m.org_id = o.id "
            "WHERE m.user_id = ? ORDER BY m.created_at_ms, o.id",
            (user_id,),
        ).fetchall()
        return [(org_row(r[:8]), member_row(r[8:13])) for r in rows]

    async def get_org(self, org_id: str) -> OrgRow | None:
        return await self._run(self._get_org, org_id)

    def _get_org(self, org_id: str) -> OrgRow | None:
        row = self._db.execute(f"SELECT {ORG_COLS} FROM orgs o WHERE o.id = ?", (org_id,)).fetchone()
        return org_row(row) if row else None

    async def org_of_account(self, account_id: str) -> OrgRow | None:
        return await self._run(self._org_of_account, account_id)

    def _org_of_account(self, account_id: str) -> OrgRow | None:
        row = self._db.execute(f"SELECT {ORG_COLS} FROM orgs o WHERE o.account_id = ?", (account_id,)).fetchone()
        return org_row(row) if row else None

    async def list_orgs(self, limit: int, after_id: str) -> list[OrgRow]:
        return await self._run(self._list_orgs, limit, after_id)

    def _list_orgs(self, limit: int, after_id: str) -> list[OrgRow]:
        rows = self._db.execute(f"SELECT {ORG_COLS} FROM orgs o WHERE o.id > ? ORDER BY o.id LIMIT ?", (after_id, limit)).fetchall()
        return [org_row(r) for r in rows]

    async def list_users(self, limit: int, after_id: str, org_id: str = "") -> list[tuple[UserRow, list[MemberRow]]]:
        """Users by id (with their memberships), optionally only one organisation's members."""
        return await self._run(self._list_users, limit, after_id, org_id)

    def _list_users(self, limit: int, after_id: str, org_id: str) -> list[tuple[UserRow, list[MemberRow]]]:
        where = "u.id > ?" + (" AND u.id IN (SELECT user_id FROM members WHERE org_id = ?)" if org_id else "")
        params = (after_id, org_id, limit) if org_id else (after_id, limit)
        sql = f"SELECT {USER_COLS} FROM users u WHERE {where} ORDER BY u.id LIMIT ?"
        users = [user_row(r) for r in self._db.execute(sql, params).fetchall()]
        out = []
        for user in users:
            rows = self._db.execute(f"SELECT {MEMBER_COLS} FROM members m WHERE m.user_id = ? ORDER BY m.created_at_ms", (user.id,))
            out.append((user, [member_row(r) for r in rows]))
        return out

    # -- login throttling -----------------------------------------------------------------------
    async def throttled(self, buckets: list[tuple[str, int]], window_ms: int) -> int:
        """Milliseconds until the first of ``buckets`` (name, allowed failures) over its
        limit in the current window frees up; 0 when none is."""
        return await self._run(self._throttled, buckets, window_ms)

    def _throttled(self, buckets: list[tuple[str, int]], window_ms: int) -> int:
        now, wait = now_ms(), 0
        for bucket, limit in buckets:
            row = self._db.execute("SELECT failures, window_start_ms FROM login_throttle WHERE bucket = ?", (bucket,)).fetchone()
            if row and row[1] + window_ms > now and row[0] >= limit:
                wait = max(wait, row[1] + window_ms - now)
        return wait

    async def record_failure(self, buckets: list[str], window_ms: int) -> None:
        await self._run(self._record_failure, buckets, window_ms)

    def _record_failure(self, buckets: list[str], window_ms: int) -> None:
        now = now_ms()
        with self._store._tx():
            for bucket in buckets:
                self._db.execute(
                    "INSERT INTO login_throttle (bucket, failures, window_start_ms) VALUES (?, 0, ?) ON CONFLICT (bucket) DO NOTHING",
                    (bucket, now),
                )
                self._db.execute(
                    "UPDATE login_throttle SET failures = CASE WHEN window_start_ms + ? <= ? THEN 1 ELSE failures + 1 END, "
                    "window_start_ms = CASE WHEN window_start_ms + ? <= ? THEN ? ELSE window_start_ms END WHERE bucket = ?",
                    (window_ms, now, window_ms, now, now, bucket),
                )

    async def clear_failures(self, bucket: str) -> None:
        await self._run(self._clear_failures, bucket)

    def _clear_failures(self, bucket: str) -> None:
        self._db.execute("DELETE FROM login_throttle WHERE bucket = ?", (bucket,))

    # -- members ----------------------------------------------------------------------------------
    async def list_members(self, org_id: str) -> list[MemberRow]:
        return await self._run(self._list_members, org_id)

    def _list_members(self, org_id: str) -> list[MemberRow]:
        teams: dict[str, list[str]] = {}
        for team_id, member_id in self._db.execute(
            "SELECT tm.team_id, tm.member_id FROM team_members tm JOIN teams t ON t.id = tm.team_id WHERE t.org_id = ? ORDER BY tm.team_id",
            (org_id,),
        ):
            teams.setdefault(member_id, []).append(team_id)
        rows = self._db.execute(
            f"SELECT {MEMBER_COLS}, u.email, u.name FROM members m JOIN users u ON u.id = m.user_id "
            "WHERE m.org_id = ? ORDER BY m.created_at_ms, m.id",
            (org_id,),
        ).fetchall()
        return [MemberRow(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6], tuple(teams.get(r[0], ()))) for r in rows]

    async def get_member(self, org_id: str, member_id: str) -> MemberRow | None:
        return await self._run(self._get_member, org_id, member_id)

    def _get_member(self, org_id: str, member_id: str) -> MemberRow | None:
        return next((m for m in self._list_members(org_id) if m.id == member_id), None)

    async def set_role(self, org_id: str, member_id: str, role: str) -> MemberRow:
        return await self._run(self._set_role, org_id, member_id, role)

    def _set_role(self, org_id: str, member_id: str, role: str) -> MemberRow:
        with self._store._tx():
            member = self._get_member(org_id, member_id)
            if member is None:
                raise NotFound("No such member in this organisation.", code="member_not_found")
            if member.role == "owner" and role != "owner":
                self._keep_an_owner(org_id)
            self._db.execute("UPDATE members SET role = ? WHERE id = ?", (role, member_id))
            return self._get_member(org_id, member_id) or member

    def _keep_an_owner(self, org_id: str) -> None:
        owners = self._db.execute("SELECT COUNT(*) FROM members WHERE org_id = ? AND role = 'owner'", (org_id,)).fetchone()[0]
        if owners <= 1:
            raise Conflict("An organisation keeps at least one owner.", code="last_owner")

    async def remove_member(self, org_id: str, member_id: str) -> MemberRow:
        return await self._run(self._remove_member, org_id, member_id)

    def _remove_member(self, org_id: str, member_id: str) -> MemberRow:
        with self._store._tx():
            member = self._get_member(org_id, member_id)
            if member is None:
                raise NotFound("No such member in this organisation.", code="member_not_found")
            if member.role == "owner":
                self._keep_an_owner(org_id)
            self._db.execute("DELETE FROM team_members WHERE member_id = ?", (member_id,))
            self._db.execute("DELETE FROM members WHERE id = ?", (member_id,))
            self._db.execute(
                "UPDATE sessions SET revoked_at_ms = ? WHERE user_id = ? AND org_id = ? AND revoked_at_ms = 0",
                (now_ms(), member.user_id, org_id),
            )
            return member

    # -- invitations ----------------------------------------------------------------------------------
    async def invite(self, org_id: str, email: str, role: str, token_hash: str, invited_by: str, ttl_ms: int) -> InvitationRow:
        return await self._run(self._invite, org_id, email, role, token_hash, invited_by, ttl_ms)

    def _invite(self, org_id: str, email: str, role: str, token_hash: str, invited_by: str, ttl_ms: int) -> InvitationRow:
        now = now_ms()
        with self._store._tx():
            present = self._db.execute(
                "SELECT 1 FROM members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ? AND u.email = ?", (org_id, email)
            ).fetchone()
            if present:
                raise Conflict(f"{email} is already a member of this organisation.", code="already_member")
            # a new invitation to the same address replaces the open one
            self._db.execute(
                "UPDATE invitations SET revoked_at_ms = ? WHERE org_id = ? AND email = ? AND accepted_at_ms = 0 AND revoked_at_ms = 0",
                (now, org_id, email),
            )
            row = InvitationRow(new_id("inv"), org_id, email, role, invited_by, now, now + ttl_ms, 0, 0)
            self._db.execute(
                "INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at_ms, expires_at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row.id, org_id, email, role, token_hash, invited_by, now, row.expires_at_ms),
            )
            return row

    async def list_invitations(self, org_id: str) -> list[InvitationRow]:
        return await self._run(self._list_invitations, org_id)

    def _list_invitations(self, org_id: str) -> list[InvitationRow]:
        rows = self._db.execute(
            f"SELECT {INVITE_COLS} FROM invitations i WHERE i.org_id = ? AND i.accepted_at_ms = 0 AND i.revoked_at_ms = 0 "
            "AND i.expires_at_ms > ? ORDER BY i.created_at_ms",
            (org_id, now_ms()),
        ).fetchall()
        return [InvitationRow(*r) for r in rows]

    async def revoke_invitation(self, org_id: str, invitation_id: str) -> bool:
        return await self._run(self._revoke_invitation, org_id, invitation_id)

    def _revoke_invitation(self, org_id: str, invitation_id: str) -> bool:
        cur = self._db.execute(
            "UPDATE invitations SET revoked_at_ms = ? WHERE id = ? AND org_id = ? AND accepted_at_ms = 0 AND revoked_at_ms = 0",
            (now_ms(), invitation_id, org_id),
        )
        return cur.rowcount == 1

    async def open_invitation(self, token_hash: str) -> tuple[InvitationRow, OrgRow] | None:
        return await self._run(self._open_invitation, token_hash)

    def _open_invitation(self, token_hash: str) -> tuple[InvitationRow, OrgRow] | None:
        row = self._db.execute(
            f"SELECT {INVITE_COLS} FROM invitations i WHERE i.token_hash = ? AND i.accepted_at_ms = 0 AND i.revoked_at_ms = 0 "
            "AND i.expires_at_ms > ?",
            (token_hash, now_ms()),
        ).fetchone()
        if row is None:
            return None
        invitation = InvitationRow(*row)
        org = self._get_org(invitation.org_id)
        return (invitation, org) if org else None

    async def accept_invitation(self, token_hash: str, user_id: str) -> MemberRow:
        """The user joins the inviting organisation in the invited role (the invitation is used up)."""
        return await self._run(self._accept_invitation, token_hash, user_id)

    def _accept_invitation(self, token_hash: str, user_id: str) -> MemberRow:
        with self._store._tx():
            found = self._open_invitation(token_hash)
            if found is None:
                raise BadRequest("This invitation is invalid, was already used, revoked or has expired.", code="invalid_invitation")
            invitation, org = found
            user = self._user_by("id", user_id)
            if user is None:
                raise NotFound("No such user.", code="user_not_found")
            if user.email != invitation.email:
                raise Forbidden("This invitation was sent to another email address.", code="invitation_email_mismatch")
            self._db.execute("UPDATE invitations SET accepted_at_ms = ? WHERE id = ?", (now_ms(), invitation.id))
            if self._db.execute("SELECT 1 FROM members WHERE org_id = ? AND user_id = ?", (org.id, user_id)).fetchone():
                raise Conflict("You are already a member of this organisation.", code="already_member")
            self._db.execute("UPDATE users SET email_verified_at_ms = ? WHERE id = ? AND email_verified_at_ms = 0", (now_ms(), user_id))
            return self._insert_member(org.id, user_id, invitation.role)

    # -- teams ----------------------------------------------------------------------------------------
    async def create_team(self, org_id: str, name: str) -> TeamRow:
        return await self._run(self._create_team, org_id, name)

    def _create_team(self, org_id: str, name: str) -> TeamRow:
        team = TeamRow(new_id("team"), org_id, name, now_ms())
        if self._db.execute("SELECT 1 FROM teams WHERE org_id = ? AND name = ?", (org_id, name)).fetchone():
            raise Conflict(f"This organisation already has a team named {name!r}.", code="team_exists")
        self._db.execute(
            "INSERT INTO teams (id, org_id, name, created_at_ms) VALUES (?, ?, ?, ?)", (team.id, org_id, name, team.created_at_ms)
        )
        return team

    async def list_teams(self, org_id: str) -> list[TeamRow]:
        return await self._run(self._list_teams, org_id)

    def _list_teams(self, org_id: str) -> list[TeamRow]:
        members: dict[str, list[str]] = {}
        for team_id, member_id in self._db.execute(
            "SELECT tm.team_id, tm.member_id FROM team_members tm JOIN teams t ON t.id = tm.team_id "
            "WHERE t.org_id = ? ORDER BY tm.member_id",
            (org_id,),
        ):
            members.setdefault(team_id, []).append(member_id)
        rows = self._db.execute("SELECT id, org_id, name, created_at_ms FROM teams WHERE org_id = ? ORDER BY name", (org_id,)).fetchall()
        return [TeamRow(r[0], r[1], r[2], int(r[3]), tuple(members.get(r[0], ()))) for r in rows]

    async def delete_team(self, org_id: str, team_id: str) -> bool:
        return await self._run(self._delete_team, org_id, team_id)

    def _delete_team(self, org_id: str, team_id: str) -> bool:
        with self._store._tx():
            if not self._db.execute("SELECT 1 FROM teams WHERE id = ? AND org_id = ?", (team_id, org_id)).fetchone():
                return False
            self._db.execute("DELETE FROM team_members WHERE team_id = ?", (team_id,))
            self._db.execute("DELETE FROM teams WHERE id = ?", (team_id,))
            return True

    async def set_team_member(self, org_id: str, team_id: str, member_id: str, present: bool) -> TeamRow:
        return await self._run(self._set_team_member, org_id, team_id, member_id, present)

    def _set_team_member(self, org_id: str, team_id: str, member_id: str, present: bool) -> TeamRow:
        with self._store._tx():
            if not self._db.execute("SELECT 1 FROM teams WHERE id = ? AND org_id = ?", (team_id, org_id)).fetchone():
                raise NotFound("No such team in this organisation.", code="team_not_found")
            if not self._db.execute("SELECT 1 FROM members WHERE id = ? AND org_id = ?", (member_id, org_id)).fetchone():
                raise NotFound("No such member in this organisation.", code="member_not_found")
            if present:
                self._db.execute(
                    "INSERT INTO team_members (team_id, member_id) VALUES (?, ?) ON CONFLICT (team_id, member_id) DO NOTHING",
                    (team_id, member_id),
                )
            else:
                self._db.execute("DELETE FROM team_members WHERE team_id = ? AND member_id = ?", (team_id, member_id))
            return next(t for t in self._list_teams(org_id) if t.id == team_id)

    # -- OpenID Connect -------------------------------------------------------------------------------
    async def set_oidc(self, org_id: str, issuer: str, client_id: str, email_domain: str, default_role: str) -> OrgRow | None:
        return await self._run(self._set_oidc, org_id, issuer, client_id, email_domain, default_role)

    def _set_oidc(self, org_id: str, issuer: str, client_id: str, email_domain: str, default_role: str) -> OrgRow | None:
        self._db.execute(
            "UPDATE orgs SET oidc_issuer = ?, oidc_client_id = ?, oidc_email_domain = ?, oidc_default_role = ? WHERE id = ?",
            (issuer, client_id, email_domain, default_role, org_id),
        )
        return self._get_org(org_id)

    async def save_oidc_state(self, state_hash: str, org_id: str, nonce: str, challenge: str, redirect_uri: str, ttl_ms: int) -> None:
        await self._run(self._save_oidc_state, state_hash, org_id, nonce, challenge, redirect_uri, ttl_ms)

    def _save_oidc_state(self, state_hash: str, org_id: str, nonce: str, challenge: str, redirect_uri: str, ttl_ms: int) -> None:
        now = now_ms()
        self._db.execute("DELETE FROM oidc_states WHERE expires_at_ms < ?", (now,))
        self._db.execute(
            "INSERT INTO oidc_states (state_hash, org_id, nonce, code_challenge, redirect_uri, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
            (state_hash, org_id, nonce, challenge, redirect_uri, now + ttl_ms),
        )

    async def take_oidc_state(self, state_hash: str) -> tuple[str, str, str, str] | None:
        """(org id, nonce, code challenge, redirect uri) of a live state, used up by this call."""
        return await self._run(self._take_oidc_state, state_hash)

    def _take_oidc_state(self, state_hash: str) -> tuple[str, str, str, str] | None:
        with self._store._tx():
            row = self._db.execute(
                "SELECT org_id, nonce, code_challenge, redirect_uri FROM oidc_states WHERE state_hash = ? AND expires_at_ms > ?",
                (state_hash, now_ms()),
            ).fetchone()
            self._db.execute("DELETE FROM oidc_states WHERE state_hash = ?", (state_hash,))
            return (row[0], row[1], row[2], row[3]) if row else None

    async def oidc_member(self, org_id: str, email: str, name: str, role: str) -> tuple[UserRow, MemberRow]:
        """The user the identity provider vouched for (created, verified, when new) and their
        membership of the organisation (joined in ``role`` when not yet a member)."""
        return await self._run(self._oidc_member, org_id, email, name, role)

    def _oidc_member(self, org_id: str, email: str, name: str, role: str) -> tuple[UserRow, MemberRow]:
        with self._store._tx():
            user = self._user_by("email", email) or self._insert_user(email, name, "", now_ms())
            self._db.execute("UPDATE users SET email_verified_at_ms = ? WHERE id = ? AND email_verified_at_ms = 0", (now_ms(), user.id))
            row = self._db.execute(
                f"SELECT {MEMBER_COLS} FROM members m WHERE m.org_id = ? AND m.user_id = ?", (org_id, user.id)
            ).fetchone()
            member = member_row(row) if row else self._insert_member(org_id, user.id, role)
            return user, member
