"""The Identity gRPC servicer (proto/tollgate/rpc/identity.proto): registration, verification,
password sign-in with throttling, password reset, sessions, organisations, members and roles,
invitations, teams and OpenID Connect sign-in.

Each RPC resolves its caller (``Actor``: the admin credential or a session token), then runs
one ``_<method>`` coroutine; errors are ``TollgateError``s, aborted with their gRPC code (a
throttled sign-in also carries ``retry-after`` seconds in the trailing metadata). Passwords
and tokens are only ever hashed (argon2id / SHA-256) and never logged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass

from services.accounts.identity_messages import invitation_msg, member_msg, org_msg, session_info, team_msg
from services.accounts.identity_rows import InvitationRow, MemberRow, OrgRow, SessionRow
from services.accounts.identity_store import IdentityStore
from services.accounts.mailer import Mail, Mailer
from services.accounts.passwords import Passwords
from tollgate import identity
from tollgate.credentials import presented
from tollgate.errors import BadRequest, Forbidden, NotFound, RateLimited, TollgateError, Unauthorized, abort
from tollgate.rpc import identity_pb2 as pb
from tollgate.rpc import identity_pb2_grpc as pb_grpc

EMAIL_TOKEN_TTL_MS = 48 * 3_600_000
RESET_TOKEN_TTL_MS = 3_600_000
INVITATION_TTL_MS = 7 * 86_400_000
OIDC_STATE_TTL_MS = 600_000
RETRY_AFTER_METADATA = "retry-after"
ADMIN_METHODS = frozenset({"ListOrgs", "ListUsers", "GetOrgByAccount"})
FRONTEND_METHODS = frozenset(
    {
        "Register",
        "ResendVerification",
        "VerifyEmail",
        "Login",
        "RequestPasswordReset",
        "ResetPassword",
        "GetInvitation",
        "AcceptInvitation",
        "StartOidc",
        "FinishOidc",
        "OidcSignIn",
        "ResolveSession",
        "Logout",
    }
)


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    console_url: str  # links in mails: <console_url>/console/verify?token=…
    free_quota_micros: int = 0
    session_ttl_s: float = 7 * 86_400.0
    login_window_s: float = 900.0
    login_max_failures_email: int = 5
    login_max_failures_addr: int = 30
    register_max_per_addr: int = 20  # registrations per client address per login window
    pepper: str = ""


@dataclass(frozen=True, slots=True)
class Actor:
    admin: bool
    session: SessionRow | None = None

    def org(self, requested: str, action: str) -> tuple[str, str]:
        """(org id, role) this call acts on, refused unless the role may do ``action``."""
        if self.admin:
            if not requested:
                raise BadRequest("org_id is required", code="missing_org_id")
            return requested, "owner"
        assert self.session is not None
        if requested and requested != self.session.org.id:
            raise Forbidden("A session can only manage its own organisation.", code="forbidden")
        role = self.session.member.role
        if not identity.allowed(role, action):
            raise Forbidden(f"Your role ({role}) may not do this ({action}).", code="role_forbidden")
        return self.session.org.id, role


def _rpc(method: str):
    impl = "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower()

    async def handler(self: IdentityService, request, context):
        try:
            actor = await self._actor(context.invocation_metadata(), method)
            return await getattr(self, impl)(request, actor)
        except RateLimited as err:
            retry = err.headers.get("retry-after", "60")
            await context.abort(
                err.grpc_code, err.message, trailing_metadata=(("tollgate-error-code", err.code or ""), (RETRY_AFTER_METADATA, retry))
            )
        except TollgateError as err:
            await abort(context, err)

    handler.__name__ = method
    return handler


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _role(role: str) -> str:
    if role not in identity.ROLES:
        raise BadRequest(f"role must be one of {', '.join(identity.ROLES)}", code="invalid_role")
    return role


def _email(raw: str) -> str:
    email = identity.normalize_email(raw)
    if not identity.valid_email(email):
        raise BadRequest("Enter a valid email address.", code="invalid_email")
    return email


class IdentityService(pb_grpc.IdentityServicer):
    def __init__(self, store: IdentityStore, mailer: Mailer, admin_token: str, config: IdentityConfig, passwords: Passwords | None = None):
        if not admin_token:
            raise ValueError("the identity service needs an admin credential")
        self._store = store
        self._mailer = mailer
        self._admin = admin_token.encode()
        self._config = config
        self._passwords = passwords or Passwords()

    Register = _rpc("Register")
    ResendVerification = _rpc("ResendVerification")
    VerifyEmail = _rpc("VerifyEmail")
    Login = _rpc("Login")
    RequestPasswordReset = _rpc("RequestPasswordReset")
    ResetPassword = _rpc("ResetPassword")
    GetInvitation = _rpc("GetInvitation")
    AcceptInvitation = _rpc("AcceptInvitation")
    StartOidc = _rpc("StartOidc")
    FinishOidc = _rpc("FinishOidc")
    OidcSignIn = _rpc("OidcSignIn")
    ResolveSession = _rpc("ResolveSession")
    Logout = _rpc("Logout")
    DeleteUser = _rpc("DeleteUser")
    ListMembers = _rpc("ListMembers")
    InviteMember = _rpc("InviteMember")
    ListInvitations = _rpc("ListInvitations")
    RevokeInvitation = _rpc("RevokeInvitation")
    SetMemberRole = _rpc("SetMemberRole")
    RemoveMember = _rpc("RemoveMember")
    CreateTeam = _rpc("CreateTeam")
    ListTeams = _rpc("ListTeams")
    DeleteTeam = _rpc("DeleteTeam")
    SetTeamMember = _rpc("SetTeamMember")
    ConfigureOidc = _rpc("ConfigureOidc")
    GetOrg = _rpc("GetOrg")
    ListMyOrgs = _rpc("ListMyOrgs")
    SwitchOrg = _rpc("SwitchOrg")
    ListOrgs = _rpc("ListOrgs")
    ListUsers = _rpc("ListUsers")
    GetOrgByAccount = _rpc("GetOrgByAccount")

    # -- callers ----------------------------------------------------------------------------
    async def _actor(self, metadata, method: str) -> Actor:
        credential = presented(metadata)
        if not credential:
            raise Unauthorized(
                "This call needs 'authorization: Bearer <admin token or session token>' metadata.", code="missing_credential"
            )
        if hmac.compare_digest(credential.encode(), self._admin):
            return Actor(admin=True)
        if method in FRONTEND_METHODS or method in ADMIN_METHODS:
            raise Forbidden(f"{method} needs the admin credential (the console's frontend calls it).", code="admin_required")
        return Actor(admin=False, session=await self._session(credential))

    async def _session(self, token: str) -> SessionRow:
        found = await self._store.session(identity.hash_token(token)) if identity.looks_like(token, identity.SESSION_PREFIX) else None
        if found is None:
            raise Unauthorized("Your session has ended; sign in again.", code="session_expired")
        return found

    # -- throttling ---------------------------------------------------------------------------
    def _buckets(self, email: str, addr: str) -> list[tuple[str, int]]:
        digest = identity.email_hash(email, self._config.pepper)[:32]
        buckets = [(f"email:{digest}", self._config.login_max_failures_email)]
        if addr:
            buckets.append((f"addr:{addr[:64]}", self._config.login_max_failures_addr))
        return buckets

    async def _check_throttle(self, buckets: list[tuple[str, int]]) -> None:
        wait_ms = await self._store.throttled(buckets, int(self._config.login_window_s * 1000))
        if wait_ms:
            seconds = max(1, math.ceil(wait_ms / 1000))
            raise RateLimited(
                f"Too many failed sign-ins; try again in {seconds} seconds.", code="login_throttled", headers={"retry-after": str(seconds)}
            )

    async def _failed(self, buckets: list[tuple[str, int]]) -> None:
        await self._store.record_failure([b for b, _ in buckets], int(self._config.login_window_s * 1000))

    async def _password_ok(self, encoded: str, password: str) -> bool:
        return await asyncio.to_thread(self._passwords.verify, encoded, password)

    async def _hash_password(self, password: str) -> str:
        self._passwords.check_policy(password)
        return await asyncio.to_thread(self._passwords.hash, password)

    # -- mail -----------------------------------------------------------------------------------
    def _link(self, page: str, token: str) -> str:
        return f"{self._config.console_url}/console/{page}?token={token}"

    async def _send_verification(self, user_id: str, email: str) -> None:
        token = identity.new_token(identity.EMAIL_TOKEN_PREFIX)
        await self._store.add_email_token(user_id, "verify", identity.hash_token(token), EMAIL_TOKEN_TTL_MS)
        body = (
            "Welcome to Tollgate.\n\nConfirm your email address by opening this link:\n\n"
            f"{self._link('verify', token)}\n\nThe link works once, for 48 hours. If you did not sign up, ignore this mail.\n"
        )
        await self._mailer.send(Mail(email, "Confirm your email address for Tollgate", body))

    # -- registration and verification ----------------------------------------------------------
    async def _register(self, request: pb.RegisterRequest, _actor: Actor) -> pb.RegisterReply:
        email = _email(request.email)
        name = request.name.strip()[:100]
        org_name = (request.org_name.strip() or f"{name or email.split('@')[0]}'s organisation")[:100]
        if request.client_addr:
            buckets = [(f"register:{request.client_addr[:64]}", self._config.register_max_per_addr)]
            await self._check_throttle(buckets)
            await self._failed(buckets)  # every registration counts against its address's window
        password_hash = await self._hash_password(request.password)
        user, org, member = await self._store.register(email, name, password_hash, org_name)
        await self._send_verification(user.id, email)
        return pb.RegisterReply(user_id=user.id, org_id=org.id, account_id=org.account_id, member_id=member.id)

    async def _resend_verification(self, request: pb.ResendVerificationRequest, _actor: Actor) -> pb.Ack:
        email = _email(request.email)
        buckets = [(f"resend:{identity.email_hash(email, self._config.pepper)[:32]}", self._config.login_max_failures_email)]
        await self._check_throttle(buckets)
        await self._failed(buckets)
        user = await self._store.user_by_email(email)
        if user is not None and not user.email_verified_at_ms:
            await self._send_verification(user.id, email)
        return pb.Ack(ok=True)  # the same answer whether or not the address is known

    async def _verify_email(self, request: pb.VerifyEmailRequest, _actor: Actor) -> pb.VerifyEmailReply:
        if not identity.looks_like(request.token, identity.EMAIL_TOKEN_PREFIX):
            raise BadRequest("This link is invalid, was already used or has expired.", code="invalid_token")
        user, granted = await self._store.verify_email(
            identity.hash_token(request.token), self._config.pepper, self._config.free_quota_micros
        )
        return pb.VerifyEmailReply(user_id=user.id, email=user.email, free_quota_micros=granted)

    # -- sign-in and sessions -------------------------------------------------------------------
    async def _grant(self, user_id: str, org_id: str, via: str) -> pb.SessionGrant:
        token = identity.new_token(identity.SESSION_PREFIX)
        await self._store.create_session(user_id, org_id, identity.hash_token(token), int(self._config.session_ttl_s * 1000), via)
        row = await self._session(token)
        return pb.SessionGrant(session_token=token, csrf_token=identity.csrf_token(token), session=await self._info(row))

    async def _info(self, row: SessionRow) -> pb.SessionInfo:
        member = await self._store.get_member(row.org.id, row.member.id)
        return session_info(row, member.team_ids if member else ())

    async def _login(self, request: pb.LoginRequest, _actor: Actor) -> pb.SessionGrant:
        email = identity.normalize_email(request.email)
        buckets = self._buckets(email, request.client_addr)
        await self._check_throttle(buckets)
        user = await self._store.user_by_email(email) if identity.valid_email(email) else None
        if not await self._password_ok(user.password_hash if user else "", request.password[: 2 * 256]) or user is None:
            await self._failed(buckets)
            raise Unauthorized("Incorrect email or password.", code="invalid_credentials")
        if not user.email_verified_at_ms:
            raise Forbidden("Confirm your email address first: open the link we mailed you.", code="email_not_verified")
        await self._store.clear_failures(buckets[0][0])
        if self._passwords.needs_rehash(user.password_hash):
            await self._store.set_password(user.id, await self._hash_password(request.password))
        return await self._grant(user.id, await self._pick_org(user.id, request.org_id), "password")

    async def _pick_org(self, user_id: str, wanted: str) -> str:
        orgs = await self._store.orgs_of(user_id)
        if not orgs:
            raise Forbidden("This user belongs to no organisation any more.", code="no_organisation")
        if wanted:
            if not any(org.id == wanted for org, _ in orgs):
                raise Forbidden("This user is not a member of that organisation.", code="not_a_member")
            return wanted
        return orgs[0][0].id

    async def _resolve_session(self, request: pb.ResolveSessionRequest, _actor: Actor) -> pb.SessionInfo:
        return await self._info(await self._session(request.session_token))

    async def _logout(self, request: pb.LogoutRequest, _actor: Actor) -> pb.Ack:
        ok = identity.looks_like(request.session_token, identity.SESSION_PREFIX) and await self._store.revoke_session(
            identity.hash_token(request.session_token)
        )
        return pb.Ack(ok=bool(ok))

    async def _delete_user(self, request: pb.DeleteUserRequest, actor: Actor) -> pb.Ack:
        if actor.admin:
            if not request.user_id:
                raise BadRequest("user_id is required", code="missing_user_id")
            user_id = request.user_id
        else:
            assert actor.session is not None
            if request.user_id and request.user_id != actor.session.user.id:
                raise Forbidden("A session can only delete its own user.", code="forbidden")
            user_id = actor.session.user.id
        if await self._store.get_user(user_id) is None:
            raise NotFound("No such user.", code="user_not_found")
        await self._store.delete_user(user_id)
        return pb.Ack(ok=True)

    # -- password reset -------------------------------------------------------------------------
    async def _request_password_reset(self, request: pb.RequestPasswordResetRequest, _actor: Actor) -> pb.Ack:
        email = _email(request.email)
        buckets = [(f"reset:{identity.email_hash(email, self._config.pepper)[:32]}", self._config.login_max_failures_email)]
        if request.client_addr:
            buckets.append((f"reset-addr:{request.client_addr[:64]}", self._config.login_max_failures_addr))
        await self._check_throttle(buckets)
        await self._failed(buckets)
        user = await self._store.user_by_email(email)
        if user is not None:
            token = identity.new_token(identity.EMAIL_TOKEN_PREFIX)
            await self._store.add_email_token(user.id, "reset", identity.hash_token(token), RESET_TOKEN_TTL_MS)
            body = (
                "Someone asked to reset the password of your Tollgate user.\n\nChoose a new password here:\n\n"
                f"{self._link('reset', token)}\n\nThe link works once, for one hour. If it was not you, ignore this mail: "
                "your password stays as it is.\n"
            )
            await self._mailer.send(Mail(email, "Reset your Tollgate password", body))
        return pb.Ack(ok=True)  # the same answer whether or not the address is known

    async def _reset_password(self, request: pb.ResetPasswordRequest, _actor: Actor) -> pb.Ack:
        if not identity.looks_like(request.token, identity.EMAIL_TOKEN_PREFIX):
            raise BadRequest("This link is invalid, was already used or has expired.", code="invalid_token")
        password_hash = await self._hash_password(request.password)
        await self._store.reset_password(identity.hash_token(request.token), password_hash)
        return pb.Ack(ok=True)

    # -- invitations ------------------------------------------------------------------------------
    async def _invite_member(self, request: pb.InviteMemberRequest, actor: Actor) -> pb.Invitation:
        org_id, own_role = actor.org(request.org_id, "members.invite")
        email, role = _email(request.email), _role(request.role or "developer")
        if identity.role_rank(role) < identity.role_rank(own_role):
            raise Forbidden(f"A {own_role} cannot invite an {role}.", code="role_forbidden")
        org = await self._store.get_org(org_id)
        if org is None:
            raise NotFound("No such organisation.", code="org_not_found")
        token = identity.new_token(identity.INVITE_PREFIX)
        inviter = actor.session.user.email if actor.session else "the platform operator"
        row = await self._store.invite(
            org_id, email, role, identity.hash_token(token), actor.session.user.id if actor.session else "admin", INVITATION_TTL_MS
        )
        body = (
            f"{inviter} invited you to join {org.name} on Tollgate as {role}.\n\nAccept the invitation here:\n\n"
            f"{self._link('invite', token)}\n\nThe link works once, for 7 days.\n"
        )
        await self._mailer.send(Mail(email, f"You are invited to {org.name} on Tollgate", body))
        return invitation_msg(row, org.name)

    async def _list_invitations(self, request: pb.OrgRequest, actor: Actor) -> pb.ListInvitationsReply:
        org_id, _ = actor.org(request.org_id, "members.view")
        return pb.ListInvitationsReply(invitations=[invitation_msg(i) for i in await self._store.list_invitations(org_id)])

    async def _revoke_invitation(self, request: pb.RevokeInvitationRequest, actor: Actor) -> pb.Ack:
        org_id, _ = actor.org(request.org_id, "members.invite")
        if not await self._store.revoke_invitation(org_id, request.invitation_id):
            raise NotFound("No open invitation with this id.", code="invitation_not_found")
        return pb.Ack(ok=True)

    async def _open_invitation(self, token: str) -> tuple[InvitationRow, OrgRow]:
        found = (
            await self._store.open_invitation(identity.hash_token(token)) if identity.looks_like(token, identity.INVITE_PREFIX) else None
        )
        if found is None:
            raise BadRequest("This invitation is invalid, was already used, revoked or has expired.", code="invalid_invitation")
        return found

    async def _get_invitation(self, request: pb.GetInvitationRequest, _actor: Actor) -> pb.Invitation:
        invitation, org = await self._open_invitation(request.token)
        exists = await self._store.user_by_email(invitation.email) is not None
        return invitation_msg(invitation, org.name, exists)

    async def _accept_invitation(self, request: pb.AcceptInvitationRequest, _actor: Actor) -> pb.SessionGrant:
        invitation, _org = await self._open_invitation(request.token)
        if request.session_token:
            user_id = (await self._session(request.session_token)).user.id
        else:
            user = await self._store.user_by_email(invitation.email)
            if user is None:
                password_hash = await self._hash_password(request.password)
                user = await self._store.create_user(invitation.email, request.name.strip()[:100], password_hash, verified=True)
            else:
                buckets = self._buckets(invitation.email, request.client_addr)
                await self._check_throttle(buckets)
                if not await self._password_ok(user.password_hash, request.password[:512]):
                    await self._failed(buckets)
                    raise Unauthorized("Incorrect password for this user.", code="invalid_credentials")
            user_id = user.id
        member = await self._store.accept_invitation(identity.hash_token(request.token), user_id)
        return await self._grant(user_id, member.org_id, "invitation")

    # -- members and teams ------------------------------------------------------------------------
    async def _get_org(self, request: pb.OrgRequest, actor: Actor) -> pb.Org:
        org_id, _ = actor.org(request.org_id, "org.view")
        org = await self._store.get_org(org_id)
        if org is None:
            raise NotFound("No such organisation.", code="org_not_found")
        return org_msg(org)

    async def _list_members(self, request: pb.OrgRequest, actor: Actor) -> pb.ListMembersReply:
        org_id, _ = actor.org(request.org_id, "members.view")
        return pb.ListMembersReply(members=[member_msg(m) for m in await self._store.list_members(org_id)])

    async def _target(self, org_id: str, member_id: str, own_role: str) -> MemberRow:
        member = await self._store.get_member(org_id, member_id)
        if member is None:
            raise NotFound("No such member in this organisation.", code="member_not_found")
        if identity.role_rank(member.role) < identity.role_rank(own_role):
            raise Forbidden(f"A {own_role} cannot change an {member.role}.", code="role_forbidden")
        return member

    async def _set_member_role(self, request: pb.SetMemberRoleRequest, actor: Actor) -> pb.Member:
        org_id, own_role = actor.org(request.org_id, "members.set_role")
        role = _role(request.role)
        await self._target(org_id, request.member_id, own_role)
        if identity.role_rank(role) < identity.role_rank(own_role):
            raise Forbidden(f"A {own_role} cannot grant the {role} role.", code="role_forbidden")
        return member_msg(await self._store.set_role(org_id, request.member_id, role))

    async def _remove_member(self, request: pb.RemoveMemberRequest, actor: Actor) -> pb.Ack:
        org_id, own_role = actor.org(request.org_id, "members.remove")
        await self._target(org_id, request.member_id, own_role)
        await self._store.remove_member(org_id, request.member_id)
        return pb.Ack(ok=True)

    async def _create_team(self, request: pb.CreateTeamRequest, actor: Actor) -> pb.Team:
        org_id, _ = actor.org(request.org_id, "teams.manage")
        name = request.name.strip()
        if not name or len(name) > 100:
            raise BadRequest("A team needs a name of at most 100 characters.", code="invalid_name")
        return team_msg(await self._store.create_team(org_id, name))

    async def _list_teams(self, request: pb.OrgRequest, actor: Actor) -> pb.ListTeamsReply:
        org_id, _ = actor.org(request.org_id, "members.view")
        return pb.ListTeamsReply(teams=[team_msg(t) for t in await self._store.list_teams(org_id)])

    async def _delete_team(self, request: pb.DeleteTeamRequest, actor: Actor) -> pb.Ack:
        org_id, _ = actor.org(request.org_id, "teams.manage")
        if not await self._store.delete_team(org_id, request.team_id):
            raise NotFound("No such team in this organisation.", code="team_not_found")
        return pb.Ack(ok=True)

    async def _set_team_member(self, request: pb.SetTeamMemberRequest, actor: Actor) -> pb.Team:
        org_id, _ = actor.org(request.org_id, "teams.manage")
        return team_msg(await self._store.set_team_member(org_id, request.team_id, request.member_id, request.member))

    # -- OpenID Connect ---------------------------------------------------------------------------
    async def _configure_oidc(self, request: pb.ConfigureOidcRequest, actor: Actor) -> pb.Org:
        org_id, _ = actor.org(request.org_id, "org.configure")
        issuer = request.issuer.strip().rstrip("/")
        if issuer and not issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise BadRequest("The issuer must be an https:// URL.", code="invalid_issuer")
        if issuer and not request.client_id.strip():
            raise BadRequest("client_id is required with an issuer.", code="invalid_client_id")
        role = _role(request.default_role or "developer")
        if role == "owner":
            raise BadRequest("OIDC sign-in cannot make owners.", code="invalid_role")
        org = await self._store.set_oidc(org_id, issuer, request.client_id.strip(), request.email_domain.strip().lower(), role)
        if org is None:
            raise NotFound("No such organisation.", code="org_not_found")
        return org_msg(org)

    async def _oidc_org(self, org_id: str) -> OrgRow:
        org = await self._store.get_org(org_id) if org_id else None
        if org is None or not org.oidc_issuer:
            raise NotFound("This organisation has no single sign-on.", code="oidc_not_configured")
        return org

    async def _start_oidc(self, request: pb.StartOidcRequest, _actor: Actor) -> pb.StartOidcReply:
        org = await self._oidc_org(request.org_id)
        if not request.redirect_uri or not request.code_challenge:
            raise BadRequest("redirect_uri and code_challenge are required", code="invalid_request")
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        await self._store.save_oidc_state(
            identity.hash_token(state), org.id, nonce, request.code_challenge, request.redirect_uri, OIDC_STATE_TTL_MS
        )
        return pb.StartOidcReply(state=state, nonce=nonce, issuer=org.oidc_issuer, client_id=org.oidc_client_id)

    async def _finish_oidc(self, request: pb.FinishOidcRequest, _actor: Actor) -> pb.OidcPending:
        found = await self._store.take_oidc_state(identity.hash_token(request.state)) if request.state else None
        if found is None:
            raise BadRequest("This sign-in attempt is unknown or has expired; start again.", code="invalid_state")
        org_id, nonce, challenge, redirect_uri = found
        if not request.code_verifier or not hmac.compare_digest(_s256(request.code_verifier), challenge):
            raise BadRequest("The sign-in attempt does not match this browser; start again.", code="invalid_state")
        org = await self._oidc_org(org_id)
        return pb.OidcPending(org_id=org.id, issuer=org.oidc_issuer, client_id=org.oidc_client_id, nonce=nonce, redirect_uri=redirect_uri)

    async def _oidc_sign_in(self, request: pb.OidcSignInRequest, _actor: Actor) -> pb.SessionGrant:
        org = await self._oidc_org(request.org_id)
        if request.issuer.rstrip("/") != org.oidc_issuer:
            raise Unauthorized("The token comes from another identity provider.", code="oidc_issuer_mismatch")
        email = _email(request.email)
        if not request.email_verified:
            raise Forbidden("The identity provider has not verified this email address.", code="oidc_email_unverified")
        if org.oidc_email_domain and email.rpartition("@")[2] != org.oidc_email_domain:
            raise Forbidden(f"Only {org.oidc_email_domain} addresses may sign in here.", code="oidc_domain_forbidden")
        user, _member = await self._store.oidc_member(org.id, email, request.name.strip()[:100], org.oidc_default_role)
        return await self._grant(user.id, org.id, "oidc")

    # -- a user's organisations ---------------------------------------------------------------------
    @staticmethod
    def _own_session(actor: Actor) -> SessionRow:
        if actor.session is None:
            raise BadRequest("This needs a user's session token, not the admin credential.", code="session_required")
        return actor.session

    async def _list_my_orgs(self, _request: pb.OrgRequest, actor: Actor) -> pb.ListMyOrgsReply:
        session = self._own_session(actor)
        return pb.ListMyOrgsReply(
            orgs=[
                pb.MyOrg(org_id=o.id, name=o.name, role=m.role, member_id=m.id, account_id=o.account_id)
                for o, m in await self._store.orgs_of(session.user.id)
            ]
        )

    async def _switch_org(self, request: pb.OrgRequest, actor: Actor) -> pb.SessionGrant:
        session = self._own_session(actor)
        org_id = await self._pick_org(session.user.id, request.org_id or session.org.id)
        grant = await self._grant(session.user.id, org_id, session.via)
        await self._store.revoke_session_id(session.id)
        return grant

    # -- the platform admin's views ---------------------------------------------------------------
    @staticmethod
    def _page(limit: int) -> int:
        if not 0 <= limit <= 1000:
            raise BadRequest("limit must be between 1 and 1000", code="invalid_limit")
        return limit or 100

    async def _list_orgs(self, request: pb.ListOrgsRequest, _actor: Actor) -> pb.ListOrgsReply:
        return pb.ListOrgsReply(orgs=[org_msg(o) for o in await self._store.list_orgs(self._page(request.limit), request.after_id)])

    async def _list_users(self, request: pb.ListUsersRequest, _actor: Actor) -> pb.ListUsersReply:
        rows = await self._store.list_users(self._page(request.limit), request.after_id, request.org_id)
        return pb.ListUsersReply(
            users=[
                pb.User(
                    user_id=u.id,
                    email=u.email,
                    name=u.name,
                    email_verified=bool(u.email_verified_at_ms),
                    created_at_ms=u.created_at_ms,
                    memberships=[pb.Membership(org_id=m.org_id, member_id=m.id, role=m.role) for m in members],
                )
                for u, members in rows
            ]
        )

    async def _get_org_by_account(self, request: pb.GetOrgByAccountRequest, _actor: Actor) -> pb.Org:
        org = await self._store.org_of_account(request.account_id) if request.account_id else None
        if org is None:
            raise NotFound("No organisation owns this account.", code="org_not_found")
        return org_msg(org)
